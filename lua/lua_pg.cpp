// The `pg` table and the connection object (see lua_pg.hpp).  The databases pg:new() declared live in
// a registry table (index -> {conninfo, schema or false, {channel=function}}: integer keys, so the
// worker reads them with raw accesses that never allocate), so the worker finds
// them after the fork; a connection object holds only its index.  Lua C functions here keep nothing
// with a destructor on the C++ side: parameters become Lua strings on the stack, and the driver
// copies them before db:execute() yields.
#include "lua/lua_pg.hpp"

#include "lua/callback_run.hpp"

#include <lua.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace myproxy {

namespace {

/* Their addresses are registry keys. */
const char databases_key = 0;
const char driver_key = 0;

constexpr const char *connection_metatable = "myproxy.pg.connection";

PgConninfoCheck conninfo_check = nullptr;

/* The fields of a databases[] entry. */
constexpr int entry_conninfo = 1, entry_schema = 2, entry_listeners = 3;

struct PgDatabase {
	unsigned index;
};

PgDriver *get_driver(lua_State *L) noexcept
{
	return static_cast<PgDriver *>(registry_driver(L, &driver_key));
}

PgDatabase &check_database(lua_State *L, int arg)
{
	return *static_cast<PgDatabase *>(luaL_checkudata(L, arg, connection_metatable));
}

/* Pushes databases[index] (a table), or raises. */
void push_database_entry(lua_State *L, unsigned index)
{
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &databases_key) != LUA_TTABLE ||
	    lua_rawgeti(L, -1, lua_Integer(index) + 1) != LUA_TTABLE)
		luaL_error(L, "unknown PostgreSQL connection");
	lua_remove(L, -2);
}

/* pg:new(conninfo [, schema]) -> connection object */
int pg_new(lua_State *L)
{
	std::size_t length;
	const char *conninfo = luaL_checklstring(L, 2, &length);
	luaL_argcheck(L, std::strlen(conninfo) == length, 2, "conninfo contains a NUL byte");
	const char *schema = luaL_optlstring(L, 3, nullptr, &length);
	if (schema != nullptr)
		luaL_argcheck(L, std::strlen(schema) == length && length > 0, 3, "schema must be a non-empty name without NUL bytes");
	if (get_driver(L) != nullptr)
		return luaL_error(L, "pg:new() works only at the top level of config.lua");
	if (conninfo_check != nullptr) {
		char error[256] = "";
		if (!conninfo_check(conninfo, error, sizeof(error)))
			return luaL_argerror(L, 2, lua_pushfstring(L, "bad conninfo: %s", error));
	}

	lua_rawgetp(L, LUA_REGISTRYINDEX, &databases_key);
	const lua_Unsigned index = lua_rawlen(L, -1);
	lua_createtable(L, 3, 0);
	lua_pushstring(L, conninfo);
	lua_rawseti(L, -2, entry_conninfo);
	if (schema != nullptr)
		lua_pushstring(L, schema);
	else
		lua_pushboolean(L, 0);
	lua_rawseti(L, -2, entry_schema);
	lua_newtable(L);
	lua_rawseti(L, -2, entry_listeners);
	lua_rawseti(L, -2, lua_Integer(index) + 1);

	auto *db = static_cast<PgDatabase *>(lua_newuserdatauv(L, sizeof(PgDatabase), 0));
	db->index = unsigned(index);
	luaL_setmetatable(L, connection_metatable);
	return 1;
}

/* The number of parameters: params.n when it is an integer (table.pack() sets it, and it lets
 * trailing nils count), else the largest positive integer key. */
int param_count(lua_State *L, int table)
{
	lua_pushliteral(L, "n");
	if (lua_rawget(L, table) != LUA_TNIL) {
		int exact = 0;
		const lua_Integer n = lua_tointegerx(L, -1, &exact);
		lua_pop(L, 1);
		if (exact == 0 || n < 0 || n > pg_max_params)
			return luaL_argerror(L, table, "params.n must be an integer from 0 to 65535");
		return int(n);
	}
	lua_pop(L, 1);
	lua_Integer max = 0;
	lua_pushnil(L);
	while (lua_next(L, table) != 0) {
		lua_pop(L, 1);
		if (lua_isinteger(L, -1)) {
			const lua_Integer key = lua_tointeger(L, -1);
			if (key > max)
				max = key;
		}
	}
	if (max > pg_max_params)
		return luaL_argerror(L, table, "more than 65535 parameters");
	return int(max);
}

