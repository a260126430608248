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

/* Something a suspended callback waits for (a PostgreSQL query).  The callback's CallbackRun
 * remembers it so that a callback abandoned while it waits (its client disconnected, the worker
 * shuts down) tells the operation, which then never touches the callback again. */
class AsyncOperation {
public:
	/* The callback is gone: forget it, drop the result when it arrives.  Called at most once,
	 * from ~CallbackRun, never after CallbackRun::complete(). */
	virtual void abandon() noexcept = 0;

protected:
	~AsyncOperation() = default;
};

/* Whoever runs a callback and goes on after it (a client connection, a NOTIFY handler): told
 * when the asynchronous operation it waited for completed. */
class CallbackOwner {
public:
	/* @nargs values were pushed on the suspended callback's coroutine: resume it with them
	 * (CallbackRun::resume()) and act on its outcome.  May destroy the CallbackRun. */
	virtual void resume_callback(int nargs) noexcept = 0;

protected:
	~CallbackOwner() = default;
};

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
	/* Releases the coroutine: one whose callback returned goes back to a pool of up to 16 for the
	 * next callbacks of the state.  A suspended callback is abandoned: its pending to-be-closed
	 * variables are not closed (as for any coroutine Lua collects unfinished). */
	~CallbackRun();
	CallbackRun(const CallbackRun &) = delete;
	CallbackRun &operator=(const CallbackRun &) = delete;

	/* Looks up field @name (a string literal: it is kept) of the handler table (registry ref
	 * @handler_ref); when it is absent, pops the arguments, returns false and nothing runs.
	 * Otherwise takes a coroutine (one a finished callback left, or a new one), calls the field with the @nargs values on top of @L's stack
	 * (they are moved to the coroutine; a caller pushes them with functions that cannot raise, such
	 * as push_lua_client() and push_handshake_response()), and returns true; status() tells how it
	 * went.  Call it once. */
	bool start(int handler_ref, const char *name, int nargs) noexcept;

	/* Like start(), for a function that lies on @L's stack below its @nargs arguments (a
	 * db:listen() handler); @name (kept) is for messages.  Pops the function and the arguments. */
	void start_function(const char *name, int nargs) noexcept;

	/* Who resume_callback() is called on when the operation this callback waits for completes;
	 * without an owner, complete() resumes the callback directly. */
	void set_owner(CallbackOwner *owner) noexcept { owner_ = owner; }

	/* For the asynchronous operation the suspended callback waits for: it completed and pushed
	 * @nargs values on thread().  Forgets the operation (no abandon() follows), then resumes the
	 * callback through its owner.  The CallbackRun may be destroyed when this returns. */
	void complete(int nargs) noexcept;

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
	friend int yield_to_worker(lua_State *L, AsyncOperation *operation);
	void run(int nargs) noexcept;
	bool start_with(int handler_ref, const char *name, int nargs) noexcept;
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

	CallbackOwner *owner_ = nullptr;
	/* What the suspended callback waits for; abandoned when the run is destroyed first. */
	AsyncOperation *pending_ = nullptr;
};

/* Pushes @text as a callback argument (e.g. on_init_db's database name).  Never raises: when Lua's heap
 * is full, pushes nothing and returns false. */
[[nodiscard]] bool push_lua_string(lua_State *L, std::string_view text) noexcept;

/* Pushes nil and @message on @thread (the string is built on the main state @L): the `nil, message`
 * results of a failed asynchronous call.  Returns how many values it pushed (fewer than 2 only when
 * the heap is full).  Never raises. */
int push_lua_failure(lua_State *L, lua_State *thread, std::string_view message) noexcept;

/* The host object behind an asynchronous library (pg, sleep, mysql_resolve), kept in the registry
 * under @key (the address of a static of that library): the worker sets it; where none is set (the
 * master, config load) registry_driver() gives nullptr. */
void set_registry_driver(lua_State *L, const void *key, void *driver) noexcept;
void *registry_driver(lua_State *L, const void *key) noexcept;

/* The CallbackRun whose own coroutine @L is, or nullptr (top level of config.lua, reload(), a
 * coroutine the script created): an asynchronous call checks this before it starts anything. */
CallbackRun *callback_of_thread(lua_State *L) noexcept;

/* For asynchronous Lua C functions (db:execute()): end the function with
 * `return yield_to_worker(L, operation);`.  The callback's coroutine suspends (status() is
 * suspended) until the operation calls CallbackRun::complete(n) (or the worker
 * CallbackRun::resume(n)); those n values become this function's results.  @operation (may be
 * null) is abandoned if the callback is destroyed while it waits.  Raises a Lua
 * error when @L is not the coroutine of the running callback, e.g. inside a coroutine the script
 * created (its own coroutine.resume() would receive the yield), and when the script resumes a
 * suspended callback's coroutine itself.  Any other yield that reaches a callback's coroutine (a bare
 * coroutine.yield() at its top level) fails the callback: the worker would not know when to resume it. */
int yield_to_worker(lua_State *L, AsyncOperation *operation = nullptr);

} // namespace myproxy
