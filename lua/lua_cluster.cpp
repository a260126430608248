// mysql_cluster() and the cluster userdata (see lua_cluster.hpp).  As in config_loader.cpp, the Lua
// C function holds only trivially destructible data while it may raise: the nodes, user and
// password live in the userdata's user values (Lua objects), and C++ strings and vectors are built
// only by collect_lua_clusters(), after the script, outside any Lua call.
#include "lua/lua_cluster.hpp"

#include "lua/lua_address.hpp"

#include <lua.hpp>

#include <cmath>
#include <cstring>
#include <new>

namespace myproxy {

namespace {

/* Its address is the registry key of the list of clusters (while config.lua loads). */
const char clusters_key = 0;

/* The userdata's user values. */
constexpr int nodes_uservalue = 1;
constexpr int user_uservalue = 2;
constexpr int password_uservalue = 3;
/* ssl_server_name (a string) or nil. */
constexpr int server_name_uservalue = 4;
constexpr int uservalue_count = 4;

struct ClusterRecord {
	std::uint32_t index;
	bool monitoring;
	bool no_read_only;
	bool disconnect_unavailable;
	std::uint64_t check_interval_usec;
	std::uint64_t check_timeout_usec;
	/* server_name is always nullptr here: the name is a user value. */
	LuaTlsClientOptions tls;
	int line;
	char source[LUA_IDSIZE];
};

enum OptionKind { boolean_option, string_option, seconds_option };

struct OptionSpec {
	const char *name;
	OptionKind kind;
};

/* Every option mysql_cluster() knows besides the TLS options, which lua_tls_options reads (the same
 * as client:connect()'s); any other key is a configuration error. */
constexpr OptionSpec option_specs[] = {
	{"monitoring", boolean_option},
	{"user", string_option},
	{"password", string_option},
	{"no_read_only", boolean_option},
	{"disconnect_unavailable", boolean_option},
	{"check_interval", seconds_option},
	{"check_timeout", seconds_option},
};

const OptionSpec *find_option(const char *name)
{
	for (const OptionSpec &spec : option_specs)
		if (std::strcmp(spec.name, name) == 0)
			return &spec;
	return nullptr;
}

const char *got(lua_State *L, int idx)
{
	return lua_type(L, idx) == LUA_TNUMBER ? luaL_tolstring(L, idx, nullptr) : luaL_typename(L, idx);
}

/* Copies the nodes table at 1 into a new table of address objects (pushed), checking each. */
void push_checked_nodes(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	const lua_Integer count = static_cast<lua_Integer>(lua_rawlen(L, 1));
	if (count == 0)
		luaL_argerror(L, 1, "a cluster needs at least one node");
	if (count > static_cast<lua_Integer>(cluster_nodes_max))
		luaL_argerror(L, 1, lua_pushfstring(L, "more than %d nodes", static_cast<int>(cluster_nodes_max)));
	lua_pushnil(L);
	while (lua_next(L, 1) != 0) {
		if (!lua_isinteger(L, -2) || lua_tointeger(L, -2) < 1 || lua_tointeger(L, -2) > count)
			luaL_argerror(L, 1, "nodes must be an array (a list without holes or other keys)");
		lua_pop(L, 1);
	}

	lua_createtable(L, static_cast<int>(count), 0);
	const int nodes = lua_gettop(L);
	for (lua_Integer i = 1; i <= count; ++i) {
		lua_rawgeti(L, 1, i);
		const AddressResult address = to_lua_address_value(L, -1);
		if (!address)
			luaL_argerror(L, 1, lua_pushfstring(L, "node %d: %s", static_cast<int>(i), address.error()));
		lua_pop(L, 1);
		for (lua_Integer j = 1; j < i; ++j) {
			lua_rawgeti(L, nodes, j);
			const bool same = *to_lua_address(L, -1) == address.value();
			lua_pop(L, 1);
			if (same)
				luaL_argerror(L, 1, lua_pushfstring(L, "node %d repeats node %d", static_cast<int>(i),
								   static_cast<int>(j)));
		}
		push_lua_address(L, address.value());
		lua_rawseti(L, nodes, i);
	}
}

/* Reads the options table at 2 into @record; the user and password strings replace the values
 * at @user_slot and @password_slot. */
void read_options(lua_State *L, ClusterRecord &record, int user_slot, int password_slot)
{
	if (lua_isnoneornil(L, 2))
		return;
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, 2) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING)
			luaL_argerror(L, 2, lua_pushfstring(L, "option names are strings, got a %s key",
							    luaL_typename(L, -2)));
		const char *name = lua_tostring(L, -2);
		if (read_lua_tls_client_option(L, 2, record.tls)) {
			lua_pop(L, 1);
			continue;
		}
		const OptionSpec *spec = find_option(name);
		if (spec == nullptr)
			luaL_argerror(L, 2, lua_pushfstring(L, "unknown option '%s' (expected monitoring, user, password, "
							       "no_read_only, disconnect_unavailable, check_interval, "
							       "check_timeout, ssl, ssl_ca, ssl_verify_server_cert or "
							       "ssl_server_name)", name));
		switch (spec->kind) {
		case boolean_option: {
			if (lua_type(L, -1) != LUA_TBOOLEAN)
				luaL_argerror(L, 2, lua_pushfstring(L, "option %s must be a boolean, got %s", name,
								    got(L, -1)));
			const bool value = lua_toboolean(L, -1) != 0;
			if (std::strcmp(name, "monitoring") == 0)
				record.monitoring = value;
			else if (std::strcmp(name, "no_read_only") == 0)
				record.no_read_only = value;
			else
				record.disconnect_unavailable = value;
			break;
		}
		case string_option:
			if (lua_type(L, -1) != LUA_TSTRING)
				luaL_argerror(L, 2, lua_pushfstring(L, "option %s must be a string, got %s", name,
								    got(L, -1)));
			lua_pushvalue(L, -1);
			lua_replace(L, std::strcmp(name, "user") == 0 ? user_slot : password_slot);
			break;
		case seconds_option: {
			const lua_Number seconds = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
			/* Written so that NaN fails too. */
			if (!(seconds > 0 && seconds <= cluster_check_seconds_max))
				luaL_argerror(L, 2, lua_pushfstring(L, "option %s must be a number of seconds above 0 "
								       "and at most %d, got %s", name,
								    cluster_check_seconds_max, got(L, -1)));
			const auto usec = static_cast<std::uint64_t>(std::ceil(seconds * 1e6));
			if (std::strcmp(name, "check_interval") == 0)
				record.check_interval_usec = usec;
			else
				record.check_timeout_usec = usec;
			break;
		}
		}
		lua_pop(L, 1);
	}
	/* While config.lua loads, ssl_ca may name a file or directory: it is loaded now. */
	finish_lua_tls_client_options(L, 2, record.tls, true);
	/* Without user the checks only wait for the greeting (common/node_check.hpp). */
	if (!lua_isnil(L, user_slot) && lua_rawlen(L, user_slot) == 0)
		luaL_argerror(L, 2, "option user must not be empty");
	if (!record.monitoring && record.no_read_only)
		luaL_argerror(L, 2, "no_read_only needs monitoring = true (only checks tell writable nodes)");
	if (!record.monitoring && record.disconnect_unavailable)
		luaL_argerror(L, 2, "disconnect_unavailable needs monitoring = true (only checks tell a node is down)");
}

