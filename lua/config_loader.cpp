// load_config() and the Lua side of the top-level API (see config_loader.hpp).  Lua raises errors with
// longjmp, so the work is split: small Lua C functions, each run through lua_pcall, hold only trivially
// destructible data (mysql_listen() keeps its records in a Lua table, not a std::vector); the C++ side
// builds strings and vectors only between those calls, when no Lua frame is active.
#include "lua/config_loader.hpp"
#include "lua/config_directory.hpp"

#include "lua/listener_auth.hpp"
#include "lua/lua_address.hpp"
#include "lua/lua_cluster.hpp"
#include "lua/lua_code_scan.hpp"
#include "lua/lua_operator_listen.hpp"
#include "lua/lua_compat.hpp"
#include "lua/lua_json.hpp"
#include "lua/lua_jwt.hpp"
#include "lua/lua_sleep.hpp"
#include "lua/lua_socket.hpp"
#include "lua/lua_control_client.hpp"
#include "lua/lua_tls_options.hpp"
#include "lua/lua_pg.hpp"
#include "lua/lua_sodium.hpp"

#include <lua.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

namespace myproxy {

namespace {

/* Their addresses are registry keys and the `systemd` sentinel. */
const char listeners_key = 0;
const char traceback_key = 0;
const char systemd_sentinel = 0;

/* One mysql_listen() call, stored as a full userdata in the registry table at listeners_key. */
struct ListenerRecord {
	SocketAddress address;
	bool systemd;
	int handler_ref;
	/* TLS (the options' ssl_cert, ssl_key, require_ssl); the context is pinned in the registry. */
	SSL_CTX *ssl_context;
	bool require_ssl;
	/* auth_plugins, rsa_private_key. */
	ListenerAuthOptions auth;
	int line;
	char source[LUA_IDSIZE];
};

constexpr const char *handler_fields[] = {"on_connect", "on_handshake_response", "on_command_phase", "on_init_db"};
constexpr const char *required_handler_field = "on_handshake_response";

bool is_handler_field(const char *key)
{
	for (const char *field : handler_fields)
		if (std::strcmp(key, field) == 0)
			return true;
	return false;
}

/* Unknown keys are errors: a misspelt callback ("on_conect") would otherwise be silently never called.
 * Fields are read raw, so a handler cannot inherit callbacks through a metatable.  On failure pushes the
 * problem and returns false. */
bool check_handler(lua_State *L, int idx)
{
	idx = lua_absindex(L, idx);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pushfstring(L, "handler keys must be strings, got a %s key", luaL_typename(L, -2));
			return false;
		}
		const char *key = lua_tostring(L, -2);
		if (!is_handler_field(key)) {
			lua_pushfstring(L, "unknown handler field '%s' (expected on_connect, on_handshake_response, "
					   "on_command_phase or on_init_db)", key);
			return false;
		}
		if (lua_type(L, -1) != LUA_TFUNCTION) {
			lua_pushfstring(L, "handler.%s must be a function, got %s", key, luaL_typename(L, -1));
			return false;
		}
		lua_pop(L, 1);
	}
	lua_pushstring(L, required_handler_field);
	if (lua_rawget(L, idx) == LUA_TNIL) {
		lua_pushfstring(L, "handler.%s is required", required_handler_field);
		return false;
	}
	lua_pop(L, 1);
	return true;
}

bool is_systemd(lua_State *L, int idx)
{
	return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == &systemd_sentinel;
}

bool same_listener(const ListenerRecord &a, const ListenerRecord &b)
{
	return a.systemd == b.systemd && (a.systemd || a.address == b.address);
}

const char *push_description(lua_State *L, const ListenerRecord &record)
{
	if (record.systemd)
		return lua_pushliteral(L, "systemd");
	char text[socket_address_text_max];
	const std::size_t length = format_socket_address(record.address, text, sizeof(text));
	return lua_pushlstring(L, text, length);
}

/* The options table of mysql_listen(): TLS and authentication options; unknown keys are errors. */
void read_listen_options(lua_State *L, int arg, ListenerRecord &record)
{
	if (lua_isnoneornil(L, arg))
		return;
	luaL_checktype(L, arg, LUA_TTABLE);
	LuaTlsListenerOptions tls{nullptr, false};
	lua_pushnil(L);
	while (lua_next(L, arg) != 0) {
		if (!read_lua_tls_listener_option(L, arg, tls) && !read_listener_auth_option(L, arg, record.auth)) {
			const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_typename(L, -2);
			luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s'", key));
		}
		lua_pop(L, 1);
	}
	finish_lua_tls_listener_options(L, arg, tls);
	record.ssl_context = tls.context;
	record.require_ssl = tls.require_ssl;
}

