// One libpq connection of a worker's pool (worker/pg_pool), on libpq's asynchronous API and the
// worker's sd-event loop: connects (PQconnectStart/PQconnectPoll, bounded by a timer), sets
// search_path, issues LISTEN when it is the pool's primary, runs one query at a time (its own setup
// queries first, then what the pool hands it), and reports NOTIFYs, failures and idleness to the
// pool.  Worker side; never blocks (no PQexec, no PQcancel); results reach the waiting callback
// through CallbackRun::complete(), never a Lua error.
#pragma once

#include "common/event_source.hpp"
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

/* Checks a conninfo the way the worker will use it: libpq must parse it, and it must not need a
 * name lookup (host= with a name and no hostaddr=) or a file (service=), since workers have
 * neither.  For set_pg_conninfo_check(). */
bool check_pg_conninfo(const char *conninfo, char *error, std::size_t error_size) noexcept;

/* A query of the script (waiter set) or of the connection itself (search_path, LISTEN). */
struct PgQuery final : AsyncOperation {
	/* Who waits; null for our own queries and for abandoned ones. */
	CallbackRun *waiter = nullptr;
	bool internal = false;
	/* No parameters given: the simple protocol (several statements allowed). */
	bool simple = false;
	std::string sql;
	std::vector<std::string> params;
	/* Into params; null for NULL. */
	std::vector<const char *> values;
	void abandon() noexcept override { waiter = nullptr; }
};

class PgConnection {
public:
	/* The pool: where queries come from and where news goes. */
	class Owner {
	public:
		/* The next live query of the script, or null. */
		virtual std::unique_ptr<PgQuery> take_query() noexcept = 0;
		/* A connect attempt failed (@attempt) or a ready connection broke; it is down now. */
		virtual void connection_failed(PgConnection &connection, const char *message, bool attempt) noexcept = 0;
		virtual void notified(const char *channel, const char *payload) noexcept = 0;

	protected:
		~Owner() = default;
	};

	PgConnection(sd_event *event, lua_State *L, const PgDatabaseConfig &config, unsigned database, bool primary,
		     Owner &owner, std::uint64_t connect_timeout_usec = pg_connect_timeout_usec);
	~PgConnection();
	PgConnection(const PgConnection &) = delete;
	PgConnection &operator=(const PgConnection &) = delete;

	/* Starts an attempt (the state must be down). */
	void connect() noexcept;
	/* Sends the next query (own setup first, then the pool's) when ready and idle. */
	void send_next() noexcept;
	/* LISTEN on @channel now (the primary, when ready). */
	void listen(const std::string &channel) noexcept;

	/* Closes an idle connection without telling the pool (it asked). */
	void disconnect() noexcept;
	/* When it last became idle (CLOCK_MONOTONIC). */
	std::uint64_t idle_since() const noexcept { return idle_since_usec; }

	bool down() const noexcept { return state == State::down; }
	bool connecting() const noexcept { return state == State::connecting; }
	bool idle() const noexcept { return state == State::ready && !in_flight && setup.empty(); }
	bool primary() const noexcept { return is_primary; }

private:
	enum class State : std::uint8_t { down, connecting, ready };

	sd_event *event;
	lua_State *L;
	const PgDatabaseConfig &config;
	unsigned database;
	bool is_primary;
	Owner &owner;
	std::uint64_t connect_timeout_usec;

	State state = State::down;
	PGconn *conn = nullptr;
	EventSource io;
	EventSource timer; /* the connect timeout */
	std::uint64_t idle_since_usec = 0;
	void mark_idle() noexcept;

	std::deque<std::unique_ptr<PgQuery>> setup;
	std::unique_ptr<PgQuery> in_flight;
	PGresult *result = nullptr;

	void connect_poll() noexcept;
	void connected() noexcept;
	void fail(const char *message, bool attempt) noexcept;
	void drop_connection() noexcept;
	bool watch(std::uint32_t events) noexcept;
	void queue_setup(const std::string &prefix, const std::string &identifier);

	void flush() noexcept;
	void receive() noexcept;
	void finish_query() noexcept;
	void deliver(PgQuery &query, PGresult *res) noexcept;
	void log_warning_line(const char *format, ...) const noexcept __attribute__((format(printf, 2, 3)));

	static int on_io(sd_event_source *source, int fd, std::uint32_t revents, void *userdata);
	static int on_timer(sd_event_source *source, std::uint64_t usec, void *userdata);
};

/* Pushes nil, @message on the waiting coroutine of @query and completes it (a no-op for internal
 * or abandoned queries).  @L is the worker's main state (protected calls run there). */
void fail_pg_query(lua_State *L, PgQuery &query, const char *message) noexcept;

} // namespace myproxy