/* mysql_cluster(nodes [, options]) */
int mysql_cluster(lua_State *L)
{
	lua_settop(L, 2);
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &clusters_key) != LUA_TTABLE)
		return luaL_error(L, "mysql_cluster() works only while config.lua is loading");
	const int list = lua_gettop(L);
	const lua_Integer count = static_cast<lua_Integer>(lua_rawlen(L, list));
	if (count >= static_cast<lua_Integer>(clusters_max))
		return luaL_error(L, "more than %d clusters", static_cast<int>(clusters_max));

	push_checked_nodes(L);
	const int nodes = lua_gettop(L);
	lua_pushnil(L);
	const int user_slot = lua_gettop(L);
	lua_pushnil(L);
	const int password_slot = lua_gettop(L);

	ClusterRecord record{};
	record.tls = default_lua_tls_client_options();
	record.index = static_cast<std::uint32_t>(count);
	record.check_interval_usec = cluster_check_interval_default_usec;
	record.check_timeout_usec = cluster_check_timeout_default_usec;
	read_options(L, record, user_slot, password_slot);

	lua_Debug ar;
	if (lua_getstack(L, 1, &ar) != 0 && lua_getinfo(L, "Sl", &ar) != 0) {
		std::memcpy(record.source, ar.short_src, sizeof(record.source));
		record.line = ar.currentline;
	}

	/* The name lives on as a user value; the record keeps no pointer into the options table. */
	const bool has_server_name = record.tls.ssl && record.tls.server_name != nullptr;
	record.tls.server_name = nullptr;
	void *block = lua_newuserdatauv(L, sizeof(ClusterRecord), uservalue_count);
	new (block) ClusterRecord(record);
	luaL_setmetatable(L, lua_cluster_metatable);
	const int cluster = lua_gettop(L);
	lua_pushvalue(L, nodes);
	lua_setiuservalue(L, cluster, nodes_uservalue);
	lua_pushvalue(L, user_slot);
	lua_setiuservalue(L, cluster, user_uservalue);
	lua_pushvalue(L, password_slot);
	lua_setiuservalue(L, cluster, password_uservalue);
	if (has_server_name)
		lua_getfield(L, 2, "ssl_server_name");
	else
		lua_pushnil(L);
	lua_setiuservalue(L, cluster, server_name_uservalue);
	lua_pushvalue(L, cluster);
	lua_rawseti(L, list, count + 1);
	return 1;
}

