// Unit tests for a worker's side of the master channel (worker/worker.cpp): a real Worker runs its
// sd-event loop in a thread of the test, which plays the master over a real SEQPACKET pair and a
// client over a UNIX socketpair.  Hostile or out-of-turn messages (bytes that are no message, a
// second DRAIN) end the worker with exit_channel_protocol and a log line; a NODE_STATE for
// a node the configuration lacks is logged and ignored; a NEW_CLIENT whose fd is not the socket
// the master described is refused with CONNECTION_CLOSED; HEARTBEAT is answered; DISCONNECT_ACCOUNT
// closes that account's sessions; DRAIN with a stalled login ends at its timeout with ERR 1053 to
// the client; the master's EOF ends the worker cleanly; a handler that sleep()s is resumed by the
// worker's timer; a client passed after DRAIN, or whose fd
// did not fit (MSG_CTRUNC), is handed back with CONNECTION_CLOSED.  Causes only: exit statuses,
// messages, log lines, packets.
#include "tests/unit/worker_bench.hpp"

#include <sys/resource.h>

using namespace myproxy;
using namespace myproxy::test;

namespace {

/* The handler: "sleepy" sleeps 10 ms in on_handshake_response, then refuses with its name; any
 * other user is refused at once with client.account set to the user name. */
const char *const config_text =
	"mysql_listen('/nonexistent/myproxy-test.sock', {\n"
	"  on_handshake_response = function(client, hr)\n"
	"    if hr.user == 'sleepy' then sleep(0.01) return client:err('slept ' .. hr.user) end\n"
	"    if hr.user == 'sloth' then client.account = 'sloth' sleep(3600) return client:err('woke') end\n"
	"    client.account = hr.user\n"
	"    return client:err('no ' .. hr.user)\n"
	"  end,\n"
	"})\n"
	"mysql_cluster({mysql_resolve('127.0.0.1:3306')})\n"
	"function reload()\n"
	"  if reloaded then error('only once') end\n"
	"  reloaded = true\n"
	"end\n";

} // namespace

START_TEST(test_garbage_ends_the_worker)
{
	WorkerBench bench(config_text);
	bench.send_raw({0x42, 0x00, 0x07});
	ck_assert_int_eq(bench.finish(), exit_channel_protocol);
	ck_assert_msg(contains(bench.log(), "bad message from the master"), "log: %s", bench.log().c_str());
}
END_TEST

START_TEST(test_messages_while_serving)
{
	WorkerBench bench(config_text);
	HeartbeatMessage heartbeat;
	heartbeat.sequence = 4242;
	bench.send(heartbeat);
	auto reply = bench.receive();
	ck_assert(reply && channel_message_type(*reply) == ChannelMessageType::heartbeat_reply);
	ck_assert_uint_eq(std::get<HeartbeatReplyMessage>(*reply).sequence, 4242);

	/* A node the configuration does not have: logged, nothing else. */
	NodeStateMessage unknown_node;
	unknown_node.cluster_index = 7;
	unknown_node.node_index = 3;
	unknown_node.state = NodeState::dead;
	bench.send(unknown_node);
	NodeStateMessage known_node;
	known_node.state = NodeState::dead;
	bench.send(known_node);

	/* An fd that is not the socket the master described. */
	ClientPair pair, other;
	NewClientMessage mismatch = new_client_for(other.served, 11);
	bench.send(mismatch, {pair.served});
	auto closed = bench.receive();
	ck_assert(closed && channel_message_type(*closed) == ChannelMessageType::connection_closed);
	ck_assert_uint_eq(std::get<ConnectionClosedMessage>(*closed).client_id, 11);

	/* A client that logs in slowly (sleep() in its handler) and one that is refused at once. */
	ClientPair sleepy;
	bench.send(new_client_for(sleepy.served, 12), {sleepy.served});
	sleepy.handed_over();
	ck_assert_uint_ge(sleepy.read_payload().size(), 10); /* the greeting */
	sleepy.send_login("sleepy");
	const std::string refusal = describe_err(sleepy.read_payload());
	ck_assert_msg(refusal == "1045 slept sleepy", "the sleepy login got '%s'", refusal.c_str());
	closed = bench.receive();
	ck_assert(closed && std::get<ConnectionClosedMessage>(*closed).client_id == 12);

	DisconnectAccountMessage disconnect;
	disconnect.account = "acme";
	bench.send(disconnect);

	/* The master goes away: the worker ends cleanly. */
	bench.master_end.reset();
	ck_assert_int_eq(bench.finish(), exit_ok);
	const std::string log = bench.log();
	ck_assert_msg(contains(log, "NODE_STATE for cluster 7 node 3, which the configuration does not have"), "log: %s",
		      log.c_str());
	ck_assert_msg(contains(log, "client 11: the received fd is not the socket the master accepted"), "log: %s",
		      log.c_str());
	ck_assert_msg(contains(log, "DISCONNECT_ACCOUNT 'acme': closing 0 sessions"), "log: %s", log.c_str());
	ck_assert_msg(contains(log, "the master closed the channel; exiting"), "log: %s", log.c_str());
}
END_TEST

