// Unit tests for what a real Worker (tests/unit/worker_bench.hpp) does with the master's cluster
// and resolver messages: a cluster node that stays silent past read_timeout gets the client ERR
// 1158 and the master a NODE_SUSPECT; a node the master declares dead closes the sessions relayed
// to it (disconnect_unavailable) with an ERR naming it, the socket let go after the closing
// timeout; mysql_resolve() of a host name in a callback waits for the master's RESOLVE_REPLY (an
// address, an error, a reply nobody waits for, one for a client that left).  The test plays
// master, clients and backends.
#include "common/log.hpp"

#include <arpa/inet.h>

#include "tests/unit/worker_bench.hpp"

using namespace myproxy;
using namespace myproxy::test;

namespace {

/* A cluster of two nodes on 127.0.0.1 (a tie in the hash: node 0, listed first, wins while
   available); the login connects with @connect_options. */
std::string cluster_config(const FakeBackend &first, const FakeBackend &second, const std::string &cluster_options,
			   const std::string &connect_options)
{
	return "local cluster = mysql_cluster({'127.0.0.1:" + std::to_string(first.port) + "', '127.0.0.1:" +
	       std::to_string(second.port) + "'}, " + cluster_options + ")\n"
	       "mysql_listen('/nonexistent/myproxy-test.sock', {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    client.account = hr.user\n"
	       "    return client:connect(cluster, hr, " + connect_options + ")\n"
	       "  end,\n"
	       "})\n";
}

/* The worker's next message, skipping CONNECTION_CLOSED reports. */
std::optional<ChannelMessage> next_message_but_closed(WorkerBench &bench)
{
	for (;;) {
		auto message = bench.receive();
		if (!message || channel_message_type(*message) != ChannelMessageType::connection_closed)
			return message;
	}
}

/* The worker's next message, skipping NODE_SUSPECT reports. */
std::optional<ChannelMessage> next_message_but_suspect(WorkerBench &bench)
{
	for (;;) {
		auto message = bench.receive();
		if (!message || channel_message_type(*message) != ChannelMessageType::node_suspect)
			return message;
	}
}

void expect_logged_in(ClientPair &client)
{
	const std::string ok = client.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "login: %s", describe_err(ok).c_str());
}

/* A config whose login resolves "<user>.example:<port of @backend>" and connects there, or
   refuses with the resolver's reason. */
std::string resolving_config(const FakeBackend &backend)
{
	return "mysql_listen('/nonexistent/myproxy-test.sock', {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    local address, problem = mysql_resolve(hr.user .. '.example:" + std::to_string(backend.port) + "')\n"
	       "    if not address then return client:err(problem) end\n"
	       "    return client:connect(address, hr)\n"
	       "  end,\n"
	       "})\n";
}

/* The worker's RESOLVE_REQUEST, copied out of the bench's buffer. */
std::pair<std::uint64_t, std::string> expect_resolve_request(WorkerBench &bench)
{
	auto message = bench.receive();
	ck_assert(message.has_value());
	ck_assert_int_eq(int(channel_message_type(*message)), int(ChannelMessageType::resolve_request));
	const auto &request = std::get<ResolveRequestMessage>(*message);
	return {request.request_id, std::string(request.host)};
}

} // namespace

/* The node stays silent past read_timeout: ERR 1158 for the client, NODE_SUSPECT for the master. */
START_TEST(test_silent_node_is_suspect)
{
	FakeBackend first, second;
	WorkerBench bench(cluster_config(first, second, "nil", "{read_timeout = 0.2}"));
	ClientPair client;
	start_login(bench, client, 1);
	const int served = first.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	expect_logged_in(client);
	ck_assert(write_all(client.client, framed(0, "\x03SELECT SLEEP(100)")));
	ck_assert(read_packet_payload(served) == "\x03SELECT SLEEP(100)");
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1158 The backend server did not answer within read_timeout", "got '%s'", err.c_str());
	auto suspect = next_message_but_closed(bench);
	ck_assert(suspect.has_value());
	ck_assert_int_eq(int(channel_message_type(*suspect)), int(ChannelMessageType::node_suspect));
	ck_assert_uint_eq(std::get<NodeSuspectMessage>(*suspect).cluster_index, 0);
	ck_assert_uint_eq(std::get<NodeSuspectMessage>(*suspect).node_index, 0);
	ck_assert_msg(contains(bench.log(), "closing: the backend was silent for 200 ms (read_timeout)"), "log: %s",
		      bench.log().c_str());
	close(served);
}
END_TEST

/* The master declares the session's node dead while another is alive: the session ends with an
   ERR naming the node (disconnect_unavailable), the socket is let go once the client has had its
   time to read it, and the next login goes to the other node. */
