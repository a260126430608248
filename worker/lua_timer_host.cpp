// LuaTimerHost (see lua_timer_host.hpp).
#include "worker/lua_timer_host.hpp"

#include <systemd/sd-event.h>

#include <cstdio>
#include <cstring>
#include <ctime>

namespace myproxy {

LuaTimerHost::LuaTimerHost(sd_event *event_, lua_State *L_) noexcept : event(event_), L(L_)
{
	set_lua_sleep_driver(L, this);
}

LuaTimerHost::~LuaTimerHost()
{
	set_lua_sleep_driver(L, nullptr);
}

void LuaTimerHost::Sleep::abandon() noexcept
{
	host->sleeps.erase(self);
}

int LuaTimerHost::on_timer(sd_event_source *, std::uint64_t, void *userdata)
{
	auto *sleep = static_cast<Sleep *>(userdata);
	CallbackRun *waiter = sleep->waiter;
	/* First forget the timer: completing may destroy the callback (and start another sleep). */
	sleep->host->sleeps.erase(sleep->self);
	waiter->complete(0);
	return 0;
}

AsyncOperation *LuaTimerHost::sleep(CallbackRun &waiter, std::uint64_t usec, char *error,
				    std::size_t error_size) noexcept
{
	try {
		auto entry = std::make_unique<Sleep>();
		entry->host = this;
		entry->waiter = &waiter;
		const int r = sd_event_add_time_relative(event, entry->source.out(), CLOCK_MONOTONIC, usec, 0, on_timer,
							  entry.get());
		if (r < 0) {
			std::snprintf(error, error_size, "sd_event_add_time_relative(): %s", std::strerror(-r));
			return nullptr;
		}
		Sleep *sleep = entry.get();
		sleeps.push_back(std::move(entry));
		sleep->self = std::prev(sleeps.end());
		return sleep;
	} catch (const std::bad_alloc &) {
		std::snprintf(error, error_size, "out of memory");
		return nullptr;
	}
}

} // namespace myproxy
