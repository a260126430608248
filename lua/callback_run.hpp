// Runs one handler callback (on_connect, on_handshake_response, on_command_phase, on_init_db) in a
// coroutine of its own, in a worker.  The callback may yield (e.g. while db:execute() waits for
// PostgreSQL); the worker resumes it later and keeps serving other clients meanwhile.  An instruction
// budget per resume and the state's heap cap stop runaway scripts: the callback fails, only its client
// suffers.  Every Lua error is caught here: nothing raises into the caller.
#pragma once

#include <string>
#include <string_view>

struct lua_State;
struct lua_Debug;

namespace myproxy {

enum class CallbackStatus {
	/* The callback returned; its first return value is on top of thread()'s stack (or nil). */
	finished,
	/* The callback yielded to wait for something outside Lua; call resume() when it arrived. */
	suspended,
	/* It raised an error, yielded outside an asynchronous call, ran out of its instruction budget or
	 * memory: see error(). */
	failed,
};

class CallbackRun {
public:
	/* Instructions one resume may execute before the callback is aborted.  Counted across the
	 * coroutines the script creates while it runs (they inherit the counting hook). */
	static constexpr long default_instruction_budget = 10'000'000;

	/* Nothing is allocated and nothing runs until start(). */
	explicit CallbackRun(lua_State *L, long instruction_budget = default_instruction_budget) noexcept
		: L_(L), budget_(instruction_budget > 0 ? instruction_budget : 1)
	{
	}
	/* Releases the coroutine.  A suspended callback is abandoned: its pending to-be-closed variables
	 * are not closed (as for any coroutine Lua collects unfinished). */
	~CallbackRun();
	CallbackRun(const CallbackRun &) = delete;
	CallbackRun &operator=(const CallbackRun &) = delete;

	/* Looks up field @name (a string literal: it is kept) of the handler table (registry ref
	 * @handler_ref); when it is absent, pops the arguments, returns false and nothing runs.
	 * Otherwise creates the coroutine, calls the field with the @nargs values on top of @L's stack
	 * (they are moved to the coroutine; a caller pushes them with functions that cannot raise, such
	 * as push_lua_client() and push_handshake_response()), and returns true; status() tells how it
	 * went.  Call it once. */
	bool start(int handler_ref, const char *name, int nargs) noexcept;

	/* Resumes a suspended callback, passing @nargs values from the coroutine's own stack top: they
	 * become the results of the asynchronous call that suspended it.  Anything but a suspended
	 * callback only has the values popped. */
	void resume(int nargs) noexcept;

	CallbackStatus status() const noexcept { return status_; }
	/* The callback's name as given to start(). */
	const char *name() const noexcept { return name_; }
	/* The coroutine: its top holds the result when finished.  nullptr before start() created it. */
	lua_State *thread() const noexcept { return thread_; }
	/* When failed: the message (e.g. "config.lua:7: boom", "not enough memory (Lua heap limit
	 * reached)"), then "\nstack traceback:\n..." when one could be built. */
	const std::string &error() const noexcept { return error_; }

private:
	void run(int nargs) noexcept;
	void fail(int status) noexcept;
	void fail(const char *message) noexcept;
	static void count_hook(lua_State *L, lua_Debug *ar);

	lua_State *L_;
	lua_State *thread_ = nullptr;
	int thread_ref_ = -2; /* LUA_NOREF */
	const char *name_ = "";
	CallbackStatus status_ = CallbackStatus::finished;
	std::string error_;

	long budget_;
	/* Of the current resume; the hook subtracts from it. */
	long remaining_ = 0;
	/* Once the budget is spent, every hook call raises again, so a script's pcall() cannot swallow
	 * the error and go on looping. */
	bool exhausted_ = false;
};

/* Pushes @text as a callback argument (e.g. on_init_db's database name).  Never raises: when Lua's heap
 * is full, pushes nothing and returns false. */
[[nodiscard]] bool push_lua_string(lua_State *L, std::string_view text) noexcept;

/* For asynchronous Lua C functions (later db:execute()): end the function with
 * `return yield_to_worker(L);`.  The callback's coroutine suspends (status() is suspended) until the
 * worker calls CallbackRun::resume(n); those n values become this function's results.  Raises a Lua
 * error when @L is not the coroutine of the running callback, e.g. inside a coroutine the script
 * created (its own coroutine.resume() would receive the yield), and when the script resumes a
 * suspended callback's coroutine itself.  Any other yield that reaches a callback's coroutine (a bare
 * coroutine.yield() at its top level) fails the callback: the worker would not know when to resume it. */
int yield_to_worker(lua_State *L);

} // namespace myproxy
