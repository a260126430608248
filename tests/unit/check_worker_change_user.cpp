// Unit tests for COM_CHANGE_USER with hostile peers, through a real Worker (tests/unit/worker_bench.hpp)
// and a backend played by the test: a malformed COM_CHANGE_USER ends the session with ERR 1043; a
// cleartext password sent out of turn after the AuthSwitchRequest ends it without a relay; a backend
// that answers the COM_CHANGE_USER (also for the same account) with something else than OK, ERR or
// an auth exchange leaves the client ERR 1105; a backend that asks for an unknown plugin leaves the
// client ERR 1251; a backend's ERR reaches the client renumbered and the session goes on.  Each is
// logged; the worker's next client still logs in.
#include "tests/unit/worker_bench.hpp"

using namespace myproxy;
using namespace myproxy::test;

namespace {

/* A client logged in through the worker to @backend; returns the backend's end of the session. */
int logged_in(WorkerBench &bench, FakeBackend &backend, ClientPair &client, std::uint64_t id)
{
	start_login(bench, client, id);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	const std::string ok = client.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "login: %s", describe_err(ok).c_str());
	return served;
}

/* COM_CHANGE_USER as a client with PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH sends it, the
 * password in clear with mysql_clear_password (@plugin empty: none named). */
std::string change_user(const std::string &user, const std::string &password, const std::string &database,
			const std::string &plugin = "mysql_clear_password")
{
	std::string payload = "\x11" + user + '\0' + char(password.size()) + password + database + '\0';
	payload += std::string("\x2d\0", 2) + plugin + '\0';
	return framed(0, payload);
}

/* The worker still serves a new client after the hostile session. */
void next_client_served(WorkerBench &bench, FakeBackend &backend, std::uint64_t id)
{
	ClientPair next;
	close(logged_in(bench, backend, next, id));
}

} // namespace

/* A COM_CHANGE_USER whose auth length runs past the packet: ERR 1043 and the session ends. */
START_TEST(test_malformed_change_user)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 1);
	ck_assert(write_all(client.client, framed(0, std::string("\x11" "bob\0\x40" "short", 10))));
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1043 Bad handshake", "got '%s'", err.c_str());
	ck_assert(client.read_payload().empty());
	/* The backend never saw the command; the worker closed it. */
	ck_assert(read_packet_payload(served).empty());
	close(served);
	ck_assert_msg(contains(bench.log(), "malformed COM_CHANGE_USER: COM_CHANGE_USER: auth response past end"),
		      "log: %s", bench.log().c_str());
	next_client_served(bench, backend, 2);
}
END_TEST

/* No plugin named: the worker asks for the cleartext password; an answer with the wrong sequence
 * id ends the session, and nothing reaches the backend. */
START_TEST(test_password_out_of_order)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 3);
	ck_assert(write_all(client.client, change_user("alice", "", "", "")));
	const std::string request = client.read_payload();
	ck_assert_msg(!request.empty() && std::uint8_t(request[0]) == 0xfe && contains(request, "mysql_clear_password"),
		      "expected an AuthSwitchRequest, got %zu bytes", request.size());
	/* The switch request was packet 1; the answer must be packet 2. */
	ck_assert(write_all(client.client, framed(7, std::string("pw\0", 3))));
	ck_assert(client.read_payload().empty());
	ck_assert(read_packet_payload(served).empty());
	close(served);
	ck_assert_msg(contains(bench.log(), "COM_CHANGE_USER: auth response out of order"), "log: %s",
		      bench.log().c_str());
	next_client_served(bench, backend, 4);
}
END_TEST

/* The same account: the backend gets a COM_CHANGE_USER too; an answer that is neither OK, ERR nor
 * part of an auth exchange gets the client ERR 1105 and ends the session. */
