// Unit tests for master/worker_pool and master/master with a fake worker entry function: a small
// loop in the forked child that speaks the channel codec.  Clients passed through the pool arrive,
// killed and misbehaving workers are logged and respawned while the master goes on, a crash loop
// is throttled, and a whole master drains on SIGTERM.  Log lines are captured in a temporary file.
#include "common/channel_socket.hpp"
#include "common/exit_status.hpp"
#include "lua/config_loader.hpp"
#include "master/listener.hpp"
#include "master/master.hpp"
#include "master/worker_pool.hpp"
#include "tests/check_main.hpp"

#include <systemd/sd-event.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

using namespace myproxy;

/* What the fake worker does with a NEW_CLIENT, chosen by the test through listener_index. */
enum FakeAction : std::uint32_t {
	greet_and_close = 0,  /* write "hi N states=S fds=N\n", close, report CONNECTION_CLOSED */
	greet_and_hold = 1,   /* write the greeting, keep the client, report nothing */
	send_garbage = 2,     /* answer with bytes the codec rejects */
	ready_twice = 3,      /* send WORKER_READY again */
	attach_fd = 4,        /* CONNECTION_CLOSED with an fd attached */
	crash_serving = 5,    /* note the client as served (activity page), then die from SIGSYS */
	hold_serving = 6,     /* note the client as served, greet it, keep it */
};

/* ---- the fake worker (runs in the forked child; no Check calls here) ---- */

static bool send_to_master(int channel, const ChannelMessage &message, std::span<const int> fds = {})
{
	std::vector<std::uint8_t> bytes;
	if (!encode_channel_message(bytes, message))
		return false;
	return send_channel_message(channel, ByteSpan(bytes), fds).status == ChannelIoStatus::ok;
}

/* The pool promised: fds 0-2, the channel as 3, nothing else. */
static bool only_standard_fds_and_channel()
{
	DIR *dir = opendir("/proc/self/fd");
	if (dir == nullptr)
		return false;
	bool clean = true;
	while (const dirent *entry = readdir(dir)) {
		if (entry->d_name[0] == '.')
			continue;
		const int fd = std::atoi(entry->d_name);
		if (fd > 3 && fd != dirfd(dir))
			clean = false;
	}
	closedir(dir);
	return clean;
}

static void write_text(int fd, const std::string &text)
{
	(void)!write(fd, text.data(), text.size());
}

static int fake_worker(UniqueFd channel, unsigned index)
{
	if (channel.get() != 3 || !only_standard_fds_and_channel())
		return 42;
	sigset_t mask;
	sigprocmask(SIG_SETMASK, nullptr, &mask);
	if (sigismember(&mask, SIGCHLD) || sigismember(&mask, SIGTERM))
		return 43;
	if (!send_to_master(channel.get(), WorkerReadyMessage{}))
		return 44;

	std::vector<UniqueFd> held;
	std::vector<std::uint64_t> held_ids;
	/* The NODE_STATE messages received so far, "0dead,2alive,", told in every greeting. */
	std::string node_states;
	std::uint8_t buffer[channel_max_message_size];
	for (;;) {
		pollfd p{channel.get(), POLLIN, 0};
		if (poll(&p, 1, -1) < 0)
			return 45;
		auto received = receive_channel_message(channel.get(), buffer);
		if (received.status == ChannelIoStatus::would_block)
			continue;
		if (received.status != ChannelIoStatus::ok)
			return 0;
		auto decoded = decode_channel_message(ByteSpan(buffer, received.size), received.fd_count,
						      ChannelDirection::master_to_worker);
		if (!decoded)
			return 46;
		const ChannelMessage &message = decoded.value();
		if (std::holds_alternative<DrainMessage>(message))
			return 0;
		if (const auto *ping = std::get_if<HeartbeatMessage>(&message)) {
			send_to_master(channel.get(), HeartbeatReplyMessage{ping->sequence});
			continue;
		}
		if (const auto *state = std::get_if<NodeStateMessage>(&message)) {
			node_states += std::to_string(state->node_index) + node_state_name(state->state) + ",";
			continue;
		}
		if (std::holds_alternative<RetireMessage>(message)) {
			/* Told to every held client, so a test sees which workers got it. */
			for (auto &client : held)
				write_text(client.get(), "retired\n");
			continue;
		}
		if (std::holds_alternative<DisconnectAccountMessage>(message)) {
			/* Every held client hangs up, as a session that ends would. */
			for (auto &client : held)
				write_text(client.get(), "bye\n");
			held.clear();
			for (std::uint64_t id : held_ids)
				send_to_master(channel.get(), ConnectionClosedMessage{id});
			held_ids.clear();
			continue;
		}
		if (!std::holds_alternative<NewClientMessage>(message))
			continue;

		const auto &nc = std::get<NewClientMessage>(message);
		UniqueFd client = std::move(received.fds[0]);
		struct stat st;
		if (fstat(client.get(), &st) < 0 || st.st_dev != nc.info.socket_device ||
		    st.st_ino != nc.info.socket_inode)
			return 47;
		const std::string greeting = "hi " + std::to_string(index) + " states=" + node_states +
					     " fds=" + std::to_string(received.fd_count) + "\n";
		switch (nc.info.listener_index) {
		case greet_and_close:
			write_text(client.get(), greeting);
			client.reset();
			send_to_master(channel.get(), ConnectionClosedMessage{nc.info.client_id});
			break;
		case greet_and_hold:
			write_text(client.get(), greeting);
			held.push_back(std::move(client));
			held_ids.push_back(nc.info.client_id);
			break;
		case send_garbage: {
			const std::uint8_t garbage[] = {0xde, 0xad, 0xbe, 0xef};
			send_channel_message(channel.get(), ByteSpan(garbage), {});
			break;
		}
		case ready_twice:
			send_to_master(channel.get(), WorkerReadyMessage{});
			break;
		case crash_serving:
			note_serving_client(nc.info.client_id);
			raise(SIGSYS);
			return 48;
		case hold_serving:
			note_serving_client(nc.info.client_id);
			write_text(client.get(), greeting);
			held.push_back(std::move(client));
			break;
		case attach_fd: {
			const int fds[] = {client.get()};
			send_to_master(channel.get(), ConnectionClosedMessage{nc.info.client_id}, fds);
			break;
		}
		}
	}
}

