// Unit tests for the Lua side of `pg` (lua/lua_pg*): pg:new() and db:listen() records, db:execute()
// parameter conversion, suspension and completion through CallbackRun, result objects (fetch modes,
// NULLs, counts, names), errors as nil+message, misuse as Lua errors, abandoned queries, and
// pg:encode_array()/pg:decode_array().  The worker's part (worker/pg_connection) is played by a
// recording PgDriver here; tests/integration/check_proxy_pg runs the real one against PostgreSQL.
#include "tests/unit/lua_runtime_harness.hpp"
#include "tests/check_main.hpp"

#include <optional>
#include <string>
#include <vector>

using namespace myproxy;
using namespace myproxy::test;

namespace {

struct TestOperation final : AsyncOperation {
	bool abandoned = false;
	void abandon() noexcept override { abandoned = true; }
};

struct RecordingDriver final : PgDriver {
	unsigned database = 99;
	std::string sql;
	std::vector<std::optional<std::string>> params;
	std::vector<std::string> listened;
	CallbackRun *waiter = nullptr;
	TestOperation operation;
	const char *refuse = nullptr;
	bool simple = false;

	AsyncOperation *execute(unsigned db, CallbackRun &run, const char *text, int nparams, const char *const *values,
				char *error, std::size_t error_size) noexcept override
	{
		if (refuse != nullptr) {
			std::snprintf(error, error_size, "%s", refuse);
			return nullptr;
		}
		database = db;
		sql = text;
		simple = nparams < 0;
		params.clear();
		for (int i = 0; i < nparams; ++i)
			params.push_back(values[i] != nullptr ? std::optional<std::string>(values[i]) : std::nullopt);
		waiter = &run;
		return &operation;
	}
	void listen(unsigned db, const char *channel) noexcept override
	{
		listened.push_back(std::to_string(db) + ":" + channel);
	}
};

/* A two-row result: (id, name) = (1, 'alice'), (2, NULL). */
struct SampleResult final : PgResultView {
	std::size_t rows() const noexcept override { return 2; }
	std::size_t columns() const noexcept override { return 2; }
	std::string_view column_name(std::size_t c) const noexcept override { return c == 0 ? "id" : "name"; }
	bool is_null(std::size_t r, std::size_t c) const noexcept override { return r == 1 && c == 1; }
	std::string_view value(std::size_t r, std::size_t c) const noexcept override
	{
		return c == 0 ? (r == 0 ? "1" : "2") : "alice";
	}
	long long affected_rows() const noexcept override { return 2; }
};

const char *const script =
	"db = pg:new('hostaddr=127.0.0.1 dbname=x', 'accounts')\n"
	"other = pg:new('host=/run/postgresql')\n"
	"db:listen('changes', function(payload) notified = payload end)\n"
	"return {\n"
	"  on_handshake_response = function() end,\n"
	"  on_connect = function(client)\n"
	"    local r, e = db:execute('SELECT $1', {'s', 42, -7, 1.5, true, false, nil, 2^53, 0/0, 1/0, n = 11})\n"
	"    if not r then return client:err('error: ' .. e) end\n"
	"    local parts = {tostring(r), r:numrows(), r:numcols(), table.concat(r:getcolnames(), ','),\n"
	"                   r:affected_rows()}\n"
	"    local row = r:fetch({}, 'n')\n"
	"    parts[#parts + 1] = row[1] .. '/' .. row[2]\n"
	"    local t = {name = 'stale'}\n"
	"    row = r:fetch(t, 'a')\n"
	"    parts[#parts + 1] = row.id .. '/' .. tostring(row.name) .. '/' .. tostring(row == t)\n"
	"    parts[#parts + 1] = tostring(r:fetch())\n"
	"    parts[#parts + 1] = tostring(r:close()) .. tostring(r:close())\n"
	"    parts[#parts + 1] = tostring(pcall(r.numrows, r))\n"
	"    return client:err(table.concat(parts, ' '))\n"
	"  end,\n"
	"  on_command_phase = function(client)\n"
	"    local r = other:execute('SELECT 1')\n"
	"    local ok, e = pcall(function() r:fetch({}, 'x') end)\n"
	"    return client:err(tostring(r) .. ' ' .. e)\n"
	"  end,\n"
	"  on_init_db = function(client, what)\n"
	"    if what == 'coroutine' then\n"
	"      return client:err(select(2, coroutine.resume(coroutine.create(function() return db:execute('x') end))))\n"
	"    elseif what == 'new' then pg:new('dbname=y')\n"
	"    elseif what == 'table' then db:execute('x', {{}})\n"
	"    elseif what == 'nul' then db:execute('x', {'a\\0b'})\n"
	"    elseif what == 'listen' then db:listen('later', print); db:listen('later', print)\n"
	"    end\n"
	"    return client:err('done')\n"
	"  end,\n"
	"}\n";

void complete_with_result(Harness &h, RecordingDriver &driver)
{
	SampleResult sample;
	ck_assert(push_pg_result(h.L, sample));
	lua_xmove(h.L, driver.waiter->thread(), 1);
	driver.waiter->complete(1);
}

std::string err_message(const CallbackRun &run)
{
	LuaAction action = take_action(run, on_init_db_rules);
	return std::get<ErrAction>(action).message;
}

} // namespace

