// The "myproxy.address" userdata and mysql_resolve() (see lua_address.hpp).  SocketAddress and
// AddressResult are trivially destructible, which is what lets these functions raise Lua errors while
// holding them.
#include "lua/lua_address.hpp"

#include "lua/lua_resolve.hpp"

#include <lua.hpp>

#include <algorithm>
#include <cstdio>
#include <new>

namespace myproxy {

namespace {

/* Its address is the registry key of the name-lookup flag. */
const char name_lookup_key = 0;
/* Its address is the registry key of the list of addresses mysql_resolve() returned while config.lua
 * loaded (the backends whose greetings the master reads). */
const char resolved_key = 0;

/* Appends the address object on top of the stack to the list (not popped). */
void remember_resolved(lua_State *L)
{
	luaL_checkstack(L, 3, nullptr);
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &resolved_key) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &resolved_key);
	}
	const lua_Integer count = static_cast<lua_Integer>(lua_rawlen(L, -1));
	if (static_cast<std::size_t>(count) < lua_resolved_addresses_max) {
		lua_pushvalue(L, -2);
		lua_rawseti(L, -2, count + 1);
	}
	lua_pop(L, 1);
}

bool name_lookup_allowed(lua_State *L)
{
	lua_rawgetp(L, LUA_REGISTRYINDEX, &name_lookup_key);
	const bool allowed = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return allowed;
}

int address_tostring(lua_State *L)
{
	const SocketAddress *address = static_cast<const SocketAddress *>(luaL_checkudata(L, 1, lua_address_metatable));
	char text[socket_address_text_max];
	const std::size_t length = format_socket_address(*address, text, sizeof(text));
	lua_pushlstring(L, text, length);
	return 1;
}

int address_eq(lua_State *L)
{
	const SocketAddress *a = to_lua_address(L, 1);
	const SocketAddress *b = to_lua_address(L, 2);
	lua_pushboolean(L, a != nullptr && b != nullptr && *a == *b);
	return 1;
}

/* At the top level host names block on DNS (startup only); afterwards see lua_resolve.hpp. */
int mysql_resolve(lua_State *L)
{
	if (!name_lookup_allowed(L) && to_lua_address(L, 1) == nullptr)
		return lua_resolve_at_runtime(L);
	push_lua_address(L, check_lua_address(L, 1));
	if (name_lookup_allowed(L))
		remember_resolved(L);
	return 1;
}

} // namespace

void collect_lua_resolved_addresses(lua_State *L, std::vector<SocketAddress> &addresses)
{
	if (lua_checkstack(L, 2) == 0)
		throw std::bad_alloc();
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &resolved_key) == LUA_TTABLE) {
		const lua_Integer count = static_cast<lua_Integer>(lua_rawlen(L, -1));
		for (lua_Integer i = 1; i <= count; ++i) {
			lua_rawgeti(L, -1, i);
			const SocketAddress *address = to_lua_address(L, -1);
			if (address != nullptr && std::find(addresses.begin(), addresses.end(), *address) == addresses.end())
				addresses.push_back(*address);
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	lua_pushnil(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &resolved_key);
}

void register_lua_address(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{"__tostring", address_tostring},
		{"__eq", address_eq},
		{nullptr, nullptr},
	};
	luaL_newmetatable(L, lua_address_metatable);
	luaL_setfuncs(L, methods, 0);
	/* Scripts may not reach the metatable through getmetatable() and change every address. */
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);

	lua_register(L, "mysql_resolve", mysql_resolve);
}

void push_lua_address(lua_State *L, const SocketAddress &address)
{
	void *block = lua_newuserdatauv(L, sizeof(SocketAddress), 0);
	new (block) SocketAddress(address);
	luaL_setmetatable(L, lua_address_metatable);
}

const SocketAddress *to_lua_address(lua_State *L, int idx) noexcept
{
	return static_cast<const SocketAddress *>(luaL_testudata(L, idx, lua_address_metatable));
}

SocketAddress check_lua_address(lua_State *L, int arg)
{
	if (const SocketAddress *address = to_lua_address(L, arg))
		return *address;
	if (lua_type(L, arg) != LUA_TSTRING)
		luaL_typeerror(L, arg, "address string or mysql_resolve() result");

	std::size_t length;
	const char *text = lua_tolstring(L, arg, &length);
	const std::string_view view(text, length);
	const AddressResult result = name_lookup_allowed(L) ? resolve_address(view, mysql_default_port)
							    : parse_numeric_address(view, mysql_default_port);
	if (!result)
		luaL_argerror(L, arg, result.error());
	return result.value();
}

AddressResult to_lua_address_value(lua_State *L, int idx, std::uint16_t default_port) noexcept
{
	if (const SocketAddress *address = to_lua_address(L, idx))
		return *address;
	AddressError error{};
	if (lua_type(L, idx) != LUA_TSTRING) {
		std::snprintf(error.text, sizeof(error.text), "address string or mysql_resolve() result expected, got %s",
			      luaL_typename(L, idx));
		return error;
	}
	std::size_t length;
	const char *text = lua_tolstring(L, idx, &length);
	const std::string_view view(text, length);
	return name_lookup_allowed(L) ? resolve_address(view, default_port) : parse_numeric_address(view, default_port);
}

void set_lua_name_lookup(lua_State *L, bool allowed)
{
	lua_pushboolean(L, allowed);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &name_lookup_key);
}

} // namespace myproxy
