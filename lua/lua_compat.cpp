// The Lua 5.1 compatibility aliases (see lua_compat.hpp).
#include "lua/lua_compat.hpp"

#include <lua.hpp>

#include <cmath>

namespace myproxy {

namespace {

/* table.getn(t): Lua 5.1 gave the border without metamethods. */
int table_getn(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_pushinteger(L, static_cast<lua_Integer>(lua_rawlen(L, 1)));
	return 1;
}

/* math.pow(x, y): x ^ y, always a float, as in 5.1 (where every number was one). */
int math_pow(lua_State *L)
{
	lua_pushnumber(L, std::pow(luaL_checknumber(L, 1), luaL_checknumber(L, 2)));
	return 1;
}

/* Copies field @from of the table at the top to global @name, unless @name is set. */
void alias_global(lua_State *L, const char *name, const char *library, const char *from)
{
	if (lua_getglobal(L, name) != LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	lua_pop(L, 1);
	lua_getglobal(L, library);
	lua_getfield(L, -1, from);
	lua_setglobal(L, name);
	lua_pop(L, 1);
}

/* Sets @library.@name to @function, unless it is set. */
void add_library_function(lua_State *L, const char *library, const char *name, lua_CFunction function)
{
	lua_getglobal(L, library);
	if (lua_getfield(L, -1, name) == LUA_TNIL) {
		lua_pushcfunction(L, function);
		lua_setfield(L, -3, name);
	}
	lua_pop(L, 2);
}

} // namespace

int open_lua_compat(lua_State *L)
{
	alias_global(L, "unpack", "table", "unpack");
	/* load() takes a string chunk like 5.1's loadstring(chunk [, chunkname]). */
	alias_global(L, "loadstring", "_G", "load");
	add_library_function(L, "table", "getn", table_getn);
	add_library_function(L, "math", "pow", math_pow);
	return 0;
}

} // namespace myproxy