int cluster_tostring(lua_State *L)
{
	const auto *record = static_cast<const ClusterRecord *>(luaL_checkudata(L, 1, lua_cluster_metatable));
	lua_getiuservalue(L, 1, nodes_uservalue);
	lua_pushfstring(L, "mysql_cluster #%d (%d nodes, %s:%d)", static_cast<int>(record->index),
			static_cast<int>(lua_rawlen(L, -1)), record->source, record->line);
	return 1;
}

} // namespace

void register_lua_cluster(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{"__tostring", cluster_tostring},
		{nullptr, nullptr},
	};
	luaL_newmetatable(L, lua_cluster_metatable);
	luaL_setfuncs(L, methods, 0);
	/* Opaque to scripts: what a cluster is was decided when it was made. */
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);

	lua_newtable(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &clusters_key);
	lua_register(L, "mysql_cluster", mysql_cluster);
}

void collect_lua_clusters(lua_State *L, std::vector<ClusterConfig> &clusters)
{
	if (lua_checkstack(L, 4) == 0)
		throw std::bad_alloc();
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &clusters_key) != LUA_TTABLE) {
		lua_pop(L, 1);
		return;
	}
	const int list = lua_gettop(L);
	const lua_Integer count = static_cast<lua_Integer>(lua_rawlen(L, list));
	for (lua_Integer i = 1; i <= count; ++i) {
		lua_rawgeti(L, list, i);
		const int cluster = lua_gettop(L);
		const auto &record = *static_cast<const ClusterRecord *>(lua_touserdata(L, cluster));
		ClusterConfig &config = clusters.emplace_back();
		config.monitoring = record.monitoring;
		config.no_read_only = record.no_read_only;
		config.disconnect_unavailable = record.disconnect_unavailable;
		config.check_interval_usec = record.check_interval_usec;
		config.check_timeout_usec = record.check_timeout_usec;
		config.origin = std::string(record.source) + ":" + std::to_string(record.line);
		config.ssl = record.tls.ssl;
		config.ssl_context = record.tls.context;
		config.ssl_verify = record.tls.verify;
		lua_getiuservalue(L, cluster, server_name_uservalue);
		if (const char *text = lua_tostring(L, -1))
			config.ssl_server_name = text;
		lua_pop(L, 1);

		lua_getiuservalue(L, cluster, nodes_uservalue);
		const lua_Integer node_count = static_cast<lua_Integer>(lua_rawlen(L, -1));
		for (lua_Integer j = 1; j <= node_count; ++j) {
			lua_rawgeti(L, -1, j);
			const SocketAddress address = *to_lua_address(L, -1);
			lua_pop(L, 1);
			config.nodes.push_back({address, to_string(address)});
		}
		lua_pop(L, 1);
		std::size_t length;
		lua_getiuservalue(L, cluster, user_uservalue);
		if (const char *text = lua_tolstring(L, -1, &length))
			config.user.assign(text, length);
		lua_pop(L, 1);
		lua_getiuservalue(L, cluster, password_uservalue);
		if (const char *text = lua_tolstring(L, -1, &length))
			config.password.assign(text, length);
		lua_pop(L, 2);
	}
	lua_pop(L, 1);
}

void forget_lua_clusters(lua_State *L) noexcept
{
	if (lua_checkstack(L, 1) == 0)
		return;
	lua_pushnil(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &clusters_key);
}

std::optional<std::uint32_t> to_lua_cluster(lua_State *L, int idx) noexcept
{
	const auto *record = static_cast<const ClusterRecord *>(luaL_testudata(L, idx, lua_cluster_metatable));
	if (record == nullptr)
		return std::nullopt;
	return record->index;
}

LuaTlsClientOptions lua_cluster_tls(lua_State *L, int idx)
{
	const auto *record = static_cast<const ClusterRecord *>(luaL_checkudata(L, idx, lua_cluster_metatable));
	LuaTlsClientOptions tls = record->tls;
	luaL_checkstack(L, 1, "mysql_cluster");
	lua_getiuservalue(L, idx, server_name_uservalue);
	/* The cluster object keeps the string alive. */
	tls.server_name = lua_tostring(L, -1);
	lua_pop(L, 1);
	return tls;
}

} // namespace myproxy