START_TEST(test_dead_node_disconnects_its_sessions)
{
	log_set_debug(true);
	FakeBackend first, second;
	WorkerBench bench(cluster_config(first, second,
					 "{monitoring = true, no_read_only = true, disconnect_unavailable = true}",
					 "{}"));
	bench.send(NodeStateMessage{0, 0, NodeState::alive});
	bench.send(NodeStateMessage{0, 1, NodeState::alive});
	ClientPair client;
	start_login(bench, client, 2);
	const int served = first.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	expect_logged_in(client);

	bench.send(NodeStateMessage{0, 0, NodeState::dead});
	const std::string err = describe_err(client.read_payload());
	const std::string node = "127.0.0.1:" + std::to_string(first.port);
	ck_assert_msg(contains(err, "myproxy: backend node " + node + " is dead; connection closed, please reconnect"),
		      "got '%s'", err.c_str());
	ck_assert(client.read_payload().empty());
	ck_assert_msg(contains(bench.log(), "closing: its backend node " + node + " is dead (disconnect_unavailable)"),
		      "log: %s", bench.log().c_str());
	/* The client neither speaks nor hangs up: after the closing timeout the worker lets go. */
	auto closed = next_message_but_suspect(bench);
	ck_assert(closed.has_value());
	ck_assert_int_eq(int(channel_message_type(*closed)), int(ChannelMessageType::connection_closed));
	ck_assert_uint_eq(std::get<ConnectionClosedMessage>(*closed).client_id, 2);
	ck_assert_msg(contains(bench.log(), "the client did not take its last packet"), "log: %s", bench.log().c_str());

	ClientPair next;
	start_login(bench, next, 3);
	const int other = second.accept_one();
	ck_assert_int_ge(other, 0);
	serve_backend_login(other);
	expect_logged_in(next);
	close(other);
	close(served);
}
END_TEST

/* A host name in a callback goes to the master; its address resumes the login. */
START_TEST(test_resolve_through_the_master)
{
	FakeBackend backend;
	WorkerBench bench(resolving_config(backend));
	ClientPair client;
	start_login(bench, client, 4);
	const auto [id, host] = expect_resolve_request(bench);
	ck_assert_str_eq(host.c_str(), "alice.example");
	const std::uint8_t loopback[4] = {127, 0, 0, 1};
	ResolveReplyMessage reply;
	reply.request_id = id;
	reply.address = ByteSpan(loopback, sizeof(loopback));
	bench.send(reply);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	expect_logged_in(client);
	close(served);
}
END_TEST

/* The master's lookup failed: the callback gets nil and the reason, and refuses with it. */
START_TEST(test_resolve_error_reaches_the_script)
{
	FakeBackend backend;
	WorkerBench bench(resolving_config(backend));
	ClientPair client;
	start_login(bench, client, 5);
	const auto [id, host] = expect_resolve_request(bench);
	ResolveReplyMessage reply;
	reply.request_id = id;
	reply.error = "cannot resolve 'alice.example': Name or service not known";
	bench.send(reply);
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(contains(err, "cannot resolve 'alice.example': Name or service not known"), "got '%s'",
		      err.c_str());
}
END_TEST

/* A reply nobody waits for is logged and dropped; one for a client that hung up meanwhile is
   dropped quietly; the worker serves on. */
START_TEST(test_resolve_replies_nobody_waits_for)
{
	FakeBackend backend;
	WorkerBench bench(resolving_config(backend));
	ResolveReplyMessage stray;
	stray.request_id = 999;
	stray.error = "nobody asked";
	bench.send(stray);

	std::uint64_t abandoned_id = 0;
	{
		ClientPair leaving;
		start_login(bench, leaving, 6);
		abandoned_id = expect_resolve_request(bench).first;
	}
	/* The worker noticed the hang-up (its CONNECTION_CLOSED) before the late answer comes. */
	auto closed = bench.receive();
	ck_assert(closed.has_value());
	ck_assert_int_eq(int(channel_message_type(*closed)), int(ChannelMessageType::connection_closed));
	const std::uint8_t loopback[4] = {127, 0, 0, 1};
	ResolveReplyMessage late;
	late.request_id = abandoned_id;
	late.address = ByteSpan(loopback, sizeof(loopback));
	bench.send(late);

	ClientPair client;
	start_login(bench, client, 7);
	const auto [id, host] = expect_resolve_request(bench);
	ck_assert_uint_ne(id, abandoned_id);
	ResolveReplyMessage reply;
	reply.request_id = id;
	reply.address = ByteSpan(loopback, sizeof(loopback));
	bench.send(reply);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	expect_logged_in(client);
	close(served);
	const std::string log = bench.log();
	ck_assert_msg(contains(log, "RESOLVE_REPLY for request 999, which is not waiting"), "log: %s", log.c_str());
	ck_assert_msg(!contains(log, "RESOLVE_REPLY for request " + std::to_string(abandoned_id)), "log: %s",
		      log.c_str());
}
END_TEST

int main()
{
	Suite *suite = suite_create("worker_cluster");
	TCase *tc = tcase_create("cluster_and_resolver");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_silent_node_is_suspect);
	tcase_add_test(tc, test_dead_node_disconnects_its_sessions);
	tcase_add_test(tc, test_resolve_through_the_master);
	tcase_add_test(tc, test_resolve_error_reaches_the_script);
	tcase_add_test(tc, test_resolve_replies_nobody_waits_for);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
