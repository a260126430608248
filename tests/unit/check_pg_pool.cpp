// Unit tests for worker/pg_pool against a real PostgreSQL (fixture): the connection cap (queries
// waiting beyond it share the connections, never a connection more), the idle sweep (extras close
// once idle, the primary stays, a swept extra is reused), the reconnect back-off (delays double up
// to their cap while nothing listens, queries are refused meanwhile), the immediate reconnect after
// a lost connection, and the connect timeout against a server that never answers.  The pool's
// policy is shrunk to milliseconds (PgPoolPolicy); what is asserted is the pool's census and
// PostgreSQL's pg_stat_activity, never a duration.  Then the
// worker's LuaPgHost: db:listen() handlers that wait in db:execute(), fail, or listen at run time.
// Before <check.h>, whose fail() macro PgConnection's declaration would trip over.
#include "worker/pg_pool.hpp"
#include "worker/lua_pg_host.hpp"
#include "tests/fixture/postgres_server.hpp"
// Standard headers before the first <check.h>, which the next two include.
#include "tests/unit/lua_runtime_harness.hpp"
#include "tests/fixture/shared_servers.hpp"

#include <systemd/sd-event.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>
// Last: <check.h> (through it) must follow the standard headers.
#include "tests/check_main.hpp"

using namespace myproxy;
using namespace myproxy::test;

namespace {

/* db:execute() of the script reaches the one pool under test. */
struct PoolDriver final : PgDriver {
	PgPool *pool = nullptr;
	AsyncOperation *execute(unsigned, CallbackRun &waiter, const char *sql, int nparams, const char *const *values,
				char *error, std::size_t error_size) noexcept override
	{
		return pool->execute(waiter, sql, nparams, values, error, error_size);
	}
	void listen(unsigned, const char *channel) noexcept override { pool->listen(channel); }
};

struct IgnoredNotifies final : PgPool::NotifyHandler {
	void on_pg_notify(unsigned, const char *, const char *) noexcept override {}
};

/* run_query(sql) -> "ok <first value>" or "error: <message>". */
const char *const script_body =
	"function run_query(sql)\n"
	"  local r, e = db:execute(sql)\n"
	"  if not r then return 'error: ' .. tostring(e) end\n"
	"  local row = r:fetch({}, 'n')\n"
	"  return 'ok ' .. tostring(row and row[1])\n"
	"end\n"
	"return {}\n";

/* One pool on a real event loop, its database given by @conninfo. */
struct PoolBench {
	std::string script;
	std::unique_ptr<Harness> harness;
	sd_event *event = nullptr;
	PoolDriver driver;
	IgnoredNotifies notifies;
	std::unique_ptr<PgPool> pool;
	std::vector<std::unique_ptr<CallbackRun>> runs;

	PoolBench(const std::string &conninfo, const PgPoolPolicy &policy)
		: script("db = pg:new([==[" + conninfo + "]==])\n" + script_body)
	{
		harness = std::make_unique<Harness>(script.c_str());
		ck_assert_int_ge(sd_event_new(&event), 0);
		std::vector<PgDatabaseConfig> databases = lua_pg_databases(harness->L);
		ck_assert_uint_eq(databases.size(), 1);
		pool = std::make_unique<PgPool>(event, harness->L, 0, databases[0], notifies, policy);
		driver.pool = pool.get();
		set_lua_pg_driver(harness->L, &driver);
		pool->start();
	}
	~PoolBench()
	{
		runs.clear();
		set_lua_pg_driver(harness->L, nullptr);
		pool.reset();
		sd_event_unref(event);
	}

	/* Starts run_query(@sql) in a callback of its own; it suspends in db:execute() or ends at
	 * once when the pool refuses the query. */
	CallbackRun &start_query(const char *sql)
	{
		lua_State *L = harness->L;
		runs.push_back(std::make_unique<CallbackRun>(L));
		lua_getglobal(L, "run_query");
		lua_pushstring(L, sql);
		runs.back()->start_function("run_query", 1);
		return *runs.back();
	}

