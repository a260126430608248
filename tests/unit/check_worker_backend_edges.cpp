// Unit tests for backends that fail a client's login in ways a healthy server does not, through a
// real Worker (tests/unit/worker_bench.hpp) and a backend played by the test: one that resets the
// connection after reading the login, one that sends bytes behind its greeting before TLS, one that
// hangs up while on_command_phase waits, and, once the session is up, one that hangs up on an idle
// session or resets it under a command.  (A greeting that lacks a capability the client uses is
// check_worker_backend_offer's.)  The client gets an ERR in the proxy's words, the log names the
// backend and the cause, and the worker's next client still logs in.
#include "tests/unit/worker_bench.hpp"

using namespace myproxy;
using namespace myproxy::test;

namespace {

void next_client_logs_in(WorkerBench &bench, FakeBackend &backend, std::uint64_t id)
{
	ClientPair client;
	start_login(bench, client, id);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	const std::string ok = client.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "login: %s", describe_err(ok).c_str());
	close(served);
}

/* Closes @fd with a reset (SO_LINGER 0), as a crashing server's kernel would. */
void reset(int fd)
{
	const linger hard{1, 0};
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard)), 0);
	close(fd);
}

} // namespace

/* The backend resets the connection after reading the login. */
START_TEST(test_backend_resets_during_login)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	start_login(bench, client, 1);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	const std::uint32_t caps = 0x0001 | 0x0200 | 0x2000 | 0x8000 | 0x80000;
	const std::string greeting = std::string("\x0a") + "10.11.99-fake" + '\0' + std::string("\x07\0\0\0", 4) +
				     "abcdefgh" + '\0' + char(caps & 0xff) + char((caps >> 8) & 0xff) + char(0x2d) +
				     std::string("\x02\0", 2) + char((caps >> 16) & 0xff) + char((caps >> 24) & 0xff) +
				     char(21) + std::string(10, '\0') + "ijklmnopqrst" + '\0' + "mysql_native_password" + '\0';
	ck_assert(write_all(served, framed(0, greeting)));
	ck_assert(!read_packet_payload(served).empty());
	reset(served);
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1105 myproxy: lost the connection to the backend", "got '%s'", err.c_str());
	const std::string name = "backend 127.0.0.1:" + std::to_string(backend.port);
	ck_assert_msg(contains(bench.log(), "receive from " + name + " failed: Connection reset by peer"), "log: %s",
		      bench.log().c_str());
	next_client_logs_in(bench, backend, 2);
}
END_TEST

/* A logged-in client to @backend; returns the backend's end. */
static int logged_in(WorkerBench &bench, FakeBackend &backend, ClientPair &client, std::uint64_t id)
{
	start_login(bench, client, id);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	const std::string ok = client.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "login: %s", describe_err(ok).c_str());
	return served;
}

/* The backend hangs up on an idle session: the client finds ERR 1927 waiting, numbered as the
   answer to the command it will send next (sequence id 1). */
START_TEST(test_backend_leaves_idle_session)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	close(logged_in(bench, backend, client, 5));
	const std::string header = client.read_exactly(4);
	ck_assert_uint_eq(header.size(), 4);
	ck_assert_int_eq(header[3], 1);
	const std::size_t length = std::uint8_t(header[0]) | std::size_t(std::uint8_t(header[1])) << 8;
	const std::string err = describe_err(client.read_exactly(length));
	ck_assert_msg(err == "1927 Lost connection to the backend server", "got '%s'", err.c_str());
	next_client_logs_in(bench, backend, 8);
	ck_assert_msg(contains(bench.log(), "backend closed the connection"), "log: %s", bench.log().c_str());
}
END_TEST

/* The backend resets the connection while a command waits: ERR 1927, the reset logged. */
START_TEST(test_backend_resets_mid_command)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 6);
	ck_assert(write_all(client.client, framed(0, "\x03SELECT SLEEP(10)")));
	ck_assert(read_packet_payload(served) == "\x03SELECT SLEEP(10)");
	reset(served);
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1927 Lost connection to the backend server", "got '%s'", err.c_str());
	/* The ERR goes out before the line is written: the next login is the worker's next turn. */
	next_client_logs_in(bench, backend, 7);
	ck_assert_msg(contains(bench.log(), "backend socket error: Connection reset by peer"), "log: %s",
		      bench.log().c_str());
}
END_TEST

