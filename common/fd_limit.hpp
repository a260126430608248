// The file descriptor budget (master and worker side): the soft RLIMIT_NOFILE raised to the hard
// one at startup, a reserve kept free for what a worker needs besides its sessions (backend
// sockets being opened, libpq, the channel, Lua's pg pools), and the sessions that fit.  A worker
// near its limit refuses new clients (ERR 1040) instead of running out in the middle of one.
// Pure arithmetic except raise_fd_limit(); never touches an fd.
#pragma once

#include <cstdint>

namespace myproxy {

/* What one session costs a worker: the client socket and the backend socket. */
inline constexpr std::uint64_t fds_per_session = 2;

/* Raises the soft RLIMIT_NOFILE to the hard limit (logged when it changed or failed); returns
   the soft limit in force afterwards (RLIM_INFINITY reads as a large finite number). */
std::uint64_t raise_fd_limit() noexcept;

/* Fds a worker with @limit keeps free: 1/16 of it, at least 32 and at most 1024. */
std::uint64_t fd_reserve(std::uint64_t limit) noexcept;

/* Sessions the master hands a worker with @limit (at least 1): what is left after two reserves,
   one for the worker's own descriptors (its channel and loop, pg pools, idle backend connections
   kept for reuse) and one it keeps free at any moment (fd_near_limit), at fds_per_session each. */
std::uint64_t session_capacity(std::uint64_t limit) noexcept;

/* A worker received a client as fd number @fd: true when that leaves less than the reserve (fds
   are allocated lowest first, so the number is a good measure of how many are open). */
inline bool fd_near_limit(int fd, std::uint64_t limit) noexcept
{
	return fd >= 0 && std::uint64_t(fd) + fd_reserve(limit) >= limit;
}

} // namespace myproxy