/* DRAIN with a login still waiting for the client: the drain timeout closes it with ERR 1053, and a
 * second DRAIN is out of turn (the master drains once). */
START_TEST(test_drain_timeout_and_second_drain)
{
	WorkerBench bench(config_text);
	ClientPair stalled;
	bench.send(new_client_for(stalled.served, 21), {stalled.served});
	stalled.handed_over();
	ck_assert_uint_ge(stalled.read_payload().size(), 10);
	DrainMessage drain;
	drain.timeout_ms = 50;
	bench.send(drain);
	const std::string err = describe_err(stalled.read_payload());
	ck_assert_msg(err.rfind("1053 ", 0) == 0, "the stalled login got '%s'", err.c_str());
	ck_assert_int_eq(bench.finish(), exit_ok);
	ck_assert_msg(contains(bench.log(), "draining: 1 connections"), "log: %s", bench.log().c_str());
	ck_assert_msg(contains(bench.log(), "drain timeout: closing 1 connections"), "log: %s", bench.log().c_str());

	WorkerBench second(config_text);
	ClientPair waiting;
	second.send(new_client_for(waiting.served, 22), {waiting.served});
	waiting.handed_over();
	ck_assert_uint_ge(waiting.read_payload().size(), 10);
	drain.timeout_ms = 600'000;
	second.send(drain);
	second.send(drain);
	ck_assert_int_eq(second.finish(), exit_channel_protocol);
	ck_assert_msg(contains(second.log(), "the master sent DRAIN, which a draining worker does not accept"), "log: %s",
		      second.log().c_str());
}
END_TEST

/* A client whose fd lands within the reserve of the worker's fd limit gets ERR 1040 before any
 * greeting, and the master hears it is gone. */
START_TEST(test_client_refused_near_the_fd_limit)
{
	WorkerBench bench(config_text, 8);
	ClientPair pair;
	bench.send(new_client_for(pair.served, 31), {pair.served});
	pair.handed_over();
	const std::string err = describe_err(pair.read_payload());
	ck_assert_msg(err == "1040 Too many connections: worker at its fd limit", "got '%s'", err.c_str());
	auto closed = bench.receive();
	ck_assert(closed && std::get<ConnectionClosedMessage>(*closed).client_id == 31);
	ck_assert_msg(contains(bench.log(), "client 31 (uid=0) refused: fd"), "log: %s", bench.log().c_str());
}
END_TEST

/* While its handler sleeps, a client that hangs up is noticed (CONNECTION_CLOSED long before the
 * sleep ends); one whose account the master disconnects gets ERR 1927. */
START_TEST(test_login_ends_while_the_handler_sleeps)
{
	WorkerBench bench(config_text);
	ClientPair gone;
	bench.send(new_client_for(gone.served, 41), {gone.served});
	gone.handed_over();
	ck_assert_uint_ge(gone.read_payload().size(), 10);
	gone.send_login("sloth");
	shutdown(gone.client, SHUT_RDWR);
	auto closed = bench.receive();
	ck_assert(closed && std::get<ConnectionClosedMessage>(*closed).client_id == 41);

	ClientPair disconnected;
	bench.send(new_client_for(disconnected.served, 42), {disconnected.served});
	disconnected.handed_over();
	ck_assert_uint_ge(disconnected.read_payload().size(), 10);
	disconnected.send_login("sloth");
	/* Out of turn: the worker leaves it unread while the handler runs. */
	ck_assert(write_all(disconnected.client, framed(0, "\x03SELECT 'too early'")));
	/* The account is set once the handler runs: wait for the session to be counted under it. */
	DisconnectAccountMessage disconnect;
	disconnect.account = "sloth";
	std::string err;
	for (unsigned attempt = 0; attempt < 300 * timeout_multiplier() && err.empty(); ++attempt) {
		bench.send(disconnect);
		pollfd p{disconnected.client, POLLIN, 0};
		if (poll(&p, 1, 100) == 1)
			err = describe_err(disconnected.read_payload());
	}
	ck_assert_msg(err == "1927 myproxy: this account was disconnected by the administrator", "got '%s'", err.c_str());
	ck_assert_msg(contains(bench.log(), "DISCONNECT_ACCOUNT 'sloth': closing 1 sessions"), "log: %s",
		      bench.log().c_str());
}
END_TEST

