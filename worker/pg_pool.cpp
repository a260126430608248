// PgPool (see pg_pool.hpp).
#include "worker/pg_pool.hpp"

#include "common/log.hpp"

#include <systemd/sd-event.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <new>

namespace myproxy {

PgPool::PgPool(sd_event *loop, lua_State *lua, unsigned database, PgDatabaseConfig database_config,
	       NotifyHandler &notify_handler, PgPoolPolicy pool_policy)
	: event(loop), L(lua), index(database), config(std::move(database_config)), handler(notify_handler),
	  policy(pool_policy)
{
	connections.push_back(std::make_unique<PgConnection>(event, L, config, index, true, *this,
							       policy.connect_timeout_usec));
}

PgPool::~PgPool()
{
	for (auto &query : queue)
		query->waiter = nullptr;
	connections.clear();
}

void PgPool::arm_sweep() noexcept
{
	if (sweep_timer)
		return;
	/* Should this fail, the extras stay open; harmless. */
	(void)sd_event_add_time_relative(event, sweep_timer.out(), CLOCK_MONOTONIC, policy.extra_idle_usec / 2,
					 std::min<std::uint64_t>(policy.extra_idle_usec / 4, 1'000'000),
					 on_sweep, this);
}

int PgPool::on_sweep(sd_event_source *, std::uint64_t now, void *userdata)
{
	auto &pool = *static_cast<PgPool *>(userdata);
	pool.sweep_timer.reset();
	bool open = false;
	for (std::size_t i = 1; i < pool.connections.size(); ++i) {
		PgConnection &c = *pool.connections[i];
		if (c.idle() && now - c.idle_since() >= pool.policy.extra_idle_usec)
			c.disconnect();
		open = open || !c.down();
	}
	if (open)
		pool.arm_sweep();
	return 0;
}

void PgPool::schedule_dispatch() noexcept
{
	if (deferred.schedule(event, on_deferred, this) < 0)
		log_error("pg connection %u: cannot schedule queries", index + 1);
}

int PgPool::on_deferred(sd_event_source *, void *userdata)
{
	auto &pool = *static_cast<PgPool *>(userdata);
	std::vector<std::string> listens;
	listens.swap(pool.pending_listens);
	for (const std::string &channel : listens)
		pool.connections.front()->listen(channel);
	pool.dispatch();
	return 0;
}

void PgPool::start() noexcept
{
	connections.front()->connect();
}

bool PgPool::usable() const noexcept
{
	return std::any_of(connections.begin(), connections.end(),
			   [](const std::unique_ptr<PgConnection> &c) { return !c->down(); });
}

AsyncOperation *PgPool::execute(CallbackRun &waiter, const char *sql, int nparams, const char *const *values,
				char *error, std::size_t error_size) noexcept
{
	if (!usable()) {
		std::snprintf(error, error_size, "PostgreSQL connection is down: %s",
			      last_error.empty() ? "not connected" : last_error.c_str());
		return nullptr;
	}
	try {
		auto query = std::make_unique<PgQuery>();
		query->waiter = &waiter;
		query->simple = nparams < 0;
		if (nparams < 0)
			nparams = 0;
		query->sql = sql;
		query->params.resize(std::size_t(nparams));
		query->values.resize(std::size_t(nparams));
		for (int i = 0; i < nparams; ++i)
			if (values[i] != nullptr)
				query->params[std::size_t(i)] = values[i];
		/* Only now: the strings no longer move. */
		for (int i = 0; i < nparams; ++i)
			query->values[std::size_t(i)] = values[i] != nullptr ? query->params[std::size_t(i)].c_str() : nullptr;
		PgQuery *operation = query.get();
		queue.push_back(std::move(query));
		schedule_dispatch();
		return operation;
	} catch (const std::bad_alloc &) {
		std::snprintf(error, error_size, "out of memory");
		return nullptr;
	}
}

PgPoolCensus PgPool::census() const noexcept
{
	PgPoolCensus census;
	for (const auto &c : connections) {
		if (c->down())
			++census.down;
		else if (c->connecting())
			++census.connecting;
		else
			++census.ready;
	}
	census.queued = queue.size();
	census.failures = failures;
	census.retry_delay_usec = retry_delay_usec;
	return census;
}

void PgPool::listen(const char *channel) noexcept
{
	try {
		config.channels.emplace_back(channel);
		pending_listens.emplace_back(channel);
	} catch (const std::bad_alloc &) {
		log_warning("pg connection %u: out of memory; not listening on %s", index + 1, channel);
		return;
	}
	schedule_dispatch();
}

std::unique_ptr<PgQuery> PgPool::take_query() noexcept
{
	while (!queue.empty()) {
		std::unique_ptr<PgQuery> query = std::move(queue.front());
		queue.pop_front();
		if (query->waiter != nullptr)
			return query;
		/* abandoned before it was sent */
	}
	return nullptr;
}

void PgPool::dispatch() noexcept
{
	for (std::size_t i = 0; i < connections.size() && !queue.empty(); ++i)
		if (connections[i]->idle())
			connections[i]->send_next();
	if (queue.empty() || connections.front()->down())
		return; /* extras only grow next to a working primary */
	std::size_t connecting = std::count_if(connections.begin(), connections.end(),
					       [](const std::unique_ptr<PgConnection> &c) { return c->connecting(); });
	for (std::size_t i = 1; i < connections.size() && connecting < queue.size(); ++i)
		if (connections[i]->down()) {
			++connecting;
			connections[i]->connect();
		}
	while (connecting < queue.size() && connections.size() < policy.connections_max) {
		try {
			connections.push_back(std::make_unique<PgConnection>(event, L, config, index, false, *this,
										       policy.connect_timeout_usec));
		} catch (const std::bad_alloc &) {
			return;
		}
		++connecting;
		connections.back()->connect();
	}
	if (connections.size() > 1)
		arm_sweep();
}

void PgPool::connection_failed(PgConnection &connection, const char *message, bool attempt) noexcept
{
	try {
		last_error = message;
	} catch (const std::bad_alloc &) {
	}
	if (connection.primary()) {
		if (attempt) {
			++failures;
			schedule_retry();
		} else {
			/* The first retry after a lost connection is immediate. */
			failures = 0;
			connection.connect();
		}
	}
	if (!usable()) {
		char text[512];
		std::snprintf(text, sizeof(text), "PostgreSQL connection failed: %s", message);
		fail_queued(text);
	}
}

void PgPool::notified(const char *channel, const char *payload) noexcept
{
	handler.on_pg_notify(index, channel, payload);
}

void PgPool::fail_queued(const char *message) noexcept
{
	/* Taken out first: a resumed callback may call db:execute() again (refused while down). */
	std::deque<std::unique_ptr<PgQuery>> failed;
	failed.swap(queue);
	for (auto &query : failed)
		fail_pg_query(L, *query, message);
}

void PgPool::schedule_retry() noexcept
{
	std::uint64_t delay = policy.retry_first_delay_usec;
	for (unsigned i = 1; i < failures && delay < policy.retry_max_delay_usec; ++i)
		delay *= 2;
	delay = std::min(delay, policy.retry_max_delay_usec);
	retry_timer.reset();
	retry_delay_usec = delay;
	if (sd_event_add_time_relative(event, retry_timer.out(), CLOCK_MONOTONIC, delay, 1000, on_retry, this) < 0) {
		retry_delay_usec = 0;
		log_error("pg connection %u: cannot arm the reconnect timer; not reconnecting", index + 1);
	}
}

int PgPool::on_retry(sd_event_source *, std::uint64_t, void *userdata)
{
	auto &pool = *static_cast<PgPool *>(userdata);
	pool.retry_timer.reset();
	pool.retry_delay_usec = 0;
	if (pool.connections.front()->down())
		pool.connections.front()->connect();
	return 0;
}

} // namespace myproxy
