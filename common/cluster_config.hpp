// A cluster as the configuration model keeps it (both processes, after loading): its nodes, the
// monitoring login and the TLS toward the nodes.  lua/lua_cluster reads it from mysql_cluster(); the
// master's monitor and the workers' node choice read it.  A cluster is named by its index in
// configuration order, the same in every process.  Plain data: no Lua, no I/O.
#pragma once

#include "common/socket_address.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;

namespace myproxy {

/* Bounds that keep the monitor's connections and a node choice's work small. */
inline constexpr std::size_t cluster_nodes_max = 256;
inline constexpr std::size_t clusters_max = 1024;

/* Defaults of check_interval and check_timeout: on a LAN a check takes a millisecond or two, so a
 * node that has not answered within a second is as good as gone, and checking every two seconds
 * notices an outage quickly at a negligible load (one short login per node and interval). */
inline constexpr std::uint64_t cluster_check_interval_default_usec = 2'000'000;
inline constexpr std::uint64_t cluster_check_timeout_default_usec = 1'000'000;
inline constexpr int cluster_check_seconds_max = 3600;

struct ClusterNodeConfig {
	SocketAddress address;
	/* The address as text ("10.0.0.1:3306"): log lines and the rendezvous hash key. */
	std::string name;
};

struct ClusterConfig {
	/* In the order of the nodes table; 1..cluster_nodes_max, no address twice. */
	std::vector<ClusterNodeConfig> nodes;
	/* Check the nodes periodically from the master (needs user). */
	bool monitoring = false;
	/* Prefer alive (writable) nodes; needs monitoring. */
	bool no_read_only = false;
	/* Close relayed connections to a node that becomes unavailable; needs monitoring. */
	bool disconnect_unavailable = false;
	/* The monitoring login. */
	std::string user;
	std::string password;
	std::uint64_t check_interval_usec = cluster_check_interval_default_usec;
	std::uint64_t check_timeout_usec = cluster_check_timeout_default_usec;
	/* TLS toward the nodes (options ssl, ssl_ca, ssl_verify_server_cert, ssl_server_name): what
	 * client:connect(cluster, ...) uses unless its own options name ssl, and what the monitor's
	 * checks use.  The context is pinned in the Lua state (loaded before the fork).  An empty
	 * server name: each node's IP address is verified against the certificate. */
	bool ssl = false;
	SSL_CTX *ssl_context = nullptr;
	bool ssl_verify = true;
	std::string ssl_server_name;
	/* Where mysql_cluster() was called: "/etc/cm4all/myproxy/config.lua:12". */
	std::string origin;
};

} // namespace myproxy
