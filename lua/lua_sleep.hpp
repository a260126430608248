// The Lua global sleep(seconds): suspends the calling callback's coroutine for that long while the
// worker serves other clients (upstream scripts use it to slow down bad logins).  The Lua side lives
// here; a worker implements SleepDriver on its event loop (worker/lua_timer_host).  Works only in a
// callback's own coroutine: at the top level of config.lua and in reload() it is an error.
#pragma once

#include <cstddef>
#include <cstdint>

struct lua_State;

namespace myproxy {

class AsyncOperation;
class CallbackRun;

/* The longest sleep; a login that sleeps still ends at connect_timeout. */
inline constexpr double sleep_seconds_max = 3600;

class SleepDriver {
public:
	/* Starts a timer of @usec that calls waiter.complete(0) when it expires; nullptr (and a
	 * message in @error) when it cannot. */
	virtual AsyncOperation *sleep(CallbackRun &waiter, std::uint64_t usec, char *error,
				      std::size_t error_size) noexcept = 0;

protected:
	~SleepDriver() = default;
};

/* Sets the global `sleep` (a Lua C function: call it through lua_pcall or a protected opener). */
int open_lua_sleep(lua_State *L);

/* The worker's driver; nullptr removes it (sleep() then raises). */
void set_lua_sleep_driver(lua_State *L, SleepDriver *driver) noexcept;

} // namespace myproxy
