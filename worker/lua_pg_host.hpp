// The Lua `pg` library's home in a worker: one PgPool per pg:new() of config.lua, created and
// connected after the fork (never a connection shared with the master or another worker), the
// PgDriver that db:execute() and db:listen() reach, and the coroutines db:listen() handlers run in.
// Worker side.  Must outlive every callback that may wait for a query: the worker destroys it after
// its client connections.
#pragma once

#include "lua/callback_run.hpp"
#include "lua/lua_pg.hpp"
#include "worker/pg_pool.hpp"

#include <list>
#include <memory>
#include <vector>

typedef struct sd_event sd_event;
struct lua_State;

namespace myproxy {

/* db:listen() handlers suspended in db:execute() at once; further NOTIFYs are dropped (logged). */
inline constexpr std::size_t pg_notify_runs_max = 256;

class LuaPgHost final : public PgDriver, public PgPool::NotifyHandler {
public:
	/* Reads the databases from @L, installs itself as its driver and starts connecting.
	 * Throws std::bad_alloc. */
	LuaPgHost(sd_event *event, lua_State *L);
	~LuaPgHost();
	LuaPgHost(const LuaPgHost &) = delete;
	LuaPgHost &operator=(const LuaPgHost &) = delete;

	AsyncOperation *execute(unsigned database, CallbackRun &waiter, const char *sql, int nparams,
				const char *const *values, char *error, std::size_t error_size) noexcept override;
	void listen(unsigned database, const char *channel) noexcept override;
	void on_pg_notify(unsigned database, const char *channel, const char *payload) noexcept override;

private:
	/* One db:listen() handler call, while it runs or waits. */
	struct NotifyRun final : CallbackOwner {
		LuaPgHost *host;
		std::list<std::unique_ptr<NotifyRun>>::iterator self;
		CallbackRun run;
		char channel[64];
		NotifyRun(LuaPgHost *h, lua_State *L) : host(h), run(L) {}
		void resume_callback(int nargs) noexcept override;
	};

	lua_State *L;
	std::vector<std::unique_ptr<PgPool>> connections;
	std::list<std::unique_ptr<NotifyRun>> notify_runs;

	/* Logs a failure; destroys @run unless it waits. */
	void settle(NotifyRun &run) noexcept;
};

} // namespace myproxy
