// CallbackRun (see callback_run.hpp).  Every Lua call that can raise runs inside lua_pcall() or
// lua_resume(); what stays outside uses only raw registry accesses to keys that already exist, which
// neither allocate nor raise.  The running callback is found through a registry slot, because the
// counting hook and yield_to_worker() are reached from any coroutine of the state.
// XXX coroutines created before a callback ran (at config.lua's top level) carry no hook, so a loop
// inside one is not counted; __gc metamethods run with hooks off as well.
#include "lua/callback_run.hpp"
#include "common/worker_counters.hpp"

#include <lua.hpp>

#include <algorithm>
#include <cstdio>
#include <new>

namespace myproxy {

namespace {

/* Their addresses are the registry key of the running CallbackRun (a light userdata, never nil once
 * created, so setting it never allocates) and the value asynchronous calls yield. */
const char running_key = 0;
const char async_marker = 0;
/* The registry key of the idle coroutines: a table used as a stack, its array part made for
 * thread_pool_max entries at once, so putting one back never allocates (it happens in a destructor,
 * where Lua may not raise). */
const char thread_pool_key = 0;

/* Finished callbacks' coroutines kept for the next callbacks: a login runs one or two callbacks,
 * and a new coroutine each time is an allocation (and later garbage) per callback. */
constexpr int thread_pool_max = 16;

/* Instructions between two calls of the counting hook. */
long hook_interval(long budget) noexcept
{
	return std::min(budget, 1000L);
}

CallbackRun *running_callback(lua_State *L) noexcept
{
	lua_rawgetp(L, LUA_REGISTRYINDEX, &running_key);
	auto *run = static_cast<CallbackRun *>(lua_touserdata(L, -1));
	lua_pop(L, 1);
	return run;
}

/* Only once the key exists (see prepare_callback()). */
void set_running_callback(lua_State *L, CallbackRun *run) noexcept
{
	lua_pushlightuserdata(L, run);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &running_key);
}

struct StartContext {
	int handler_ref;
	const char *name;
	lua_State *thread;
	int thread_ref;
};

/* Pushes a coroutine for a callback: an idle one of the pool, or a new one.  Creates the pool. */
lua_State *push_callback_thread(lua_State *L)
{
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &thread_pool_key) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_createtable(L, thread_pool_max, 0);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &thread_pool_key);
	}
	const lua_Integer idle = static_cast<lua_Integer>(lua_rawlen(L, -1));
	if (idle == 0) {
		lua_pop(L, 1);
		return lua_newthread(L);
	}
	lua_rawgeti(L, -1, idle);
	lua_pushnil(L);
	lua_rawseti(L, -3, idle);
	lua_remove(L, -2);
	return lua_tothread(L, -1);
}

/* Puts the coroutine of a callback that returned (registry reference @thread_ref) back into the
 * pool, when there is room.  Never raises: the pool's array part already has the slot. */
void pool_callback_thread(lua_State *L, lua_State *thread, int thread_ref) noexcept
{
	if (lua_status(thread) != LUA_OK || lua_checkstack(L, 2) == 0)
		return;
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &thread_pool_key) == LUA_TTABLE) {
		const lua_Integer idle = static_cast<lua_Integer>(lua_rawlen(L, -1));
		if (idle < thread_pool_max) {
			lua_settop(thread, 0);
			lua_rawgeti(L, LUA_REGISTRYINDEX, thread_ref);
			lua_rawseti(L, -2, idle + 1);
		}
	}
	lua_pop(L, 1);
}

/* (args..., context) -> nothing.  Takes a coroutine and moves the callback and its arguments onto
 * it; leaves context->thread null when the handler has no such callback. */
int prepare_callback(lua_State *L)
{
	auto *context = static_cast<StartContext *>(lua_touserdata(L, -1));
	lua_pop(L, 1);
	const int nargs = lua_gettop(L);

	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &running_key) == LUA_TNIL) {
		lua_pushlightuserdata(L, nullptr);
		lua_rawsetp(L, LUA_REGISTRYINDEX, &running_key);
	}
	lua_pop(L, 1);

	if (context->handler_ref == LUA_NOREF) {
		/* start_function(): the function lies below its arguments. */
		if (lua_type(L, 1) != LUA_TFUNCTION)
			return luaL_error(L, "%s is not a function", context->name);
		lua_State *thread = push_callback_thread(L);
		context->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
		context->thread = thread;
		if (lua_checkstack(thread, nargs + 1) == 0)
			return luaL_error(L, "not enough memory");
		lua_xmove(L, thread, nargs);
		return 0;
	}

	if (lua_rawgeti(L, LUA_REGISTRYINDEX, context->handler_ref) != LUA_TTABLE)
		return luaL_error(L, "handler is not a table");
	lua_pushstring(L, context->name);
	const int type = lua_rawget(L, -2);
	if (type == LUA_TNIL)
		return 0;
	if (type != LUA_TFUNCTION)
		return luaL_error(L, "handler.%s must be a function, got %s", context->name, luaL_typename(L, -1));
	lua_remove(L, -2);

	lua_State *thread = push_callback_thread(L);
	context->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	context->thread = thread;
	if (lua_checkstack(thread, nargs + 1) == 0)
		return luaL_error(L, "not enough memory");
	lua_xmove(L, thread, 1);
	lua_xmove(L, thread, nargs);
	return 0;
}

