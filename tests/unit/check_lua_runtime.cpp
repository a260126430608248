// Unit tests for CallbackRun, the worker's way of running handler callbacks: coroutines of the script's
// own, the instruction budget (also against pcall() and nested coroutines), the heap cap, tracebacks,
// bare yields, and suspension by an asynchronous call until the worker resumes it.
#include "tests/unit/lua_runtime_harness.hpp"
#include "tests/check_main.hpp"

using namespace myproxy;
using namespace myproxy::test;

START_TEST(test_on_connect_err)
{
	Harness h("return { on_connect = function(client) return client:err('x') end,\n"
		  "         on_handshake_response = function() end }\n");
	CallbackRun run(h.L);
	h.start(run, "on_connect");
	LuaAction action = take_action(run, on_connect_rules);
	ck_assert_uint_eq(action.index(), 1);
	assert_str_eq(std::get<ErrAction>(action).message, "x");
}
END_TEST

/* A callback the handler lacks does not run, and its arguments are gone. */
START_TEST(test_absent_callback)
{
	Harness h("return { on_handshake_response = function() end }\n");
	CallbackRun run(h.L);
	const int top = lua_gettop(h.L);
	push_lua_client(h.L, h.client_ref);
	ck_assert(!run.start(h.handler_ref, "on_connect", 1));
	ck_assert_int_eq(lua_gettop(h.L), top);
	ck_assert_ptr_null(run.thread());
}
END_TEST

START_TEST(test_error_traceback)
{
	Harness h("local function inner()\n"
		  "  error('boom')\n"
		  "end\n"
		  "return { on_handshake_response = function() end,\n"
		  "  on_connect = function(client)\n"
		  "    inner()\n"
		  "  end,\n"
		  "  on_command_phase = function() error({}) end,\n"
		  "  on_init_db = function() error(42) end }\n");
	CallbackRun run(h.L);
	h.start(run, "on_connect");
	ck_assert(run.status() == CallbackStatus::failed);
	ck_assert_msg(run.error().rfind("config.lua:2: boom\nstack traceback:\n", 0) == 0, "%s", run.error().c_str());
	assert_contains(run.error(), "config.lua:2: in ");
	assert_contains(run.error(), "config.lua:6: in ");

	CallbackRun table(h.L);
	h.start(table, "on_command_phase");
	assert_failed(table, "(error object is a table value)\nstack traceback:");
	CallbackRun number(h.L);
	h.start(number, "on_init_db", "x");
	assert_failed(number, "42\nstack traceback:");
}
END_TEST

START_TEST(test_instruction_budget)
{
	Harness h("return { on_handshake_response = function() end,\n"
		  "  on_connect = function() while true do end end,\n"
		  /* pcall() must not be able to swallow the budget error */
		  "  on_command_phase = function() while true do pcall(function() while true do end end) end end,\n"
		  "  on_init_db = function() coroutine.wrap(function() while true do end end)() end }\n");
	CallbackRun run(h.L, 5000);
	h.start(run, "on_connect");
	assert_failed(run, "config.lua:2: instruction budget exceeded (5000 instructions without yielding)");

	CallbackRun protected_loop(h.L, 5000);
	h.start(protected_loop, "on_command_phase");
	assert_failed(protected_loop, "instruction budget exceeded");

	CallbackRun nested(h.L, 5000);
	h.start(nested, "on_init_db", "db");
	assert_failed(nested, "config.lua:4: instruction budget exceeded");

	/* The default budget leaves room for ordinary work. */
	Harness busy("return { on_handshake_response = function() end,\n"
		     "  on_connect = function() local s = 0 for i = 1, 100000 do s = s + i end end }\n");
	CallbackRun fine(busy.L);
	busy.start(fine, "on_connect");
	assert_finished(fine);
}
END_TEST

