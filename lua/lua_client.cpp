// The client object (see lua_client.hpp).  Every Lua C function here follows one pattern: check the
// arguments while only trivially destructible values are alive (Lua may longjmp), then do the C++ work
// that may throw std::bad_alloc inside a try block with no Lua call that raises, and raise "not enough
// memory" only after that block has ended.
#include "lua/lua_client.hpp"

#include "lua/lua_action.hpp"
#include "lua/lua_cgroup.hpp"
#include "lua/lua_address.hpp"
#include "lua/lua_cluster.hpp"
#include "lua/lua_connect_auth.hpp"
#include "lua/lua_handshake_response.hpp"
#include "lua/lua_tls_options.hpp"


#include <lua.hpp>

#include <cmath>
#include <cstring>
#include <new>
#include <string_view>

namespace myproxy {

namespace {

/* The userdata's user values. */
constexpr int notes_uservalue = 1;
constexpr int cgroup_uservalue = 2;

struct ClientBox {
	/* nullptr once detached. */
	ClientAttributes *attributes;
};

ClientBox &check_box(lua_State *L, int idx)
{
	return *static_cast<ClientBox *>(luaL_checkudata(L, idx, lua_client_metatable));
}

/* The attributes of the client object at @idx; raises when it is not one or was detached. */
ClientAttributes &check_client(lua_State *L, int idx)
{
	ClientBox &box = check_box(L, idx);
	if (box.attributes == nullptr)
		luaL_error(L, "client connection is closed");
	return *box.attributes;
}

bool has_control_character(std::string_view text)
{
	for (const char c : text)
		if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
			return true;
	return false;
}

int out_of_memory(lua_State *L)
{
	return luaL_error(L, "not enough memory");
}

/* Assigns outside Lua's reach: returns false instead of throwing. */
bool assign(std::string &target, std::string_view value) noexcept
{
	try {
		target.assign(value);
		return true;
	} catch (const std::bad_alloc &) {
		return false;
	}
}

void push_optional_string(lua_State *L, const std::string &value)
{
	if (value.empty())
		lua_pushnil(L);
	else
		lua_pushlstring(L, value.data(), value.size());
}

/* client.cgroup: one table per client object (lua_cgroup.hpp), made on first use; nil when the
 * cgroup is unknown.  A script whose code never names "cgroup" reached it with a key built at run
 * time: nil would pass for "unknown", so say what happened. */
void push_cgroup(lua_State *L, int client, const ClientAttributes &attributes)
{
	if (!attributes.cgroup_read)
		luaL_error(L, "client.cgroup was not read: no function of config.lua names the field \"cgroup\" "
			      "(write client.cgroup, not a key built at run time)");
	if (attributes.cgroup_path.empty()) {
		lua_pushnil(L);
		return;
	}
	if (lua_getiuservalue(L, client, cgroup_uservalue) == LUA_TTABLE)
		return;
	lua_pop(L, 1);
	push_lua_cgroup(L, attributes.cgroup_path, attributes.cgroup_xattrs);
	lua_pushvalue(L, -1);
	lua_setiuservalue(L, client, cgroup_uservalue);
}

/* The notes table, made on first use: most sessions never touch it, and an idle session should
 * not carry an empty table (doc/performance.md, "Memory per idle connection"). */
void push_notes(lua_State *L, int client)
{
	if (lua_getiuservalue(L, client, notes_uservalue) == LUA_TTABLE)
		return;
	lua_pop(L, 1);
	lua_newtable(L);
	lua_pushvalue(L, -1);
	lua_setiuservalue(L, client, notes_uservalue);
}

/* __index(client, key); upvalue 1: the methods table. */
int client_index(lua_State *L)
{
	const ClientAttributes &attributes = check_client(L, 1);
	lua_settop(L, 2);
	lua_pushvalue(L, 2);
	if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
		return 1;
	if (lua_type(L, 2) != LUA_TSTRING)
		return 0;
	const std::string_view key = lua_tostring(L, 2);

	if (key == "pid" || key == "uid" || key == "gid") {
		if (!attributes.has_credentials)
			lua_pushnil(L);
		else if (key == "pid")
			lua_pushinteger(L, attributes.pid);
		else
			lua_pushinteger(L, key == "uid" ? attributes.uid : attributes.gid);
	} else if (key == "account") {
		push_optional_string(L, attributes.account);
	} else if (key == "address") {
		push_optional_string(L, attributes.address);
	} else if (key == "server_version") {
		lua_pushlstring(L, attributes.server_version.data(), attributes.server_version.size());
	} else if (key == "ssl") {
		lua_pushboolean(L, attributes.ssl ? 1 : 0);
	} else if (key == "notes") {
		push_notes(L, 1);
	} else if (key == "cgroup") {
		push_cgroup(L, 1, attributes);
	} else {
		/* Reading an unknown name is how Lua code probes for optional features: nil, not an error. */
		return 0;
	}
	return 1;
}

/* Checks the new value of a settable string attribute; nil and "" clear it (where allowed). */
std::string_view check_settable_string(lua_State *L, const char *name, std::size_t max, bool nil_allowed)
{
	if (nil_allowed && lua_isnil(L, 3))
		return {};
	if (lua_type(L, 3) != LUA_TSTRING)
		luaL_error(L, "client.%s must be %s, got %s", name, nil_allowed ? "a string or nil" : "a string",
			   luaL_typename(L, 3));
	std::size_t length;
	const char *text = lua_tolstring(L, 3, &length);
	const std::string_view value(text, length);
	if (length > max)
		luaL_error(L, "client.%s is longer than %d bytes", name, static_cast<int>(max));
	if (has_control_character(value))
		luaL_error(L, "client.%s must not contain control characters", name);
	if (!nil_allowed && value.empty())
		luaL_error(L, "client.%s must not be empty", name);
	return value;
}

/* __newindex(client, key, value): only account and server_version; anything else is most likely a
 * typo, so it raises instead of silently storing nothing. */
int client_newindex(lua_State *L)
{
	ClientAttributes &attributes = check_client(L, 1);
	lua_settop(L, 3);
	const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : nullptr;
	if (key == nullptr)
		return luaL_error(L, "client attributes are named by strings, got a %s", luaL_typename(L, 2));

	std::string *target;
	std::string_view value;
	if (std::strcmp(key, "account") == 0) {
		value = check_settable_string(L, "account", client_account_max, true);
		target = &attributes.account;
	} else if (std::strcmp(key, "server_version") == 0) {
		if (!attributes.server_version_settable)
			return luaL_error(L, "client.server_version can only be set in on_connect");
		value = check_settable_string(L, "server_version", client_server_version_max, false);
		target = &attributes.server_version;
	} else if (std::strcmp(key, "pid") == 0 || std::strcmp(key, "uid") == 0 || std::strcmp(key, "gid") == 0 ||
		   std::strcmp(key, "cgroup") == 0 || std::strcmp(key, "address") == 0 || std::strcmp(key, "ssl") == 0 ||
		   std::strcmp(key, "notes") == 0) {
		return luaL_error(L, "client.%s is read-only%s", key,
				  std::strcmp(key, "notes") == 0 ? " (store fields in it instead)" : "");
	} else {
		return luaL_error(L, "client has no attribute '%s'", key);
	}
	if (!assign(*target, value))
		return out_of_memory(L);
	return 0;
}

int client_tostring(lua_State *L)
{
	const ClientBox &box = check_box(L, 1);
	if (box.attributes == nullptr)
		lua_pushliteral(L, "client (closed)");
	else if (!box.attributes->has_credentials)
		lua_pushliteral(L, "client");
	else
		lua_pushfstring(L, "client pid=%d uid=%d", box.attributes->pid, static_cast<int>(box.attributes->uid));
	return 1;
}

/* What the options table of client:connect() says: the TLS options (lua_tls_options.hpp),
 * read_only (which only a cluster heeds), read_timeout and compress. */
struct ConnectOptions {
	LuaTlsClientOptions tls;
	bool read_only;
	/* read_timeout in microseconds; 0 when not given. */
	std::uint64_t read_timeout_usec;
	bool compress;
	/* reuse: idle connections per key; 0 when not given or false. */
	std::uint16_t reuse_per_key;
};

/* The most read_timeout accepts, in seconds (a day: longer is no timeout at all). */
constexpr lua_Number read_timeout_max_seconds = 86400;

/* The option reuse at the top of the stack: true (the default count per key), false, or a count. */
std::uint16_t check_reuse_option(lua_State *L, int arg)
{
	if (lua_type(L, -1) == LUA_TBOOLEAN)
		return lua_toboolean(L, -1) != 0 ? reuse_per_key_default : 0;
	int exact = 0;
	const lua_Integer n = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &exact) : 0;
	if (exact == 0 || n < 1 || n > reuse_per_key_max)
		luaL_argerror(L, arg, lua_pushfstring(L, "option reuse must be a boolean or an integer from 1 to %d",
						      int(reuse_per_key_max)));
	return static_cast<std::uint16_t>(n);
}

/* The options table of client:connect(); any other key is an error.  The authentication options
 * (lua_connect_auth.hpp) go to @auth, whose views stay valid while the table is on the stack. */
ConnectOptions check_connect_options(lua_State *L, int arg, bool cluster, LuaConnectAuthOptions &auth)
{
	ConnectOptions options{default_lua_tls_client_options(), false, 0, false, 0};
	if (lua_isnoneornil(L, arg))
		return options;
	luaL_checktype(L, arg, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, arg) != 0) {
		if (lua_type(L, -2) == LUA_TSTRING && std::strcmp(lua_tostring(L, -2), "read_only") == 0) {
			if (lua_type(L, -1) != LUA_TBOOLEAN)
				luaL_argerror(L, arg, lua_pushfstring(L, "option read_only must be a boolean, got %s",
								      luaL_typename(L, -1)));
			/* A plain address has one node to choose from: accepted with no effect, as upstream. */
			options.read_only = cluster && lua_toboolean(L, -1) != 0;
		} else if (lua_type(L, -2) == LUA_TSTRING && std::strcmp(lua_tostring(L, -2), "read_timeout") == 0) {
			const lua_Number seconds = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
			/* Written so that NaN fails too. */
			if (!(seconds > 0 && seconds <= read_timeout_max_seconds))
				luaL_argerror(L, arg, "option read_timeout must be a number of seconds above 0 and at most 86400");
			options.read_timeout_usec = static_cast<std::uint64_t>(std::ceil(seconds * 1e6));
		} else if (lua_type(L, -2) == LUA_TSTRING && std::strcmp(lua_tostring(L, -2), "compress") == 0) {
			if (lua_type(L, -1) != LUA_TBOOLEAN)
				luaL_argerror(L, arg, lua_pushfstring(L, "option compress must be a boolean, got %s",
								      luaL_typename(L, -1)));
			options.compress = lua_toboolean(L, -1) != 0;
		} else if (lua_type(L, -2) == LUA_TSTRING && std::strcmp(lua_tostring(L, -2), "reuse") == 0) {
			options.reuse_per_key = check_reuse_option(L, arg);
		} else if (!read_lua_tls_client_option(L, arg, options.tls)) {
			const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_typename(L, -2);
			if (lua_type(L, -2) != LUA_TSTRING || !check_connect_auth_option(L, arg, key, auth))
				luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s'", key));
		}
		lua_pop(L, 1);
	}
	/* Workers cannot read files: ssl_ca must be a mysql_ssl_ca() object. */
	finish_lua_tls_client_options(L, arg, options.tls, false);
	return options;
}

