// client.cgroup tables (see lua_cgroup.hpp).  The string behaviour lives in one shared metatable:
// __tostring, __concat and __len use the path, and __index hands out the string library's function
// of that name with the table replaced by its path, so a method call sees the string.
#include "lua/lua_cgroup.hpp"

#include "common/byte_reader.hpp"
#include "common/cgroup_xattrs.hpp"

#include <lua.hpp>

#include <cstring>

namespace myproxy {

namespace {

constexpr const char *cgroup_metatable = "myproxy.cgroup";
constexpr const char *xattr_metatable = "myproxy.cgroup_xattr";

/* Pushes the path of the cgroup table at @idx, or leaves any other value as it is. */
void push_as_path(lua_State *L, int idx)
{
	if (lua_type(L, idx) == LUA_TTABLE && lua_getmetatable(L, idx) != 0) {
		luaL_getmetatable(L, cgroup_metatable);
		const bool cgroup = lua_rawequal(L, -1, -2) != 0;
		lua_pop(L, 2);
		if (cgroup) {
			lua_getfield(L, idx, "path");
			return;
		}
	}
	lua_pushvalue(L, idx);
}

int cgroup_tostring(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_getfield(L, 1, "path");
	return 1;
}

int cgroup_concat(lua_State *L)
{
	push_as_path(L, 1);
	push_as_path(L, 2);
	lua_concat(L, 2);
	return 1;
}

int cgroup_len(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_getfield(L, 1, "path");
	lua_pushinteger(L, static_cast<lua_Integer>(lua_rawlen(L, -1)));
	return 1;
}

/* A string function called with the cgroup table in place of a string; upvalue 1: the function. */
int call_on_path(lua_State *L)
{
	const int count = lua_gettop(L);
	luaL_checkstack(L, count + 2, "cgroup string method");
	lua_pushvalue(L, lua_upvalueindex(1));
	for (int i = 1; i <= count; ++i)
		push_as_path(L, i);
	lua_call(L, count, LUA_MULTRET);
	return lua_gettop(L) - count;
}

/* __index(cgroup, key): the string library's functions, bound to the path. */
int cgroup_index(lua_State *L)
{
	if (lua_type(L, 2) != LUA_TSTRING || lua_getglobal(L, "string") != LUA_TTABLE)
		return 0;
	lua_pushvalue(L, 2);
	if (lua_rawget(L, -2) != LUA_TFUNCTION)
		return 0;
	lua_pushcclosure(L, call_on_path, 1);
	return 1;
}

/* __index(xattr, key): "tenant" means "user.tenant"; a dotted name is looked up as given (rawget). */
int xattr_index(lua_State *L)
{
	std::size_t length;
	const char *name = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &length) : nullptr;
	if (name == nullptr || std::memchr(name, '.', length) != nullptr)
		return 0;
	lua_pushliteral(L, "user.");
	lua_pushvalue(L, 2);
	lua_concat(L, 2);
	lua_rawget(L, 1);
	return 1;
}

void push_metatables(lua_State *L)
{
	if (luaL_newmetatable(L, cgroup_metatable) != 0) {
		static const luaL_Reg methods[] = {
			{"__tostring", cgroup_tostring},
			{"__concat", cgroup_concat},
			{"__len", cgroup_len},
			{"__index", cgroup_index},
			{nullptr, nullptr},
		};
		luaL_setfuncs(L, methods, 0);
	}
	if (luaL_newmetatable(L, xattr_metatable) != 0) {
		lua_pushcfunction(L, xattr_index);
		lua_setfield(L, -2, "__index");
	}
}

/* Pushes the xattr table of @level: name -> value, from the blob the master sent (validated by the
 * channel decoder); the xattr metatable is at @metatable. */
void push_xattrs(lua_State *L, const std::string &blob, unsigned level, int metatable)
{
	lua_newtable(L);
	CgroupXattrCursor cursor(ByteSpan(reinterpret_cast<const std::uint8_t *>(blob.data()), blob.size()));
	CgroupXattr xattr;
	while (cursor.next(xattr)) {
		if (xattr.level != level)
			continue;
		lua_pushlstring(L, xattr.name.data(), xattr.name.size());
		lua_pushlstring(L, xattr.value.data(), xattr.value.size());
		lua_rawset(L, -3);
	}
	lua_pushvalue(L, metatable);
	lua_setmetatable(L, -2);
}

} // namespace

void push_lua_cgroup(lua_State *L, std::string_view path, const std::string &xattr_blob)
{
	luaL_checkstack(L, 8, "client.cgroup");
	push_metatables(L);
	const int xattr_meta = lua_gettop(L);
	const int cgroup_meta = xattr_meta - 1;
	lua_createtable(L, 0, 3);
	const int result = lua_gettop(L);
	lua_pushvalue(L, result);
	/* Stack: ..., result, current; parent is the same for the parent cgroup, up to the root, whose
	 * parent is nil. */
	for (unsigned level = 0;; ++level) {
		lua_pushvalue(L, cgroup_meta);
		lua_setmetatable(L, -2);
		lua_pushlstring(L, path.data(), path.size());
		lua_setfield(L, -2, "path");
		push_xattrs(L, xattr_blob, level, xattr_meta);
		lua_setfield(L, -2, "xattr");
		if (path == "/")
			break;
		const auto slash = path.rfind('/');
		path = slash == 0 || slash == std::string_view::npos ? std::string_view("/") : path.substr(0, slash);
		lua_createtable(L, 0, 3);
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, "parent");
		lua_remove(L, -2);
	}
	lua_pop(L, 1);
	lua_replace(L, cgroup_meta);
	lua_settop(L, cgroup_meta);
}

} // namespace myproxy