/* (thread) -> "stack traceback:\n..." */
int build_traceback(lua_State *L)
{
	luaL_traceback(L, static_cast<lua_State *>(lua_touserdata(L, 1)), nullptr, 0);
	return 1;
}

/* The error value on top of @L as text, without running Lua code (no __tostring: it could loop with
 * no budget left) and without allocating in Lua. */
std::string error_text(lua_State *L, int status)
{
	if (status == LUA_ERRMEM)
		return "not enough memory (Lua heap limit reached)";
	switch (lua_type(L, -1)) {
	case LUA_TSTRING: {
		std::size_t length;
		const char *text = lua_tolstring(L, -1, &length);
		return std::string(text, length);
	}
	case LUA_TNUMBER:
		if (lua_isinteger(L, -1))
			return std::to_string(lua_tointeger(L, -1));
		char number[64];
		std::snprintf(number, sizeof(number), LUA_NUMBER_FMT, static_cast<LUAI_UACNUMBER>(lua_tonumber(L, -1)));
		return number;
	default:
		return std::string("(error object is a ") + luaL_typename(L, -1) + " value)";
	}
}

/* (text) -> string */
int copy_string(lua_State *L)
{
	const auto *text = static_cast<const std::string_view *>(lua_touserdata(L, 1));
	lua_pushlstring(L, text->data(), text->size());
	return 1;
}

/* The continuation of yield_to_worker(): the values the worker passed to resume() are its results. */
int continue_after_async(lua_State *L, int, lua_KContext base)
{
	CallbackRun *run = running_callback(L);
	if (run == nullptr || run->thread() != L)
		return luaL_error(L, "a callback waiting for an asynchronous call was resumed by the script");
	return lua_gettop(L) - static_cast<int>(base);
}

} // namespace

CallbackRun::~CallbackRun()
{
	if (pending_ != nullptr)
		pending_->abandon();
	/* Only one that returned: a failed or abandoned one's stack is not reusable as it is. */
	if (thread_ref_ != LUA_NOREF && status_ == CallbackStatus::finished)
		pool_callback_thread(L_, thread_, thread_ref_);
	if (thread_ref_ != LUA_NOREF)
		luaL_unref(L_, LUA_REGISTRYINDEX, thread_ref_);
}

bool CallbackRun::start(int handler_ref, const char *name, int nargs) noexcept
{
	return start_with(handler_ref, name, nargs);
}

void CallbackRun::start_function(const char *name, int nargs) noexcept
{
	/* The function counts as one more value for prepare_callback() to move. */
	(void)start_with(LUA_NOREF, name, nargs + 1);
}

bool CallbackRun::start_with(int handler_ref, const char *name, int nargs) noexcept
{
	name_ = name;
	if (thread_ != nullptr) {
		/* A second start() would orphan the first coroutine's anchor. */
		lua_pop(L_, nargs);
		fail("CallbackRun started twice");
		return true;
	}
	if (lua_checkstack(L_, 2) == 0) {
		lua_pop(L_, nargs);
		fail("not enough memory (Lua stack)");
		return true;
	}
	StartContext context{handler_ref, name, nullptr, LUA_NOREF};
	lua_pushcfunction(L_, prepare_callback);
	lua_insert(L_, -(nargs + 1));
	lua_pushlightuserdata(L_, &context);
	const int status = lua_pcall(L_, nargs + 1, 0, 0);
	thread_ = context.thread;
	thread_ref_ = context.thread_ref;
	if (status != LUA_OK) {
		try {
			error_ = error_text(L_, status);
		} catch (const std::bad_alloc &) {
			error_.clear();
		}
		lua_pop(L_, 1);
		count(&WorkerCounters::lua_errors);
		status_ = CallbackStatus::failed;
		return true;
	}
	if (thread_ == nullptr)
		return false;
	run(handler_ref == LUA_NOREF ? nargs - 1 : nargs);
	return true;
}

void CallbackRun::complete(int nargs) noexcept
{
	pending_ = nullptr;
	if (owner_ != nullptr)
		owner_->resume_callback(nargs);
	else
		resume(nargs);
}

void CallbackRun::resume(int nargs) noexcept
{
	/* Resumed by someone else than the operation it waited for: the operation must not
	 * complete it a second time. */
	if (pending_ != nullptr) {
		pending_->abandon();
		pending_ = nullptr;
	}
	if (status_ != CallbackStatus::suspended) {
		if (thread_ != nullptr)
			lua_pop(thread_, nargs);
		return;
	}
	run(nargs);
}