/* client:connect(address|cluster, handshake_response [, options]) */
int client_connect(lua_State *L)
{
	check_client(L, 1);
	/* The checks below push their findings: fix the argument slots first. */
	lua_settop(L, 4);
	const std::optional<std::uint32_t> cluster = to_lua_cluster(L, 2);
	SocketAddress address;
	if (!cluster) {
		if (lua_type(L, 2) != LUA_TSTRING && to_lua_address(L, 2) == nullptr)
			luaL_typeerror(L, 2, "address, mysql_resolve() result or mysql_cluster()");
		address = check_lua_address(L, 2);
	}
	const LuaHandshakeResponse checked = check_lua_handshake_response(L, 3);
	LuaConnectAuthOptions auth{};
	const ConnectOptions options = check_connect_options(L, 4, cluster.has_value(), auth);
	/* A cluster's TLS options apply unless this call names ssl: then its own options replace them
	 * as a whole (documented in myproxy.lua(5)). */
	const LuaTlsClientOptions tls = cluster && !lua_tls_client_options_given(options.tls) ? lua_cluster_tls(L, 2)
											 : options.tls;
	luaL_checkstack(L, 3, "connect");

	ConnectAction &action = std::get<ConnectAction>(push_lua_action(L, 0));
	bool failed = false;
	try {
		action.address = address;
		action.cluster = cluster;
		action.read_only = options.read_only;
		action.read_timeout_usec = options.read_timeout_usec;
		action.compress = options.compress;
		action.reuse_per_key = options.reuse_per_key;
		action.ssl = tls.ssl;
		action.ssl_context = tls.context;
		action.ssl_verify = tls.verify;
		if (tls.server_name != nullptr)
			action.ssl_server_name = tls.server_name;
		/* Pushes above the action while iterating attributes, which stays at the same index. */
		copy_lua_handshake_response(L, checked, action);
		copy_connect_auth_options(auth, action);
	} catch (const std::bad_alloc &) {
		failed = true;
	}
	if (failed)
		return out_of_memory(L);
	return 1;
}

