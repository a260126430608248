// Unit tests for master/worker_pool_channel: what a worker says is gossip.  Small fake workers (a
// function in the forked child, speaking the channel codec) send a record larger than any message,
// answer a heartbeat never sent, report a client they never got, suspect a node, and ask for a
// name with and without a resolver behind the pool, or stop reading.  Each violation ends only that
// worker (logged, respawned); the legitimate messages reach the pool's callbacks or get their
// answer; a full channel drops the master's message with a warning.
#include "common/channel_socket.hpp"
#include "master/worker_pool.hpp"

#include <systemd/sd-event.h>

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>
// Last: <check.h> must follow the standard headers.
#include "tests/check_main.hpp"

using namespace myproxy;

namespace {

/* ---- in the forked child (no Check calls) ---- */

bool tell_master(int channel, const ChannelMessage &message)
{
	std::vector<std::uint8_t> bytes;
	if (!encode_channel_message(bytes, message))
		return false;
	return send_channel_message(channel, ByteSpan(bytes), {}).status == ChannelIoStatus::ok;
}

/* The next message from the master of @type, skipping heartbeats; nullopt at EOF. */
std::optional<ChannelMessage> wait_for(int channel, ChannelMessageType type, std::vector<std::uint8_t> &buffer)
{
	for (;;) {
		pollfd p{channel, POLLIN, 0};
		if (poll(&p, 1, -1) < 0)
			return std::nullopt;
		auto received = receive_channel_message(channel, buffer);
		if (received.status == ChannelIoStatus::would_block)
			continue;
		if (received.status != ChannelIoStatus::ok)
			return std::nullopt;
		auto decoded = decode_channel_message(ByteSpan(buffer.data(), received.size), received.fd_count,
						      ChannelDirection::master_to_worker);
		if (!decoded)
			return std::nullopt;
		if (channel_message_type(decoded.value()) == type)
			return decoded.value();
	}
}

/* Ready, then @misbehave, then wait for the master's DRAIN or kill. */
template <typename Misbehave>
WorkerEntry fake_worker(Misbehave misbehave)
{
	return [misbehave](UniqueFd channel, unsigned) {
		if (!tell_master(channel.get(), WorkerReadyMessage{}))
			return 40;
		std::vector<std::uint8_t> buffer(channel_max_message_size);
		if (const int status = misbehave(channel.get(), buffer))
			return status;
		wait_for(channel.get(), ChannelMessageType::drain, buffer);
		return 0;
	};
}

/* ---- harness ---- */

std::string log_path;

void capture_log()
{
	char pattern[] = "/tmp/check_worker_pool_gossip.log.XXXXXX";
	const int fd = mkstemp(pattern);
	ck_assert_int_ge(fd, 0);
	log_path = pattern;
	dup2(fd, 2);
	close(fd);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, nullptr);
}

void remove_log()
{
	unlink(log_path.c_str());
}

std::string read_log()
{
	std::string text;
	if (FILE *f = std::fopen(log_path.c_str(), "r")) {
		char chunk[4096];
		std::size_t n;
		while ((n = std::fread(chunk, 1, sizeof(chunk), f)) > 0)
			text.append(chunk, n);
		std::fclose(f);
	}
	return text;
}

bool log_has(const std::string &needle)
{
	return read_log().find(needle) != std::string::npos;
}

std::uint64_t now_ms()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return std::uint64_t(ts.tv_sec) * 1000 + std::uint64_t(ts.tv_nsec) / 1000000;
}

/* Runs the loop until @done; false after the safety net (scaled by CK_TIMEOUT_MULTIPLIER). */
bool run_until(sd_event *event, const std::function<bool()> &done)
{
	const std::uint64_t deadline = now_ms() + 10000 * std::uint64_t(timeout_multiplier());
	while (!done()) {
		if (now_ms() >= deadline)
			return false;
		ck_assert_int_ge(sd_event_run(event, 10000), 0);
	}
	return true;
}

struct TestLoop {
	sd_event *event = nullptr;
	TestLoop() { ck_assert_int_ge(sd_event_new(&event), 0); }
	~TestLoop() { sd_event_unref(event); }
};

WorkerPoolOptions quick_respawn()
{
	WorkerPoolOptions options;
	options.initial_backoff_usec = 10000;
	options.max_backoff_usec = 10000;
	return options;
}