/* ---- test harness ---- */

static std::string log_path;

/* Log lines of the pool (and of the workers, which inherit fd 2) go to a file the tests read. */
static void capture_log()
{
	char pattern[] = "/tmp/check_worker_pool.log.XXXXXX";
	const int fd = mkstemp(pattern);
	ck_assert_int_ge(fd, 0);
	log_path = pattern;
	dup2(fd, 2);
	close(fd);

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, nullptr);
}

static void remove_log()
{
	unlink(log_path.c_str());
}

static std::string read_log()
{
	std::string text;
	FILE *f = std::fopen(log_path.c_str(), "r");
	if (f == nullptr)
		return text;
	char chunk[4096];
	std::size_t n;
	while ((n = std::fread(chunk, 1, sizeof(chunk), f)) > 0)
		text.append(chunk, n);
	std::fclose(f);
	return text;
}

static std::uint64_t now_ms()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return std::uint64_t(ts.tv_sec) * 1000 + std::uint64_t(ts.tv_nsec) / 1000000;
}

/* Runs the loop until @done; false once the safety net (@timeout_ms scaled by
   CK_TIMEOUT_MULTIPLIER) is over.  The tests wait for causes; this bound only stops a hang. */
static bool run_until(sd_event *event, const std::function<bool()> &done, unsigned timeout_ms = 5000)
{
	const std::uint64_t deadline = now_ms() + std::uint64_t(timeout_ms) * timeout_multiplier();
	while (!done()) {
		if (now_ms() >= deadline)
			return false;
		ck_assert_int_ge(sd_event_run(event, 10000), 0);
	}
	return true;
}

/* Lets the loop run for @ms (to give a wrong outcome its chance; never to wait for a right one). */
static void run_for(sd_event *event, unsigned ms)
{
	const std::uint64_t end = now_ms() + ms;
	while (now_ms() < end)
		ck_assert_int_ge(sd_event_run(event, 10000), 0);
}

struct TestLoop {
	sd_event *event = nullptr;
	TestLoop() { ck_assert_int_ge(sd_event_new(&event), 0); }
	~TestLoop() { sd_event_unref(event); }
};

static WorkerPoolOptions fast_options()
{
	WorkerPoolOptions options;
	options.min_uptime_usec = 1000000;
	options.initial_backoff_usec = 50000;
	options.max_backoff_usec = 200000;
	return options;
}

/* One client: the pool gets one end of a socketpair, the test keeps the other. */
struct TestClient {
	UniqueFd ours;
	UniqueFd theirs;
	ClientInfo info;

	TestClient(std::uint64_t id, std::uint32_t action)
	{
		int pair[2];
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
		ours.reset(pair[0]);
		theirs.reset(pair[1]);
		struct stat st;
		ck_assert_int_eq(fstat(theirs.get(), &st), 0);
		info.client_id = id;
		info.listener_index = action;
		info.socket_device = st.st_dev;
		info.socket_inode = st.st_ino;
	}

	/* A line from the worker, "" on EOF or after @timeout_ms. */
	std::string read_line(int timeout_ms = 5000 * static_cast<int>(timeout_multiplier()))
	{
		std::string line;
		while (line.empty() || line.back() != '\n') {
			pollfd p{ours.get(), POLLIN, 0};
			if (poll(&p, 1, timeout_ms) <= 0)
				break;
			char c;
			if (read(ours.get(), &c, 1) != 1)
				break;
			line += c;
		}
		return line;
	}

