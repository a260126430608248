// One PostgreSQL connection of a worker (one per pg:new() of config.lua), on libpq's asynchronous
// API and the worker's sd-event loop: connects after the fork (PQconnectStart/PQconnectPoll, bounded
// by a timer), sets search_path, issues LISTEN, runs one query at a time from a queue, hands
// NOTIFYs to its handler, and reconnects after errors with a growing delay (the first retry at
// once).  Worker side; never blocks (no PQexec, no PQcancel), never raises into Lua: results reach
// the waiting callback through CallbackRun::complete().
#pragma once

#include "lua/callback_run.hpp"
#include "lua/lua_pg.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;
typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;
struct lua_State;

namespace myproxy {

/* The bound on one connection attempt: libpq's own connect_timeout applies only to its blocking
 * calls. */
inline constexpr std::uint64_t pg_connect_timeout_usec = 10'000'000;
/* Reconnect delays: none for the first retry, then this, doubling up to the cap. */
inline constexpr std::uint64_t pg_retry_first_delay_usec = 100'000;
inline constexpr std::uint64_t pg_retry_max_delay_usec = 10'000'000;

/* Checks a conninfo the way the worker will use it: libpq must parse it, and it must not need a
 * name lookup (host= with a name and no hostaddr=) or a file (service=), since workers have
 * neither.  For set_pg_conninfo_check(). */
bool check_pg_conninfo(const char *conninfo, char *error, std::size_t error_size) noexcept;

class PgConnection {
public:
	class NotifyHandler {
	public:
		virtual void on_pg_notify(unsigned database, const char *channel, const char *payload) noexcept = 0;

	protected:
		~NotifyHandler() = default;
	};

	PgConnection(sd_event *event, lua_State *L, unsigned index, PgDatabaseConfig config, NotifyHandler &handler);
	~PgConnection();
	PgConnection(const PgConnection &) = delete;
	PgConnection &operator=(const PgConnection &) = delete;

	/* The first connection attempt. */
	void start() noexcept;

	/* See PgDriver::execute(). */
	AsyncOperation *execute(CallbackRun &waiter, const char *sql, int nparams, const char *const *values,
				char *error, std::size_t error_size) noexcept;
	/* LISTEN on @channel now (when connected) and after every reconnect. */
	void listen(const char *channel) noexcept;

	bool connected() const noexcept { return state == State::ready; }

private:
	enum class State : std::uint8_t { down, connecting, ready };

	struct Query final : AsyncOperation {
		/* Who waits; null for our own queries (search_path, LISTEN) and abandoned ones. */
		CallbackRun *waiter = nullptr;
		bool internal = false;
		std::string sql;
		std::vector<std::string> params;
		/* Into params; null for NULL. */
		std::vector<const char *> values;
		void abandon() noexcept override { waiter = nullptr; }
	};

	sd_event *event;
	lua_State *L;
	unsigned index;
	PgDatabaseConfig config;
	NotifyHandler &handler;

	State state = State::down;
	PGconn *conn = nullptr;
	sd_event_source *io = nullptr;
	sd_event_source *timer = nullptr; /* connect timeout, or the reconnect delay */
	unsigned failures = 0;		  /* attempts failed in a row */
	std::string last_error;

	std::deque<std::unique_ptr<Query>> queue;
	std::unique_ptr<Query> in_flight;
	PGresult *result = nullptr;

	void connect() noexcept;
	void connect_poll() noexcept;
	void connected() noexcept;
	void connect_failed(const char *message) noexcept;
	void connection_lost(const char *message) noexcept;
	void drop_connection() noexcept;
	void schedule_retry() noexcept;
	bool watch(std::uint32_t events) noexcept;
	bool arm_timer(std::uint64_t usec) noexcept;

	void queue_internal(std::string sql, bool front);
	void send_next() noexcept;
	void flush() noexcept;
	void receive() noexcept;
	void finish_query() noexcept;
	void fail_query(Query &query, const char *message) noexcept;
	void fail_queued(const char *message) noexcept;
	void deliver(Query &query, PGresult *res) noexcept;
	void log_warning_line(const char *format, ...) const noexcept __attribute__((format(printf, 2, 3)));

	static int on_io(sd_event_source *source, int fd, std::uint32_t revents, void *userdata);
	static int on_timer(sd_event_source *source, std::uint64_t usec, void *userdata);
};

} // namespace myproxy