START_TEST(test_top_level_records)
{
	Harness h(script);
	const std::vector<PgDatabaseConfig> dbs = lua_pg_databases(h.L);
	ck_assert_uint_eq(dbs.size(), 2);
	assert_str_eq(dbs[0].conninfo, "hostaddr=127.0.0.1 dbname=x");
	assert_str_eq(dbs[0].schema, "accounts");
	ck_assert_uint_eq(dbs[0].channels.size(), 1);
	assert_str_eq(dbs[0].channels[0], "changes");
	assert_str_eq(dbs[1].schema, "");
	ck_assert(push_lua_pg_listener(h.L, 0, "changes"));
	ck_assert_int_eq(lua_type(h.L, -1), LUA_TFUNCTION);
	lua_pop(h.L, 1);
	ck_assert(!push_lua_pg_listener(h.L, 0, "unknown"));
	ck_assert(!push_lua_pg_listener(h.L, 7, "changes"));
}
END_TEST

START_TEST(test_execute_suspends_and_fetches)
{
	Harness h(script);
	RecordingDriver driver;
	set_lua_pg_driver(h.L, &driver);
	CallbackRun run(h.L);
	h.start(run, "on_connect");
	ck_assert_msg(run.status() == CallbackStatus::suspended, "%s", run.error().c_str());
	ck_assert_uint_eq(driver.database, 0);
	assert_str_eq(driver.sql, "SELECT $1");
	ck_assert(!driver.simple);
	const char *expected[] = {"s", "42", "-7", "1.5", "1", "0", nullptr, "9007199254740992", "NaN", "Infinity", nullptr};
	ck_assert_uint_eq(driver.params.size(), 11);
	for (std::size_t i = 0; i < 11; ++i) {
		if (expected[i] == nullptr)
			ck_assert_msg(!driver.params[i], "param %zu is not NULL", i + 1);
		else
			ck_assert_msg(driver.params[i] && *driver.params[i] == expected[i], "param %zu is '%s'", i + 1,
				      driver.params[i] ? driver.params[i]->c_str() : "NULL");
	}
	complete_with_result(h, driver);
	ck_assert(!driver.operation.abandoned);
	LuaAction action = take_action(run, on_connect_rules);
	assert_str_eq(std::get<ErrAction>(action).message,
		      "pg result (2 rows, 2 columns) 2 2 id,name 2 1/alice 2/nil/true nil truefalse false");
	set_lua_pg_driver(h.L, nullptr);
}
END_TEST

