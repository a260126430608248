// The configuration model (both processes): what the master keeps after config.lua was loaded and
// the workers inherit through fork(), its limits and defaults, and ConfigError.  Plain data that
// lua/config_loader fills in; nothing here runs Lua or touches the system, so the master reads its
// configuration without including lua/.
#pragma once

#include "common/client_auth_plugins.hpp"
#include "common/cluster_config.hpp"
#include "common/operator_config.hpp"
#include "common/socket_address.hpp"

#include <cstdint>
#include <string>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;

namespace myproxy {

inline constexpr int worker_processes_max = 1024;

/* The global connect_timeout, in seconds: like mysqld's option of that name (and its default), the time a
 * client has from the connection to the OK of its login.  The cap keeps a typo from letting half-open
 * logins hold their per-uid slots for days. */
inline constexpr int connect_timeout_max_seconds = 3600;
inline constexpr std::uint64_t connect_timeout_default_usec = 10'000'000;

/* The globals of the daemon's supervision (issue 4): drain_timeout (seconds the connections may go on
 * after SIGTERM), crash_penalty (seconds a uid is refused after one of its connections was being served
 * when a worker crashed; 0 turns it off) and worker_user (who workers become when started as root). */
inline constexpr int drain_timeout_max_seconds = 86400;
inline constexpr std::uint64_t drain_timeout_default_usec = 10'000'000;
inline constexpr int crash_penalty_max_seconds = 86400;
/* The global reload_drain_timeout: how long the workers a SIGHUP replaced may finish their sessions
 * (none is closed for the reload) before they get drain_timeout to end.  Generous like nginx's
 * worker_shutdown_timeout or HAProxy's hard-stop-after, but bounded so old generations never pile up
 * for good. */
inline constexpr int reload_drain_timeout_max_seconds = 7 * 86400;
inline constexpr std::uint64_t reload_drain_timeout_default_usec = 3600'000'000;
/* The global max_pending_logins_per_uid.  The login deadline (connect_timeout) already bounds how long
 * a slot is held; the cap bounds how many sockets one local user can tie up in a worker.  The default
 * is high enough that a burst of honest logins from one uid (a busy PHP pool) is never refused. */
inline constexpr int max_pending_logins_per_uid_default = 1024;
inline constexpr int max_pending_logins_per_uid_max = 1'000'000;
inline constexpr std::uint64_t crash_penalty_default_usec = 90'000'000;
/* The global max_sessions_per_uid: open sessions of one local uid over all workers.  High enough for
 * any honest tenant (a PHP pool of thousands), finite so one tenant cannot use up every worker's fds. */
inline constexpr int max_sessions_per_uid_default = 16384;
inline constexpr int max_sessions_per_uid_max = 100'000'000;
/* The global backend_keepalive: seconds a TCP backend connection may be idle before keepalive
 * probes start (0: off).  Short by default, so a vanished backend host is noticed in about 20 s. */
inline constexpr int backend_keepalive_default = 10;
inline constexpr int backend_keepalive_max = 7200;
/* The global backend_idle_max: idle backend connections (client:connect()'s reuse) one worker keeps
 * over all keys.  Each is a connection, and a thread, on a server whose max_connections every tenant
 * shares, and the pool exists for tenants that log in again within seconds: a few dozen per worker
 * serve the busy ones while the least recently parked make room (LRU), and a host of 16 workers holds
 * at most 512, well within a hosting server's max_connections. */
inline constexpr int backend_idle_max_default = 32;
/* The global relay_io: how workers relay plain sessions.  "auto" takes a restricted io_uring where
 * the kernel allows one (worker/uring_ring), "epoll" never does (doc/performance.md). */
enum class RelayIo : std::uint8_t { automatic, epoll };
inline constexpr int backend_idle_max_max = 100'000;
/* The global backend_idle_timeout: the longest a backend connection lives from its login while it is
 * pooled (an idle time and a maximum age in one): short, since a password or grant changed on the
 * server reaches reused connections only when they go, and a page view's next login comes within
 * seconds or not soon at all. */
inline constexpr int backend_idle_timeout_max_seconds = 3600;
inline constexpr std::uint64_t backend_idle_timeout_default_usec = 10'000'000;
inline constexpr const char *worker_user_default = "nobody";

struct ListenerConfig {
	/* mysql_listen(systemd, handler): use the sockets systemd passes (sd_listen_fds); address is unset. */
	bool systemd = false;
	SocketAddress address;
	/* luaL_ref() into the registry of LoadedConfig::state: the handler table passed to
	 * mysql_listen().  Its fields were checked: on_handshake_response is a function, on_connect,
	 * on_command_phase and on_init_db are functions or absent, and there is no other key. */
	int handler_ref = 0;
	/* The address as log lines print it: "/run/myproxy.sock", "[::]:3306", "systemd". */
	std::string description;
	/* Where mysql_listen() was called: "/etc/cm4all/myproxy/config.lua:12". */
	std::string origin;
	/* The options ssl_cert/ssl_key: certificate and key loaded before the fork, owned (pinned) by
	 * LoadedConfig::state; nullptr for a plain listener.  Workers announce CLIENT_SSL only then. */
	SSL_CTX *ssl_context = nullptr;
	/* The option require_ssl: a client that does not start TLS is refused. */
	bool require_ssl = false;
	/* The options auth_plugins and rsa_private_key, loaded (key file read or key generated). */
	ListenerAuth auth;
	/* Some function of config.lua names "cgroup" (lua/lua_code_scan), so a callback may read
	 * client.cgroup: only then does the master read a client's cgroup and its xattrs (five
	 * syscalls and more per connection), and otherwise client.cgroup raises an error. */
	bool reads_client_cgroup = true;
};

struct Config {
	/* In the order of the mysql_listen() calls; never empty. */
	std::vector<ListenerConfig> listeners;
	/* The global worker_processes (1..worker_processes_max), by default the number of online CPUs. */
	int worker_processes = 1;
	/* The global connect_timeout (above 0, at most connect_timeout_max_seconds; fractions allowed) in
	 * microseconds, rounded up so it is never 0; connect_timeout_default_usec when unset. */
	std::uint64_t connect_timeout_usec = connect_timeout_default_usec;
	/* In the order of the mysql_cluster() calls; a cluster object's index is its position here. */
	std::vector<ClusterConfig> clusters;
	/* Every address mysql_resolve() returned while config.lua ran, once, but the listeners': the
	 * backends outside clusters whose greetings the master reads (common/backend_offer.hpp). */
	std::vector<SocketAddress> backend_addresses;
	/* The global drain_timeout (0..drain_timeout_max_seconds, fractions allowed) in microseconds. */
	std::uint64_t drain_timeout_usec = drain_timeout_default_usec;
	/* The global reload_drain_timeout (0..reload_drain_timeout_max_seconds) in microseconds. */
	std::uint64_t reload_drain_timeout_usec = reload_drain_timeout_default_usec;
	/* The global crash_penalty (0..crash_penalty_max_seconds) in microseconds; 0: no penalty. */
	std::uint64_t crash_penalty_usec = crash_penalty_default_usec;
	/* The global worker_user (a user name, not resolved here); empty when unset. */
	std::string worker_user;
	/* The global max_pending_logins_per_uid: connections of one uid that one worker lets log in at
	 * the same time; more get ERR 1040 until some finish. */
	int max_pending_logins_per_uid = max_pending_logins_per_uid_default;
	/* The global max_sessions_per_uid: sessions of one uid (clients with credentials) over all
	 * workers; more get ERR 1040 from the master until some close. */
	int max_sessions_per_uid = max_sessions_per_uid_default;
	/* The global backend_keepalive in seconds (0: no TCP keepalive toward backends). */
	int backend_keepalive = backend_keepalive_default;
	/* The global backend_idle_max: idle backend connections per worker (0: none are kept). */
	int backend_idle_max = backend_idle_max_default;
	/* The global backend_idle_timeout in microseconds: the age from its login at which a pooled
	 * backend connection is closed (never handed out older). */
	std::uint64_t backend_idle_timeout_usec = backend_idle_timeout_default_usec;
	/* The global relay_io ("auto" or "epoll"). */
	RelayIo relay_io = RelayIo::automatic;
	/* prometheus_listen() and control_listen() calls, in order (common/operator_config.hpp). */
	std::vector<PrometheusListenerConfig> prometheus_listeners;
	std::vector<ControlListenerConfig> control_listeners;
};

struct ConfigError {
	/* One line, "FILE:LINE: problem" where Lua knows the line, "FILE: problem" otherwise
	 * ("FILE: no mysql_listen() in config.lua"); for a missing file Lua's own "cannot open FILE: No such
	 * file or directory". */
	std::string message;
	/* Lua's "stack traceback:..." when the error was raised while the script ran; empty otherwise. */
	std::string traceback;
};

} // namespace myproxy
