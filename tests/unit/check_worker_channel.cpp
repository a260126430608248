// Unit tests for a worker's side of the master channel (worker/worker.cpp): a real Worker runs its
// sd-event loop in a thread of the test, which plays the master over a real SEQPACKET pair and a
// client over a UNIX socketpair.  Hostile or out-of-turn messages (bytes that are no message, a
// RELOAD while draining) end the worker with exit_channel_protocol and a log line; a NODE_STATE for
// a node the configuration lacks is logged and ignored; a NEW_CLIENT whose fd is not the socket
// the master described is refused with CONNECTION_CLOSED; HEARTBEAT is answered; DISCONNECT_ACCOUNT
// closes that account's sessions; DRAIN with a stalled login ends at its timeout with ERR 1053 to
// the client; the master's EOF ends the worker cleanly; a handler that sleep()s is resumed by the
// worker's timer.  Causes only: exit statuses, messages, log lines, packets.
#include "worker/worker_loop.hpp"

#include "common/channel_socket.hpp"
#include "lua/config_loader.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
// Last: <check.h> must follow the standard headers.
#include "tests/check_main.hpp"

using namespace myproxy;

namespace {

/* The handler: "sleepy" sleeps 10 ms in on_handshake_response, then refuses with its name; any
 * other user is refused at once with client.account set to the user name. */
const char *const config_text =
	"mysql_listen('/nonexistent/myproxy-test.sock', {\n"
	"  on_handshake_response = function(client, hr)\n"
	"    if hr.user == 'sleepy' then sleep(0.01) return client:err('slept ' .. hr.user) end\n"
	"    client.account = hr.user\n"
	"    return client:err('no ' .. hr.user)\n"
	"  end,\n"
	"})\n"
	"mysql_cluster({mysql_resolve('127.0.0.1:3306')})\n";

std::string read_file(const std::string &path)
{
	std::ifstream in(path);
	std::ostringstream text;
	text << in.rdbuf();
	return text.str();
}

/* A Worker on its own thread, the master's end of its channel, and its stderr in a file. */
struct WorkerBench {
	char dir[64] = "/tmp/myproxy-worker-channel-XXXXXX";
	std::unique_ptr<ConfigResult> config;
	UniqueFd master_end;
	std::unique_ptr<Worker> worker;
	std::thread thread;
	int status = -1;
	int saved_stderr = -1;
	std::vector<std::uint8_t> buffer = std::vector<std::uint8_t>(channel_max_message_size);