/* client:err(message) */
int client_err(lua_State *L)
{
	check_client(L, 1);
	std::size_t length;
	const char *message = luaL_checklstring(L, 2, &length);

	ErrAction &action = std::get<ErrAction>(push_lua_action(L, 1));
	if (!assign(action.message, std::string_view(message, length)))
		return out_of_memory(L);
	return 1;
}

/* client:init_db(name) */
int client_init_db(lua_State *L)
{
	check_client(L, 1);
	std::size_t length;
	const char *name = luaL_checklstring(L, 2, &length);
	if (length == 0)
		luaL_argerror(L, 2, "database name must not be empty");
	if (std::memchr(name, '\0', length) != nullptr)
		luaL_argerror(L, 2, "database name must not contain NUL bytes");

	InitDbAction &action = std::get<InitDbAction>(push_lua_action(L, 2));
	if (!assign(action.database, std::string_view(name, length)))
		return out_of_memory(L);
	return 1;
}

void register_client_metatable(lua_State *L)
{
	if (luaL_newmetatable(L, lua_client_metatable) == 0) {
		lua_pop(L, 1);
		return;
	}
	static const luaL_Reg methods[] = {
		{"connect", client_connect},
		{"err", client_err},
		{"init_db", client_init_db},
		{nullptr, nullptr},
	};
	luaL_newlib(L, methods);
	lua_pushcclosure(L, client_index, 1);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, client_newindex);
	lua_setfield(L, -2, "__newindex");
	lua_pushcfunction(L, client_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);
}