START_TEST(test_heap_limit)
{
	Harness h("return { on_handshake_response = function() end,\n"
		  "  on_connect = function() return string.rep('x', 1e9) end,\n"
		  "  on_command_phase = function(client) return client:err('still working') end }\n");
	h.state.set_heap_limit(h.state.heap_used() + (std::size_t(4) << 20));
	CallbackRun run(h.L);
	h.start(run, "on_connect");
	assert_failed(run, "not enough memory (Lua heap limit reached)");

	/* The state stays usable for the next callback. */
	CallbackRun next(h.L);
	h.start(next, "on_command_phase");
	assert_str_eq(std::get<ErrAction>(take_action(next, on_command_phase_rules)).message, "still working");
}
END_TEST

START_TEST(test_nested_coroutines)
{
	Harness h("local function numbers(n)\n"
		  "  return coroutine.wrap(function() for i = 1, n do coroutine.yield(i) end end)\n"
		  "end\n"
		  "return { on_handshake_response = function() end,\n"
		  "  on_connect = function(client)\n"
		  "    local parts = {}\n"
		  "    for i in numbers(3) do\n"
		  "      local co = coroutine.create(function(a) local b = coroutine.yield(a * 10) return b + 1 end)\n"
		  "      local _, x = coroutine.resume(co, i)\n"
		  "      local _, y = coroutine.resume(co, x)\n"
		  "      parts[#parts + 1] = x .. ':' .. y\n"
		  "    end\n"
		  "    return client:err(table.concat(parts, ' '))\n"
		  "  end }\n");
	CallbackRun run(h.L);
	h.start(run, "on_connect");
	assert_str_eq(std::get<ErrAction>(take_action(run, on_connect_rules)).message, "10:11 20:21 30:31");
}
END_TEST

START_TEST(test_bare_yield)
{
	Harness h("return { on_handshake_response = function() end,\n"
		  "  on_connect = function() coroutine.yield() end,\n"
		  "  on_command_phase = function() pcall(coroutine.yield, 'x') end }\n");
	CallbackRun run(h.L);
	h.start(run, "on_connect");
	assert_failed(run, "callback yielded outside an asynchronous call\nstack traceback:");
	assert_contains(run.error(), "config.lua:2:");
	/* Resuming anything but a suspended callback does nothing. */
	lua_pushinteger(run.thread(), 1);
	run.resume(1);
	ck_assert(run.status() == CallbackStatus::failed);

	CallbackRun in_pcall(h.L);
	h.start(in_pcall, "on_command_phase");
	assert_failed(in_pcall, "callback yielded outside an asynchronous call");
}
END_TEST

START_TEST(test_async_call)
{
	Harness h("return { on_handshake_response = function() end,\n"
		  "  on_connect = function(client)\n"
		  "    local a = wait_for_worker()\n"
		  "    local ok, b, c = pcall(wait_for_worker)\n"
		  "    return client:err(a .. ' ' .. tostring(ok) .. ' ' .. b .. ' ' .. c)\n"
		  "  end,\n"
		  "  on_command_phase = function()\n"
		  "    coroutine.wrap(function() wait_for_worker() end)()\n"
		  "  end }\n");
	CallbackRun run(h.L);
	h.start(run, "on_connect");
	ck_assert_msg(run.status() == CallbackStatus::suspended, "%s", run.error().c_str());
	lua_pushliteral(run.thread(), "hello");
	run.resume(1);
	ck_assert(run.status() == CallbackStatus::suspended);
	lua_pushliteral(run.thread(), "two");
	lua_pushinteger(run.thread(), 3);
	run.resume(2);
	assert_str_eq(std::get<ErrAction>(take_action(run, on_connect_rules)).message, "hello true two 3");

	/* Inside a coroutine of the script's, the yield would reach the script's resume: refused. */
	CallbackRun nested(h.L);
	h.start(nested, "on_command_phase");
	assert_failed(nested, "asynchronous calls work only in a callback itself, not inside a coroutine it created");

	/* Outside any callback. */
	ck_assert(luaL_dostring(h.L, "wait_for_worker()") != LUA_OK);
	assert_contains(lua_tostring(h.L, -1), "asynchronous calls work only in a callback itself");
	lua_pop(h.L, 1);
}
END_TEST

/* A callback that returned leaves its coroutine to the next one; one that failed or was abandoned
 * while it waited does not, and nothing of a callback's stack reaches the next. */