	explicit WorkerBench(std::uint64_t fd_limit = 1u << 20)
	{
		ck_assert(mkdtemp(dir) != nullptr);
		const std::string path = std::string(dir) + "/config.lua";
		std::ofstream(path) << config_text;
		config = std::make_unique<ConfigResult>(load_config(path));
		ck_assert_msg(config->ok(), "config: %s", config->ok() ? "" : config->error().message.c_str());
		UniqueFd worker_end;
		ck_assert_int_eq(create_channel_pair(master_end, worker_end), 0);
		/* The worker's log lines, for the assertions. */
		std::fflush(stderr);
		saved_stderr = dup(2);
		const int log = open(log_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		ck_assert_int_ge(log, 0);
		dup2(log, 2);
		close(log);
		worker = std::make_unique<Worker>(config->value(), std::move(worker_end), 0);
		worker->set_fd_limit(fd_limit);
		thread = std::thread([this] { status = worker->run(); });
		auto ready = receive();
		ck_assert(ready && channel_message_type(*ready) == ChannelMessageType::worker_ready);
	}
	~WorkerBench()
	{
		if (thread.joinable()) {
			master_end.reset();
			thread.join();
		}
		worker.reset();
		dup2(saved_stderr, 2);
		close(saved_stderr);
		std::system(("rm -rf '" + std::string(dir) + "'").c_str());
	}

	std::string log_path() const { return std::string(dir) + "/worker.log"; }
	std::string log() const { return read_file(log_path()); }

	void send(const ChannelMessage &message, std::vector<int> fds = {})
	{
		std::vector<std::uint8_t> bytes;
		ck_assert(encode_channel_message(bytes, message).ok());
		send_raw(bytes, fds);
	}
	void send_raw(const std::vector<std::uint8_t> &bytes, const std::vector<int> &fds = {})
	{
		ck_assert(send_channel_message(master_end.get(), ByteSpan(bytes.data(), bytes.size()), fds).status ==
			  ChannelIoStatus::ok);
	}

	/* The worker's next message (views into buffer), or nullopt at EOF or after the safety net. */
	std::optional<ChannelMessage> receive()
	{
		pollfd p{master_end.get(), POLLIN, 0};
		if (poll(&p, 1, 30'000 * int(timeout_multiplier())) != 1)
			return std::nullopt;
		ReceivedChannelMessage received = receive_channel_message(master_end.get(), buffer);
		if (received.status != ChannelIoStatus::ok)
			return std::nullopt;
		auto message = decode_channel_message(ByteSpan(buffer.data(), received.size), received.fd_count,
						      ChannelDirection::worker_to_master);
		ck_assert_msg(message.ok(), "the worker sent a bad message");
		return *message;
	}

	/* Waits for run() to return; its exit status. */
	int finish()
	{
		thread.join();
		return status;
	}
};

/* A NEW_CLIENT for @client_fd as the master would describe it. */
NewClientMessage new_client_for(int client_fd, std::uint64_t client_id)
{
	struct stat st;
	ck_assert_int_eq(fstat(client_fd, &st), 0);
	NewClientMessage message;
	message.info.client_id = client_id;
	message.info.listener_index = 0;
	message.info.socket_device = std::uint64_t(st.st_dev);
	message.info.socket_inode = std::uint64_t(st.st_ino);
	return message;
}

struct ClientPair {
	int client = -1; /* the test's end */
	int served = -1; /* what the worker gets */
	ClientPair()
	{
		int fds[2];
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
		client = fds[0];
		served = fds[1];
	}
	~ClientPair()
	{
		close(client);
		if (served >= 0)
			close(served);
	}
	/* Handed over: the worker holds its own copy. */
	void handed_over()
	{
		close(served);
		served = -1;
	}

	/* One packet's payload from the worker; empty at EOF or after the safety net. */
	std::string read_payload()
	{
		std::string header = read_exactly(4);
		if (header.size() < 4)
			return {};
		const std::size_t length = std::uint8_t(header[0]) | std::size_t(std::uint8_t(header[1])) << 8 |
					   std::size_t(std::uint8_t(header[2])) << 16;
		return read_exactly(length);
	}

	std::string read_exactly(std::size_t length)
	{
		std::string out;
		while (out.size() < length) {
			pollfd p{client, POLLIN, 0};
			if (poll(&p, 1, 30'000 * int(timeout_multiplier())) != 1)
				return out;
			char part[4096];
			const ssize_t n = ::read(client, part, std::min(sizeof(part), length - out.size()));
			if (n <= 0)
				return out;
			out.append(part, std::size_t(n));
		}
		return out;
	}

	/* HandshakeResponse41 with mysql_clear_password (the listener's default plugin). */
	void send_login(const std::string &user)
	{
		const std::uint32_t caps = 0x200 | 0x8000 | 0x80000; /* PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH */
		std::string payload;
		for (int i = 0; i < 4; ++i)
			payload += char((caps >> (8 * i)) & 0xff);
		payload += std::string("\0\0\0\1\x2d", 5) + std::string(23, '\0') + user + '\0';
		payload += char(3) + std::string("pw\0", 3) + "mysql_clear_password" + '\0';
		std::string packet{char(payload.size()), char(payload.size() >> 8), char(payload.size() >> 16), char(1)};
		packet += payload;
		ck_assert(::write(client, packet.data(), packet.size()) == ssize_t(packet.size()));
	}
};

/* The error code and message of an ERR payload ("" when it is none). */
std::string describe_err(const std::string &payload)
{
	if (payload.size() < 3 || std::uint8_t(payload[0]) != 0xff)
		return "";
	const unsigned code = std::uint8_t(payload[1]) | unsigned(std::uint8_t(payload[2])) << 8;
	/* "#" and a SQLSTATE, except before the greeting (no capabilities agreed yet). */
	return std::to_string(code) + " " + payload.substr(payload.size() >= 9 && payload[3] == '#' ? 9 : 3);
}

bool contains(const std::string &text, const std::string &part)
{
	return text.find(part) != std::string::npos;
}

} // namespace

START_TEST(test_garbage_ends_the_worker)
{
	WorkerBench bench;
	bench.send_raw({0x42, 0x00, 0x07});
	ck_assert_int_eq(bench.finish(), exit_channel_protocol);
	ck_assert_msg(contains(bench.log(), "bad message from the master"), "log: %s", bench.log().c_str());
}
END_TEST

START_TEST(test_messages_while_serving)
{
	WorkerBench bench;
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
 * RELOAD is out of turn for a draining worker. */
START_TEST(test_drain_timeout_and_reload_while_draining)
{
	WorkerBench bench;
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

	WorkerBench second;
	ClientPair waiting;
	second.send(new_client_for(waiting.served, 22), {waiting.served});
	waiting.handed_over();
	ck_assert_uint_ge(waiting.read_payload().size(), 10);
	drain.timeout_ms = 600'000;
	second.send(drain);
	second.send(ReloadMessage{});
	ck_assert_int_eq(second.finish(), exit_channel_protocol);
	ck_assert_msg(contains(second.log(), "the master sent RELOAD, which a draining worker does not accept"), "log: %s",
		      second.log().c_str());
}
END_TEST

/* A client whose fd lands within the reserve of the worker's fd limit gets ERR 1040 before any
 * greeting, and the master hears it is gone. */
START_TEST(test_client_refused_near_the_fd_limit)
{
	WorkerBench bench(8);
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

int main()
{
	Suite *suite = suite_create("worker_channel");
	TCase *tc = tcase_create("channel");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_garbage_ends_the_worker);
	tcase_add_test(tc, test_messages_while_serving);
	tcase_add_test(tc, test_drain_timeout_and_reload_while_draining);
	tcase_add_test(tc, test_client_refused_near_the_fd_limit);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
