// Test side of the Prometheus exporter: one HTTP exchange over its UNIX socket, a scrape of
// /metrics, and the value of one sample.  Shared by the integration tests that read metrics
// (check_proxy_operations, check_proxy_reuse); header-only, blocking, 30 s safety nets.
#pragma once

#include "tests/fixture/fixture.hpp"

#include <check.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

namespace myproxy::test {

inline int connect_unix(const std::string &path, int type)
{
	const int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	sockaddr_un un{};
	un.sun_family = AF_UNIX;
	std::strncpy(un.sun_path, path.c_str(), sizeof(un.sun_path) - 1);
	if (fd < 0 || connect(fd, reinterpret_cast<sockaddr *>(&un), sizeof(un)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

// Everything the peer sends until it closes (30 s safety net), or "<timeout>".
inline std::string read_to_eof(int fd)
{
	std::string out;
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
	for (;;) {
		pollfd p{fd, POLLIN, 0};
		const int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(
					     deadline - std::chrono::steady_clock::now())
					     .count());
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return "<timeout>";
		char buffer[4096];
		const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
		if (n <= 0)
			return out;
		out.append(buffer, std::size_t(n));
	}
}

// One HTTP exchange over the exporter's socket at @socket_path: the raw response.
inline std::string http_exchange(const std::string &socket_path, const std::string &request)
{
	const int fd = connect_unix(socket_path, SOCK_STREAM);
	ck_assert_msg(fd >= 0, "connect(%s): %s", socket_path.c_str(), std::strerror(errno));
	ck_assert(send(fd, request.data(), request.size(), MSG_NOSIGNAL) == ssize_t(request.size()));
	const std::string response = read_to_eof(fd);
	close(fd);
	return response;
}

// The body of GET /metrics (the test fails on any other status).
inline std::string scrape_metrics(const std::string &socket_path)
{
	const std::string response = http_exchange(socket_path, "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
	ck_assert_msg(response.starts_with("HTTP/1.1 200 OK\r\n"), "scrape: %s", response.substr(0, 200).c_str());
	return response.substr(response.find("\r\n\r\n") + 4);
}

// The value of one sample ("name" or "name{labels}"); -1 when absent.
inline double metric(const std::string &text, const std::string &series)
{
	const std::string key = "\n" + series + " ";
	const std::size_t at = text.find(key);
	if (at == std::string::npos)
		return -1;
	return std::strtod(text.c_str() + at + key.size(), nullptr);
}

} // namespace myproxy::test