/* mysql_listen(address|systemd, handler [, options]) */
int mysql_listen(lua_State *L)
{
	lua_settop(L, 3);
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &listeners_key) != LUA_TTABLE)
		return luaL_error(L, "mysql_listen() works only while config.lua is loading");
	const int listeners = lua_gettop(L);

	ListenerRecord record{};
	if (is_systemd(L, 1))
		record.systemd = true;
	else if (lua_type(L, 1) == LUA_TSTRING || to_lua_address(L, 1) != nullptr)
		record.address = (make_lua_socket_path_absolute(L, 1), check_lua_address(L, 1));
	else
		return luaL_typeerror(L, 1, "address or systemd");

	luaL_checktype(L, 2, LUA_TTABLE);
	if (!check_handler(L, 2))
		return luaL_argerror(L, 2, lua_tostring(L, -1));

	const lua_Integer count = static_cast<lua_Integer>(lua_rawlen(L, listeners));
	for (lua_Integer i = 1; i <= count; ++i) {
		lua_rawgeti(L, listeners, i);
		const auto *other = static_cast<const ListenerRecord *>(lua_touserdata(L, -1));
		if (same_listener(record, *other)) {
			const char *description = push_description(L, record);
			return luaL_argerror(L, 1, lua_pushfstring(L, "%s is already a listener (%s:%d)", description,
								   other->source, other->line));
		}
		lua_pop(L, 1);
	}

	lua_Debug ar;
	if (lua_getstack(L, 1, &ar) != 0 && lua_getinfo(L, "Sl", &ar) != 0) {
		std::memcpy(record.source, ar.short_src, sizeof(record.source));
		record.line = ar.currentline;
	}
	read_listen_options(L, 3, record);
	lua_settop(L, listeners);
	lua_pushvalue(L, 2);
	record.handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);

	void *slot = lua_newuserdatauv(L, sizeof(record), 0);
	new (slot) ListenerRecord(record);
	lua_rawseti(L, listeners, count + 1);
	return 0;
}

int open_api(lua_State *L)
{
	open_lua_compat(L);
	open_lua_json(L);
	open_lua_jwt(L);
	open_lua_sleep(L);
	open_lua_socket(L);
	open_lua_control_client(L);
	register_lua_address(L);
	register_lua_tls(L);
	set_lua_tls_loading(L, true);
	open_lua_sodium(L);
	open_lua_pg(L);
	register_lua_cluster(L);
	register_lua_operator_listen(L);
	lua_register(L, "mysql_listen", mysql_listen);
	lua_pushlightuserdata(L, const_cast<char *>(&systemd_sentinel));
	lua_setglobal(L, "systemd");
	lua_newtable(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &listeners_key);
	set_lua_name_lookup(L, true);
	return 0;
}

/* (path) -> chunk, LUA_OK | message, status.  Protected because luaL_loadfilex() raises when memory
 * runs out. */
int load_chunk(lua_State *L)
{
	const char *path = static_cast<const char *>(lua_touserdata(L, 1));
	const int status = luaL_loadfilex(L, path, "t");
	lua_pushinteger(L, status);
	return 2;
}

/* Keeps the traceback aside (registry) so the message stays one line. */
int message_handler(lua_State *L)
{
	if (lua_type(L, 1) == LUA_TNUMBER) {
		lua_tostring(L, 1); /* converts in place */
	} else if (lua_type(L, 1) != LUA_TSTRING) {
		if (luaL_callmeta(L, 1, "__tostring") == 0 || lua_type(L, -1) != LUA_TSTRING)
			lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
		lua_replace(L, 1);
	}
	lua_settop(L, 1);
	luaL_traceback(L, L, nullptr, 1);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &traceback_key);
	return 1;
}

int default_worker_processes()
{
	const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 1)
		return 1;
	return cpus > worker_processes_max ? worker_processes_max : static_cast<int>(cpus);
}

/* The globals finish_config() reads; trivially destructible, since luaL_error() may jump over it. */
struct ScriptGlobals {
	int worker_processes;
	int max_pending_logins_per_uid;
	int max_sessions_per_uid;
	int backend_keepalive;
	int backend_idle_max;
	std::uint64_t backend_idle_timeout_usec;
	std::uint64_t connect_timeout_usec;
	std::uint64_t drain_timeout_usec;
	std::uint64_t reload_drain_timeout_usec;
	std::uint64_t crash_penalty_usec;
	/* Points into the Lua string, which the global keeps alive until the Config is built. */
	const char *worker_user;
	RelayIo relay_io;
};

