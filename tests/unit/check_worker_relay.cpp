// Unit tests for hostile peers in the command phase, through a real Worker (tests/unit/
// worker_bench.hpp) and a backend played by the test (a login that always succeeds): a COM_INIT_DB
// naming a schema with a NUL byte gets ERR 1044 and never reaches the backend, nor does one whose
// on_init_db raises (ERR 1105); a backend that answers a COM_QUERY with a LOCAL INFILE request the
// client never allowed gets the client ERR 1158 naming that; a backend that hangs up in the middle
// of a command leaves the client ERR 1927.  Each is logged and ends only that session: the worker's
// next client still logs in.
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

void send_query(ClientPair &client, const std::string &sql)
{
	ck_assert(write_all(client.client, framed(0, "\x03" + sql)));
}

} // namespace

/* COM_INIT_DB is the worker's to answer: a schema name with a NUL byte never reaches the backend. */
START_TEST(test_init_db_with_nul_byte)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 1);
	ck_assert(write_all(client.client, framed(0, std::string("\x02" "a\0b", 4))));
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1044 Access denied: invalid database name", "got '%s'", err.c_str());
	/* The session goes on, and the backend saw nothing of it. */
	send_query(client, "SELECT 1");
	ck_assert(read_packet_payload(served) == "\x03SELECT 1");
	close(served);
	ck_assert_msg(contains(bench.log(), "refused COM_INIT_DB: COM_INIT_DB: schema name contains NUL"), "log: %s",
		      bench.log().c_str());
}
END_TEST

START_TEST(test_rogue_local_infile_request)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 2);
	send_query(client, "SELECT 1");
	ck_assert(read_packet_payload(served) == "\x03SELECT 1");
	ck_assert(write_all(served, framed(1, "\xfb/etc/passwd")));
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1158 The backend asked for a LOCAL INFILE the client did not allow", "got '%s'", err.c_str());
	close(served);
}
END_TEST

START_TEST(test_backend_hangs_up_mid_command)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 3);
	send_query(client, "SELECT SLEEP(10)");
	ck_assert(!read_packet_payload(served).empty());
	close(served);
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1927 Lost connection to the backend server", "got '%s'", err.c_str());

	ClientPair next;
	close(logged_in(bench, backend, next, 4));
}
END_TEST

/* The master disconnects the account of a logged-in session: ERR 1927 to the client.  Then a
 * session whose command the backend never answers is ended by the drain timeout with ERR 1053. */
START_TEST(test_disconnect_and_drain_in_the_command_phase)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 5);
	DisconnectAccountMessage disconnect;
	disconnect.account = "alice";
	bench.send(disconnect);
	std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1927 myproxy: this account was disconnected by the administrator", "got '%s'", err.c_str());
	close(served);

	ClientPair busy;
	const int silent = logged_in(bench, backend, busy, 6);
	send_query(busy, "SELECT SLEEP(3600)");
	ck_assert(!read_packet_payload(silent).empty());
	DrainMessage drain;
	drain.timeout_ms = 50;
	bench.send(drain);
	err = describe_err(busy.read_payload());
	ck_assert_msg(err == "1053 Server shutdown in progress", "got '%s'", err.c_str());
	ck_assert_int_eq(bench.finish(), exit_ok);
	close(silent);
}
END_TEST

/* DRAIN lets a running command finish: once the backend answered, the next sweep closes the idle
 * session and the worker exits. */
START_TEST(test_drain_waits_for_the_running_command)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 7);
	send_query(client, "DO 1");
	ck_assert(read_packet_payload(served) == "\x03" "DO 1");
	DrainMessage drain;
	drain.timeout_ms = 600'000;
	bench.send(drain);
	ck_assert(write_all(served, framed(1, std::string("\0\0\0\x02\0\0\0", 7))));
	const std::string ok = client.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "the command's answer: '%s'", describe_err(ok).c_str());
	ck_assert_int_eq(bench.finish(), exit_ok);
	close(served);
	ck_assert_msg(contains(bench.log(), "closing: idle at shutdown"), "log: %s", bench.log().c_str());
}
END_TEST

/* An on_init_db that raises: the client gets ERR 1105, the backend never sees the command, and the
 * session goes on. */
START_TEST(test_init_db_callback_raises)
{
	FakeBackend backend;
	std::string config = connect_config(backend);
	const std::string marker = "  on_handshake_response = function(client, hr)\n";
	config.replace(config.find(marker), 0, "  on_init_db = function(client, db) error('no schema for you') end,\n");
	WorkerBench bench(config);
	ClientPair client;
	const int served = logged_in(bench, backend, client, 8);
	ck_assert(write_all(client.client, framed(0, "\x02" "sales")));
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1105 myproxy: on_init_db failed", "got '%s'", err.c_str());
	send_query(client, "SELECT 1");
	ck_assert(read_packet_payload(served) == "\x03SELECT 1");
	close(served);
	ck_assert_msg(contains(bench.log(), "no schema for you"), "log: %s", bench.log().c_str());
}
END_TEST

int main()
{
	Suite *suite = suite_create("worker_relay");
	TCase *tc = tcase_create("hostile");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_init_db_with_nul_byte);
	tcase_add_test(tc, test_init_db_callback_raises);
	tcase_add_test(tc, test_rogue_local_infile_request);
	tcase_add_test(tc, test_backend_hangs_up_mid_command);
	tcase_add_test(tc, test_disconnect_and_drain_in_the_command_phase);
	tcase_add_test(tc, test_drain_waits_for_the_running_command);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