	/* The other end was closed with nothing (more) written: EOF, not a timeout (the safety net,
	   scaled by CK_TIMEOUT_MULTIPLIER, makes it false). */
	bool sees_eof()
	{
		pollfd p{ours.get(), POLLIN, 0};
		if (poll(&p, 1, 10000 * static_cast<int>(timeout_multiplier())) <= 0)
			return false;
		char c;
		return read(ours.get(), &c, 1) == 0;
	}
};

static bool log_has(const std::string &needle)
{
	return read_log().find(needle) != std::string::npos;
}

/* Polls the log (the master runs in another process); false after @timeout_ms. */
static bool wait_for_log(const std::string &needle, unsigned timeout_ms = 10000)
{
	timeout_ms *= timeout_multiplier();
	for (unsigned waited = 0; !log_has(needle); waited += 20) {
		if (waited >= timeout_ms)
			return false;
		usleep(20000);
	}
	return true;
}

#define ck_assert_log(needle) ck_assert_msg(log_has(needle), "log lacks \"%s\":\n%s", \
					    std::string(needle).c_str(), read_log().c_str())

static bool reaped(pid_t pid)
{
	siginfo_t info;
	return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) < 0 && errno == ECHILD;
}

/* ---- pool tests ---- */

START_TEST(test_describe_child_exit)
{
	char text[96];
	describe_child_exit(text, sizeof(text), CLD_EXITED, 1);
	ck_assert_str_eq(text, "exited with status 1 (EXIT_FATAL)");
	describe_child_exit(text, sizeof(text), CLD_EXITED, exit_privilege_drop);
	ck_assert_str_eq(text, "exited with status 77 (EXIT_PRIVILEGE_DROP)");
	describe_child_exit(text, sizeof(text), CLD_EXITED, 3);
	ck_assert_str_eq(text, "exited with status 3");
	describe_child_exit(text, sizeof(text), CLD_KILLED, SIGSYS);
	ck_assert_str_eq(text, "killed by signal 31 (SIGSYS)");
	describe_child_exit(text, sizeof(text), CLD_DUMPED, SIGSEGV);
	ck_assert_str_eq(text, "killed by signal 11 (SIGSEGV), core dumped");
	describe_child_exit(text, 8, CLD_EXITED, 1);
	ck_assert_str_eq(text, "exited ");
	/* A signal without a name (real-time), an unexpected code, and no room at all. */
	describe_child_exit(text, sizeof(text), CLD_KILLED, 40);
	ck_assert_str_eq(text, "killed by signal 40");
	describe_child_exit(text, sizeof(text), CLD_STOPPED, SIGSTOP);
	ck_assert_str_eq(text, "changed state (code 5, status 19)");
	text[0] = 'x';
	describe_child_exit(text, 0, CLD_EXITED, 1);
	ck_assert_int_eq(text[0], 'x');
}
END_TEST

START_TEST(test_clients_arrive_balanced)
{
	TestLoop loop;
	/* An fd the children must not inherit. */
	UniqueFd unrelated(open("/dev/null", O_RDONLY));
	WorkerPool pool(loop.event, 2, fake_worker, fast_options());
	ck_assert_int_eq(pool.start(), 0);
	ck_assert_msg(run_until(loop.event, [&] { return pool.ready_count() == 2; }), "%s", read_log().c_str());

	std::vector<TestClient> clients;
	for (unsigned i = 0; i < 4; ++i) {
		clients.emplace_back(i + 1, greet_and_hold);
		ck_assert(pool.send_client(clients[i].info, std::move(clients[i].theirs)));
	}
	unsigned per_worker[2] = {};
	for (unsigned i = 0; i < 4; ++i) {
		const std::string line = clients[i].read_line();
		ck_assert_msg(line.starts_with("hi "), "client %u got \"%s\"", i, line.c_str());
		per_worker[line[3] - '0']++;
		ck_assert(line.ends_with(" fds=1\n"));
	}
	ck_assert_uint_eq(per_worker[0], 2);
	ck_assert_uint_eq(per_worker[1], 2);
	ck_assert_uint_eq(pool.status(0).connections, 2);
	ck_assert_uint_eq(pool.status(1).connections, 2);

	/* A client the worker closes is counted down again. */
	TestClient closing(9, greet_and_close);
	ck_assert(pool.send_client(closing.info, std::move(closing.theirs)));
	ck_assert(closing.read_line().starts_with("hi "));
	ck_assert(closing.sees_eof());
	ck_assert(run_until(loop.event, [&] {
		return pool.status(0).connections + pool.status(1).connections == 4;
	}));
}
END_TEST

/* A reload's old generation: no new client, nothing closed for it; each worker goes once its
   sessions ended, and the pool says so once all went. */