/* An integer global from @min to @max, nil for @default_value.  Leaves the stack as it found it, or
 * raises the error. */
int read_integer_global(lua_State *L, const char *name, int min, int max, int default_value)
{
	lua_getglobal(L, name);
	int value = default_value;
	if (!lua_isnil(L, -1)) {
		int exact = 0;
		const lua_Integer n = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &exact) : 0;
		if (exact == 0 || n < min || n > max) {
			const char *got = lua_type(L, -1) == LUA_TNUMBER ? luaL_tolstring(L, -1, nullptr)
									  : luaL_typename(L, -1);
			luaL_error(L, "%s must be an integer from %d to %d, got %s", name, min, max, got);
		}
		value = static_cast<int>(n);
	}
	lua_pop(L, 1);
	return value;
}

/* Leaves the stack as it found it, or raises the error.  Strings are refused, not converted, as for
 * worker_processes: connect_timeout = "10" is more likely a mistake than a wish. */
void read_connect_timeout(lua_State *L, ScriptGlobals &globals)
{
	lua_getglobal(L, "connect_timeout");
	if (lua_isnil(L, -1)) {
		globals.connect_timeout_usec = connect_timeout_default_usec;
	} else {
		const lua_Number seconds = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
		/* Written so that NaN fails too. */
		if (!(seconds > 0 && seconds <= connect_timeout_max_seconds)) {
			const char *got = lua_type(L, -1) == LUA_TNUMBER ? luaL_tolstring(L, -1, nullptr)
									  : luaL_typename(L, -1);
			luaL_error(L, "connect_timeout must be a number of seconds above 0 and at most %d, got %s",
				   connect_timeout_max_seconds, got);
		}
		globals.connect_timeout_usec = static_cast<std::uint64_t>(std::ceil(seconds * 1e6));
	}
	lua_pop(L, 1);
}

/* drain_timeout and crash_penalty: seconds from 0 to @max, fractions allowed, nil for @default_usec.
 * Leaves the stack as it found it, or raises the error. */
std::uint64_t read_seconds_global(lua_State *L, const char *name, int max, std::uint64_t default_usec)
{
	lua_getglobal(L, name);
	std::uint64_t usec = default_usec;
	if (!lua_isnil(L, -1)) {
		const lua_Number seconds = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
		if (!(seconds >= 0 && seconds <= max)) {
			const char *got = lua_type(L, -1) == LUA_TNUMBER ? luaL_tolstring(L, -1, nullptr)
									  : luaL_typename(L, -1);
			luaL_error(L, "%s must be a number of seconds from 0 to %d, got %s", name, max, got);
		}
		usec = static_cast<std::uint64_t>(std::ceil(seconds * 1e6));
	}
	lua_pop(L, 1);
	return usec;
}

/* worker_user: a non-empty user name without NUL; resolved by the master (it may not exist here). */
const char *read_worker_user(lua_State *L)
{
	lua_getglobal(L, "worker_user");
	const char *name = nullptr;
	if (!lua_isnil(L, -1)) {
		std::size_t length = 0;
		name = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &length) : nullptr;
		if (name == nullptr || length == 0 || length > 256 || std::strlen(name) != length)
			luaL_error(L, "worker_user must be a user name, got %s",
				   lua_type(L, -1) == LUA_TSTRING ? "an empty or odd string" : luaL_typename(L, -1));
	}
	lua_pop(L, 1);
	return name;
}

/* relay_io: "auto" (io_uring where the kernel allows it) or "epoll". */
RelayIo read_relay_io(lua_State *L)
{
	lua_getglobal(L, "relay_io");
	RelayIo mode = RelayIo::automatic;
	if (!lua_isnil(L, -1)) {
		const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : nullptr;
		if (name != nullptr && std::strcmp(name, "epoll") == 0)
			mode = RelayIo::epoll;
		else if (name == nullptr || std::strcmp(name, "auto") != 0)
			luaL_error(L, "relay_io must be \"auto\" or \"epoll\", got %s",
				   name != nullptr ? luaL_tolstring(L, -1, nullptr) : luaL_typename(L, -1));
	}
	lua_pop(L, 1);
	return mode;
}