START_TEST(test_error_result_and_bad_mode)
{
	Harness h(script);
	RecordingDriver driver;
	set_lua_pg_driver(h.L, &driver);
	CallbackRun run(h.L);
	h.start(run, "on_connect");
	ck_assert(run.status() == CallbackStatus::suspended);
	lua_State *thread = driver.waiter->thread();
	lua_pushnil(thread);
	lua_pushstring(thread, "ERROR:  relation \"x\" does not exist");
	driver.waiter->complete(2);
	LuaAction action = take_action(run, on_connect_rules);
	assert_str_eq(std::get<ErrAction>(action).message, "error: ERROR:  relation \"x\" does not exist");

	CallbackRun second(h.L);
	h.start(second, "on_command_phase");
	ck_assert(second.status() == CallbackStatus::suspended);
	ck_assert_uint_eq(driver.database, 1);
	ck_assert(driver.simple);
	complete_with_result(h, driver);
	LuaAction refused = take_action(second, on_command_phase_rules);
	assert_contains(std::get<ErrAction>(refused).message, "mode must be \"n\" or \"a\"");
	set_lua_pg_driver(h.L, nullptr);
}
END_TEST

START_TEST(test_connection_down_and_abandon)
{
	Harness h(script);
	RecordingDriver driver;
	set_lua_pg_driver(h.L, &driver);
	driver.refuse = "PostgreSQL connection is down: connection refused";
	CallbackRun down(h.L);
	h.start(down, "on_connect");
	LuaAction action = take_action(down, on_connect_rules);
	assert_str_eq(std::get<ErrAction>(action).message, "error: PostgreSQL connection is down: connection refused");

	driver.refuse = nullptr;
	{
		CallbackRun waiting(h.L);
		h.start(waiting, "on_connect");
		ck_assert(waiting.status() == CallbackStatus::suspended);
		ck_assert(!driver.operation.abandoned);
	}
	/* The client went away: the operation learns it and never completes the gone callback. */
	ck_assert(driver.operation.abandoned);
	set_lua_pg_driver(h.L, nullptr);
}
END_TEST

START_TEST(test_misuse)
{
	Harness h(script);
	/* No driver: the top level of config.lua (master) or --check-config. */
	CallbackRun master(h.L);
	h.start(master, "on_connect");
	assert_failed(master, "db:execute() works only in a callback, in a worker");

	RecordingDriver driver;
	set_lua_pg_driver(h.L, &driver);
	CallbackRun nested(h.L);
	h.start(nested, "on_init_db", "coroutine");
	assert_contains(err_message(nested), "not inside a coroutine it created");
	CallbackRun late(h.L);
	h.start(late, "on_init_db", "new");
	assert_failed(late, "pg:new() works only at the top level of config.lua");
	CallbackRun table(h.L);
	h.start(table, "on_init_db", "table");
	assert_failed(table, "parameter $1: table cannot be a query parameter");
	CallbackRun nul(h.L);
	h.start(nul, "on_init_db", "nul");
	assert_failed(nul, "parameter $1 contains a NUL byte");
	CallbackRun listen(h.L);
	h.start(listen, "on_init_db", "listen");
	assert_str_eq(err_message(listen), "done");
	ck_assert_uint_eq(driver.listened.size(), 1);
	assert_str_eq(driver.listened[0], "0:later");
	set_lua_pg_driver(h.L, nullptr);
}
END_TEST

