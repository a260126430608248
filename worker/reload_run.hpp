// config.lua's reload() in a worker of a generation that a SIGHUP started (worker side).  It runs as
// a coroutine on the worker's loop before the worker reports ready, so it may wait for PostgreSQL
// (db:execute) or sleep(); the worker takes no client until it returned.  A failure is logged with
// its traceback and the worker serves anyway: the configuration itself loaded.  Sandboxed like every
// callback: reading files belongs to config.lua's top level, which the master ran just before.
#pragma once

#include "lua/callback_run.hpp"

#include <functional>

struct lua_State;

namespace myproxy {

class ReloadRun final : public CallbackOwner {
public:
	/* @done runs once, when reload() returned or failed, or at once when there is no reload(). */
	ReloadRun(lua_State *state, std::function<void()> on_done) noexcept
		: L(state), run(state), done(std::move(on_done))
	{
	}
	ReloadRun(const ReloadRun &) = delete;
	ReloadRun &operator=(const ReloadRun &) = delete;

	/* Looks the global reload up and starts it.  Call once. */
	void start() noexcept;

	void resume_callback(int nargs) noexcept override;

private:
	lua_State *L;
	CallbackRun run;
	std::function<void()> done;

	void settle() noexcept;
};

} // namespace myproxy
