// Clusters in Lua: mysql_cluster(nodes [, options]) while config.lua loads, the "myproxy.cluster"
// userdata it returns (which client:connect() takes instead of an address), and the ClusterConfig
// (common/cluster_config.hpp) it leaves for the master's monitor and the workers' node choice.  A cluster is named by its
// index in configuration order: workers inherit the Lua state and the Config through fork(), so
// the index means the same cluster in every process and in NODE_STATE messages.  Functions taking
// a lua_State may raise unless marked noexcept.
#pragma once

#include "common/cluster_config.hpp"
#include "lua/lua_tls_options.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct lua_State;

namespace myproxy {

inline constexpr const char *lua_cluster_metatable = "myproxy.cluster";

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
