// Unit tests for what a session of a real Worker (tests/unit/worker_bench.hpp) does with peers and
// conditions a healthy setup does not bring: a backend whose OK to a query carries the index and
// slow-query flags or cannot be parsed (the server counters of the shared page count each, the
// client still gets the reply; an empty reply is a packet and nothing more); an epoll that refuses
// to change what a muted client's socket is watched for (EPOLL_CTL_MOD) or to watch it at all
// (EPOLL_CTL_ADD), as the kernel does when out of memory (seccomp, tests/unit/syscall_faults.hpp),
// and a NEW_CLIENT for a listener the worker lacks (that client closed, logged); a COM_PROCESS_KILL
// of the wrong length (the backend's to answer); a Lua heap too full for a new client's object, its
// handshake_response table, a COM_CHANGE_USER's or a COM_INIT_DB's script (ERR 1041).  Each time
// the worker's next client or the session itself is still served.
#include "tests/unit/worker_bench.hpp"
#include "tests/unit/syscall_faults.hpp"

#include <sys/epoll.h>

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

		/* An empty packet as the reply (no first byte to look at): relayed, counted as a packet
		   and nothing else. */
		const std::uint64_t packets = value(server.packets_received);
		ck_assert(write_all(client.client, framed(0, "\x03" "DO 3")));
		ck_assert(read_packet_payload(served) == "\x03" "DO 3");
		ck_assert(write_all(served, framed(1, "")));
		ck_assert(client.read_exactly(4) == framed(1, ""));
		ck_assert_uint_eq(value(server.packets_received), packets + 1);
		ck_assert_uint_eq(value(server.queries), 4);
		ck_assert_uint_eq(value(server.malformed_packets), 1);
		ck_assert_uint_eq(value(server.query_errors), 0);
		close(served);
		next_client_logs_in(bench, backend, 2);
	}
	worker_counters_page = nullptr;
	unmap_worker_counters(page);
}
END_TEST

/* epoll_ctl(EPOLL_CTL_MOD) fails for the worker (ENOMEM): a client that sends its login while
   on_connect waits for the master is muted (nothing of it is read before the greeting), the
   change of its events fails, and that client alone is closed, logged; the next client, whose
   session needs no change of events (the script refuses it), still gets its answer. */
START_TEST(test_epoll_cannot_mute_a_client)
{
	const FaultRules rules = [](scmp_filter_ctx ctx) {
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOMEM), SCMP_SYS(epoll_ctl), 1,
					SCMP_A1(SCMP_CMP_EQ, scmp_datum_t(EPOLL_CTL_MOD)));
	};
	const FaultRun run = run_with_faults(rules, [] {
		WorkerBench bench("local clients = 0\n"
				  "mysql_listen('/nonexistent/myproxy-test.sock', {\n"
				  "  on_connect = function(client)\n"
				  "    clients = clients + 1\n"
				  "    if clients == 1 then mysql_resolve('audit.example:1') end\n"
				  "  end,\n"
				  "  on_handshake_response = function(client, hr)\n"
				  "    return client:err('not today')\n"
				  "  end,\n"
				  "})\n");
		std::string result;
		ClientPair client;
		bench.send(new_client_for(client.served, 1), {client.served});
		client.handed_over();
		auto request = bench.receive();
		while (request && channel_message_type(*request) != ChannelMessageType::resolve_request)
			request = bench.receive();
		if (!request)
			return std::string("no resolve request");
		client.send_login("alice");
		/* Closed without a greeting. */
		result += client.read_payload().empty() ? "closed" : "answered";
		ResolveReplyMessage late;
		late.request_id = std::get<ResolveRequestMessage>(*request).request_id;
		late.error = "too late";
		bench.send(late);
		ClientPair next;
		bench.send(new_client_for(next.served, 2), {next.served});
		next.handed_over();
		if (next.read_payload().size() < 10)
			return result + " and no greeting for the next client";
		next.send_login("bob");
		result += "|" + describe_err(next.read_payload()) + "|";
		return result + bench.log();
	});
	ck_assert_msg(run.result.rfind("closed|1045 not today|", 0) == 0, "result: %s\nlog: %s", run.result.c_str(),
		      run.log.c_str());
	ck_assert_msg(contains(run.result, "client=1: error: sd_event_source_set_io_events() failed"), "worker log: %s",
		      run.result.c_str());
}
END_TEST