/* Replaces the parameter on top of the stack by its text (a string), or pops it for NULL; the
 * text pointer, valid while the string stays on the stack, goes to @value. */
void convert_param(lua_State *L, int number, const char *&value)
{
	char buffer[64];
	switch (lua_type(L, -1)) {
	case LUA_TNIL:
		lua_pop(L, 1);
		value = nullptr;
		return;
	case LUA_TSTRING: {
		std::size_t length;
		value = lua_tolstring(L, -1, &length);
		if (std::strlen(value) != length)
			luaL_error(L, "parameter $%d contains a NUL byte", number);
		return;
	}
	case LUA_TNUMBER:
		format_pg_number(L, -1, buffer, sizeof(buffer));
		lua_pop(L, 1);
		value = lua_pushstring(L, buffer);
		return;
	case LUA_TBOOLEAN:
		/* "1"/"0": PostgreSQL's boolean input takes them, and so do integer columns. */
		value = lua_toboolean(L, -1) ? "1" : "0";
		return;
	default:
		luaL_error(L, "parameter $%d: %s cannot be a query parameter", number, luaL_typename(L, -1));
	}
}

/* db:execute(sql [, params]) -> result | nil, message */
int db_execute(lua_State *L)
{
	PgDatabase &db = check_database(L, 1);
	std::size_t length;
	const char *sql = luaL_checklstring(L, 2, &length);
	luaL_argcheck(L, std::strlen(sql) == length, 2, "SQL contains a NUL byte");
	int nparams = -1;
	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		nparams = param_count(L, 3);
	}
	lua_settop(L, 3);

	PgDriver *driver = get_driver(L);
	if (driver == nullptr)
		return luaL_error(L, "db:execute() works only in a callback, in a worker (not at the top level of config.lua)");
	CallbackRun *run = callback_of_thread(L);
	if (run == nullptr)
		return luaL_error(L, "db:execute() works only in a callback or reload() itself, not inside a coroutine it created");

	luaL_checkstack(L, (nparams > 0 ? nparams : 0) + 4, "too many query parameters");
	auto *values = static_cast<const char **>(lua_newuserdatauv(L, sizeof(const char *) * std::size_t(nparams > 0 ? nparams : 1), 0));
	for (int i = 0; i < nparams; ++i) {
		lua_rawgeti(L, 3, i + 1);
		convert_param(L, i + 1, values[i]);
	}

	char error[256] = "";
	AsyncOperation *operation = driver->execute(db.index, *run, sql, nparams, values, error, sizeof(error));
	if (operation == nullptr) {
		lua_pushnil(L);
		lua_pushstring(L, error);
		return 2;
	}
	return yield_to_worker(L, operation);
}

/* db:listen(channel, function) */
int db_listen(lua_State *L)
{
	PgDatabase &db = check_database(L, 1);
	std::size_t length;
	const char *channel = luaL_checklstring(L, 2, &length);
	luaL_argcheck(L, length > 0 && std::strlen(channel) == length, 2, "channel must be a non-empty name without NUL bytes");
	luaL_checktype(L, 3, LUA_TFUNCTION);
	lua_settop(L, 3);
	push_database_entry(L, db.index);
	lua_rawgeti(L, -1, entry_listeners);
	lua_pushvalue(L, 2);
	const bool known = lua_rawget(L, -2) != LUA_TNIL;
	lua_pop(L, 1);
	lua_pushvalue(L, 2);
	lua_pushvalue(L, 3);
	lua_rawset(L, -3);
	/* A second listen() on a channel only replaces the function. */
	PgDriver *driver = get_driver(L);
	if (driver != nullptr && !known)
		driver->listen(db.index, channel);
	return 0;
}

int db_tostring(lua_State *L)
{
	PgDatabase &db = check_database(L, 1);
	lua_pushfstring(L, "pg connection %d", int(db.index) + 1);
	return 1;
}

const luaL_Reg connection_methods[] = {
	{"execute", db_execute},
	{"listen", db_listen},
	{nullptr, nullptr},
};

const luaL_Reg pg_functions[] = {
	{"new", pg_new},
	{"encode_array", lua_pg_encode_array},
	{"decode_array", lua_pg_decode_array},
	{nullptr, nullptr},
};