START_TEST(test_retired_workers_finish_their_sessions)
{
	TestLoop loop;
	WorkerPoolOptions options = fast_options();
	options.first_index = 4;
	WorkerPool pool(loop.event, 2, fake_worker, options);
	bool all_exited = false;
	pool.set_on_all_exited([&] { all_exited = true; });
	ck_assert_int_eq(pool.start(), 0);
	ck_assert_msg(run_until(loop.event, [&] { return pool.ready_count() == 2; }), "%s", read_log().c_str());

	std::vector<TestClient> clients;
	for (unsigned i = 0; i < 2; ++i) {
		clients.emplace_back(i + 1, greet_and_hold);
		ck_assert(pool.send_client(clients[i].info, std::move(clients[i].theirs)));
	}
	std::string greetings;
	for (auto &client : clients)
		greetings += client.read_line();
	/* Numbered after the previous generation's workers. */
	ck_assert_msg(greetings.find("hi 4 ") != std::string::npos && greetings.find("hi 5 ") != std::string::npos,
		      "%s", greetings.c_str());

	pool.retire(1000);
	ck_assert_uint_eq(pool.ready_count(), 0);
	TestClient late(3, greet_and_close);
	ck_assert(!pool.send_client(late.info, std::move(late.theirs)));
	/* Each worker is told RETIRE at once (its idle backend connections go), and its sessions go
	   on: no DRAIN, no exit, nothing else written to the clients. */
	for (auto &client : clients)
		ck_assert(client.read_line() == "retired\n");
	run_for(loop.event, 300);
	ck_assert_uint_eq(pool.running_count(), 2);
	ck_assert(!all_exited);
	for (auto &client : clients)
		ck_assert(client.read_line(100) == "");

	/* The sessions end: the workers are told to drain, and exit. */
	DisconnectAccountMessage everyone;
	everyone.account = "acme";
	pool.broadcast(everyone);
	for (auto &client : clients)
		ck_assert(client.read_line() == "bye\n");
	ck_assert_msg(run_until(loop.event, [&] { return all_exited; }), "%s", read_log().c_str());
	ck_assert_uint_eq(pool.running_count(), 0);
	ck_assert_uint_eq(pool.status(0).starts, 1);
	ck_assert_uint_eq(pool.status(1).starts, 1);
}
END_TEST

START_TEST(test_killed_worker_respawned)
{
	TestLoop loop;
	WorkerPool pool(loop.event, 1, fake_worker, fast_options());
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [&] { return pool.ready_count() == 1; }));
	const pid_t old_pid = pool.status(0).pid;

	ck_assert_int_eq(kill(old_pid, SIGKILL), 0);
	ck_assert(run_until(loop.event, [&] { return pool.status(0).pid != old_pid && pool.ready_count() == 1; }));
	ck_assert_log("worker[0] pid " + std::to_string(old_pid) + " killed by signal 9 (SIGKILL)");
	ck_assert_uint_eq(pool.status(0).starts, 2);
	/* It died young, so the respawn waited. */
	ck_assert_uint_eq(pool.status(0).backoff_usec, 50000);
	ck_assert(reaped(old_pid));

	TestClient client(1, greet_and_close);
	ck_assert(pool.send_client(client.info, std::move(client.theirs)));
	ck_assert(client.read_line().starts_with("hi 0"));
}
END_TEST

/* A worker gets what set_on_worker_ready() returns before its first client, a respawned one
 * too, and broadcast() reaches every worker. */
START_TEST(test_node_states_first)
{
	TestLoop loop;
	WorkerPool pool(loop.event, 1, fake_worker, fast_options());
	std::vector<ChannelMessage> known = {NodeStateMessage{0, 0, NodeState::dead},
					     NodeStateMessage{0, 2, NodeState::read_only}};
	pool.set_on_worker_ready([&] { return known; });
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [&] { return pool.ready_count() == 1; }));

	TestClient first(1, greet_and_close);
	ck_assert(pool.send_client(first.info, std::move(first.theirs)));
	const std::string line = first.read_line();
	ck_assert_msg(line == "hi 0 states=0dead,2read_only, fds=1\n", "got \"%s\"", line.c_str());

	pool.broadcast(NodeStateMessage{0, 0, NodeState::alive});
	TestClient second(2, greet_and_close);
	ck_assert(pool.send_client(second.info, std::move(second.theirs)));
	ck_assert(second.read_line() == "hi 0 states=0dead,2read_only,0alive, fds=1\n");

	/* The replacement of a killed worker starts from what the callback says now. */
	known = {NodeStateMessage{0, 0, NodeState::alive}};
	const pid_t old_pid = pool.status(0).pid;
	ck_assert_int_eq(kill(old_pid, SIGKILL), 0);
	ck_assert(run_until(loop.event, [&] { return pool.status(0).pid != old_pid && pool.ready_count() == 1; }));
	TestClient third(3, greet_and_close);
	ck_assert(pool.send_client(third.info, std::move(third.theirs)));
	ck_assert(third.read_line() == "hi 0 states=0alive, fds=1\n");
}
END_TEST

