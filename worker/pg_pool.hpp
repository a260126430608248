// The connections of one pg:new() in one worker: a primary connection, opened when the worker
// starts, kept open, reconnected after errors with a growing delay (the first retry at once), and
// the only one that LISTENs; plus extra connections opened on demand while queries wait (up to
// a cap) and closed again after a minute of idleness, so that one slow query
// does not hold up the others.  The script's
// queries wait in one queue until a connection is free.  Worker side; never blocks.
#pragma once

#include "common/event_source.hpp"
#include "worker/deferred_call.hpp"
#include "worker/pg_connection.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace myproxy {

/* Connections one pg:new() may have open in one worker. */
inline constexpr std::size_t pg_pool_connections_max = 8;
/* An extra connection idle this long is closed (checked every half of it). */
inline constexpr std::uint64_t pg_extra_idle_usec = 60'000'000;
/* Delays before the primary's next attempt after failed ones: this, doubling, up to the cap. */
inline constexpr std::uint64_t pg_retry_first_delay_usec = 100'000;
inline constexpr std::uint64_t pg_retry_max_delay_usec = 10'000'000;

/* The cap and the delays a pool works with: the constants above, unless a test shrinks a minute
 * of idleness or a ten-second back-off to milliseconds to watch what the pool does with them. */
struct PgPoolPolicy {
	std::size_t connections_max = pg_pool_connections_max;
	std::uint64_t extra_idle_usec = pg_extra_idle_usec;
	std::uint64_t retry_first_delay_usec = pg_retry_first_delay_usec;
	std::uint64_t retry_max_delay_usec = pg_retry_max_delay_usec;
	std::uint64_t connect_timeout_usec = pg_connect_timeout_usec;
};

/* What a pool holds at one moment (tests read it; nothing else does). */
struct PgPoolCensus {
	std::size_t ready = 0;      /* connected, busy or idle */
	std::size_t connecting = 0;
	std::size_t down = 0;       /* closed by the sweep or failed, kept for reuse */
	std::size_t queued = 0;     /* queries no connection took yet */
	unsigned failures = 0;      /* the primary's failed attempts in a row */
	std::uint64_t retry_delay_usec = 0; /* of the armed reconnect timer; 0 when none is armed */
};

class PgPool final : public PgConnection::Owner {
public:
	class NotifyHandler {
	public:
		virtual void on_pg_notify(unsigned database, const char *channel, const char *payload) noexcept = 0;

	protected:
		~NotifyHandler() = default;
	};

	/* Throws std::bad_alloc. */
	PgPool(sd_event *event, lua_State *L, unsigned index, PgDatabaseConfig config, NotifyHandler &handler,
	       PgPoolPolicy policy = {});
	~PgPool();
	PgPool(const PgPool &) = delete;
	PgPool &operator=(const PgPool &) = delete;

	/* Connects the primary. */
	void start() noexcept;
	/* See PgDriver::execute().  Refused at once (nullptr) while no connection is up or being
	 * attempted: the caller should not wait for a retry that may be seconds away. */
	AsyncOperation *execute(CallbackRun &waiter, const char *sql, int nparams, const char *const *values,
				char *error, std::size_t error_size) noexcept;
	void listen(const char *channel) noexcept;
	PgPoolCensus census() const noexcept;

private:
	sd_event *event;
	lua_State *L;
	unsigned index;
	PgDatabaseConfig config;
	NotifyHandler &handler;
	PgPoolPolicy policy;

	/* execute() and listen() run inside a Lua call: they only queue and arm this, so that no
	 * failure resumes a callback (possibly the calling one) from within Lua. */
	DeferredCall deferred;
	std::vector<std::string> pending_listens;
	/* [0] is the primary. */
	std::vector<std::unique_ptr<PgConnection>> connections;
	std::deque<std::unique_ptr<PgQuery>> queue;
	EventSource retry_timer;
	EventSource sweep_timer;
	unsigned failures = 0; /* the primary's failed attempts in a row */
	std::uint64_t retry_delay_usec = 0; /* while retry_timer is armed */
	std::string last_error;

	std::unique_ptr<PgQuery> take_query() noexcept override;
	void connection_failed(PgConnection &connection, const char *message, bool attempt) noexcept override;
	void notified(const char *channel, const char *payload) noexcept override;

	void dispatch() noexcept;
	void schedule_dispatch() noexcept;
	static int on_deferred(sd_event_source *source, void *userdata);
	bool usable() const noexcept;
	void fail_queued(const char *message) noexcept;
	void schedule_retry() noexcept;
	static int on_retry(sd_event_source *source, std::uint64_t usec, void *userdata);
	void arm_sweep() noexcept;
	static int on_sweep(sd_event_source *source, std::uint64_t usec, void *userdata);
};

} // namespace myproxy