/* (database index) -> listener function | nothing */
int get_listener(lua_State *L)
{
	const auto *channel = static_cast<const std::string_view *>(lua_touserdata(L, 2));
	push_database_entry(L, unsigned(lua_tointeger(L, 1)));
	lua_rawgeti(L, -1, entry_listeners);
	lua_pushlstring(L, channel->data(), channel->size());
	if (lua_rawget(L, -2) != LUA_TFUNCTION)
		return 0;
	return 1;
}

} // namespace

std::size_t format_pg_number(lua_State *L, int index, char *buffer, std::size_t size) noexcept
{
	int n;
	if (lua_isinteger(L, index)) {
		n = std::snprintf(buffer, size, LUA_INTEGER_FMT, static_cast<LUAI_UACINT>(lua_tointeger(L, index)));
	} else {
		const double d = double(lua_tonumber(L, index));
		if (std::isnan(d)) {
			n = std::snprintf(buffer, size, "NaN");
		} else if (std::isinf(d)) {
			n = std::snprintf(buffer, size, d > 0 ? "Infinity" : "-Infinity");
		} else if (d == std::floor(d) && std::fabs(d) < 1e15) {
			/* 10000.0 as "10000": integer columns refuse "1e+04". */
			n = std::snprintf(buffer, size, "%.0f", d);
		} else {
			/* The shortest text that reads back as the same double. */
			n = 0;
			for (int precision = 15; precision <= 17; ++precision) {
				n = std::snprintf(buffer, size, "%.*g", precision, d);
				if (std::strtod(buffer, nullptr) == d)
					break;
			}
		}
	}
	return n > 0 ? std::size_t(n) : 0;
}

int open_lua_pg(lua_State *L)
{
	if (luaL_newmetatable(L, connection_metatable) != 0) {
		luaL_newlib(L, connection_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, db_tostring);
		lua_setfield(L, -2, "__tostring");
		lua_pushliteral(L, "pg connection");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	register_lua_pg_result(L);
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &databases_key) != LUA_TTABLE) {
		lua_newtable(L);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &databases_key);
	}
	lua_pop(L, 1);
	luaL_newlib(L, pg_functions);
	lua_setglobal(L, "pg");
	return 0;
}

void set_lua_pg_driver(lua_State *L, PgDriver *driver) noexcept
{
	set_registry_driver(L, &driver_key, driver);
}

void set_pg_conninfo_check(PgConninfoCheck check) noexcept
{
	conninfo_check = check;
}

std::vector<PgDatabaseConfig> lua_pg_databases(lua_State *L)
{
	std::vector<PgDatabaseConfig> databases;
	if (!lua_checkstack(L, 6))
		throw std::bad_alloc();
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &databases_key) != LUA_TTABLE) {
		lua_pop(L, 1);
		return databases;
	}
	const int table = lua_gettop(L);
	const lua_Unsigned count = lua_rawlen(L, table);
	try {
		for (lua_Unsigned i = 1; i <= count; ++i) {
			PgDatabaseConfig &config = databases.emplace_back();
			lua_rawgeti(L, table, lua_Integer(i));
			const int entry = lua_gettop(L);
			if (lua_rawgeti(L, entry, entry_conninfo) == LUA_TSTRING)
				config.conninfo = lua_tostring(L, -1);
			lua_pop(L, 1);
			if (lua_rawgeti(L, entry, entry_schema) == LUA_TSTRING)
				config.schema = lua_tostring(L, -1);
			lua_pop(L, 1);
			if (lua_rawgeti(L, entry, entry_listeners) == LUA_TTABLE) {
				lua_pushnil(L);
				while (lua_next(L, -2) != 0) {
					lua_pop(L, 1);
					if (lua_type(L, -1) == LUA_TSTRING)
						config.channels.emplace_back(lua_tostring(L, -1));
				}
			}
			lua_settop(L, table);
		}
	} catch (...) {
		lua_settop(L, table - 1);
		throw;
	}
	lua_settop(L, table - 1);
	return databases;
}

bool push_lua_pg_listener(lua_State *L, unsigned database, std::string_view channel) noexcept
{
	if (!lua_checkstack(L, 4))
		return false;
	const int top = lua_gettop(L);
	lua_pushcfunction(L, get_listener);
	lua_pushinteger(L, lua_Integer(database));
	lua_pushlightuserdata(L, &channel);
	if (lua_pcall(L, 2, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TFUNCTION) {
		lua_settop(L, top);
		return false;
	}
	return true;
}

} // namespace myproxy
