// Non-blocking backend connects; see connect_socket.hpp.
#include "connect_socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

namespace myproxy {

void set_tcp_nodelay(int fd, int family) noexcept
{
	if (family != AF_INET && family != AF_INET6)
		return;
	const int one = 1;
	/* Failure only costs latency. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

namespace {

/* Set once per worker from config.lua before any connect (the master keeps the default for its
 * node checks); read on every TCP connect. */
unsigned keepalive_idle_seconds = 10;

void set_tcp_keepalive(int fd, int family) noexcept
{
	if ((family != AF_INET && family != AF_INET6) || keepalive_idle_seconds == 0)
		return;
	const int one = 1;
	const int idle = static_cast<int>(keepalive_idle_seconds);
	const int interval = idle >= 3 ? idle / 3 : 1;
	const int count = 3;
	/* Failure only loses the early detection; read_timeout and the kernel's defaults remain. */
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
}

} // namespace

void set_backend_keepalive(unsigned idle_seconds) noexcept
{
	keepalive_idle_seconds = idle_seconds;
}

ConnectStart start_connect(const SocketAddress &address) noexcept
{
	ConnectStart result;
	if (!address.defined()) {
		result.error = EDESTADDRREQ;
		return result;
	}
	UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (!fd) {
		result.error = errno;
		return result;
	}
	set_tcp_nodelay(fd.get(), address.family());
	set_tcp_keepalive(fd.get(), address.family());
	if (::connect(fd.get(), address.get(), address.length) < 0) {
		/* A UNIX socket whose listen queue is full says EAGAIN: that is a failure here, not
		 * "in progress" (the connect never completes by itself). */
		if (errno != EINPROGRESS) {
			result.error = errno;
			return result;
		}
		result.in_progress = true;
	}
	result.fd = std::move(fd);
	return result;
}

int finish_connect(int fd) noexcept
{
	int error = 0;
	socklen_t length = sizeof(error);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0)
		return errno;
	return error;
}

} // namespace myproxy
