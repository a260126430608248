// Unit tests for lua/lua_code_scan: a word named by code anywhere a callback can reach (a handler
// table, a nested function, an upvalue, a module, a metatable, a suspended coroutine, a userdata's
// user value) is found; a comment, a local variable's name or a plain state are not; the limits
// (nesting too deep) answer "mentioned"; the scan leaves the state's stack as it was.
#include "lua/lua_code_scan.hpp"
#include "lua/lua_state.hpp"
#include "tests/check_main.hpp"

#include <lua.hpp>

#include <string>

using namespace myproxy;

namespace {

/* Runs @code in a fresh state with Lua's standard libraries, then scans it for "cgroup". */
bool mentions_cgroup(const std::string &code)
{
	LuaState state;
	lua_State *L = state.get();
	luaL_openlibs(L);
	ck_assert_msg(luaL_loadbufferx(L, code.data(), code.size(), "=test", "t") == LUA_OK &&
			      lua_pcall(L, 0, 0, 0) == LUA_OK,
		      "%s", lua_tostring(L, -1));
	const int top = lua_gettop(L);
	const bool found = lua_code_mentions(L, "cgroup");
	ck_assert_int_eq(lua_gettop(L), top);
	return found;
}

} // namespace

START_TEST(test_handler_field)
{
	ck_assert(mentions_cgroup("handler = { on_connect = function(client) return client.cgroup end }"));
	ck_assert(mentions_cgroup("handler = { on_connect = function(client) return client['cgroup'] end }"));
	ck_assert(mentions_cgroup("local t = setmetatable({}, {}) handler = {t, function() local x = {cgroup = 1} end}"));
}
END_TEST

START_TEST(test_reached_indirectly)
{
	/* Nested in a function's code. */
	ck_assert(mentions_cgroup("f = function() return function(c) return c.cgroup end end"));
	/* Only an upvalue of a global function. */
	ck_assert(mentions_cgroup("local function helper(c) return c.cgroup end\n"
				  "check = function(c) return helper(c) end"));
	/* A module's function, reachable through package.loaded only. */
	ck_assert(mentions_cgroup("package.loaded.policy = { f = function(c) return c.cgroup end }"));
	/* A metatable's function. */
	ck_assert(mentions_cgroup("t = setmetatable({}, { __index = function(_, c) return c.cgroup end })"));
	/* A suspended coroutine's local. */
	ck_assert(mentions_cgroup("co = coroutine.create(function()\n"
				  "  local f = load('return 1') local g = function(c) return c.cgroup end\n"
				  "  coroutine.yield() end)\n"
				  "coroutine.resume(co)"));
	/* A function kept in a table only as a key. */
	ck_assert(mentions_cgroup("keys = { [function(c) return c.cgroup end] = true }"));
}
END_TEST

START_TEST(test_not_mentioned)
{
	ck_assert(!mentions_cgroup(""));
	ck_assert(!mentions_cgroup("handler = { on_connect = function(client) return client.uid end }"));
	/* A comment and a local's name are no field access; neither survives the stripped dump. */
	ck_assert(!mentions_cgroup("-- client.cgroup\nhandler = { f = function(c) local cgroup = c.uid return cgroup end }"));
	/* The documented gap: a key built at run time. */
	ck_assert(!mentions_cgroup("handler = { f = function(c) return c['cg' .. 'roup'] end }"));
	/* Strings in data are not code: only a function that names the word counts. */
	ck_assert(!mentions_cgroup("data = { 'cgroup' }"));
}
END_TEST

START_TEST(test_limits_answer_mentioned)
{
	/* Deeper than the walk follows: it cannot tell, so it says "mentioned". */
	ck_assert(mentions_cgroup("local t = {} deep = t for i = 1, 500 do t[1] = {} t = t[1] end"));
}
END_TEST

static Suite *code_scan_suite()
{
	Suite *s = suite_create("lua_code_scan");
	TCase *tc = tcase_create("scan");
	tcase_add_test(tc, test_handler_field);
	tcase_add_test(tc, test_reached_indirectly);
	tcase_add_test(tc, test_not_mentioned);
	tcase_add_test(tc, test_limits_answer_mentioned);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({code_scan_suite()});
}