#define ck_assert_log(needle) \
	ck_assert_msg(log_has(needle), "log lacks \"%s\":\n%s", std::string(needle).c_str(), read_log().c_str())

/* The first worker misbehaves once: it is killed for @reason and its slot is served again. */
void expect_killed_for(const WorkerEntry &entry, const std::string &reason)
{
	TestLoop loop;
	WorkerPool pool(loop.event, 1, entry, quick_respawn());
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [&] { return log_has("; killing it"); }));
	const pid_t first = pool.status(0).pid;
	ck_assert(run_until(loop.event, [&] { return pool.status(0).starts >= 2; }));
	ck_assert_log("worker[0] pid " + std::to_string(first) + " " + reason + "; killing it");
	ck_assert_log("worker[0] pid " + std::to_string(first) + " killed by signal 9 (SIGKILL)");
}

} // namespace

/* A record larger than any channel message: the channel is broken (MSG_TRUNC), not parsed. */
START_TEST(test_oversized_record)
{
	expect_killed_for(fake_worker([](int channel, std::vector<std::uint8_t> &) {
				  const std::string huge(channel_max_message_size + 100, 'x');
				  return send(channel, huge.data(), huge.size(), 0) == ssize_t(huge.size()) ? 0 : 41;
			  }),
			  "broke the channel (recvmsg: message larger than the receive buffer (MSG_TRUNC))");
}
END_TEST

/* An answer to a question the master never asked. */
START_TEST(test_heartbeat_reply_never_asked)
{
	expect_killed_for(fake_worker([](int channel, std::vector<std::uint8_t> &) {
				  return tell_master(channel, HeartbeatReplyMessage{987654}) ? 0 : 41;
			  }),
			  "answered a HEARTBEAT never sent");
}
END_TEST

/* A CONNECTION_CLOSED for a client it never got is logged, not believed: the count stays. */
START_TEST(test_closed_client_it_never_had)
{
	TestLoop loop;
	WorkerPool pool(loop.event, 1, fake_worker([](int channel, std::vector<std::uint8_t> &) {
				return tell_master(channel, ConnectionClosedMessage{4242}) ? 0 : 41;
			}),
			quick_respawn());
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [] { return log_has("reported client 4242 closed"); }));
	ck_assert_log("worker[0] reported client 4242 closed, but holds no clients");
	ck_assert_uint_eq(pool.status(0).connections, 0);
	ck_assert_uint_eq(pool.status(0).starts, 1);
	ck_assert_uint_eq(pool.ready_count(), 1);
}
END_TEST

/* NODE_SUSPECT reaches the pool's callback with its indexes (the monitor checks them). */
START_TEST(test_node_suspect_reaches_the_monitor)
{
	TestLoop loop;
	WorkerPool pool(loop.event, 1, fake_worker([](int channel, std::vector<std::uint8_t> &) {
				return tell_master(channel, NodeSuspectMessage{3, 7}) ? 0 : 41;
			}),
			quick_respawn());
	std::vector<std::pair<std::uint32_t, std::uint32_t>> suspects;
	pool.set_on_node_suspect([&](std::uint32_t cluster, std::uint32_t node) { suspects.emplace_back(cluster, node); });
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [&] { return !suspects.empty(); }));
	ck_assert_uint_eq(suspects.size(), 1);
	ck_assert_uint_eq(suspects[0].first, 3);
	ck_assert_uint_eq(suspects[0].second, 7);
	ck_assert_uint_eq(pool.status(0).starts, 1);
}
END_TEST

/* A pool without a resolver answers every RESOLVE_REQUEST with an error the script can show; the
   worker exits with 21 only when it got exactly that answer for its request. */
START_TEST(test_resolve_without_resolver)
{
	TestLoop loop;
	WorkerPool pool(loop.event, 1, fake_worker([](int channel, std::vector<std::uint8_t> &buffer) {
				if (!tell_master(channel, ResolveRequestMessage{17, "db.example"}))
					return 41;
				const auto reply = wait_for(channel, ChannelMessageType::resolve_reply, buffer);
				if (!reply)
					return 42;
				const auto &r = std::get<ResolveReplyMessage>(*reply);
				return r.request_id == 17 && r.address.empty() && r.error == "the master resolves no names" ? 21
															    : 43;
			}),
			quick_respawn());
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [] { return log_has("exited with status"); }));
	ck_assert_log("exited with status 21");
}
END_TEST