	/* Turns the loop one event at a time until @done, calling @each first and after every event;
	 * false after the safety net (generous, scaled by CK_TIMEOUT_MULTIPLIER). */
	bool run_until(const std::function<bool()> &done, const std::function<void()> &each = {})
	{
		const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(30 * timeout_multiplier());
		if (each)
			each();
		while (!done()) {
			if (std::chrono::steady_clock::now() > limit)
				return false;
			ck_assert_int_ge(sd_event_run(event, 100'000), 0);
			if (each)
				each();
		}
		return true;
	}
};

std::string result_of(const CallbackRun &run)
{
	ck_assert_msg(run.status() == CallbackStatus::finished, "callback: %s", run.error().c_str());
	const char *text = lua_tostring(run.thread(), -1);
	return text != nullptr ? text : "(no string)";
}

bool all_finished(const std::vector<std::unique_ptr<CallbackRun>> &runs)
{
	return std::all_of(runs.begin(), runs.end(),
			   [](const std::unique_ptr<CallbackRun> &r) { return r->status() != CallbackStatus::suspended; });
}

std::string conninfo_as(const std::string &application)
{
	const PgServer &pg = shared_postgres();
	return "hostaddr=127.0.0.1 port=" + std::to_string(pg.port()) + " dbname=postgres user=postgres application_name=" +
	       application;
}

/* Backends PostgreSQL has open for @application. */
int backends_of(const std::string &application)
{
	const auto count = shared_postgres().execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
						     application + "'");
	ck_assert(count.has_value());
	return std::stoi(*count);
}

/* A port on 127.0.0.1 nothing listens on: bound, never listened on, closed. */
std::uint16_t refusing_port()
{
	const int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	sockaddr_in address{};
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof(address)), 0);
	socklen_t length = sizeof(address);
	ck_assert_int_eq(getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length), 0);
	close(fd);
	return ntohs(address.sin_port);
}

} // namespace

START_TEST(test_cap_sweep_and_reuse)
{
	PgPoolPolicy policy;
	policy.connections_max = 3;
	policy.extra_idle_usec = 200'000;
	PoolBench bench(conninfo_as("pool_cap"), policy);
	ck_assert(bench.run_until([&] { return bench.pool->census().ready == 1; }));

	/* Six slow queries at once: the pool grows to its cap of three, never beyond. */
	for (int i = 0; i < 6; ++i)
		bench.start_query("SELECT 1 FROM pg_sleep(0.3)");
	std::size_t most = 0;
	int most_backends = 0;
	ck_assert(bench.run_until([&] { return all_finished(bench.runs); }, [&] {
		const PgPoolCensus c = bench.pool->census();
		const std::size_t open = c.ready + c.connecting;
		most = std::max(most, open);
		if (c.ready == 3 && most_backends == 0)
			most_backends = backends_of("pool_cap");
		ck_assert_uint_le(c.ready + c.connecting + c.down, policy.connections_max);
	}));
	for (const auto &run : bench.runs)
		assert_str_eq(result_of(*run), "ok 1");
	ck_assert_uint_eq(most, 3);
	ck_assert_int_eq(most_backends, 3);

	/* Idle now: the sweep closes both extras, the primary stays. */
	ck_assert(bench.run_until([&] { return bench.pool->census().down == 2; }));
	PgPoolCensus swept = bench.pool->census();
	ck_assert_uint_eq(swept.ready, 1);
	ck_assert_uint_eq(swept.connecting, 0);
	ck_assert(bench.run_until([] { return backends_of("pool_cap") == 1; }));

	/* Two queries at once again: a swept extra connects anew (no fourth connection). */
	bench.runs.clear();
	bench.start_query("SELECT 2 FROM pg_sleep(0.3)");
	bench.start_query("SELECT 3 FROM pg_sleep(0.3)");
	std::size_t reopened = 0;
	ck_assert(bench.run_until([&] { return all_finished(bench.runs); }, [&] {
		const PgPoolCensus c = bench.pool->census();
		reopened = std::max(reopened, c.ready + c.connecting);
		ck_assert_uint_eq(c.ready + c.connecting + c.down, 3);
	}));
	assert_str_eq(result_of(*bench.runs[0]), "ok 2");
	assert_str_eq(result_of(*bench.runs[1]), "ok 3");
	ck_assert_uint_eq(reopened, 2);
}
END_TEST

