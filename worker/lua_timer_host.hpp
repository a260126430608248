// The worker's timers for the Lua sleep(): one sd-event timer per sleeping callback, completed
// from the event loop.  Worker side.  Must outlive every callback that may sleep: the worker
// destroys it after its client connections.
#pragma once

#include "common/event_source.hpp"
#include "lua/callback_run.hpp"
#include "lua/lua_sleep.hpp"

#include <list>
#include <memory>

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;
struct lua_State;

namespace myproxy {

class LuaTimerHost final : public SleepDriver {
public:
	/* Installs itself as the state's sleep driver. */
	LuaTimerHost(sd_event *event, lua_State *L) noexcept;
	~LuaTimerHost();
	LuaTimerHost(const LuaTimerHost &) = delete;
	LuaTimerHost &operator=(const LuaTimerHost &) = delete;

	AsyncOperation *sleep(CallbackRun &waiter, std::uint64_t usec, char *error,
			      std::size_t error_size) noexcept override;

private:
	struct Sleep final : AsyncOperation {
		LuaTimerHost *host = nullptr;
		CallbackRun *waiter = nullptr;
		EventSource source;
		std::list<std::unique_ptr<Sleep>>::iterator self;
		void abandon() noexcept override;
	};

	static int on_timer(sd_event_source *, std::uint64_t, void *userdata);

	sd_event *event;
	lua_State *L;
	std::list<std::unique_ptr<Sleep>> sleeps;
};

} // namespace myproxy