static void expect_killed_and_respawned(std::uint32_t action, const char *reason)
{
	TestLoop loop;
	WorkerPool pool(loop.event, 2, fake_worker, fast_options());
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [&] { return pool.ready_count() == 2; }));
	const pid_t pids[] = {pool.status(0).pid, pool.status(1).pid};

	TestClient bad(1, action);
	ck_assert(pool.send_client(bad.info, std::move(bad.theirs)));
	const bool first = pool.status(0).connections == 1;
	const unsigned victim = first ? 0 : 1;
	ck_assert(run_until(loop.event, [&] {
		return pool.status(victim).starts == 2 && pool.ready_count() == 2;
	}));
	ck_assert_log(std::string("worker[") + std::to_string(victim) + "] pid " + std::to_string(pids[victim]) + " " +
		      reason);
	ck_assert_log("; killing it");
	ck_assert_log("pid " + std::to_string(pids[victim]) + " killed by signal 9 (SIGKILL)");
	/* The other worker and the master went on. */
	ck_assert_int_eq(pool.status(1 - victim).pid, pids[1 - victim]);
	ck_assert_uint_eq(pool.status(1 - victim).starts, 1);

	for (unsigned i = 0; i < 4; ++i) {
		TestClient good(10 + i, greet_and_close);
		ck_assert(pool.send_client(good.info, std::move(good.theirs)));
		ck_assert(good.read_line().starts_with("hi "));
	}
}

START_TEST(test_garbage_worker_killed)
{
	expect_killed_and_respawned(send_garbage, "sent garbage");
}
END_TEST

START_TEST(test_ready_twice_killed)
{
	expect_killed_and_respawned(ready_twice, "sent WORKER_READY twice");
}
END_TEST

START_TEST(test_unexpected_fd_killed)
{
	expect_killed_and_respawned(attach_fd, "sent garbage");
}
END_TEST

/* A worker that dies from a signal while serving a client names that client's uid; the master's
   own kills and deaths while idle name nobody. */
START_TEST(test_crash_names_client)
{
	TestLoop loop;
	WorkerPool pool(loop.event, 2, fake_worker, fast_options());
	std::vector<std::pair<std::uint32_t, std::uint64_t>> crashes;
	pool.set_on_crash([&](std::uint32_t uid, std::uint64_t id) { crashes.emplace_back(uid, id); });
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [&] { return pool.ready_count() == 2; }));

	/* Idle death: no suspect. */
	ck_assert_int_eq(kill(pool.status(0).pid, SIGSEGV), 0);
	ck_assert(run_until(loop.event, [&] { return pool.status(0).starts == 2 && pool.ready_count() == 2; }));
	/* The master's own SIGKILL (a protocol violation): no suspect either. */
	TestClient garbage(5, send_garbage);
	ck_assert(pool.send_client(garbage.info, std::move(garbage.theirs)));
	ck_assert(run_until(loop.event, [&] { return pool.status(0).starts + pool.status(1).starts == 4 && pool.ready_count() == 2; }));
	ck_assert_uint_eq(crashes.size(), 0);

	TestClient victim(77, crash_serving);
	victim.info.has_credentials = true;
	victim.info.pid = 1;
	victim.info.uid = 4321;
	victim.info.gid = 4321;
	ck_assert(pool.send_client(victim.info, std::move(victim.theirs)));
	ck_assert(run_until(loop.event, [&] { return !crashes.empty(); }));
	ck_assert_uint_eq(crashes.size(), 1);
	ck_assert_uint_eq(crashes[0].first, 4321);
	ck_assert_uint_eq(crashes[0].second, 77);
	ck_assert_log("killed by signal 31 (SIGSYS)");
	ck_assert_log("crashed while serving client 77 (uid=4321)");
}
END_TEST

static std::string read_line_from(int fd);

/* SIGKILL from outside (an operator, the OOM killer) while a worker serves a client: the death is
   logged and the worker replaced, but it is no crash, so nobody is penalized. */
START_TEST(test_kill_is_no_crash)
{
	TestLoop loop;
	WorkerPool pool(loop.event, 1, fake_worker, fast_options());
	std::vector<std::pair<std::uint32_t, std::uint64_t>> crashes;
	pool.set_on_crash([&](std::uint32_t uid, std::uint64_t id) { crashes.emplace_back(uid, id); });
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [&] { return pool.ready_count() == 1; }));

	TestClient served(78, hold_serving);
	served.info.has_credentials = true;
	served.info.pid = 1;
	served.info.uid = 4322;
	served.info.gid = 4322;
	ck_assert(pool.send_client(served.info, std::move(served.theirs)));
	const pid_t pid = pool.status(0).pid;
	ck_assert(read_line_from(served.ours.get()).starts_with("hi "));
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert(run_until(loop.event, [&] { return pool.status(0).starts == 2 && pool.ready_count() == 1; }));
	ck_assert_log("worker[0] pid " + std::to_string(pid) + " killed by signal 9 (SIGKILL)");
	ck_assert_uint_eq(crashes.size(), 0);
}
END_TEST

/* SIGHUP, SIGINT and SIGTERM to a worker (the whole process group: Ctrl-C, systemctl kill) do
   nothing: workers take orders only over their channel. */
