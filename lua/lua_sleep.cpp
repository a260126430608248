// sleep(seconds) (see lua_sleep.hpp).
#include "lua/lua_sleep.hpp"

#include "lua/callback_run.hpp"

#include <lua.hpp>

#include <cmath>

namespace myproxy {

namespace {

const char driver_key = 0;

SleepDriver *get_driver(lua_State *L) noexcept
{
	return static_cast<SleepDriver *>(registry_driver(L, &driver_key));
}

/* sleep(seconds) */
int lua_sleep(lua_State *L)
{
	const lua_Number seconds = luaL_checknumber(L, 1);
	if (!(seconds >= 0 && seconds <= sleep_seconds_max))
		return luaL_argerror(L, 1, lua_pushfstring(L, "seconds must be from 0 to %d",
							     static_cast<int>(sleep_seconds_max)));
	SleepDriver *driver = get_driver(L);
	if (driver == nullptr)
		return luaL_error(L, "sleep() works only in a callback, in a worker (not at the top level of config.lua)");
	CallbackRun *run = callback_of_thread(L);
	if (run == nullptr)
		return luaL_error(L, "sleep() works only in a callback or reload() itself, not inside a coroutine it created");
	lua_settop(L, 0);
	char error[256] = "";
	AsyncOperation *operation = driver->sleep(*run, static_cast<std::uint64_t>(std::ceil(seconds * 1e6)), error,
						  sizeof(error));
	if (operation == nullptr)
		return luaL_error(L, "sleep(): %s", error);
	return yield_to_worker(L, operation);
}

} // namespace

int open_lua_sleep(lua_State *L)
{
	lua_register(L, "sleep", lua_sleep);
	return 0;
}

void set_lua_sleep_driver(lua_State *L, SleepDriver *driver) noexcept
{
	set_registry_driver(L, &driver_key, driver);
}

} // namespace myproxy