/* (ScriptGlobals *) -> listener table.  The checks that need the whole script; takes the listener
 * table out of the registry, which ends mysql_listen()'s working life. */
int finish_config(lua_State *L)
{
	ScriptGlobals &globals = *static_cast<ScriptGlobals *>(lua_touserdata(L, 1));
	globals.worker_processes =
		read_integer_global(L, "worker_processes", 1, worker_processes_max, default_worker_processes());
	globals.max_pending_logins_per_uid =
		read_integer_global(L, "max_pending_logins_per_uid", 1, max_pending_logins_per_uid_max,
				    max_pending_logins_per_uid_default);
	globals.max_sessions_per_uid = read_integer_global(L, "max_sessions_per_uid", 1, max_sessions_per_uid_max,
							   max_sessions_per_uid_default);
	globals.backend_keepalive = read_integer_global(L, "backend_keepalive", 0, backend_keepalive_max,
							backend_keepalive_default);
	globals.backend_idle_max =
		read_integer_global(L, "backend_idle_max", 0, backend_idle_max_max, backend_idle_max_default);
	globals.backend_idle_timeout_usec = read_seconds_global(
		L, "backend_idle_timeout", backend_idle_timeout_max_seconds, backend_idle_timeout_default_usec);
	read_connect_timeout(L, globals);
	globals.drain_timeout_usec =
		read_seconds_global(L, "drain_timeout", drain_timeout_max_seconds, drain_timeout_default_usec);
	globals.reload_drain_timeout_usec = read_seconds_global(L, "reload_drain_timeout", reload_drain_timeout_max_seconds,
								reload_drain_timeout_default_usec);
	globals.crash_penalty_usec =
		read_seconds_global(L, "crash_penalty", crash_penalty_max_seconds, crash_penalty_default_usec);
	globals.worker_user = read_worker_user(L);
	globals.relay_io = read_relay_io(L);

	lua_rawgetp(L, LUA_REGISTRYINDEX, &listeners_key);
	const int listeners = lua_gettop(L);
	const lua_Integer count = static_cast<lua_Integer>(lua_rawlen(L, listeners));
	if (count == 0)
		return luaL_error(L, "no mysql_listen() in config.lua");

	/* The script may have changed a handler table after passing it to mysql_listen(). */
	for (lua_Integer i = 1; i <= count; ++i) {
		lua_rawgeti(L, listeners, i);
		const auto *record = static_cast<const ListenerRecord *>(lua_touserdata(L, -1));
		lua_rawgeti(L, LUA_REGISTRYINDEX, record->handler_ref);
		if (!check_handler(L, -1))
			return luaL_error(L, "%s:%d: handler of mysql_listen() changed afterwards: %s", record->source,
					  record->line, lua_tostring(L, -1));
		lua_settop(L, listeners);
	}

	lua_pushnil(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &listeners_key);
	set_lua_name_lookup(L, false);
	set_lua_tls_loading(L, false);
	return 1;
}

/* Lua's messages carry "FILE:LINE:" when it knows the position; look for ":digits:" in the first line. */
bool has_position(std::string_view message)
{
	const std::string_view line = message.substr(0, message.find('\n'));
	for (std::size_t colon = line.find(':'); colon != std::string_view::npos; colon = line.find(':', colon + 1)) {
		std::size_t end = colon + 1;
		while (end < line.size() && line[end] >= '0' && line[end] <= '9')
			++end;
		if (end > colon + 1 && end < line.size() && line[end] == ':')
			return true;
	}
	return false;
}

/* Takes the error value off the stack; status is the lua_pcall() result. */
ConfigError pop_error(lua_State *L, const std::string &path, int status)
{
	ConfigError error;
	if (lua_type(L, -1) == LUA_TSTRING) {
		std::size_t length;
		const char *text = lua_tolstring(L, -1, &length);
		error.message.assign(text, length);
	} else {
		error.message = "(error object is not a string)";
	}
	lua_pop(L, 1);
	if (status == LUA_ERRMEM)
		error.message += " (Lua heap limit reached)";
	if (!has_position(error.message))
		error.message = path + ": " + error.message;
	return error;
}

} // namespace