START_TEST(test_worker_ignores_group_signals)
{
	TestLoop loop;
	WorkerPool pool(loop.event, 1, fake_worker, fast_options());
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [&] { return pool.ready_count() == 1; }));
	const pid_t pid = pool.status(0).pid;
	for (int sig : {SIGHUP, SIGINT, SIGTERM})
		ck_assert_int_eq(kill(pid, sig), 0);
	/* Still the same process, still serving. */
	TestClient client(79, greet_and_close);
	ck_assert(pool.send_client(client.info, std::move(client.theirs)));
	ck_assert(read_line_from(client.ours.get()).starts_with("hi "));
	ck_assert_int_eq(pool.status(0).pid, pid);
	ck_assert_uint_eq(pool.status(0).starts, 1);
}
END_TEST

/* A stopped worker (SIGSTOP: a livelock looks the same from outside) misses its heartbeats and
   gets no new clients; once it answers again it gets them again.  Without a heartbeat timeout it
   is never killed, so which worker may serve does not depend on how fast the machine is. */
START_TEST(test_silent_worker_skipped)
{
	TestLoop loop;
	WorkerPoolOptions options = fast_options();
	options.heartbeat_interval_usec = 100000;
	options.heartbeat_timeout_usec = 0;
	WorkerPool pool(loop.event, 2, fake_worker, options);
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [&] { return pool.ready_count() == 2; }));
	const pid_t stopped = pool.status(0).pid;
	const std::string name = "worker[0] pid " + std::to_string(stopped);
	ck_assert_int_eq(kill(stopped, SIGSTOP), 0);
	/* Nothing runs the loop between this and send_client(): the states it sees are these. */
	ck_assert(run_until(loop.event, [&] { return !pool.status(0).ready && pool.status(1).ready; }));
	ck_assert_log(name + " silent for");
	TestClient client(80, greet_and_close);
	ck_assert(pool.send_client(client.info, std::move(client.theirs)));
	ck_assert(client.read_line().starts_with("hi 1 "));
	ck_assert_int_eq(kill(stopped, SIGCONT), 0);
	ck_assert(run_until(loop.event, [&] { return pool.ready_count() == 2; }));
	ck_assert_log(name + " answers again");
	ck_assert_int_eq(pool.status(0).pid, stopped);
	ck_assert_uint_eq(pool.status(0).starts, 1);
	ck_assert_uint_eq(pool.status(1).starts, 1);
}
END_TEST

/* One silent for the heartbeat timeout is killed and replaced, after being skipped; nobody is
   penalized, and the worker that answers all along stays.  The timeout is generous (scaled by
   CK_TIMEOUT_MULTIPLIER) so that a loaded machine does not silence the answering one. */
START_TEST(test_stopped_worker_replaced)
{
	TestLoop loop;
	WorkerPoolOptions options = fast_options();
	options.heartbeat_interval_usec = 100000;
	options.heartbeat_timeout_usec = 1000000 * std::uint64_t(timeout_multiplier());
	WorkerPool pool(loop.event, 2, fake_worker, options);
	std::vector<std::pair<std::uint32_t, std::uint64_t>> crashes;
	pool.set_on_crash([&](std::uint32_t uid, std::uint64_t id) { crashes.emplace_back(uid, id); });
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [&] { return pool.ready_count() == 2; }));
	const pid_t stopped = pool.status(0).pid;
	const pid_t answering = pool.status(1).pid;
	const std::string name = "worker[0] pid " + std::to_string(stopped);
	ck_assert_int_eq(kill(stopped, SIGSTOP), 0);
	ck_assert(run_until(loop.event, [&] { return pool.status(0).starts == 2 && pool.ready_count() == 2; },
			    20000));
	/* In this order: skipped, killed for it, reaped as the master's own kill. */
	const std::string log = read_log();
	std::size_t at = 0;
	for (const std::string &line : {name + " silent for", name + " missed its heartbeat",
					 name + " killed by signal 9 (SIGKILL)"}) {
		at = log.find(line, at);
		ck_assert_msg(at != std::string::npos, "no \"%s\" in order:\n%s", line.c_str(), log.c_str());
	}
	ck_assert_int_ne(pool.status(0).pid, stopped);
	ck_assert_uint_eq(crashes.size(), 0);
	ck_assert_int_eq(pool.status(1).pid, answering);
	ck_assert_uint_eq(pool.status(1).starts, 1);
	ck_assert_msg(log.find("worker[1] pid " + std::to_string(answering) + " missed") == std::string::npos,
		      "%s", log.c_str());
	/* The replacement serves. */
	TestClient client(81, greet_and_close);
	ck_assert(pool.send_client(client.info, std::move(client.theirs)));
	ck_assert(client.read_line().starts_with("hi "));
}
END_TEST

