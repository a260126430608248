// Shared by the unit tests that run a real Worker (check_worker_channel, check_worker_login): the
// worker's sd-event loop on a thread of the test, which plays the master over a real SEQPACKET pair
// (WorkerBench) and clients over UNIX socketpairs (ClientPair), with the worker's log lines in a
// file.  Test code only; include it before <check.h>'s users (it includes tests/check_main.hpp).
#pragma once

#include "worker/uring_ring.hpp"
#include "worker/worker_loop.hpp"

#include "common/channel_socket.hpp"
#include "lua/config_loader.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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

namespace myproxy::test {

using namespace myproxy;

inline std::string read_file(const std::string &path)
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

	explicit WorkerBench(const std::string &config_text, std::uint64_t fd_limit = 1u << 20)
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
		/* As run_worker() does before the sandbox; MYPROXY_TEST_RELAY_IO=epoll forces epoll. */
		const char *relay_io = std::getenv("MYPROXY_TEST_RELAY_IO");
		prepare_relay_ring(relay_io != nullptr && std::string(relay_io) == "epoll" ? RelayIo::epoll
											   : config->value().relay_io);
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

/* A TCP listener on 127.0.0.1 playing a backend (that may misbehave). */
struct FakeBackend {
	int fd = -1;
	std::uint16_t port = 0;
	FakeBackend()
	{
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(fd, 0);
		sockaddr_in address{};
		address.sin_family = AF_INET;
		address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ck_assert_int_eq(bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof(address)), 0);
		ck_assert_int_eq(listen(fd, 4), 0);
		socklen_t length = sizeof(address);
		ck_assert_int_eq(getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length), 0);
		port = ntohs(address.sin_port);
	}
	~FakeBackend() { close(fd); }

	/* The worker's connection (after the safety net: -1). */
	int accept_one()
	{
		pollfd p{fd, POLLIN, 0};
		if (poll(&p, 1, 30'000 * int(timeout_multiplier())) != 1)
			return -1;
		return accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
	}
};

inline bool write_all(int fd, const std::string &bytes)
{
	return ::write(fd, bytes.data(), bytes.size()) == ssize_t(bytes.size());
}

inline std::string framed(std::uint8_t sequence_id, const std::string &payload)
{
	return std::string{char(payload.size() & 0xff), char((payload.size() >> 8) & 0xff),
			   char((payload.size() >> 16) & 0xff), char(sequence_id)} + payload;
}

/* One packet's payload from a blocking @fd (with the safety net); empty at EOF. */
inline std::string read_packet_payload(int fd)
{
	std::string bytes;
	std::size_t wanted = 4;
	while (bytes.size() < wanted) {
		pollfd p{fd, POLLIN, 0};
		if (poll(&p, 1, 30'000 * int(timeout_multiplier())) != 1)
			return {};
		char part[4096];
		const ssize_t n = ::read(fd, part, std::min(sizeof(part), wanted - bytes.size()));
		if (n <= 0)
			return {};
		bytes.append(part, std::size_t(n));
		if (bytes.size() == 4)
			wanted = 4 + (std::uint8_t(bytes[0]) | std::size_t(std::uint8_t(bytes[1])) << 8 |
				      std::size_t(std::uint8_t(bytes[2])) << 16);
	}
	return bytes.substr(4);
}

/* The backend's side of a login that always succeeds: a Handshake V10 (mysql_native_password),
 * whatever response, then OK.  @extra_caps: offered besides the fixed set (CONNECT_WITH_DB, ...). */
inline void serve_backend_login(int fd, std::uint32_t extra_caps = 0)
{
	const std::uint32_t caps = 0x0001 | 0x0200 | 0x2000 | 0x8000 | 0x80000 | extra_caps;
	std::string greeting = std::string("\x0a") + "10.11.99-fake" + '\0' + std::string("\x07\0\0\0", 4) + "abcdefgh" +
			       '\0' + char(caps & 0xff) + char((caps >> 8) & 0xff) + char(0x2d) + std::string("\x02\0", 2) +
			       char((caps >> 16) & 0xff) + char((caps >> 24) & 0xff) + char(21) + std::string(10, '\0') +
			       "ijklmnopqrst" + '\0' + "mysql_native_password" + '\0';
	ck_assert(write_all(fd, framed(0, greeting)));
	ck_assert(!read_packet_payload(fd).empty());
	ck_assert(write_all(fd, framed(2, std::string("\0\0\0\x02\0\0\0", 7))));
}

/* A config.lua whose one listener sends every client to @backend. */
inline std::string connect_config(const FakeBackend &backend)
{
	return "local backend = mysql_resolve('127.0.0.1:" + std::to_string(backend.port) + "')\n"
	       "mysql_listen('/nonexistent/myproxy-test.sock', {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    client.account = hr.user\n"
	       "    return client:connect(backend, hr)\n"
	       "  end,\n"
	       "})\n";
}

/* A NEW_CLIENT for @client_fd as the master would describe it. */
inline NewClientMessage new_client_for(int client_fd, std::uint64_t client_id)
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
inline std::string describe_err(const std::string &payload)
{
	if (payload.size() < 3 || std::uint8_t(payload[0]) != 0xff)
		return "";
	const unsigned code = std::uint8_t(payload[1]) | unsigned(std::uint8_t(payload[2])) << 8;
	/* "#" and a SQLSTATE, except before the greeting (no capabilities agreed yet). */
	return std::to_string(code) + " " + payload.substr(payload.size() >= 9 && payload[3] == '#' ? 9 : 3);
}

inline bool contains(const std::string &text, const std::string &part)
{
	return text.find(part) != std::string::npos;
}

/* A client handed to the worker, greeted, and its login sent. */
inline void start_login(WorkerBench &bench, ClientPair &client, std::uint64_t id)
{
	bench.send(new_client_for(client.served, id), {client.served});
	client.handed_over();
	ck_assert_uint_ge(client.read_payload().size(), 10); /* the greeting */
	client.send_login("alice");
}

} // namespace myproxy::test