ConfigResult load_config(const std::string &path, std::size_t heap_limit)
{
	LuaState state(heap_limit);
	lua_State *L = state.get();

	lua_pushcfunction(L, open_api);
	int status = lua_pcall(L, 0, 0, 0);
	if (status != LUA_OK)
		return pop_error(L, path, status);

	lua_pushcfunction(L, message_handler);
	const int handler = lua_gettop(L);

	lua_pushcfunction(L, load_chunk);
	lua_pushlightuserdata(L, const_cast<char *>(path.c_str()));
	status = lua_pcall(L, 1, 2, 0);
	if (status != LUA_OK)
		return pop_error(L, path, status);
	status = static_cast<int>(lua_tointeger(L, -1));
	lua_pop(L, 1);
	if (status == LUA_ERRFILE) {
		/* Lua's own "cannot open FILE: strerror" already names the file. */
		ConfigError error;
		error.message = lua_tostring(L, -1);
		return error;
	}
	if (status != LUA_OK)
		return pop_error(L, path, status);

	ConfigDirectory directory(path);
	if (!directory.error().empty()) {
		ConfigError error;
		error.message = path + ": " + directory.error();
		return error;
	}
	status = lua_pcall(L, 0, 0, handler);
	if (status != LUA_OK) {
		ConfigError error = pop_error(L, path, status);
		if (status == LUA_ERRRUN && lua_rawgetp(L, LUA_REGISTRYINDEX, &traceback_key) == LUA_TSTRING)
			error.traceback = lua_tostring(L, -1);
		return error;
	}
	lua_pop(L, 1);

	ScriptGlobals globals{};
	lua_pushcfunction(L, finish_config);
	lua_pushlightuserdata(L, &globals);
	status = lua_pcall(L, 1, 1, 0);
	if (status != LUA_OK)
		return pop_error(L, path, status);

	Config model;
	model.worker_processes = globals.worker_processes;
	model.connect_timeout_usec = globals.connect_timeout_usec;
	model.drain_timeout_usec = globals.drain_timeout_usec;
	model.reload_drain_timeout_usec = globals.reload_drain_timeout_usec;
	model.crash_penalty_usec = globals.crash_penalty_usec;
	if (globals.worker_user != nullptr)
		model.worker_user = globals.worker_user;
	model.max_pending_logins_per_uid = globals.max_pending_logins_per_uid;
	model.max_sessions_per_uid = globals.max_sessions_per_uid;
	model.backend_keepalive = globals.backend_keepalive;
	model.backend_idle_max = globals.backend_idle_max;
	model.backend_idle_timeout_usec = globals.backend_idle_timeout_usec;
	model.relay_io = globals.relay_io;
	LoadedConfig config{std::move(model), std::move(state)};
	collect_lua_clusters(L, config.clusters);
	collect_lua_resolved_addresses(L, config.backend_addresses);
	collect_operator_listeners(L, config.prometheus_listeners, config.control_listeners);
	forget_lua_clusters(L);
	const lua_Integer count = static_cast<lua_Integer>(lua_rawlen(L, -1));
	config.listeners.reserve(static_cast<std::size_t>(count));
	/* One key for all listeners that offer caching_sha2_password without a key of their own. */
	std::optional<RsaKeyPair> generated_key;
	for (lua_Integer i = 1; i <= count; ++i) {
		lua_rawgeti(L, -1, i);
		const ListenerRecord record = *static_cast<const ListenerRecord *>(lua_touserdata(L, -1));
		lua_pop(L, 1);
		ListenerConfig &listener = config.listeners.emplace_back();
		listener.systemd = record.systemd;
		listener.address = record.address;
		listener.handler_ref = record.handler_ref;
		listener.ssl_context = record.ssl_context;
		listener.require_ssl = record.require_ssl;
		listener.description = record.systemd ? "systemd" : to_string(record.address);
		listener.origin = std::string(record.source) + ":" + std::to_string(record.line);
		std::string problem;
		if (!load_listener_auth(L, record.auth, listener.auth, generated_key, problem)) {
			ConfigError error;
			error.message = listener.origin + ": " + problem;
			return error;
		}
	}
	lua_pop(L, 1);
	/* The same answer for every listener: a handler reaches all globals through its _ENV. */
	const bool reads_cgroup = lua_code_mentions(L, "cgroup");
	for (ListenerConfig &listener : config.listeners)
		listener.reads_client_cgroup = reads_cgroup;
	/* A listener is no backend: myproxy would read its own greeting. */
	std::erase_if(config.backend_addresses, [&config](const SocketAddress &address) {
		return std::any_of(config.listeners.begin(), config.listeners.end(),
				   [&address](const ListenerConfig &listener) { return listener.address == address; });
	});
	return config;
}

} // namespace myproxy
