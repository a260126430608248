// The runtime mysql_resolve() (see lua_resolve.hpp).  Nothing with a destructor lives in a frame
// that may raise: HostName and AddressResult are trivially destructible.
#include "lua/lua_resolve.hpp"

#include "common/socket_address.hpp"
#include "lua/callback_run.hpp"
#include "lua/lua_address.hpp"

#include <lua.hpp>

namespace myproxy {

namespace {

const char driver_key = 0;

ResolveDriver *get_driver(lua_State *L) noexcept
{
	return static_cast<ResolveDriver *>(registry_driver(L, &driver_key));
}

/* (address) -> address object; run protected, the heap may be full. */
int push_address(lua_State *L)
{
	push_lua_address(L, *static_cast<const SocketAddress *>(lua_touserdata(L, 1)));
	return 1;
}

int push_failure(lua_State *L, const char *message)
{
	lua_pushnil(L);
	lua_pushstring(L, message);
	return 2;
}

} // namespace

int lua_resolve_at_runtime(lua_State *L)
{
	if (lua_type(L, 1) != LUA_TSTRING)
		return luaL_typeerror(L, 1, "address string or mysql_resolve() result");
	std::size_t length;
	const char *text = lua_tolstring(L, 1, &length);
	HostName host;
	const AddressResult parsed = parse_numeric_address(std::string_view(text, length), mysql_default_port, host);
	if (parsed) {
		push_lua_address(L, parsed.value());
		return 1;
	}
	if (host.length == 0)
		return push_failure(L, parsed.error());
	ResolveDriver *driver = get_driver(L);
	if (driver == nullptr)
		return luaL_argerror(L, 1, parsed.error());
	CallbackRun *run = callback_of_thread(L);
	if (run == nullptr)
		return luaL_error(L, "mysql_resolve() of a host name works only in a callback or reload() "
				     "itself, not inside a coroutine it created");
	lua_settop(L, 0);
	char error[256] = "";
	AsyncOperation *operation = driver->resolve(*run, host, error, sizeof(error));
	if (operation == nullptr)
		return push_failure(L, error);
	return yield_to_worker(L, operation);
}

void set_lua_resolve_driver(lua_State *L, ResolveDriver *driver) noexcept
{
	set_registry_driver(L, &driver_key, driver);
}

void complete_lua_resolve(lua_State *L, CallbackRun &waiter, const AddressResult &result) noexcept
{
	lua_State *thread = waiter.thread();
	if (!result) {
		waiter.complete(push_lua_failure(L, thread, result.error()));
		return;
	}
	if (lua_checkstack(L, 2) && lua_checkstack(thread, 1)) {
		lua_pushcfunction(L, push_address);
		lua_pushlightuserdata(L, const_cast<SocketAddress *>(&result.value()));
		if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
			lua_xmove(L, thread, 1);
			waiter.complete(1);
			return;
		}
		lua_pop(L, 1);
	}
	waiter.complete(push_lua_failure(L, thread, "not enough memory for the address"));
}

} // namespace myproxy
