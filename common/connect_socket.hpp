// Non-blocking connects to backends (worker sessions and the master's node checks, both through
// common/backend_link): start one, and collect its outcome once the socket turns writable.
// Addresses are already numeric (nothing here resolves names).  Never blocks and never retries: a
// failed connect is reported to the caller.
#pragma once

#include "common/socket_address.hpp"
#include "common/unique_fd.hpp"

namespace myproxy {

struct ConnectStart {
	/* The socket (non-blocking, close-on-exec); invalid when error != 0. */
	UniqueFd fd;
	/* True: the connect is under way, wait for EPOLLOUT and call finish_connect(). */
	bool in_progress = false;
	/* errno of socket() or connect(); 0 on success or in progress. */
	int error = 0;
};

/* Creates a stream socket for @address's family and connects it.  TCP sockets get TCP_NODELAY
 * (the relay writes whole replies at once; Nagle would only add latency) and, unless turned off,
 * TCP keepalive (see set_backend_keepalive()). */
ConnectStart start_connect(const SocketAddress &address) noexcept;

/* After EPOLLOUT on a connect that was in progress: 0 when connected, else its errno. */
int finish_connect(int fd) noexcept;

/* The global backend_keepalive, once per worker before its first connect: a TCP backend silent
 * for @idle_seconds is probed every third of that (at least 1 s), and given up after 3 unanswered
 * probes, so a vanished host (partition, power loss) ends its sessions instead of holding them.
 * 0 turns keepalive off. */
void set_backend_keepalive(unsigned idle_seconds) noexcept;

/* Sets TCP_NODELAY on @fd when it is a TCP socket of @family; other families are left alone. */
void set_tcp_nodelay(int fd, int family) noexcept;

} // namespace myproxy