START_TEST(test_crash_loop_throttled)
{
	TestLoop loop;
	WorkerPoolOptions options;
	options.min_uptime_usec = 1000000;
	options.initial_backoff_usec = 20000;
	options.max_backoff_usec = 80000;
	WorkerPool pool(loop.event, 1, [](UniqueFd, unsigned) { return 3; }, options);
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [&] { return pool.status(0).starts >= 5; }, 10000));
	/* Each quick death doubles the delay, up to the cap: 20, 40, 80, 80 ms, in that order. */
	const std::string log = read_log();
	std::size_t at = 0;
	for (const char *delay : {"respawning in 20 ms", "respawning in 40 ms", "respawning in 80 ms",
				  "respawning in 80 ms"}) {
		at = log.find(delay, at);
		ck_assert_msg(at != std::string::npos, "no \"%s\" in order:\n%s", delay, log.c_str());
		++at;
	}
	ck_assert_msg(log.find("respawning in 160 ms") == std::string::npos, "past the cap:\n%s", log.c_str());
	ck_assert_uint_eq(pool.status(0).backoff_usec, 80000);
	ck_assert_log("worker[0] pid ");
	ck_assert_log(" exited with status 3");
	ck_assert_uint_eq(pool.ready_count(), 0);
}
END_TEST

START_TEST(test_exit_status_survives_slow_exit)
{
	TestLoop loop;
	WorkerPool pool(loop.event, 1, [](UniqueFd channel, unsigned) {
		channel.reset();
		usleep(300000);
		return 77;
	}, fast_options());
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [] { return log_has("exited with status 77"); }));
	ck_assert_msg(!log_has("killed by signal 9"), "the master killed an exiting worker:\n%s",
		      read_log().c_str());
	ck_assert_msg(!log_has("lives on"), "%s", read_log().c_str());
}
END_TEST

/* One that closes its channel and lives on is killed once the grace is over, and replaced. */
START_TEST(test_channelless_worker_killed_after_grace)
{
	TestLoop loop;
	WorkerPoolOptions options = fast_options();
	options.channel_eof_grace_usec = 100000;
	WorkerPool pool(loop.event, 1, [](UniqueFd channel, unsigned) {
		channel.reset();
		for (;;)
			pause();
		return 0;
	}, options);
	ck_assert_int_eq(pool.start(), 0);
	const pid_t first = pool.status(0).pid;
	ck_assert(run_until(loop.event, [&] { return pool.status(0).starts >= 2; }, 10000));
	ck_assert_log("closed its channel 100 ms ago but lives on; killing it");
	ck_assert_log("pid " + std::to_string(first) + " killed by signal 9 (SIGKILL)");
	/* The master's own kill is no crash. */
	ck_assert(!log_has("crashed while serving"));
}
END_TEST

START_TEST(test_no_ready_worker_closes_client)
{
	TestLoop loop;
	/* Never says WORKER_READY; waits until the channel goes away. */
	WorkerPool pool(loop.event, 1, [](UniqueFd channel, unsigned) {
		pollfd p{channel.get(), POLLRDHUP, 0};
		poll(&p, 1, -1);
		return 0;
	}, fast_options());
	ck_assert_int_eq(pool.start(), 0);
	run_for(loop.event, 100);
	TestClient client(1, greet_and_close);
	ck_assert(!pool.send_client(client.info, std::move(client.theirs)));
	/* The pool closed its copy: the client sees EOF. */
	ck_assert(client.sees_eof());
	ck_assert_log("no worker ready for client 1");
}
END_TEST

START_TEST(test_drain)
{
	TestLoop loop;
	WorkerPool pool(loop.event, 2, fake_worker, fast_options());
	bool all_exited = false;
	pool.set_on_all_exited([&] { all_exited = true; });
	ck_assert_int_eq(pool.start(), 0);
	ck_assert(run_until(loop.event, [&] { return pool.ready_count() == 2; }));
	pool.drain(1000);
	ck_assert_uint_eq(pool.ready_count(), 0);
	ck_assert(run_until(loop.event, [&] { return all_exited; }));
	ck_assert_uint_eq(pool.running_count(), 0);
	run_for(loop.event, 200);
	ck_assert_uint_eq(pool.status(0).starts, 1);
	ck_assert_uint_eq(pool.status(1).starts, 1);
	ck_assert_msg(!log_has("respawning"), "%s", read_log().c_str());
	ck_assert_log("exited with status 0");
}
END_TEST

/* ---- the whole master in a child process ---- */

static std::string master_dir;

static pid_t start_master(const std::string &socket_path, MasterOptions options = {})
{
	std::vector<ListenerConfig> configs(1);
	const auto address = parse_numeric_address(socket_path, 3306);
	ck_assert(address.ok());
	configs[0].address = address.value();
	configs[0].description = socket_path;
	configs[0].origin = "test";
	const pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The first SIGHUP's load fails, later ones load the same configuration again. */
		unsigned reloads = 0;
		ConfigReloader reload = [&]() -> std::optional<MasterConfig> {
			if (++reloads == 1)
				return std::nullopt;
			return MasterConfig{configs, 2, fake_worker, options};
		};
		_exit(run_master(MasterConfig{configs, 2, fake_worker, options}, std::move(reload)));
	}
	return pid;
}

static UniqueFd connect_to(const std::string &path)
{
	const auto address = parse_numeric_address(path, 3306);
	for (int attempt = 0; attempt < 500; ++attempt) {
		UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
		if (connect(fd.get(), address.value().get(), address.value().length) == 0)
			return fd;
		usleep(10000);
	}
	return {};
}