/* A client the master passes after its DRAIN is handed back with CONNECTION_CLOSED. */
START_TEST(test_client_after_drain)
{
	WorkerBench bench(config_text);
	ClientPair stalled, late;
	bench.send(new_client_for(stalled.served, 51), {stalled.served});
	stalled.handed_over();
	ck_assert_uint_ge(stalled.read_payload().size(), 10);
	DrainMessage drain;
	drain.timeout_ms = 600'000;
	bench.send(drain);
	bench.send(new_client_for(late.served, 52), {late.served});
	auto closed = bench.receive();
	ck_assert(closed && std::get<ConnectionClosedMessage>(*closed).client_id == 52);
	bench.master_end.reset();
	ck_assert_int_eq(bench.finish(), exit_ok);
}
END_TEST

/* The worker has no fd left for a NEW_CLIENT's socket (MSG_CTRUNC): that client is reported gone,
 * the channel and the worker go on.  The fd-starved window is kept short and quiet: the worker's
 * loop is settled first (a heartbeat round trip), so nothing of its own closes an fd and leaves a
 * free number while the test holds all of them; and the limit is restored before any assertion,
 * since the sanitizers' own checks need fds (UBSan's vptr check opens a pipe). */
START_TEST(test_client_fd_truncated)
{
	WorkerBench bench(config_text);
	ClientPair pair;
	HeartbeatMessage heartbeat;
	heartbeat.sequence = 1;
	bench.send(heartbeat);
	auto reply = bench.receive();
	ck_assert(reply && std::get<HeartbeatReplyMessage>(*reply).sequence == 1);

	rlimit original{};
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &original), 0);
	int highest = 0;
	for (int fd = 0; fd < 1024; ++fd)
		if (fcntl(fd, F_GETFD) >= 0)
			highest = fd;
	const rlimit tight{rlim_t(highest + 1), original.rlim_max};
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &tight), 0);
	/* Fill the holes below the limit: no number is left for what the kernel would install. */
	std::vector<int> fillers;
	for (int fd = dup(0); fd >= 0; fd = dup(0))
		fillers.push_back(fd);
	bench.send(new_client_for(pair.served, 61), {pair.served});
	auto closed = bench.receive();
	for (const int fd : fillers)
		close(fd);
	const int restored = setrlimit(RLIMIT_NOFILE, &original);

	ck_assert_int_eq(restored, 0);
	ck_assert(closed && channel_message_type(*closed) == ChannelMessageType::connection_closed);
	ck_assert_uint_eq(std::get<ConnectionClosedMessage>(*closed).client_id, 61);
	heartbeat.sequence = 2;
	bench.send(heartbeat);
	reply = bench.receive();
	ck_assert(reply && std::get<HeartbeatReplyMessage>(*reply).sequence == 2);
	ck_assert_msg(contains(bench.log(), "client 61 (uid=0) lost: its socket did not fit (MSG_CTRUNC"), "log: %s",
		      bench.log().c_str());
}
END_TEST

int main()
{
	Suite *suite = suite_create("worker_channel");
	TCase *tc = tcase_create("channel");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_garbage_ends_the_worker);
	tcase_add_test(tc, test_messages_while_serving);
	tcase_add_test(tc, test_drain_timeout_and_second_drain);
	tcase_add_test(tc, test_client_refused_near_the_fd_limit);
	tcase_add_test(tc, test_login_ends_while_the_handler_sleeps);
	tcase_add_test(tc, test_client_after_drain);
	tcase_add_test(tc, test_client_fd_truncated);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
