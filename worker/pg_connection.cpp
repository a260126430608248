// PgConnection (see pg_connection.hpp).  States: down (waiting for a retry), connecting
// (PQconnectPoll driven by the socket, bounded by the timer), ready (queries, one in flight).
// During the connect the io source is made anew after every poll step, because libpq may close
// its socket and open another under the same number, which epoll would silently forget.
#include "worker/pg_connection.hpp"

#include "common/log.hpp"

#include <libpq-fe.h>
#include <lua.hpp>
#include <systemd/sd-event.h>

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

/* Pushes nil, @message on the waiting coroutine @thread, building the string on @L (lua_pcall
 * works only there). */
int push_error(lua_State *L, lua_State *thread, std::string_view message) noexcept
{
	if (!lua_checkstack(thread, 2))
		return 0;
	lua_pushnil(thread);
	if (!push_lua_string(L, message))
		return 1;
	lua_xmove(L, thread, 1);
	return 2;
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
			if (!one.empty() && one[0] != '/' && one[0] != '@' &&
			    one.find_first_not_of("0123456789.:abcdefABCDEF") != std::string::npos) {
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

PgConnection::PgConnection(sd_event *loop, lua_State *lua, unsigned database, PgDatabaseConfig database_config,
			   NotifyHandler &notify_handler)
	: event(loop), L(lua), index(database), config(std::move(database_config)), handler(notify_handler)
{
}

PgConnection::~PgConnection()
{
	/* Callbacks still waiting are the worker's to end; nothing is resumed from here. */
	for (auto &query : queue)
		query->waiter = nullptr;
	if (in_flight)
		in_flight->waiter = nullptr;
	drop_connection();
	timer = sd_event_source_disable_unref(timer);
}

void PgConnection::log_warning_line(const char *format, ...) const noexcept
{
	char text[1024];
	va_list args;
	va_start(args, format);
	std::vsnprintf(text, sizeof(text), format, args);
	va_end(args);
	log_warning("pg connection %u: %s", index + 1, text);
}

void PgConnection::start() noexcept
{
	connect();
}

/* --- connecting ---------------------------------------------------------------------------- */

void PgConnection::connect() noexcept
{
	drop_connection();
	state = State::connecting;
	conn = PQconnectStart(config.conninfo.c_str());
	if (conn == nullptr) {
		connect_failed("out of memory");
		return;
	}
	if (PQstatus(conn) == CONNECTION_BAD) {
		connect_failed(std::string(first_line(PQerrorMessage(conn))).c_str());
		return;
	}
	if (!arm_timer(pg_connect_timeout_usec)) {
		connect_failed("cannot arm the connect timer");
		return;
	}
	/* As if PQconnectPoll() had asked to write (libpq's documented start). */
	if (!watch(EPOLLOUT))
		connect_failed("cannot watch the socket");
}

bool PgConnection::watch(std::uint32_t events) noexcept
{
	io = sd_event_source_disable_unref(io);
	const int fd = PQsocket(conn);
	if (fd < 0)
		return false;
	return sd_event_add_io(event, &io, fd, events, on_io, this) >= 0;
}

bool PgConnection::arm_timer(std::uint64_t usec) noexcept
{
	timer = sd_event_source_disable_unref(timer);
	return sd_event_add_time_relative(event, &timer, CLOCK_MONOTONIC, usec, 1000, on_timer, this) >= 0;
}

void PgConnection::connect_poll() noexcept
{
	switch (PQconnectPoll(conn)) {
	case PGRES_POLLING_OK:
		connected();
		return;
	case PGRES_POLLING_READING:
		if (!watch(EPOLLIN))
			connect_failed("cannot watch the socket");
		return;
	case PGRES_POLLING_WRITING:
		if (!watch(EPOLLOUT))
			connect_failed("cannot watch the socket");
		return;
	default:
		connect_failed(std::string(first_line(PQerrorMessage(conn))).c_str());
		return;
	}
}

void PgConnection::connected() noexcept
{
	timer = sd_event_source_disable_unref(timer);
	if (PQsetnonblocking(conn, 1) != 0 || !watch(EPOLLIN)) {
		connection_lost("cannot switch the connection to non-blocking mode");
		return;
	}
	state = State::ready;
	if (failures > 0)
		log_info("pg connection %u: connected again after %u failed attempts", index + 1, failures);
	failures = 0;
	last_error.clear();
	try {
		/* In reverse: each goes to the front, before the script's queries. */
		for (auto channel = config.channels.rbegin(); channel != config.channels.rend(); ++channel) {
			char *quoted = PQescapeIdentifier(conn, channel->data(), channel->size());
			if (quoted == nullptr)
				continue;
			queue_internal(std::string("LISTEN ") + quoted, true);
			PQfreemem(quoted);
		}
		if (!config.schema.empty()) {
			char *quoted = PQescapeIdentifier(conn, config.schema.data(), config.schema.size());
			if (quoted != nullptr) {
				queue_internal(std::string("SET search_path TO ") + quoted, true);
				PQfreemem(quoted);
			}
		}
	} catch (const std::bad_alloc &) {
		connection_lost("out of memory");
		return;
	}
	send_next();
}

void PgConnection::connect_failed(const char *message) noexcept
{
	++failures;
	try {
		last_error = message;
	} catch (const std::bad_alloc &) {
	}
	log_warning_line("cannot connect: %s", message);
	drop_connection();
	state = State::down;
	/* Who waits for this attempt learns at once; nobody waits for the next one. */
	fail_queued(message);
	schedule_retry();
}

void PgConnection::connection_lost(const char *message) noexcept
{
	try {
		last_error = message;
	} catch (const std::bad_alloc &) {
	}
	log_warning_line("connection lost: %s", message);
	std::unique_ptr<Query> query = std::move(in_flight);
	drop_connection();
	state = State::down;
	/* Our own queries are queued again on the next connect; the script's wait for it. */
	std::erase_if(queue, [](const std::unique_ptr<Query> &q) { return q->internal; });
	schedule_retry();
	/* Last: the resumed callback may send queries (they wait for the attempt just started). */
	if (query) {
		char text[512];
		std::snprintf(text, sizeof(text), "PostgreSQL connection lost: %s", message);
		fail_query(*query, text);
	}
}

void PgConnection::drop_connection() noexcept
{
	io = sd_event_source_disable_unref(io);
	if (result != nullptr) {
		PQclear(result);
		result = nullptr;
	}
	if (conn != nullptr) {
		PQfinish(conn);
		conn = nullptr;
	}
}

void PgConnection::schedule_retry() noexcept
{
	if (failures == 0) {
		connect();
		return;
	}
	std::uint64_t delay = pg_retry_first_delay_usec;
	for (unsigned i = 1; i < failures && delay < pg_retry_max_delay_usec; ++i)
		delay *= 2;
	delay = std::min(delay, pg_retry_max_delay_usec);
	if (!arm_timer(delay))
		log_warning_line("cannot arm the reconnect timer; giving up");
}

int PgConnection::on_timer(sd_event_source *, std::uint64_t, void *userdata)
{
	auto &c = *static_cast<PgConnection *>(userdata);
	c.timer = sd_event_source_disable_unref(c.timer);
	if (c.state == State::connecting)
		c.connect_failed("connect timeout");
	else if (c.state == State::down)
		c.connect();
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

AsyncOperation *PgConnection::execute(CallbackRun &waiter, const char *sql, int nparams, const char *const *values,
				      char *error, std::size_t error_size) noexcept
{
	if (state == State::down) {
		copy_message(error, error_size, "PostgreSQL connection is down: %s",
			     last_error.empty() ? "not connected" : last_error.c_str());
		return nullptr;
	}
	try {
		auto query = std::make_unique<Query>();
		query->waiter = &waiter;
		query->sql = sql;
		query->params.resize(std::size_t(nparams));
		query->values.resize(std::size_t(nparams));
		for (int i = 0; i < nparams; ++i) {
			if (values[i] != nullptr)
				query->params[std::size_t(i)] = values[i];
		}
		/* Only now: the strings no longer move. */
		for (int i = 0; i < nparams; ++i)
			query->values[std::size_t(i)] = values[i] != nullptr ? query->params[std::size_t(i)].c_str() : nullptr;
		Query *operation = query.get();
		queue.push_back(std::move(query));
		send_next();
		return operation;
	} catch (const std::bad_alloc &) {
		copy_message(error, error_size, "%s", "out of memory");
		return nullptr;
	}
}

void PgConnection::listen(const char *channel) noexcept
{
	try {
		config.channels.emplace_back(channel);
		if (state != State::ready)
			return;
		char *quoted = PQescapeIdentifier(conn, channel, std::strlen(channel));
		if (quoted == nullptr)
			return;
		std::string sql = std::string("LISTEN ") + quoted;
		PQfreemem(quoted);
		queue_internal(std::move(sql), false);
	} catch (const std::bad_alloc &) {
		log_warning_line("out of memory; not listening on %s", channel);
		return;
	}
	send_next();
}

void PgConnection::queue_internal(std::string sql, bool front)
{
	auto query = std::make_unique<Query>();
	query->internal = true;
	query->sql = std::move(sql);
	if (front)
		queue.push_front(std::move(query));
	else
		queue.push_back(std::move(query));
}

void PgConnection::send_next() noexcept
{
	while (state == State::ready && !in_flight && !queue.empty()) {
		std::unique_ptr<Query> query = std::move(queue.front());
		queue.pop_front();
		if (!query->internal && query->waiter == nullptr)
			continue; /* abandoned before it was sent */
		int sent;
		if (query->internal) {
			sent = PQsendQuery(conn, query->sql.c_str());
		} else {
			sent = PQsendQueryParams(conn, query->sql.c_str(), int(query->values.size()), nullptr,
						 query->values.data(), nullptr, nullptr, 0);
		}
		if (sent == 0) {
			const std::string message(first_line(PQerrorMessage(conn)));
			if (PQstatus(conn) == CONNECTION_BAD) {
				in_flight = std::move(query);
				connection_lost(message.c_str());
				return;
			}
			fail_query(*query, message.c_str());
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
		connection_lost(std::string(first_line(PQerrorMessage(conn))).c_str());
		return;
	}
	if (sd_event_source_set_io_events(io, EPOLLIN | (r > 0 ? std::uint32_t(EPOLLOUT) : 0u)) < 0)
		connection_lost("cannot watch the socket");
}

void PgConnection::receive() noexcept
{
	if (PQconsumeInput(conn) == 0) {
		connection_lost(std::string(first_line(PQerrorMessage(conn))).c_str());
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
			connection_lost("COPY is not supported");
			return;
		}
		/* Of several statements the last result counts, unless an earlier one failed. */
		const bool keep_old = result != nullptr && PQresultStatus(result) == PGRES_FATAL_ERROR;
		if (keep_old) {
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
		handler.on_pg_notify(index, notify->relname, notify->extra != nullptr ? notify->extra : "");
		PQfreemem(notify);
	}
}

void PgConnection::finish_query() noexcept
{
	std::unique_ptr<Query> query = std::move(in_flight);
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
	send_next();
}

void PgConnection::deliver(Query &query, PGresult *res) noexcept
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
			nargs = push_error(L, thread, "not enough memory for the query result");
		}
	} else {
		const char *message = res != nullptr ? PQresultErrorMessage(res) : PQerrorMessage(conn);
		nargs = push_error(L, thread, first_line(message));
	}
	run->complete(nargs);
}

void PgConnection::fail_query(Query &query, const char *message) noexcept
{
	CallbackRun *run = query.waiter;
	if (query.internal || run == nullptr)
		return;
	query.waiter = nullptr;
	run->complete(push_error(L, run->thread(), message));
}

void PgConnection::fail_queued(const char *message) noexcept
{
	char text[512];
	std::snprintf(text, sizeof(text), "PostgreSQL connection failed: %s", message);
	/* Taken out first: a resumed callback may queue new queries, which must wait for the next
	 * attempt (they are refused while the connection is down). */
	std::deque<std::unique_ptr<Query>> failed;
	failed.swap(queue);
	for (auto &query : failed)
		fail_query(*query, text);
}

} // namespace myproxy