START_TEST(test_backoff_doubles_to_its_cap)
{
	PgPoolPolicy policy;
	policy.retry_first_delay_usec = 2'000;
	policy.retry_max_delay_usec = 16'000;
	const std::string conninfo = "hostaddr=127.0.0.1 port=" + std::to_string(refusing_port()) + " dbname=x user=x";
	PoolBench bench(conninfo, policy);

	/* The delay armed after each failed attempt, by the number of failures in a row. */
	std::vector<std::uint64_t> delays;
	bool refused_checked = false;
	ck_assert(bench.run_until([&] { return delays.size() >= 7; }, [&] {
		const PgPoolCensus c = bench.pool->census();
		if (c.retry_delay_usec == 0 || c.failures <= delays.size())
			return;
		ck_assert_uint_eq(c.failures, delays.size() + 1); /* no attempt went unseen */
		ck_assert_uint_eq(c.ready, 0);
		delays.push_back(c.retry_delay_usec);
		if (!refused_checked) {
			/* While the primary waits for its retry, a query is refused at once. */
			CallbackRun &run = bench.start_query("SELECT 1");
			const std::string result = result_of(run);
			assert_contains(result, "error: PostgreSQL connection is down: ");
			assert_contains(result, "refused");
			refused_checked = true;
		}
	}));
	const std::vector<std::uint64_t> expected = {2'000, 4'000, 8'000, 16'000, 16'000, 16'000, 16'000};
	for (std::size_t i = 0; i < expected.size(); ++i)
		ck_assert_msg(delays[i] == expected[i], "after failure %zu: %llu us, expected %llu", i + 1,
			      static_cast<unsigned long long>(delays[i]), static_cast<unsigned long long>(expected[i]));
}
END_TEST

/* A server that accepts the connection and never answers: the attempt ends at the connect timeout,
 * which counts as a failure and is the reason a query is refused meanwhile. */
START_TEST(test_connect_timeout)
{
	const int deaf = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(deaf, 0);
	sockaddr_in address{};
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(deaf, reinterpret_cast<sockaddr *>(&address), sizeof(address)), 0);
	ck_assert_int_eq(listen(deaf, 4), 0); /* the kernel completes the handshake; nobody reads */
	socklen_t length = sizeof(address);
	ck_assert_int_eq(getsockname(deaf, reinterpret_cast<sockaddr *>(&address), &length), 0);
	PgPoolPolicy policy;
	policy.connect_timeout_usec = 50'000;
	policy.retry_first_delay_usec = 3'600'000'000;
	PoolBench bench("hostaddr=127.0.0.1 port=" + std::to_string(ntohs(address.sin_port)) + " dbname=x user=x", policy);
	ck_assert_uint_eq(bench.pool->census().connecting, 1);
	ck_assert(bench.run_until([&] { return bench.pool->census().failures == 1; }));
	CallbackRun &run = bench.start_query("SELECT 1");
	assert_str_eq(result_of(run), "error: PostgreSQL connection is down: connect timeout");
	close(deaf);

	/* libpq refuses the conninfo before any socket: the same failure, at once. */
	PoolBench bad("hostaddr=not-an-address dbname=x user=x", policy);
	ck_assert_uint_eq(bad.pool->census().failures, 1);
	CallbackRun &refused = bad.start_query("SELECT 1");
	assert_contains(result_of(refused), "error: PostgreSQL connection is down: could not parse network address");
}
END_TEST

START_TEST(test_lost_connection_reconnects_at_once)
{
	PgPoolPolicy policy;
	/* A back-off this long would stop the test: the reconnect must not wait for it. */
	policy.retry_first_delay_usec = 3'600'000'000;
	PoolBench bench(conninfo_as("pool_lost"), policy);
	ck_assert(bench.run_until([&] { return bench.pool->census().ready == 1; }));

	CallbackRun &slow = bench.start_query("SELECT 1 FROM pg_sleep(60)");
	ck_assert(slow.status() == CallbackStatus::suspended);
	ck_assert(bench.run_until([] {
		return shared_postgres().execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pool_lost' "
						 "AND query LIKE '%pg_sleep(60)%'") == std::optional<std::string>("1");
	}, [] {}));
	shared_postgres().execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pool_lost'");

	/* The query in flight fails with the cause; the primary connects again without a timer. */
	bool armed = false;
	ck_assert(bench.run_until([&] { return slow.status() != CallbackStatus::suspended; },
				  [&] { armed = armed || bench.pool->census().retry_delay_usec != 0; }));
	assert_contains(result_of(slow), "error: PostgreSQL connection lost: ");
	ck_assert(bench.run_until([&] { return bench.pool->census().ready == 1; },
				  [&] { armed = armed || bench.pool->census().retry_delay_usec != 0; }));
	ck_assert(!armed);
	ck_assert_uint_eq(bench.pool->census().failures, 0);
	CallbackRun &again = bench.start_query("SELECT 42");
	ck_assert(bench.run_until([&] { return again.status() != CallbackStatus::suspended; }));
	assert_str_eq(result_of(again), "ok 42");
}
END_TEST

/* What a connection refuses or reports: COPY (which would wedge it) fails the query and costs the
 * connection, which the pool opens again at once; of several statements the first error counts. */