static int wait_exit(pid_t pid, int timeout_ms)
{
	timeout_ms *= static_cast<int>(timeout_multiplier());
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		int status = 0;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, nullptr, 0);
	return -1;
}

static std::string read_line_from(int fd)
{
	std::string line;
	char c;
	pollfd p{fd, POLLIN, 0};
	while (poll(&p, 1, 5000 * static_cast<int>(timeout_multiplier())) > 0 && read(fd, &c, 1) == 1) {
		line += c;
		if (c == '\n')
			break;
	}
	return line;
}

START_TEST(test_master_serves_and_drains)
{
	char pattern[] = "/tmp/check_master.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(pattern));
	master_dir = pattern;
	const std::string path = master_dir + "/m.sock";

	const pid_t master = start_master(path);
	for (int i = 0; i < 6; ++i) {
		UniqueFd client = connect_to(path);
		ck_assert(client.is_valid());
		const std::string line = read_line_from(client.get());
		ck_assert_msg(line.starts_with("hi ") && line.ends_with(" fds=1\n"), "got \"%s\":\n%s",
			      line.c_str(), read_log().c_str());
	}
	/* A reload that does not load: the first generation serves on. */
	ck_assert_int_eq(kill(master, SIGHUP), 0);
	ck_assert(wait_for_log("reload failed: generation 1 keeps serving"));
	UniqueFd after_failure = connect_to(path);
	const std::string first = read_line_from(after_failure.get());
	ck_assert_msg(first.starts_with("hi 0 ") || first.starts_with("hi 1 "), "got \"%s\"", first.c_str());

	/* One that loads: generation 2's workers (numbered 2 and 3) take the new clients on the
	   same socket, and generation 1, without sessions, ends. */
	ck_assert_int_eq(kill(master, SIGHUP), 0);
	ck_assert_msg(wait_for_log("reload: generation 2 serves"), "%s", read_log().c_str());
	UniqueFd after_reload = connect_to(path);
	const std::string second = read_line_from(after_reload.get());
	ck_assert_msg(second.starts_with("hi 2 ") || second.starts_with("hi 3 "), "got \"%s\"", second.c_str());
	ck_assert_msg(wait_for_log("generation 1 ended"), "%s", read_log().c_str());

	ck_assert_int_eq(kill(master, SIGTERM), 0);
	ck_assert_int_eq(wait_exit(master, 5000), 0);
	ck_assert_int_eq(access(path.c_str(), F_OK), -1);
	ck_assert_log("SIGHUP: reloading the configuration");
	ck_assert_log("SIGTERM: draining");
	rmdir(master_dir.c_str());
}
END_TEST

START_TEST(test_master_listener_error)
{
	const pid_t master = start_master("/nonexistent-dir-myproxy/m.sock");
	ck_assert_int_eq(wait_exit(master, 5000), exit_os_error);
	ck_assert_log("bind(/nonexistent-dir-myproxy/m.sock): No such file or directory");
}
END_TEST

static Suite *worker_pool_suite()
{
	Suite *s = suite_create("worker_pool");
	TCase *pure = tcase_create("describe");
	tcase_add_test(pure, test_describe_child_exit);
	suite_add_tcase(s, pure);

	TCase *pool = tcase_create("pool");
	tcase_set_timeout(pool, 30);
	tcase_add_checked_fixture(pool, capture_log, remove_log);
	tcase_add_test(pool, test_clients_arrive_balanced);
	tcase_add_test(pool, test_retired_workers_finish_their_sessions);
	tcase_add_test(pool, test_killed_worker_respawned);
	tcase_add_test(pool, test_node_states_first);
	tcase_add_test(pool, test_garbage_worker_killed);
	tcase_add_test(pool, test_ready_twice_killed);
	tcase_add_test(pool, test_unexpected_fd_killed);
	tcase_add_test(pool, test_crash_names_client);
	tcase_add_test(pool, test_crash_loop_throttled);
	tcase_add_test(pool, test_kill_is_no_crash);
	tcase_add_test(pool, test_silent_worker_skipped);
	tcase_add_test(pool, test_stopped_worker_replaced);
	tcase_add_test(pool, test_worker_ignores_group_signals);
	tcase_add_test(pool, test_no_ready_worker_closes_client);
	tcase_add_test(pool, test_exit_status_survives_slow_exit);
	tcase_add_test(pool, test_channelless_worker_killed_after_grace);
	tcase_add_test(pool, test_drain);
	suite_add_tcase(s, pool);

	TCase *master = tcase_create("master");
	tcase_set_timeout(master, 30);
	tcase_add_checked_fixture(master, capture_log, remove_log);
	tcase_add_test(master, test_master_serves_and_drains);
	tcase_add_test(master, test_master_listener_error);
	suite_add_tcase(s, master);
	return s;
}

int main()
{
	return run_check_suites({worker_pool_suite()});
}