void CallbackRun::run(int nargs) noexcept
{
	if (lua_checkstack(L_, 2) == 0) {
		fail("not enough memory (Lua stack)");
		return;
	}
	CallbackRun *const previous = running_callback(L_);
	set_running_callback(L_, this);
	remaining_ = budget_;
	exhausted_ = false;
	lua_sethook(thread_, count_hook, LUA_MASKCOUNT, static_cast<int>(hook_interval(budget_)));

	int nresults = 0;
	int status;
	{
		const LuaTimeScope timed;
		status = lua_resume(thread_, L_, nargs, &nresults);
	}
	set_running_callback(L_, previous);

	switch (status) {
	case LUA_OK:
		if (nresults == 0) {
			if (lua_checkstack(thread_, 1) == 0) {
				fail("not enough memory (Lua stack)");
				return;
			}
			lua_pushnil(thread_);
		} else {
			lua_pop(thread_, nresults - 1);
		}
		status_ = CallbackStatus::finished;
		return;
	case LUA_YIELD:
		if (nresults == 1 && lua_type(thread_, -1) == LUA_TLIGHTUSERDATA &&
		    lua_touserdata(thread_, -1) == &async_marker) {
			lua_pop(thread_, 1);
			status_ = CallbackStatus::suspended;
			return;
		}
		lua_pop(thread_, nresults);
		fail("callback yielded outside an asynchronous call");
		return;
	default:
		fail(status);
		return;
	}
}

void CallbackRun::fail(int status) noexcept
{
	try {
		fail(error_text(thread_, status).c_str());
	} catch (const std::bad_alloc &) {
		fail("(error message lost: out of memory)");
	}
	lua_pop(thread_, 1);
}

void CallbackRun::fail(const char *message) noexcept
{
	count(&WorkerCounters::lua_errors);
	status_ = CallbackStatus::failed;
	try {
		error_ = message;
	} catch (const std::bad_alloc &) {
		error_.clear();
		return;
	}
	if (thread_ == nullptr || lua_checkstack(L_, 2) == 0)
		return;
	/* Under memory pressure the traceback may not fit; the message alone must do then. */
	lua_pushcfunction(L_, build_traceback);
	lua_pushlightuserdata(L_, thread_);
	if (lua_pcall(L_, 1, 1, 0) == LUA_OK) {
		std::size_t length;
		const char *traceback = lua_tolstring(L_, -1, &length);
		try {
			error_.append("\n").append(traceback, length);
		} catch (const std::bad_alloc &) {
		}
	}
	lua_pop(L_, 1);
}

void CallbackRun::count_hook(lua_State *L, lua_Debug *)
{
	CallbackRun *run = running_callback(L);
	if (run == nullptr)
		return;
	const int interval = static_cast<int>(hook_interval(run->budget_));
	if (!run->exhausted_) {
		run->remaining_ -= interval;
		if (run->remaining_ > 0) {
			/* A coroutine left at count 1 by an earlier exhausted run gets the normal pace back. */
			lua_sethook(L, count_hook, LUA_MASKCOUNT, interval);
			return;
		}
		run->exhausted_ = true;
		lua_sethook(run->thread_, count_hook, LUA_MASKCOUNT, 1);
	}
	lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
	luaL_where(L, 0);
	lua_pushfstring(L, "instruction budget exceeded (%I instructions without yielding)",
			static_cast<lua_Integer>(run->budget_));
	lua_concat(L, 2);
	lua_error(L);
}

int push_lua_failure(lua_State *L, lua_State *thread, std::string_view message) noexcept
{
	if (!lua_checkstack(thread, 2))
		return 0;
	lua_pushnil(thread);
	if (!push_lua_string(L, message))
		return 1;
	lua_xmove(L, thread, 1);
	return 2;
}

bool push_lua_string(lua_State *L, std::string_view text) noexcept
{
	if (lua_checkstack(L, 2) == 0)
		return false;
	lua_pushcfunction(L, copy_string);
	lua_pushlightuserdata(L, &text);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		lua_pop(L, 1);
		return false;
	}
	return true;
}

void set_registry_driver(lua_State *L, const void *key, void *driver) noexcept
{
	lua_pushlightuserdata(L, driver);
	lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

void *registry_driver(lua_State *L, const void *key) noexcept
{
	lua_rawgetp(L, LUA_REGISTRYINDEX, key);
	void *driver = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return driver;
}

CallbackRun *callback_of_thread(lua_State *L) noexcept
{
	CallbackRun *run = running_callback(L);
	return run != nullptr && run->thread() == L ? run : nullptr;
}

int yield_to_worker(lua_State *L, AsyncOperation *operation)
{
	CallbackRun *run = callback_of_thread(L);
	if (run == nullptr) {
		if (operation != nullptr)
			operation->abandon();
		return luaL_error(L, "asynchronous calls work only in a callback itself, not inside a coroutine it created");
	}
	if (!lua_checkstack(L, 1)) {
		if (operation != nullptr)
			operation->abandon();
		return luaL_error(L, "stack overflow");
	}
	run->pending_ = operation;
	const lua_KContext base = lua_gettop(L);
	lua_pushlightuserdata(L, const_cast<char *>(&async_marker));
	return lua_yieldk(L, 1, base, continue_after_async);
}

} // namespace myproxy