START_TEST(test_new_arguments)
{
	LuaState state;
	lua_State *L = state.get();
	lua_pushcfunction(L, open_lua_pg);
	ck_assert_int_eq(lua_pcall(L, 0, 0, 0), LUA_OK);
	const char *bad[][2] = {
		{"pg:new()", "string expected"},
		{"pg:new('a\\0b')", "conninfo contains a NUL byte"},
		{"pg:new('dbname=x', '')", "schema must be a non-empty name"},
		{"pg:new('dbname=x'):listen('', print)", "channel must be a non-empty name"},
		{"pg:new('dbname=x'):listen('c', 'not a function')", "function expected"},
		{"pg:new('dbname=x'):execute('SELECT 1', {n = -1})", "params.n must be an integer"},
		{"pg:new('dbname=x'):execute('SELECT 1', {[70000] = 1})", "more than 65535 parameters"},
	};
	for (const auto &[code, part] : bad) {
		ck_assert_int_eq(luaL_loadstring(L, code), LUA_OK);
		ck_assert_msg(lua_pcall(L, 0, 0, 0) != LUA_OK, "%s did not fail", code);
		assert_contains(lua_tostring(L, -1), part);
		lua_pop(L, 1);
	}
}
END_TEST

START_TEST(test_arrays)
{
	Harness h("local function check(v, want) assert(v == want, tostring(v) .. ' ~= ' .. want) end\n"
		  "check(pg:encode_array({}), '{}')\n"
		  "check(pg:encode_array({'a', 'b c', '', 'NULL', 'q\"\\\\', 1, 2.5, true}), "
		  "'{a,\"b c\",\"\",\"NULL\",\"q\\\\\"\\\\\\\\\",1,2.5,1}')\n"
		  "check(pg:encode_array({1, nil, 3}), '{1,NULL,3}')\n"
		  "check(pg:encode_array({n = 2}), '{NULL,NULL}')\n"
		  "check(pg:encode_array({{1, 2}, {3, 4}}), '{{1,2},{3,4}}')\n"
		  "local t = pg:decode_array('{a,\"b c\",NULL,\"NULL\",\"\"}')\n"
		  "assert(t.n == 5 and t[1] == 'a' and t[2] == 'b c' and t[3] == nil and t[4] == 'NULL' and t[5] == '')\n"
		  "check(pg:encode_array(t), '{a,\"b c\",NULL,\"NULL\",\"\"}')\n"
		  "local n = pg:decode_array('{{1,NULL},{3,4}}')\n"
		  "assert(n.n == 2 and n[1].n == 2 and n[1][1] == '1' and n[1][2] == nil and n[2][2] == '4')\n"
		  "check(pg:encode_array(n), '{{1,NULL},{3,4}}')\n"
		  "check(#pg:decode_array('{}'), 0)\n"
		  "for _, bad in ipairs({'', '{', '{a,,b}', '{\"x}', '{a}b', '{{1},2}', ('{'):rep(50)}) do\n"
		  "  local ok, e = pcall(pg.decode_array, pg, bad)\n"
		  "  assert(not ok and e:find('pg:decode_array%(%): pg array: '), tostring(e))\n"
		  "end\n"
		  "local loop = {}; loop[1] = loop\n"
		  "for _, bad in ipairs({{x = 1}, {print}, loop, {n = 1, 'a', 'b'}, {n = 'x'}, {n = math.tointeger(1e12)}}) do\n"
		  "  local ok, e = pcall(pg.encode_array, pg, bad)\n"
		  "  assert(not ok and e:find('pg:encode_array%(%): '), tostring(e))\n"
		  "  if bad.n == math.tointeger(1e12) then assert(e:find('more than 16777216 elements'), e) end\n"
		  "end\n"
		  "assert(not pcall(pg.encode_array, pg, 'not a table'))\n"
		  "return { on_handshake_response = function() end }\n");
	(void)h;
}
END_TEST

static Suite *lua_pg_suite()
{
	Suite *s = suite_create("lua_pg");
	TCase *tc = tcase_create("pg");
	tcase_add_test(tc, test_top_level_records);
	tcase_add_test(tc, test_execute_suspends_and_fetches);
	tcase_add_test(tc, test_error_result_and_bad_mode);
	tcase_add_test(tc, test_connection_down_and_abandon);
	tcase_add_test(tc, test_misuse);
	tcase_add_test(tc, test_new_arguments);
	tcase_add_test(tc, test_arrays);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({lua_pg_suite()});
}
