// Unit tests for what a session of a real Worker (tests/unit/worker_bench.hpp) does with peers that
// misbehave in ways a healthy client or server does not: a backend whose OK to a query carries the
// index and slow-query flags or cannot be parsed (the server counters of the shared page count
// each, the client still gets the reply), a client that sends another packet while its
// COM_CHANGE_USER waits for the backend (closed with a warning), a client that hangs up right behind
// its login while the script waits for the master (closed, logged).  Each time the worker's next
// client is still served.
#include "tests/unit/worker_bench.hpp"

#include "common/worker_counters.hpp"

using namespace myproxy;
using namespace myproxy::test;

namespace {

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

void next_client_logs_in(WorkerBench &bench, FakeBackend &backend, std::uint64_t id)
{
	ClientPair client;
	close(logged_in(bench, backend, client, id));
}

/* The client sends @query, the backend reads it and answers @reply (payload, sequence id 1); the
   client's copy of the reply. */
std::string query_answered(ClientPair &client, int served, const std::string &query, const std::string &reply)
{
	ck_assert(write_all(client.client, framed(0, "\x03" + query)));
	ck_assert(read_packet_payload(served) == "\x03" + query);
	ck_assert(write_all(served, framed(1, reply)));
	return client.read_payload();
}

std::uint64_t value(const Counter &counter)
{
	return counter.load(std::memory_order_relaxed);
}

} // namespace

/* OKs with SERVER_QUERY_NO_GOOD_INDEX_USED, SERVER_QUERY_NO_INDEX_USED and SERVER_QUERY_WAS_SLOW
   are counted for the backend, and an OK whose affected-rows length runs past its end is counted
   malformed; the client gets every reply as the backend sent it. */
START_TEST(test_ok_flags_and_malformed_ok_counted)
{
	WorkerCounters *page = map_worker_counters();
	ck_assert_ptr_nonnull(page);
	worker_counters_page = page;
	{
		FakeBackend backend;
		WorkerBench bench(connect_config(backend));
		ClientPair client;
		const int served = logged_in(bench, backend, client, 1);
		ck_assert_uint_eq(page->servers.used.load(), 1);
		const ServerCounters &server = page->servers.slots[0].counters;
		ck_assert_uint_eq(value(server.connects), 1);

		/* autocommit | no good index | no index | slow; one affected row, two warnings. */
		const std::string flagged = std::string("\0\1\0\x32\x08\2\0", 7);
		ck_assert(query_answered(client, served, "SELECT * FROM t", flagged) == flagged);
		ck_assert_uint_eq(value(server.queries), 1);
		ck_assert_uint_eq(value(server.no_good_index_queries), 1);
		ck_assert_uint_eq(value(server.no_index_queries), 1);
		ck_assert_uint_eq(value(server.slow_queries), 1);
		ck_assert_uint_eq(value(server.affected_rows), 1);
		ck_assert_uint_eq(value(server.query_warnings), 2);
		ck_assert_uint_eq(value(server.malformed_packets), 0);

		/* 0xfc announces two bytes of affected rows that are not there. */
		const std::string malformed = std::string("\0\xfc", 2);
		ck_assert(query_answered(client, served, "DO 1", malformed) == malformed);
		ck_assert_uint_eq(value(server.malformed_packets), 1);
		ck_assert_uint_eq(value(server.queries), 2);
		ck_assert_uint_eq(value(server.slow_queries), 1);
		ck_assert_uint_eq(value(server.affected_rows), 1);

		/* The session goes on: a plain OK counts nothing more. */
		const std::string plain = std::string("\0\0\0\2\0\0\0", 7);
		ck_assert(query_answered(client, served, "DO 2", plain) == plain);
		ck_assert_uint_eq(value(server.queries), 3);
		ck_assert_uint_eq(value(server.malformed_packets), 1);
		ck_assert_uint_eq(value(server.slow_queries), 1);
		close(served);
		next_client_logs_in(bench, backend, 2);
	}
	worker_counters_page = nullptr;
	unmap_worker_counters(page);
}
END_TEST

/* A client that sends a COM_PING while its COM_CHANGE_USER waits for the backend's answer: the
   session is closed with a warning (the backend's reply cannot be matched to either), and the
   worker's next client logs in. */
START_TEST(test_client_packet_out_of_turn_during_change_user)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 3);
	const std::string change_user = framed(0, std::string("\x11") + "alice" + '\0' + char(2) + "pw" + '\0' +
							  std::string("\x2d\0", 2) + "mysql_clear_password" + '\0');
	ck_assert(write_all(client.client, change_user));
	const std::string command = read_packet_payload(served);
	ck_assert_msg(!command.empty() && command[0] == '\x11', "the backend got no COM_CHANGE_USER");
	ck_assert(write_all(client.client, framed(0, "\x0e")));
	/* The worker hangs up on both. */
	ck_assert(client.read_payload().empty());
	ck_assert(read_packet_payload(served).empty());
	ck_assert_msg(contains(bench.log(), "unexpected packet from the client"), "log: %s", bench.log().c_str());
	close(served);
	next_client_logs_in(bench, backend, 4);
}
END_TEST

/* A client that shuts its side down right behind its HandshakeResponse while on_handshake_response
   waits for the master's lookup: the session ends at once (logged), the late answer finds nobody,
   and the next client is served. */
START_TEST(test_client_hangs_up_while_script_waits)
{
	FakeBackend backend;
	log_set_debug(true);
	WorkerBench bench("local backend = mysql_resolve('127.0.0.1:" + std::to_string(backend.port) + "')\n"
			  "mysql_listen('/nonexistent/myproxy-test.sock', {\n"
			  "  on_handshake_response = function(client, hr)\n"
			  "    if hr.user == 'alice' then mysql_resolve('audit.example:1') end\n"
			  "    return client:connect(backend, hr)\n"
			  "  end,\n"
			  "})\n");
	ClientPair client;
	bench.send(new_client_for(client.served, 5), {client.served});
	client.handed_over();
	ck_assert_uint_ge(client.read_payload().size(), 10);
	client.send_login("alice");
	ck_assert_int_eq(shutdown(client.client, SHUT_WR), 0);
	auto request = bench.receive();
	while (request && channel_message_type(*request) != ChannelMessageType::resolve_request)
		request = bench.receive();
	ck_assert(request.has_value());
	/* The worker hangs up without an answer. */
	ck_assert(client.read_payload().empty());
	ck_assert_msg(contains(bench.log(), "the client closed the connection during the login"), "log: %s",
		      bench.log().c_str());
	ResolveReplyMessage late;
	late.request_id = std::get<ResolveRequestMessage>(*request).request_id;
	late.error = "too late";
	bench.send(late);
	log_set_debug(false);

	ClientPair next;
	bench.send(new_client_for(next.served, 6), {next.served});
	next.handed_over();
	ck_assert_uint_ge(next.read_payload().size(), 10);
	next.send_login("bob");
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	const std::string ok = next.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "login: %s", describe_err(ok).c_str());
	close(served);
}
END_TEST

int main()
{
	Suite *suite = suite_create("worker_session_faults");
	TCase *tc = tcase_create("session");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ok_flags_and_malformed_ok_counted);
	tcase_add_test(tc, test_client_packet_out_of_turn_during_change_user);
	tcase_add_test(tc, test_client_hangs_up_while_script_waits);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