int open_worker_api(lua_State *L)
{
	register_lua_action(L);
	register_client_metatable(L);
	return 0;
}

/* (attributes) -> reference */
int new_client(lua_State *L)
{
	auto *attributes = static_cast<ClientAttributes *>(lua_touserdata(L, 1));
	if (luaL_getmetatable(L, lua_client_metatable) != LUA_TTABLE)
		return luaL_error(L, "register_worker_lua_api() was not called");
	lua_pop(L, 1);

	auto *box = static_cast<ClientBox *>(lua_newuserdatauv(L, sizeof(ClientBox), 2));
	box->attributes = nullptr;
	luaL_setmetatable(L, lua_client_metatable);
	const int ref = luaL_ref(L, LUA_REGISTRYINDEX);
	box->attributes = attributes;
	lua_pushinteger(L, ref);
	return 1;
}

} // namespace

bool register_worker_lua_api(lua_State *L) noexcept
{
	if (lua_checkstack(L, 1) == 0)
		return false;
	lua_pushcfunction(L, open_worker_api);
	if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
		lua_pop(L, 1);
		return false;
	}
	return true;
}

int create_lua_client(lua_State *L, ClientAttributes &attributes) noexcept
{
	if (lua_checkstack(L, 2) == 0)
		return LUA_NOREF;
	lua_pushcfunction(L, new_client);
	lua_pushlightuserdata(L, &attributes);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		lua_pop(L, 1);
		return LUA_NOREF;
	}
	const int ref = static_cast<int>(lua_tointeger(L, -1));
	lua_pop(L, 1);
	return ref;
}

void push_lua_client(lua_State *L, int client_ref) noexcept
{
	lua_rawgeti(L, LUA_REGISTRYINDEX, client_ref);
}

void detach_lua_client(lua_State *L, int client_ref) noexcept
{
	if (client_ref == LUA_NOREF || client_ref == LUA_REFNIL || lua_checkstack(L, 1) == 0)
		return;
	lua_rawgeti(L, LUA_REGISTRYINDEX, client_ref);
	if (auto *box = static_cast<ClientBox *>(lua_touserdata(L, -1)))
		box->attributes = nullptr;
	lua_pop(L, 1);
	luaL_unref(L, LUA_REGISTRYINDEX, client_ref);
}

} // namespace myproxy
