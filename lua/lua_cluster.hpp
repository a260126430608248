// Clusters in Lua: mysql_cluster(nodes [, options]) while config.lua loads, the "myproxy.cluster"
// userdata it returns (which client:connect() takes instead of an address), and ClusterConfig, what
// the master's monitor and the workers' node choice read after loading.  A cluster is named by its
// index in configuration order: workers inherit the Lua state and the Config through fork(), so
// the index means the same cluster in every process and in NODE_STATE messages.  Functions taking
// a lua_State may raise unless marked noexcept.
#pragma once

#include "common/socket_address.hpp"
#include "lua/lua_tls_options.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct lua_State;

namespace myproxy {

inline constexpr const char *lua_cluster_metatable = "myproxy.cluster";

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
	/* The address as text ("10.0.0.1:3306"), for log lines. */
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

/* Creates the metatable and the global mysql_cluster(), which works until forget_lua_clusters(). */
void register_lua_cluster(lua_State *L);

/* After the script ran (outside any Lua call: it runs no Lua code and raises nothing, but may throw
 * std::bad_alloc): appends every cluster the script declared, in order, to @clusters. */
void collect_lua_clusters(lua_State *L, std::vector<ClusterConfig> &clusters);

/* Ends mysql_cluster()'s working life (later calls raise).  Never raises. */
void forget_lua_clusters(lua_State *L) noexcept;

/* The index of the cluster object at @idx, or nullopt for any other value.  Never raises. */
std::optional<std::uint32_t> to_lua_cluster(lua_State *L, int idx) noexcept;

/* The TLS options mysql_cluster() was given, for the cluster object at @idx (from client:connect():
 * they apply unless the call's own options name ssl).  server_name points into a string the cluster
 * object keeps alive.  Raises only when the stack cannot grow by one slot. */
LuaTlsClientOptions lua_cluster_tls(lua_State *L, int idx);

} // namespace myproxy