/* With a resolver: the request reaches it with the worker's pid; its answer goes back through
   send_to(); a request it calls a violation ends the worker. */
START_TEST(test_resolve_through_the_callback)
{
	TestLoop loop;
	WorkerPool pool(loop.event, 1, fake_worker([](int channel, std::vector<std::uint8_t> &buffer) {
				if (!tell_master(channel, ResolveRequestMessage{1, "good.example"}))
					return 41;
				const auto reply = wait_for(channel, ChannelMessageType::resolve_reply, buffer);
				if (!reply || std::get<ResolveReplyMessage>(*reply).request_id != 1 ||
				    std::get<ResolveReplyMessage>(*reply).address.size() != 4)
					return 42;
				return tell_master(channel, ResolveRequestMessage{2, "bad.example"}) ? 0 : 43;
			}),
			quick_respawn());
	std::vector<pid_t> askers;
	pool.set_on_resolve_request([&](pid_t worker, const ResolveRequestMessage &request) -> const char * {
		askers.push_back(worker);
		if (request.host != "good.example")
			return "asked for a name it may not";
		static const std::uint8_t loopback[4] = {127, 0, 0, 1};
		ck_assert(pool.send_to(worker, ResolveReplyMessage{request.request_id, ByteSpan(loopback, 4), {}}));
		return nullptr;
	});
	ck_assert_int_eq(pool.start(), 0);
	const pid_t first = pool.status(0).pid;
	ck_assert(run_until(loop.event, [&] { return pool.status(0).starts >= 2; }));
	ck_assert_uint_ge(askers.size(), 2);
	ck_assert_int_eq(askers[0], first);
	ck_assert_log("worker[0] pid " + std::to_string(first) + " asked for a name it may not; killing it");
	/* Nothing goes to a pid that is no worker of this pool. */
	ck_assert(!pool.send_to(first, DrainMessage{}));
	ck_assert(!pool.send_to(0, DrainMessage{}));
}
END_TEST

/* A worker that stops reading: the master's messages to it are dropped with a warning once its
   channel is full, and the master goes on. */
START_TEST(test_full_channel_drops_messages)
{
	TestLoop loop;
	WorkerPoolOptions options = quick_respawn();
	options.heartbeat_interval_usec = 0;
	WorkerPool pool(loop.event, 1, fake_worker([](int, std::vector<std::uint8_t> &) {
				for (;;)
					pause();
				return 0;
			}),
			options);
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [&] { return pool.ready_count() == 1; }));
	for (unsigned i = 0; i < 100000 && !log_has("channel full"); ++i)
		pool.broadcast(NodeStateMessage{0, 0, NodeState::alive});
	ck_assert_log("worker[0] channel full; NODE_STATE not sent");
	ck_assert_uint_eq(pool.status(0).starts, 1);
	ck_assert_uint_eq(pool.ready_count(), 1);
}
END_TEST

/* Retired while its slot waits for a respawn: nothing is respawned, and with nothing running the
   pool is done at once. */
START_TEST(test_retire_while_waiting_for_respawn)
{
	TestLoop loop;
	WorkerPoolOptions options;
	options.initial_backoff_usec = 3600ull * 1000000;
	WorkerPool pool(loop.event, 1, [](UniqueFd, unsigned) { return 3; }, options);
	bool all_exited = false;
	pool.set_on_all_exited([&] { all_exited = true; });
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [&] { return log_has("respawning in"); }));
	ck_assert_int_eq(pool.status(0).pid, 0);
	pool.retire(0);
	ck_assert(all_exited);
	ck_assert_uint_eq(pool.running_count(), 0);
	ck_assert_uint_eq(pool.status(0).starts, 1);
}
END_TEST

int main()
{
	Suite *suite = suite_create("worker_pool_gossip");
	TCase *tc = tcase_create("gossip");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, capture_log, remove_log);
	tcase_add_test(tc, test_oversized_record);
	tcase_add_test(tc, test_heartbeat_reply_never_asked);
	tcase_add_test(tc, test_closed_client_it_never_had);
	tcase_add_test(tc, test_node_suspect_reaches_the_monitor);
	tcase_add_test(tc, test_resolve_without_resolver);
	tcase_add_test(tc, test_resolve_through_the_callback);
	tcase_add_test(tc, test_full_channel_drops_messages);
	tcase_add_test(tc, test_retire_while_waiting_for_respawn);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