/* A NEW_CLIENT naming a listener the worker's configuration does not have (a master of another
   generation could): that client is closed, logged, and the next one is served. */
START_TEST(test_client_of_unknown_listener)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	NewClientMessage message = new_client_for(client.served, 9);
	message.info.listener_index = 7;
	bench.send(message, {client.served});
	client.handed_over();
	ck_assert(client.read_payload().empty());
	ck_assert_msg(contains(bench.log(), "client=9: error: no listener for this client"), "log: %s",
		      bench.log().c_str());
	next_client_logs_in(bench, backend, 10);
}
END_TEST

/* epoll_ctl(EPOLL_CTL_ADD) fails (ENOMEM) for the descriptor numbers the worker can receive its
   first client on (learnt from a run without the fault: the same code opens the same descriptors): that
   client is closed unwatched, logged, and the next one, received on another number, is served. */
START_TEST(test_epoll_cannot_watch_a_client)
{
	const std::string config = "mysql_listen('/nonexistent/myproxy-test.sock', {\n"
				   "  on_handshake_response = function(client, hr) return client:err('not today') end,\n"
				   "})\n";
	/* The numbers the worker may receive its first client on: the lowest free one once the pair
	   is open, or the pair's own end, whichever the test has closed by the time the worker reads. */
	const auto landing = [&config] {
		WorkerBench bench(config);
		ClientPair client;
		const int lowest = dup(0);
		close(lowest);
		return std::to_string(client.served) + " " + std::to_string(lowest);
	};
	std::istringstream numbers(run_with_faults(no_faults(), landing).result);
	int served = -1, lowest = -1;
	numbers >> served >> lowest;
	ck_assert_int_ge(served, 3);
	ck_assert_int_gt(lowest, served);
	const FaultRules rules = [served, lowest](scmp_filter_ctx ctx) {
		for (const int fd : {served, lowest})
			if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOMEM), SCMP_SYS(epoll_ctl), 2,
					     SCMP_A1(SCMP_CMP_EQ, scmp_datum_t(EPOLL_CTL_ADD)),
					     SCMP_A2(SCMP_CMP_EQ, scmp_datum_t(fd))) < 0)
				return -1;
		return 0;
	};
	const FaultRun run = run_with_faults(rules, [&config, lowest] {
		WorkerBench bench(config);
		std::string result;
		{
			ClientPair client;
			bench.send(new_client_for(client.served, 1), {client.served});
			client.handed_over();
			result += client.read_payload().empty() ? "closed" : "answered";
		}
		/* Held by the test, the numbers cannot come back to the worker for the next client. */
		std::vector<UniqueFd> held;
		while (held.empty() || held.back().get() < lowest)
			held.emplace_back(dup(0));
		ClientPair next;
		bench.send(new_client_for(next.served, 2), {next.served});
		next.handed_over();
		if (next.read_payload().size() < 10)
			return result + " and no greeting for the next client";
		next.send_login("bob");
		result += "|" + describe_err(next.read_payload()) + "|";
		return result + bench.log();
	});
	ck_assert_msg(run.result.rfind("closed|1045 not today|", 0) == 0, "result: %s\nlog: %s", run.result.c_str(),
		      run.log.c_str());
	ck_assert_msg(contains(run.result, "client=1: error: cannot watch the client socket"), "worker log: %s",
		      run.result.c_str());
}
END_TEST

/* The worker's Lua heap limited below what it uses, so that every allocation fails (even after
   the emergency collection Lua runs first); the limit is restored at the guard's end. */
struct HeapFull {
	LuaState &state;
	std::size_t limit;
	explicit HeapFull(WorkerBench &bench) : state(bench.config->value().state), limit(state.heap_limit())
	{
		/* The worker waits in epoll: nothing of it runs while the limit changes. */
		state.set_heap_limit(state.heap_used() / 2);
	}
	~HeapFull() { state.set_heap_limit(limit); }
};

/* The Lua heap full when a client arrives (no room for its client object) or once it sent its
   login (no room for the handshake_response table): ERR 1041 "Out of memory", logged; with room
   again, the next client logs in. */
