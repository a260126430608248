// Runs one handler callback (on_connect, on_handshake_response, on_command_phase, on_init_db) in a
// coroutine of its own, in a worker.  The callback may yield (e.g. while db:execute() waits for
// PostgreSQL); the worker resumes it later and keeps serving other clients meanwhile.  An instruction
// budget per resume and the state's heap cap stop runaway scripts: the callback fails, only its client
// suffers.  Every Lua error is caught here: nothing raises into the caller.
#pragma once

#include <string>

struct lua_State;

namespace myproxy {

enum class CallbackStatus {
	/* The callback returned; its first return value is on top of thread()'s stack (or nil). */
	finished,
	/* The callback yielded to wait for something outside Lua; call resume() when it arrived. */
	suspended,
	/* It raised an error, ran out of its instruction budget or memory: see error(). */
	failed,
};

class CallbackRun {
public:
	/* Instructions one resume may execute before the callback is aborted. */
	static constexpr long default_instruction_budget = 10'000'000;

	/* Creates a coroutine on @L anchored in the registry; nothing runs yet. */
	explicit CallbackRun(lua_State *L) noexcept;
	~CallbackRun();
	CallbackRun(const CallbackRun &) = delete;
	CallbackRun &operator=(const CallbackRun &) = delete;

	/* Looks up field @name of the handler table (registry ref @handler_ref); when it is absent,
	 * returns false and nothing runs.  Otherwise calls it with the @nargs values on top of @L's
	 * stack (they are moved to the coroutine; a caller pushes them with functions that cannot raise
	 * or within a protected call), and returns true; status() tells how it went. */
	bool start(int handler_ref, const char *name, int nargs) noexcept;

	/* Resumes a suspended callback, passing @nargs values from the coroutine's own stack top. */
	void resume(int nargs) noexcept;

	CallbackStatus status() const noexcept { return status_; }
	/* The coroutine: its top holds the result when finished. */
	lua_State *thread() const noexcept { return thread_; }
	/* Error message with traceback, when failed. */
	const std::string &error() const noexcept { return error_; }

private:
	void run(int nargs) noexcept;

	lua_State *L_;
	lua_State *thread_ = nullptr;
	int thread_ref_ = -2;
	const char *name_ = "";
	CallbackStatus status_ = CallbackStatus::finished;
	std::string error_;
};

} // namespace myproxy