START_TEST(test_coroutine_reuse)
{
	Harness h("local last\n"
		  "return { on_handshake_response = function() end,\n"
		  "  on_connect = function(client, ...)\n"
		  "    local co, same = coroutine.running(), coroutine.running() == last\n"
		  "    last = co\n"
		  "    return client:err(tostring(same) .. ' ' .. select('#', ...))\n"
		  "  end,\n"
		  "  on_command_phase = function() error('boom') end,\n"
		  "  on_init_db = function() wait_for_worker() end }\n");
	const auto next = [&h](const char *expected) {
		CallbackRun run(h.L);
		h.start(run, "on_connect");
		assert_str_eq(std::get<ErrAction>(take_action(run, on_connect_rules)).message, expected);
	};
	next("false 0");
	next("true 0");
	next("true 0");
	{
		CallbackRun failing(h.L);
		h.start(failing, "on_command_phase");
		assert_failed(failing, "boom");
	}
	/* The failed one took the pooled coroutine and kept it. */
	next("false 0");
	{
		CallbackRun waiting(h.L);
		h.start(waiting, "on_init_db", "db");
		ck_assert(waiting.status() == CallbackStatus::suspended);
	}
	next("false 0");
	next("true 0");
}
END_TEST

/* The budget is per resume: each stretch between waits gets all of it. */
START_TEST(test_budget_per_resume)
{
	Harness h("local function spin(n) local s = 0 for i = 1, n do s = s + i end return s end\n"
		  "return { on_handshake_response = function() end,\n"
		  "  on_connect = function(client)\n"
		  "    spin(2000) wait_for_worker() spin(2000) wait_for_worker() spin(2000)\n"
		  "  end,\n"
		  "  on_command_phase = function() spin(2000) wait_for_worker() spin(20000) end }\n");
	CallbackRun run(h.L, 10000);
	h.start(run, "on_connect");
	ck_assert(run.status() == CallbackStatus::suspended);
	run.resume(0);
	ck_assert(run.status() == CallbackStatus::suspended);
	run.resume(0);
	assert_finished(run);

	CallbackRun heavy(h.L, 10000);
	h.start(heavy, "on_command_phase");
	ck_assert(heavy.status() == CallbackStatus::suspended);
	heavy.resume(0);
	assert_failed(heavy, "instruction budget exceeded");
}
END_TEST

/* A script that resumes a waiting callback's coroutine itself cannot fake the asynchronous result. */
START_TEST(test_script_resumes_waiting_callback)
{
	Harness h("local waiting\n"
		  "return { on_handshake_response = function() end,\n"
		  "  on_connect = function() waiting = coroutine.running() local v = wait_for_worker() return v end,\n"
		  "  on_command_phase = function(client)\n"
		  "    local ok, message = coroutine.resume(waiting, 'fake')\n"
		  "    return client:err(tostring(ok) .. ' ' .. message)\n"
		  "  end }\n");
	CallbackRun waiting(h.L);
	h.start(waiting, "on_connect");
	ck_assert(waiting.status() == CallbackStatus::suspended);

	CallbackRun meddler(h.L);
	h.start(meddler, "on_command_phase");
	assert_str_eq(std::get<ErrAction>(take_action(meddler, on_command_phase_rules)).message,
		      "false config.lua:3: a callback waiting for an asynchronous call was resumed by the script");

	lua_pushliteral(waiting.thread(), "real");
	waiting.resume(1);
	assert_failed(waiting, "cannot resume dead coroutine");
}
END_TEST

static Suite *lua_runtime_suite()
{
	Suite *s = suite_create("lua_runtime");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_on_connect_err);
	tcase_add_test(tc, test_absent_callback);
	tcase_add_test(tc, test_error_traceback);
	tcase_add_test(tc, test_instruction_budget);
	tcase_add_test(tc, test_heap_limit);
	tcase_add_test(tc, test_nested_coroutines);
	tcase_add_test(tc, test_bare_yield);
	tcase_add_test(tc, test_async_call);
	tcase_add_test(tc, test_coroutine_reuse);
	tcase_add_test(tc, test_budget_per_resume);
	tcase_add_test(tc, test_script_resumes_waiting_callback);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({lua_runtime_suite()});
}