START_TEST(test_backend_garbage_after_change_user)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 5);
	ck_assert(write_all(client.client, change_user("alice", "pw", "")));
	ck_assert(read_packet_payload(served).substr(0, 7) == std::string("\x11" "alice\0", 7));
	ck_assert(write_all(served, framed(1, "\x07garbage")));
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1105 myproxy: unexpected reply from the backend", "got '%s'", err.c_str());
	ck_assert(client.read_payload().empty());
	close(served);
	ck_assert_msg(contains(bench.log(), "COM_CHANGE_USER on the backend failed: unexpected packet during "
					    "authentication (header byte 7)"),
		      "log: %s", bench.log().c_str());
	next_client_served(bench, backend, 6);
}
END_TEST

/* The same account with a schema the backend does not have: its ERR reaches the client with the
 * client's own sequence id; the session goes on. */
START_TEST(test_same_account_unknown_database)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 7);
	ck_assert(write_all(client.client, change_user("alice", "pw", "nosuchdb")));
	const std::string command = read_packet_payload(served);
	ck_assert_msg(contains(command, std::string("nosuchdb\0", 9)), "no schema in %zu bytes", command.size());
	ck_assert(write_all(served, framed(1, "\xff\x19\x04#42000Unknown database 'nosuchdb'")));
	const std::string header = client.read_exactly(4);
	ck_assert_uint_eq(header.size(), 4);
	ck_assert_uint_eq(std::uint8_t(header[3]), 1); /* the answer to the client's packet 0 */
	const std::size_t length = std::uint8_t(header[0]);
	const std::string err = describe_err(client.read_exactly(length));
	ck_assert_msg(err == "1049 Unknown database 'nosuchdb'", "got '%s'", err.c_str());
	/* The session goes on. */
	ck_assert(write_all(client.client, framed(0, "\x03" "DO 1")));
	ck_assert(read_packet_payload(served) == "\x03" "DO 1");
	close(served);
}
END_TEST

/* Another account: the worker sends its own COM_CHANGE_USER; a backend that switches to a plugin
 * myproxy does not speak gets the client ERR 1251 and ends the session. */
START_TEST(test_backend_switches_to_unknown_plugin)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 8);
	ck_assert(write_all(client.client, change_user("bob", "pw2", "")));
	const std::string command = read_packet_payload(served);
	ck_assert_msg(command.size() > 4 && command.substr(0, 4) == "\x11" "bob" && command[4] == '\0',
		      "expected COM_CHANGE_USER for bob, got %zu bytes", command.size());
	ck_assert(write_all(served, framed(1, std::string("\xfe" "dialog\0" "nonce", 13))));
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1251 myproxy: the backend asks for an unsupported authentication method", "got '%s'",
		      err.c_str());
	ck_assert(client.read_payload().empty());
	close(served);
	ck_assert_msg(contains(bench.log(), "COM_CHANGE_USER on the backend failed"), "log: %s", bench.log().c_str());
	next_client_served(bench, backend, 9);
}
END_TEST

/* Another account the backend refuses: its ERR reaches the client and the session goes on. */
START_TEST(test_backend_refuses_other_account)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 10);
	ck_assert(write_all(client.client, change_user("bob", "wrong", "")));
	ck_assert(read_packet_payload(served).substr(0, 1) == "\x11");
	const std::string denied = "\xff\x15\x04#28000Access denied for user 'bob'";
	ck_assert(write_all(served, framed(1, denied)));
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1045 Access denied for user 'bob'", "got '%s'", err.c_str());
	ck_assert(write_all(client.client, framed(0, "\x03" "DO 1")));
	ck_assert(read_packet_payload(served) == "\x03" "DO 1");
	close(served);
}
END_TEST

int main()
{
	Suite *suite = suite_create("worker_change_user");
	TCase *tc = tcase_create("hostile");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_malformed_change_user);
	tcase_add_test(tc, test_password_out_of_order);
	tcase_add_test(tc, test_backend_garbage_after_change_user);
	tcase_add_test(tc, test_same_account_unknown_database);
	tcase_add_test(tc, test_backend_switches_to_unknown_plugin);
	tcase_add_test(tc, test_backend_refuses_other_account);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