START_TEST(test_copy_refused_and_first_error_counts)
{
	PoolBench bench(conninfo_as("pool_copy"), PgPoolPolicy{});
	ck_assert(bench.run_until([&] { return bench.pool->census().ready == 1; }));
	CallbackRun &copy = bench.start_query("COPY (SELECT 1) TO STDOUT");
	ck_assert(bench.run_until([&] { return copy.status() != CallbackStatus::suspended; }));
	assert_str_eq(result_of(copy), "error: PostgreSQL connection lost: COPY is not supported");
	ck_assert(bench.run_until([&] { return bench.pool->census().ready == 1; }));

	CallbackRun &multi = bench.start_query("SELECT 1/0; SELECT 2");
	ck_assert(bench.run_until([&] { return multi.status() != CallbackStatus::suspended; }));
	assert_contains(result_of(multi), "division by zero");
	CallbackRun &after = bench.start_query("SELECT 3; SELECT 4");
	ck_assert(bench.run_until([&] { return after.status() != CallbackStatus::suspended; }));
	assert_str_eq(result_of(after), "ok 4");
}
END_TEST

/* Runs @code in the harness's state and returns its string result. */
static std::string lua_text(lua_State *L, const char *code)
{
	ck_assert_msg(luaL_dostring(L, code) == LUA_OK, "%s", lua_tostring(L, -1));
	std::string text = lua_tostring(L, -1) != nullptr ? lua_tostring(L, -1) : "";
	lua_pop(L, 1);
	return text;
}

/* Whether the connection named @application last ran @query (LISTEN issued). */
static bool last_query_is(const std::string &application, const std::string &query)
{
	return shared_postgres().execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + application +
					 "' AND query = '" + query + "'") == std::optional<std::string>("1");
}

/* The worker's LuaPgHost: NOTIFYs run db:listen() handlers in coroutines that may wait in
 * db:execute(); a failing handler is logged; a handler may db:listen() another channel at run
 * time. */
START_TEST(test_listen_handlers)
{
	const std::string script = "db = pg:new([==[" + conninfo_as("pool_notify") + "]==])\n"
		"got = {}\n"
		"db:listen('chan', function(payload, channel)\n"
		"  if payload == 'boom' then error('handler boom') end\n"
		"  local r, e = db:execute('SELECT 41 + 1')\n"
		"  got[#got + 1] = channel .. ':' .. payload .. ':' .. tostring(r and r:fetch({}, 'n')[1] or e)\n"
		"  if payload == 'more' then db:listen('late', function(p) got[#got + 1] = 'late:' .. p end) end\n"
		"end)\n"
		"return {}\n";
	Harness h(script.c_str());
	sd_event *event = nullptr;
	ck_assert_int_ge(sd_event_new(&event), 0);
	std::fflush(stderr);
	char log_path[] = "/tmp/myproxy-pg-host-XXXXXX";
	const int log = mkstemp(log_path);
	ck_assert_int_ge(log, 0);
	const int saved_stderr = dup(2);
	dup2(log, 2);
	close(log);
	{
		LuaPgHost host(event, h.L);
		const auto run_until = [&](const std::function<bool()> &done) {
			const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(30 * timeout_multiplier());
			while (!done() && std::chrono::steady_clock::now() < limit)
				ck_assert_int_ge(sd_event_run(event, 100'000), 0);
			return done();
		};
		const auto got = [&] { return lua_text(h.L, "return table.concat(got, ',')"); };
		ck_assert(run_until([] { return last_query_is("pool_notify", "LISTEN \"chan\""); }));
		shared_postgres().execute("NOTIFY chan, 'one'");
		ck_assert(run_until([&] { return got() == "chan:one:42"; }));
		shared_postgres().execute("NOTIFY chan, 'boom'");
		shared_postgres().execute("NOTIFY chan, 'more'");
		ck_assert(run_until([&] { return got() == "chan:one:42,chan:more:42"; }));
		ck_assert(run_until([] { return last_query_is("pool_notify", "LISTEN \"late\""); }));
		shared_postgres().execute("NOTIFY late, 'x'");
		ck_assert(run_until([&] { return got() == "chan:one:42,chan:more:42,late:x"; }));
	}
	dup2(saved_stderr, 2);
	close(saved_stderr);
	std::ifstream in(log_path);
	const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
	unlink(log_path);
	sd_event_unref(event);
	assert_contains(text, "db:listen() handler of chan failed: config.lua:4: handler boom");
}
END_TEST

int main()
{
	Suite *suite = suite_create("pg_pool");
	TCase *tc = server_tcase("pool", 120);
	tcase_add_test(tc, test_cap_sweep_and_reuse);
	tcase_add_test(tc, test_backoff_doubles_to_its_cap);
	tcase_add_test(tc, test_connect_timeout);
	tcase_add_test(tc, test_lost_connection_reconnects_at_once);
	tcase_add_test(tc, test_copy_refused_and_first_error_counts);
	tcase_add_test(tc, test_listen_handlers);
	suite_add_tcase(suite, tc);
	SharedServerSpec spec;
	spec.mariadb_count = 0;
	spec.postgres = true;
	return run_suites_with_servers(spec, {suite});
}
