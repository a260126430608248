// Unit tests for clients that do not wait their turn during the login, through a real Worker
// (tests/unit/worker_bench.hpp) whose on_handshake_response waits for the master (mysql_resolve of a
// host name, answered by the test): a command pipelined behind the login is kept for the backend,
// not read as login data; a client that sends its login and shuts its write side is dropped
// without a backend; a client that hangs up while the script waits is closed
// and its lookup forgotten; an on_command_phase that raises or refuses ends the login with ERR 1105
// or 1045.  Each ends only that session: the next client still logs in.
#include "common/log.hpp"
#include "tests/unit/worker_bench.hpp"

using namespace myproxy;
using namespace myproxy::test;

namespace {

std::string resolving_config(const FakeBackend &backend)
{
	return "mysql_listen('/nonexistent/myproxy-test.sock', {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    local address, problem = mysql_resolve('db.example:" + std::to_string(backend.port) + "')\n"
	       "    if not address then return client:err(problem) end\n"
	       "    client.account = hr.user\n"
	       "    return client:connect(address, hr)\n"
	       "  end,\n"
	       "})\n";
}

/* The worker's next RESOLVE_REQUEST id, skipping other messages (CONNECTION_CLOSED). */
std::uint64_t next_resolve_request(WorkerBench &bench)
{
	for (;;) {
		auto message = bench.receive();
		ck_assert(message.has_value());
		if (channel_message_type(*message) == ChannelMessageType::resolve_request)
			return std::get<ResolveRequestMessage>(*message).request_id;
	}
}

void answer_loopback(WorkerBench &bench, std::uint64_t id)
{
	static const std::uint8_t loopback[4] = {127, 0, 0, 1};
	ResolveReplyMessage reply;
	reply.request_id = id;
	reply.address = ByteSpan(loopback, sizeof(loopback));
	bench.send(reply);
}

/* The next client logs in through the worker to @backend: the worker serves on. */
void next_client_logs_in(WorkerBench &bench, FakeBackend &backend, std::uint64_t id)
{
	ClientPair client;
	start_login(bench, client, id);
	answer_loopback(bench, next_resolve_request(bench));
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	const std::string ok = client.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "login: %s", describe_err(ok).c_str());
	close(served);
}

} // namespace

/* A command sent right behind the login, while the script still waits: the worker does not read
   it as login data; once the session is up it reaches the backend as the client's first command. */
START_TEST(test_pipelined_command_kept_for_the_backend)
{
	log_set_debug(true);
	FakeBackend backend;
	WorkerBench bench(resolving_config(backend));
	ClientPair client;
	start_login(bench, client, 1);
	const std::uint64_t id = next_resolve_request(bench);
	ck_assert(write_all(client.client, framed(0, "\x03SELECT 'early'")));
	answer_loopback(bench, id);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	const std::string ok = client.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "login: %s", describe_err(ok).c_str());
	ck_assert(read_packet_payload(served) == "\x03SELECT 'early'");
	close(served);
}
END_TEST

/* Login sent, write side shut: the session closes without a backend. */
START_TEST(test_client_half_closed_after_login)
{
	log_set_debug(true);
	FakeBackend backend;
	WorkerBench bench(resolving_config(backend));
	{
		ClientPair client;
		start_login(bench, client, 2);
		ck_assert_int_eq(shutdown(client.client, SHUT_WR), 0);
		answer_loopback(bench, next_resolve_request(bench));
		/* Nothing more for this client: its connection ends. */
		for (;;) {
			const std::string payload = client.read_payload();
			if (payload.empty())
				break;
			ck_assert_msg(payload[0] == 0 || std::uint8_t(payload[0]) == 0xff, "got %zu bytes", payload.size());
		}
	}
	/* Read with the login or noticed while the script waits: either way, during the login. */
	const std::string log = bench.log();
	ck_assert_msg(contains(log, "the client closed the connection during the login") ||
			      contains(log, "the client went away during the login"),
		      "log: %s", log.c_str());
	next_client_logs_in(bench, backend, 3);
}
END_TEST

/* Hung up while the script waits: closed at once (the lookup's answer finds nobody). */
START_TEST(test_client_gone_while_script_waits)
{
	log_set_debug(true);
	FakeBackend backend;
	WorkerBench bench(resolving_config(backend));
	std::uint64_t id = 0;
	{
		ClientPair client;
		start_login(bench, client, 4);
		id = next_resolve_request(bench);
	}
	auto closed = bench.receive();
	ck_assert(closed.has_value());
	ck_assert_int_eq(int(channel_message_type(*closed)), int(ChannelMessageType::connection_closed));
	ck_assert_uint_eq(std::get<ConnectionClosedMessage>(*closed).client_id, 4);
	answer_loopback(bench, id);
	next_client_logs_in(bench, backend, 5);
	ck_assert_msg(contains(bench.log(), "the client went away during the login"), "log: %s", bench.log().c_str());
}
END_TEST

/* on_command_phase runs once the backend accepted the login: when it raises, the client gets ERR
   1105 in the proxy's words; when it refuses, ERR 1045 with the script's message. */
START_TEST(test_command_phase_callback_refuses)
{
	FakeBackend backend;
	WorkerBench bench("local backend = mysql_resolve('127.0.0.1:" + std::to_string(backend.port) + "')\n"
			  "mysql_listen('/nonexistent/myproxy-test.sock', {\n"
			  "  on_handshake_response = function(client, hr)\n"
			  "    client.account = hr.user\n"
			  "    return client:connect(backend, hr)\n"
			  "  end,\n"
			  "  on_command_phase = function(client)\n"
			  "    if client.account == 'alice' then error('on_command_phase broke') end\n"
			  "    return client:err('not today, ' .. client.account)\n"
			  "  end,\n"
			  "})\n");
	ClientPair raiser;
	start_login(bench, raiser, 6);
	int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	std::string err = describe_err(raiser.read_payload());
	ck_assert_msg(err == "1105 myproxy: the login script failed", "got '%s'", err.c_str());
	close(served);
	ck_assert_msg(contains(bench.log(), "on_command_phase broke"), "log: %s", bench.log().c_str());

	ClientPair refused;
	bench.send(new_client_for(refused.served, 7), {refused.served});
	refused.handed_over();
	ck_assert_uint_ge(refused.read_payload().size(), 10);
	refused.send_login("bob");
	served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	err = describe_err(refused.read_payload());
	ck_assert_msg(err == "1045 not today, bob", "got '%s'", err.c_str());
	close(served);
	ck_assert_msg(contains(bench.log(), "on_command_phase refused the client: not today, bob"), "log: %s",
		      bench.log().c_str());
}
END_TEST

int main()
{
	Suite *suite = suite_create("worker_login_edges");
	TCase *tc = tcase_create("out_of_turn");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pipelined_command_kept_for_the_backend);
	tcase_add_test(tc, test_client_half_closed_after_login);
	tcase_add_test(tc, test_client_gone_while_script_waits);
	tcase_add_test(tc, test_command_phase_callback_refuses);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
