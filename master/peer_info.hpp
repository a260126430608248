// What the master learns about an accepted client before a worker sees it: SO_PEERCRED, its cgroup
// v2 path (with a pidfd that proves the process lived through the read), and the socket's inode
// for the worker's check.
// Master side only (workers cannot read /proc).  It never reads from or writes to the client
// socket, and it trusts nothing in /proc/PID/cgroup that it has not bounded and checked.
#pragma once

#include "common/channel_protocol.hpp"
#include "common/parse_result.hpp"
#include "common/socket_address.hpp"
#include "common/unique_fd.hpp"

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace myproxy {

struct PeerInfo {
	/* The peer's address as accept() returned it. */
	SocketAddress peer_address;
	/* SO_PEERCRED, UNIX sockets only. */
	bool has_credentials = false;
	pid_t pid = 0;
	uid_t uid = 0;
	gid_t gid = 0;
	/* The client process while its cgroup was read; invalid without the cgroup read, when
	   unknown, or when it exited before the checks.  Never handed to a worker. */
	UniqueFd pidfd;
	/* Its cgroup v2 path ("/user.slice/..."), empty when unknown; only set together with a
	   pidfd that proved the process was alive while /proc/PID/cgroup was read. */
	std::string cgroup_path;
	/* The xattrs of that cgroup and its ancestors (common/cgroup_xattrs.hpp); set with cgroup_path. */
	std::vector<std::uint8_t> cgroup_xattrs;
	std::uint64_t socket_device = 0;
	std::uint64_t socket_inode = 0;

	/* The NEW_CLIENT payload; its views point into this object. */
	ClientInfo client_info(std::uint64_t client_id, std::uint32_t listener_index) const noexcept;
};

/* Fills @out for the accepted @client_fd.  Credentials, pidfd and cgroup are best effort (their
   failures leave the fields empty and are logged); returns false only when fstat() of the
   client socket fails, since a worker must not get a socket it cannot verify.  Without
   @read_cgroup (no callback can read client.cgroup) the cgroup is left out, and with it the
   pidfd, the /proc read, the xattrs and the liveness check that only vouch for them. */
bool read_peer_info(int client_fd, bool is_unix, const SocketAddress &peer_address, PeerInfo &out,
		    bool read_cgroup = true);

/* Pure: the path of the "0::" line of a /proc/PID/cgroup text (cgroup v2, also in the hybrid
   layout with v1 lines before it).  Only complete lines count; the path must be absolute, at
   most channel_max_cgroup_path bytes, and the line must be the only "0::" line (a second one
   means a cgroup name smuggled a newline in).  A NUL anywhere is garbage. */
ParseResult<std::string_view> parse_cgroup_v2_path(std::string_view proc_cgroup) noexcept;

} // namespace myproxy
