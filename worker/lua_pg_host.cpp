// LuaPgHost (see lua_pg_host.hpp).
#include "worker/lua_pg_host.hpp"

#include "common/log.hpp"

#include <lua.hpp>

#include <cstdio>
#include <cstring>
#include <new>

namespace myproxy {

LuaPgHost::LuaPgHost(sd_event *event, lua_State *state) : L(state)
{
	std::vector<PgDatabaseConfig> databases = lua_pg_databases(L);
	connections.reserve(databases.size());
	for (unsigned i = 0; i < databases.size(); ++i)
		connections.push_back(std::make_unique<PgPool>(event, L, i, std::move(databases[i]), *this));
	set_lua_pg_driver(L, this);
	for (auto &connection : connections)
		connection->start();
}

LuaPgHost::~LuaPgHost()
{
	set_lua_pg_driver(L, nullptr);
	/* Handlers first: their waiting queries belong to the connections. */
	notify_runs.clear();
	connections.clear();
}

AsyncOperation *LuaPgHost::execute(unsigned database, CallbackRun &waiter, const char *sql, int nparams,
				   const char *const *values, char *error, std::size_t error_size) noexcept
{
	if (database >= connections.size()) {
		std::snprintf(error, error_size, "unknown PostgreSQL connection");
		return nullptr;
	}
	return connections[database]->execute(waiter, sql, nparams, values, error, error_size);
}

void LuaPgHost::listen(unsigned database, const char *channel) noexcept
{
	if (database < connections.size())
		connections[database]->listen(channel);
}

void LuaPgHost::on_pg_notify(unsigned database, const char *channel, const char *payload) noexcept
{
	if (notify_runs.size() >= pg_notify_runs_max) {
		log_warning("pg connection %u: NOTIFY on %s dropped: %zu handlers still waiting", database + 1, channel,
			    notify_runs.size());
		return;
	}
	if (!lua_checkstack(L, 3))
		return;
	const int top = lua_gettop(L);
	if (!push_lua_pg_listener(L, database, channel))
		return; /* LISTEN issued by a SQL statement of the script's own */
	if (!push_lua_string(L, payload) || !push_lua_string(L, channel)) {
		lua_settop(L, top);
		log_warning("pg connection %u: NOTIFY on %s dropped: Lua heap full", database + 1, channel);
		return;
	}
	NotifyRun *run;
	try {
		notify_runs.push_back(std::make_unique<NotifyRun>(this, L));
		run = notify_runs.back().get();
		run->self = std::prev(notify_runs.end());
	} catch (const std::bad_alloc &) {
		lua_settop(L, top);
		return;
	}
	std::snprintf(run->channel, sizeof(run->channel), "%s", channel);
	run->run.set_owner(run);
	run->run.start_function("db:listen() handler", 2);
	settle(*run);
}

void LuaPgHost::NotifyRun::resume_callback(int nargs) noexcept
{
	run.resume(nargs);
	host->settle(*this);
}

void LuaPgHost::settle(NotifyRun &run) noexcept
{
	switch (run.run.status()) {
	case CallbackStatus::suspended:
		return;
	case CallbackStatus::failed:
		log_error("db:listen() handler of %s failed: %s", run.channel, run.run.error().c_str());
		break;
	case CallbackStatus::finished:
		break;
	}
	notify_runs.erase(run.self);
}

} // namespace myproxy
