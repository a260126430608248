// Running config.lua's reload() as a coroutine in a new worker (see reload_run.hpp).  Worker side.
#include "worker/reload_run.hpp"

#include "common/log.hpp"

#include <lua.hpp>

namespace myproxy {

namespace {

/* Protected: reading a global may run a metamethod the script put on _G, or fail for memory. */
int fetch_reload(lua_State *L)
{
	lua_getglobal(L, "reload");
	return 1;
}

} // namespace

void ReloadRun::start() noexcept
{
	if (!lua_checkstack(L, 2)) {
		log_error("reload(): Lua stack full; serving without it");
		done();
		return;
	}
	lua_pushcfunction(L, fetch_reload);
	if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
		const char *message = lua_tostring(L, -1);
		log_error("reload(): %s; serving without it", message != nullptr ? message : "?");
		lua_pop(L, 1);
		done();
		return;
	}
	if (!lua_isfunction(L, -1)) {
		lua_pop(L, 1);
		done();
		return;
	}
	run.set_owner(this);
	run.start_function("reload()", 0);
	settle();
}

void ReloadRun::resume_callback(int nargs) noexcept
{
	run.resume(nargs);
	settle();
}

void ReloadRun::settle() noexcept
{
	switch (run.status()) {
	case CallbackStatus::suspended:
		return;
	case CallbackStatus::failed:
		log_error("reload() failed: %s", run.error().c_str());
		break;
	case CallbackStatus::finished:
		log_debug("reload() finished");
		break;
	}
	done();
}

} // namespace myproxy
