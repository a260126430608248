// PgConnection (see pg_connection.hpp).  States: down, connecting (PQconnectPoll driven by the
// socket, bounded by the timer), ready (queries, one in flight).  Retrying is the pool's business.
// During the connect the io source is made anew after every poll step, because libpq may close
// its socket and open another under the same number, which epoll would silently forget.
#include "worker/pg_connection.hpp"

#include "common/log.hpp"

#include <libpq-fe.h>
#include <lua.hpp>
#include <systemd/sd-event.h>

#include <arpa/inet.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>

namespace myproxy {

namespace {

/* The result of a query, as the Lua binding reads it. */
class ResultView final : public PgResultView {
public:
	explicit ResultView(const PGresult *result) noexcept : r(result) {}
	std::size_t rows() const noexcept override { return std::size_t(PQntuples(r)); }
	std::size_t columns() const noexcept override { return std::size_t(PQnfields(r)); }
	std::string_view column_name(std::size_t column) const noexcept override
	{
		const char *name = PQfname(r, int(column));
		return name != nullptr ? name : "";
	}
	bool is_null(std::size_t row, std::size_t column) const noexcept override
	{
		return PQgetisnull(r, int(row), int(column)) != 0;
	}
	std::string_view value(std::size_t row, std::size_t column) const noexcept override
	{
		return {PQgetvalue(r, int(row), int(column)), std::size_t(PQgetlength(r, int(row), int(column)))};
	}
	long long affected_rows() const noexcept override
	{
		const char *text = PQcmdTuples(const_cast<PGresult *>(r));
		if (text == nullptr || *text == 0)
			return -1;
		return std::strtoll(text, nullptr, 10);
	}

private:
	const PGresult *r;
};

/* The first line of a libpq message, without its trailing newline. */
std::string_view first_line(const char *message) noexcept
{
	if (message == nullptr)
		return "unknown error";
	std::string_view text(message);
	text = text.substr(0, text.find('\n'));
	while (!text.empty() && (text.back() == ' ' || text.back() == '\r'))
		text.remove_suffix(1);
	return text.empty() ? std::string_view("unknown error") : text;
}

__attribute__((format(printf, 3, 4))) void copy_message(char *error, std::size_t size, const char *format, ...) noexcept
{
	if (size == 0)
		return;
	va_list args;
	va_start(args, format);
	std::vsnprintf(error, size, format, args);
	va_end(args);
}

} // namespace

bool check_pg_conninfo(const char *conninfo, char *error, std::size_t error_size) noexcept
{
	char *message = nullptr;
	PQconninfoOption *options = PQconninfoParse(conninfo, &message);
	if (options == nullptr) {
		copy_message(error, error_size, "%s", message != nullptr ? std::string(first_line(message)).c_str() : "out of memory");
		PQfreemem(message);
		return false;
	}
	const char *host = nullptr, *hostaddr = nullptr, *service = nullptr;
	for (PQconninfoOption *o = options; o->keyword != nullptr; ++o) {
		if (o->val == nullptr || *o->val == 0)
			continue;
		if (std::strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (std::strcmp(o->keyword, "hostaddr") == 0)
			hostaddr = o->val;
		else if (std::strcmp(o->keyword, "service") == 0)
			service = o->val;
	}
	bool ok = true;
	if (service != nullptr) {
		copy_message(error, error_size, "%s", "service= needs pg_service.conf, which workers cannot read");
		ok = false;
	} else if (host != nullptr && hostaddr == nullptr) {
		/* Every comma-separated host must be a socket directory or a numeric address. */
		for (const char *h = host; ok && *h != 0;) {
			const char *end = std::strchr(h, ',');
			const std::string one(h, end != nullptr ? std::size_t(end - h) : std::strlen(h));
			in6_addr address;
			if (!one.empty() && one[0] != '/' && one[0] != '@' && inet_pton(AF_INET, one.c_str(), &address) != 1 &&
			    inet_pton(AF_INET6, one.c_str(), &address) != 1) {
				char text[300];
				std::snprintf(text, sizeof(text), "host=%s needs a name lookup, which workers cannot do: "
					      "give hostaddr= (a numeric address) or a socket directory", one.c_str());
				copy_message(error, error_size, "%s", text);
				ok = false;
			}
			h = end != nullptr ? end + 1 : h + std::strlen(h);
		}
	}
	PQconninfoFree(options);
	return ok;
}

PgConnection::PgConnection(sd_event *loop, lua_State *lua, const PgDatabaseConfig &database_config, unsigned index,
			   bool primary, Owner &pool, std::uint64_t connect_timeout)
	: event(loop), L(lua), config(database_config), database(index), is_primary(primary), owner(pool),
	  connect_timeout_usec(connect_timeout)
{
}

PgConnection::~PgConnection()
{
	/* Callbacks still waiting are the worker's to end; nothing is resumed from here. */
	if (in_flight)
		in_flight->waiter = nullptr;
	drop_connection();
}

void PgConnection::log_warning_line(const char *format, ...) const noexcept
{
	char text[1024];
	va_list args;
	va_start(args, format);
	std::vsnprintf(text, sizeof(text), format, args);
	va_end(args);
	log_warning("pg connection %u%s: %s", database + 1, is_primary ? "" : " (extra)", text);
}

/* --- connecting ---------------------------------------------------------------------------- */

void PgConnection::connect() noexcept
{
	drop_connection();
	state = State::connecting;
	conn = PQconnectStart(config.conninfo.c_str());
	if (conn == nullptr) {
		fail("out of memory", true);
		return;
	}
	if (PQstatus(conn) == CONNECTION_BAD) {
		fail(std::string(first_line(PQerrorMessage(conn))).c_str(), true);
		return;
	}
	if (sd_event_add_time_relative(event, timer.out(), CLOCK_MONOTONIC, connect_timeout_usec, 1000, on_timer,
				       this) < 0) {
		fail("cannot arm the connect timer", true);
		return;
	}
	/* As if PQconnectPoll() had asked to write (libpq's documented start). */
	if (!watch(EPOLLOUT))
		fail("cannot watch the socket", true);
}

bool PgConnection::watch(std::uint32_t events) noexcept
{
	io.reset();
	const int fd = PQsocket(conn);
	if (fd < 0)
		return false;
	return sd_event_add_io(event, io.out(), fd, events, on_io, this) >= 0;
}

void PgConnection::connect_poll() noexcept
{
	switch (PQconnectPoll(conn)) {
	case PGRES_POLLING_OK:
		connected();
		return;
	case PGRES_POLLING_READING:
		if (!watch(EPOLLIN))
			fail("cannot watch the socket", true);
		return;
	case PGRES_POLLING_WRITING:
		if (!watch(EPOLLOUT))
			fail("cannot watch the socket", true);
		return;
	default:
		fail(std::string(first_line(PQerrorMessage(conn))).c_str(), true);
		return;
	}
}

void PgConnection::queue_setup(const std::string &prefix, const std::string &identifier)
{
	char *quoted = PQescapeIdentifier(conn, identifier.data(), identifier.size());
	if (quoted == nullptr)
		throw std::bad_alloc();
	auto query = std::make_unique<PgQuery>();
	query->internal = true;
	query->sql = prefix + quoted;
	PQfreemem(quoted);
	setup.push_back(std::move(query));
}

void PgConnection::connected() noexcept
{
	timer.reset();
	if (PQsetnonblocking(conn, 1) != 0 || !watch(EPOLLIN)) {
		fail("cannot switch the connection to non-blocking mode", true);
		return;
	}
	state = State::ready;
	if (is_primary)
		log_info("pg connection %u: connected", database + 1);
	try {
		if (!config.schema.empty())
			queue_setup("SET search_path TO ", config.schema);
		if (is_primary)
			for (const std::string &channel : config.channels)
				queue_setup("LISTEN ", channel);
	} catch (const std::bad_alloc &) {
		fail("out of memory", false);
		return;
	}
	send_next();
	mark_idle();
}

void PgConnection::fail(const char *message, bool attempt) noexcept
{
	std::unique_ptr<PgQuery> query = std::move(in_flight);
	setup.clear();
	drop_connection();
	state = State::down;
	log_warning_line(attempt ? "cannot connect: %s" : "connection lost: %s", message);
	/* The pool may reconnect this very connection, and a resumed callback may send queries: so
	 * the pool hears first, and the in-flight query fails last. */
	char text[512];
	std::snprintf(text, sizeof(text), "PostgreSQL connection lost: %s", message);
	owner.connection_failed(*this, message, attempt);
	if (query)
		fail_pg_query(L, *query, text);
}

void PgConnection::drop_connection() noexcept
{
	io.reset();
	timer.reset();
	if (result != nullptr) {
		PQclear(result);
		result = nullptr;
	}
	if (conn != nullptr) {
		PQfinish(conn);
		conn = nullptr;
	}
}

int PgConnection::on_timer(sd_event_source *, std::uint64_t, void *userdata)
{
	auto &c = *static_cast<PgConnection *>(userdata);
	c.timer.reset();
	if (c.state == State::connecting)
		c.fail("connect timeout", true);
	return 0;
}

int PgConnection::on_io(sd_event_source *, int, std::uint32_t revents, void *userdata)
{
	auto &c = *static_cast<PgConnection *>(userdata);
	if (c.state == State::connecting) {
		c.connect_poll();
		return 0;
	}
	if (c.state != State::ready)
		return 0;
	if (revents & EPOLLOUT)
		c.flush();
	if (c.state == State::ready && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		c.receive();
	return 0;
}

/* --- queries ------------------------------------------------------------------------------- */

void PgConnection::listen(const std::string &channel) noexcept
{
	if (state != State::ready)
		return; /* connected() issues it */
	try {
		queue_setup("LISTEN ", channel);
	} catch (const std::bad_alloc &) {
		log_warning_line("out of memory; not listening on %s", channel.c_str());
		return;
	}
	send_next();
}

void PgConnection::send_next() noexcept
{
	while (state == State::ready && !in_flight) {
		std::unique_ptr<PgQuery> query;
		if (!setup.empty()) {
			query = std::move(setup.front());
			setup.pop_front();
		} else {
			query = owner.take_query();
			if (!query)
				return;
		}
		int sent;
		if (query->internal || query->simple)
			sent = PQsendQuery(conn, query->sql.c_str());
		else
			sent = PQsendQueryParams(conn, query->sql.c_str(), int(query->values.size()), nullptr,
						 query->values.data(), nullptr, nullptr, 0);
		if (sent == 0) {
			const std::string message(first_line(PQerrorMessage(conn)));
			if (PQstatus(conn) == CONNECTION_BAD) {
				in_flight = std::move(query);
				fail(message.c_str(), false);
				return;
			}
			fail_pg_query(L, *query, message.c_str());
			continue;
		}
		in_flight = std::move(query);
		flush();
	}
}

void PgConnection::flush() noexcept
{
	const int r = PQflush(conn);
	if (r < 0) {
		fail(std::string(first_line(PQerrorMessage(conn))).c_str(), false);
		return;
	}
	if (sd_event_source_set_io_events(io.get(), EPOLLIN | (r > 0 ? std::uint32_t(EPOLLOUT) : 0u)) < 0)
		fail("cannot watch the socket", false);
}

void PgConnection::receive() noexcept
{
	if (PQconsumeInput(conn) == 0) {
		fail(std::string(first_line(PQerrorMessage(conn))).c_str(), false);
		return;
	}
	while (state == State::ready && in_flight && PQisBusy(conn) == 0) {
		PGresult *next = PQgetResult(conn);
		if (next == nullptr) {
			finish_query();
			continue;
		}
		const ExecStatusType status = PQresultStatus(next);
		if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
			PQclear(next);
			fail("COPY is not supported", false);
			return;
		}
		/* Of several statements the last result counts, unless an earlier one failed. */
		if (result != nullptr && PQresultStatus(result) == PGRES_FATAL_ERROR) {
			PQclear(next);
		} else {
			if (result != nullptr)
				PQclear(result);
			result = next;
		}
	}
	while (state == State::ready) {
		PGnotify *notify = PQnotifies(conn);
		if (notify == nullptr)
			break;
		owner.notified(notify->relname, notify->extra != nullptr ? notify->extra : "");
		PQfreemem(notify);
	}
}

void PgConnection::finish_query() noexcept
{
	std::unique_ptr<PgQuery> query = std::move(in_flight);
	PGresult *res = result;
	result = nullptr;
	if (query->internal) {
		if (res == nullptr || (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK))
			log_warning_line("%s: %s", query->sql.c_str(),
					 std::string(first_line(res != nullptr ? PQresultErrorMessage(res) : PQerrorMessage(conn))).c_str());
	} else {
		deliver(*query, res);
	}
	if (res != nullptr)
		PQclear(res);
	if (state != State::ready || in_flight)
		return;
	send_next();
	mark_idle();
}

void PgConnection::mark_idle() noexcept
{
	if (idle())
		sd_event_now(event, CLOCK_MONOTONIC, &idle_since_usec);
}

void PgConnection::disconnect() noexcept
{
	if (in_flight)
		return;
	setup.clear();
	drop_connection();
	state = State::down;
}

void PgConnection::deliver(PgQuery &query, PGresult *res) noexcept
{
	CallbackRun *run = query.waiter;
	if (run == nullptr)
		return; /* its client went away: the result is dropped */
	query.waiter = nullptr;
	lua_State *thread = run->thread();
	int nargs = 0;
	const ExecStatusType status = res != nullptr ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY) {
		if (lua_checkstack(thread, 1) && push_pg_result(L, ResultView(res))) {
			lua_xmove(L, thread, 1);
			nargs = 1;
		} else {
			nargs = push_lua_failure(L, thread, "not enough memory for the query result");
		}
	} else {
		const char *message = res != nullptr ? PQresultErrorMessage(res) : PQerrorMessage(conn);
		nargs = push_lua_failure(L, thread, first_line(message));
	}
	run->complete(nargs);
}

void fail_pg_query(lua_State *L, PgQuery &query, const char *message) noexcept
{
	CallbackRun *run = query.waiter;
	if (query.internal || run == nullptr)
		return;
	query.waiter = nullptr;
	run->complete(push_lua_failure(L, run->thread(), message));
}

} // namespace myproxy
