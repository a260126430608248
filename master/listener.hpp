// The master's listening sockets, opened from config.lua's mysql_listen() calls before any worker
// is forked (workers are sandboxed and can neither bind nor open files).  Binds UNIX paths,
// abstract names and TCP addresses, or takes systemd's sockets.  It never unlinks anything but a
// socket file: a regular file at a socket path is an error, not something to delete.
#pragma once

#include "common/exit_status.hpp"
#include "common/socket_address.hpp"
#include "common/unique_fd.hpp"

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace myproxy {

struct ListenerConfig;


/* The backlog passed to listen(); the kernel caps it at net.core.somaxconn. */
inline constexpr int listener_backlog = 4096;

struct Listener {
	/* Listening, non-blocking, close-on-exec. */
	UniqueFd fd;
	/* Index into Config::listeners: ClientInfo::listener_index names the handler.  The
	   sockets systemd passes all share the index of the one mysql_listen(systemd, ...). */
	unsigned config_index = 0;
	/* For log lines: "/run/myproxy.sock", "[::]:3306", "systemd fd 3". */
	std::string description;
	/* What mysql_listen() named, so a reload keeps the sockets its new configuration names
	   again: the address (unset for systemd's sockets), or from_systemd. */
	SocketAddress configured_address;
	bool from_systemd = false;
	bool is_unix = false;
	/* The socket file bound here (empty for abstract, TCP and systemd sockets), and its inode,
	   so shutdown removes only the file this process created. */
	std::string socket_path;
	dev_t socket_device = 0;
	ino_t socket_inode = 0;
};

struct ListenerError {
	/* Names the call and the address: "bind(/run/x.sock): Address already in use". */
	std::string message;
	/* exit_os_error when a system call failed, exit_config when the configuration does not
	   match the system (no sockets from systemd, a file in the way). */
	int exit_code = exit_os_error;
};

/* Opens every configured listener, in order, and appends them to @out.  On error, nothing is
   left behind: the listeners opened so far are closed and their socket files removed. */
[[nodiscard]] std::optional<ListenerError> open_listeners(const std::vector<ListenerConfig> &configs,
							  std::vector<Listener> &out);

/* One address: a path (a stale socket file there is replaced, mode 0666 after bind), "@name",
   or TCP (SO_REUSEADDR; the IPv6 wildcard "::" is dual-stack and falls back to 0.0.0.0 where
   the kernel has no IPv6).  UNIX sockets get SO_PASSCRED. */
[[nodiscard]] std::optional<ListenerError> open_address_listener(const SocketAddress &address,
								 unsigned config_index,
								 std::vector<Listener> &out);

/* The sockets systemd passed (sd_listen_fds(), which also clears LISTEN_FDS): each must be a
   listening stream socket; none passed is an error.  Call at most once per process. */
[[nodiscard]] std::optional<ListenerError> take_systemd_listeners(unsigned config_index,
								  std::vector<Listener> &out);

/* Removes the socket file @listener bound, if it is still the same inode (a newer instance may
   have replaced it), and forgets the path.  Shutdown only; the fd stays as it is. */
void remove_socket_file(Listener &listener) noexcept;

} // namespace myproxy