START_TEST(test_lua_heap_full_during_login)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	{
		ClientPair client;
		const HeapFull full(bench);
		bench.send(new_client_for(client.served, 1), {client.served});
		client.handed_over();
		const std::string payload = client.read_payload();
		const std::string err = describe_err(payload);
		ck_assert_msg(err == "1041 Out of memory", "got %zu %s log %s", payload.size(), err.c_str(), bench.log().c_str());
	}
	ck_assert_msg(contains(bench.log(), "client=1: error: Lua heap full: cannot create the client object"), "log: %s",
		      bench.log().c_str());
	{
		ClientPair client;
		bench.send(new_client_for(client.served, 2), {client.served});
		client.handed_over();
		ck_assert_uint_ge(client.read_payload().size(), 10);
		const HeapFull full(bench);
		client.send_login("alice");
		const std::string err = describe_err(client.read_payload());
		ck_assert_msg(err == "1041 Out of memory", "got %s log %s", err.c_str(), bench.log().c_str());
	}
	ck_assert_msg(contains(bench.log(), "client=2: error: Lua heap full: cannot build the handshake_response table"),
		      "log: %s", bench.log().c_str());
	next_client_logs_in(bench, backend, 3);
}
END_TEST

/* The Lua heap full when a COM_CHANGE_USER arrives: the client gets ERR 1041 "Out of memory", the
   backend nothing, and the session goes on as it was. */
START_TEST(test_lua_heap_full_at_change_user)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 4);
	{
		const HeapFull full(bench);
		ck_assert(write_all(client.client, framed(0, std::string("\x11") + "bob" + '\0' + char(2) + "pw" + '\0' +
								  std::string("\x2d\0", 2) + "mysql_clear_password" + '\0')));
		const std::string err = describe_err(client.read_payload());
		ck_assert_msg(err == "1041 Out of memory", "got '%s' log %s", err.c_str(), bench.log().c_str());
	}
	/* The backend saw nothing of it: the next command is the first thing it reads. */
	const std::string plain = std::string("\0\0\0\2\0\0\0", 7);
	ck_assert(query_answered(client, served, "DO 1", plain) == plain);
	close(served);
	next_client_logs_in(bench, backend, 5);
}
END_TEST

/* The Lua heap full when a COM_INIT_DB arrives (no room for the database name the script would
   get): the client gets ERR 1041 "Out of memory", the backend nothing, and the session goes on. */
START_TEST(test_lua_heap_full_at_init_db)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 6);
	{
		const HeapFull full(bench);
		ck_assert(write_all(client.client, framed(0, "\x02" "a_database_name_not_interned_yet")));
		const std::string err = describe_err(client.read_payload());
		ck_assert_msg(err == "1041 Out of memory", "got '%s' log %s", err.c_str(), bench.log().c_str());
	}
	const std::string plain = std::string("\0\0\0\2\0\0\0", 7);
	ck_assert(query_answered(client, served, "DO 1", plain) == plain);
	close(served);
	next_client_logs_in(bench, backend, 7);
}
END_TEST

/* A COM_PROCESS_KILL whose id is not four bytes long (two here) is no KILL the proxy can translate:
   the backend gets it as the client sent it and answers it, and the session goes on. */
START_TEST(test_short_process_kill_goes_to_the_backend)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 8);
	const std::string kill = std::string("\x0c\x05\x00", 3);
	ck_assert(write_all(client.client, framed(0, kill)));
	ck_assert(read_packet_payload(served) == kill);
	const std::string err = std::string("\xff\x4a\x04#HY000", 9) + "Malformed communication packet";
	ck_assert(write_all(served, framed(1, err)));
	ck_assert(client.read_payload() == err);
	const std::string plain = std::string("\0\0\0\2\0\0\0", 7);
	ck_assert(query_answered(client, served, "DO 1", plain) == plain);
	close(served);
}
END_TEST

int main()
{
	Suite *suite = suite_create("worker_session_faults");
	TCase *tc = tcase_create("session");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ok_flags_and_malformed_ok_counted);
	tcase_add_test(tc, test_epoll_cannot_mute_a_client);
	tcase_add_test(tc, test_client_of_unknown_listener);
	tcase_add_test(tc, test_epoll_cannot_watch_a_client);
	tcase_add_test(tc, test_lua_heap_full_during_login);
	tcase_add_test(tc, test_lua_heap_full_at_change_user);
	tcase_add_test(tc, test_lua_heap_full_at_init_db);
	tcase_add_test(tc, test_short_process_kill_goes_to_the_backend);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