/* The backend hangs up while on_command_phase waits (here for the master's lookup): the login
   ends with ERR 1105 in the proxy's words, and the late answer finds nobody. */
START_TEST(test_backend_gone_while_command_phase_waits)
{
	FakeBackend backend;
	WorkerBench bench("local backend = mysql_resolve('127.0.0.1:" + std::to_string(backend.port) + "')\n"
			  "mysql_listen('/nonexistent/myproxy-test.sock', {\n"
			  "  on_handshake_response = function(client, hr)\n"
			  "    client.account = hr.user\n"
			  "    return client:connect(backend, hr)\n"
			  "  end,\n"
			  "  on_command_phase = function(client) mysql_resolve('audit.example:1') end,\n"
			  "})\n");
	ClientPair client;
	start_login(bench, client, 9);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	auto request = bench.receive();
	ck_assert(request.has_value());
	ck_assert_int_eq(int(channel_message_type(*request)), int(ChannelMessageType::resolve_request));
	const std::uint64_t id = std::get<ResolveRequestMessage>(*request).request_id;
	close(served);
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1105 myproxy: the backend closed the connection", "got '%s'", err.c_str());
	ck_assert_msg(contains(bench.log(), "backend 127.0.0.1:" + std::to_string(backend.port) +
						     " went away during the login"),
		      "log: %s", bench.log().c_str());
	ResolveReplyMessage late;
	late.request_id = id;
	late.error = "too late";
	bench.send(late);

	/* The next client's script gets its answer and its login goes through. */
	ClientPair next;
	start_login(bench, next, 10);
	const int other = backend.accept_one();
	ck_assert_int_ge(other, 0);
	serve_backend_login(other);
	auto second = bench.receive();
	while (second && channel_message_type(*second) != ChannelMessageType::resolve_request)
		second = bench.receive();
	ck_assert(second.has_value());
	static const std::uint8_t loopback[4] = {127, 0, 0, 1};
	ResolveReplyMessage answer;
	answer.request_id = std::get<ResolveRequestMessage>(*second).request_id;
	answer.address = ByteSpan(loopback, sizeof(loopback));
	bench.send(answer);
	const std::string ok = next.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "login: %s", describe_err(ok).c_str());
	close(other);
}
END_TEST

/* A backend that offers TLS but sends more bytes right behind its greeting, before any TLS
   (they could be injected by whoever sits in between): refused, never read as TLS or login data. */
START_TEST(test_backend_data_before_tls)
{
	FakeBackend backend;
	WorkerBench bench("local backend = mysql_resolve('127.0.0.1:" + std::to_string(backend.port) + "')\n"
			  "mysql_listen('/nonexistent/myproxy-test.sock', {\n"
			  "  on_handshake_response = function(client, hr)\n"
			  "    return client:connect(backend, hr, {ssl = true, ssl_verify_server_cert = false})\n"
			  "  end,\n"
			  "})\n");
	ClientPair client;
	start_login(bench, client, 11);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	const std::uint32_t caps = 0x0001 | 0x0200 | 0x0800 | 0x2000 | 0x8000 | 0x80000;
	const std::string greeting = std::string("\x0a") + "10.11.99-fake" + '\0' + std::string("\x07\0\0\0", 4) +
				     "abcdefgh" + '\0' + char(caps & 0xff) + char((caps >> 8) & 0xff) + char(0x2d) +
				     std::string("\x02\0", 2) + char((caps >> 16) & 0xff) + char((caps >> 24) & 0xff) +
				     char(21) + std::string(10, '\0') + "ijklmnopqrst" + '\0' + "mysql_native_password" + '\0';
	ck_assert(write_all(served, framed(0, greeting) + framed(1, std::string("\0\0\0\2\0\0\0", 7))));
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1105 myproxy: TLS to the backend failed", "got '%s'", err.c_str());
	ck_assert_msg(contains(bench.log(), "backend 127.0.0.1:" + std::to_string(backend.port) +
						     ": the server sent data before the TLS handshake"),
		      "log: %s", bench.log().c_str());
	close(served);
}
END_TEST

int main()
{
	Suite *suite = suite_create("worker_backend_edges");
	TCase *tc = tcase_create("backend_login");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_backend_resets_during_login);
	tcase_add_test(tc, test_backend_leaves_idle_session);
	tcase_add_test(tc, test_backend_resets_mid_command);
	tcase_add_test(tc, test_backend_gone_while_command_phase_waits);
	tcase_add_test(tc, test_backend_data_before_tls);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
