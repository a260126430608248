// The Lua side of one client session (worker side): the client object config.lua's callbacks get,
// and one callback at a time (on_connect, on_handshake_response, on_command_phase, on_init_db, and
// on_handshake_response again for COM_CHANGE_USER) run in its coroutine, suspended and resumed,
// its return value checked against that callback's rules.  The session (worker/client_connection)
// decides what each outcome means.  No Lua error and no exception leaves it.
#pragma once

#include "common/server_login.hpp"
#include "lua/callback_run.hpp"
#include "lua/lua_action.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

struct lua_State;

namespace myproxy {

class SessionLog;
struct ClientAttributes;

enum class SessionCallback : std::uint8_t {
	on_connect,
	on_handshake_response,
	on_command_phase,
	on_init_db,
	change_user, /* on_handshake_response for COM_CHANGE_USER */
};

/* The callback's name in the handler table (change_user: "on_handshake_response"). */
const char *session_callback_name(SessionCallback callback) noexcept;

struct CallbackOutcome {
	enum class Kind : std::uint8_t { absent, nil, action, failed } kind = Kind::absent;
	std::optional<LuaAction> action;
	/* failed: the Lua error with traceback, or why the return value was refused. */
	std::string error;

	CallbackOutcome() noexcept = default;
	CallbackOutcome(CallbackOutcome &&) noexcept = default;
	CallbackOutcome &operator=(CallbackOutcome &&) noexcept = default;
	/* The backend password client:connect() named goes with the outcome. */
	~CallbackOutcome();
};

/* What on_handshake_response's @outcome tells common/server_login (@proof_verified: the script
 * checked the client's scramble). */
ScriptDecision script_decision(const CallbackOutcome &outcome, bool proof_verified) noexcept;

class SessionScript {
public:
	/* @handler: the listener's handler table (registry ref); @owner hears when a suspended
	 * callback's asynchronous call completed. */
	/* Failed callbacks are logged through @log. */
	SessionScript(lua_State *state, int handler_ref, CallbackOwner &callback_owner, const SessionLog &session_log) noexcept
		: L(state), handler(handler_ref), owner(callback_owner), log(session_log)
	{
	}
	~SessionScript() { release(); }

	SessionScript(const SessionScript &) = delete;
	SessionScript &operator=(const SessionScript &) = delete;

	lua_State *lua() const noexcept { return L; }

	/* Creates the client object over @attributes (which must outlive it); false when Lua's heap
	 * is full. */
	bool create_client(ClientAttributes &attributes) noexcept;
	/* Pushes the client object (needs one free stack slot). */
	void push_client() noexcept;
	/* Pushes the client object and a handshake_response table built from @credentials (the
	 * login's or a COM_CHANGE_USER's); on failure nothing stays pushed. */
	bool push_client_and_response(const ServerLoginCredentials &credentials) noexcept;
	/* Whether the proof of the last handshake_response was verified by the script (and forgets it). */
	bool take_proof_verified() noexcept;

	/* Runs @callback with the @nargs values on top of the stack: its outcome, or nullopt while it
	 * is suspended.  @fast_auth: caching_sha2_password's fast phase, where nil means "ask for the
	 * password". */
	std::optional<CallbackOutcome> run(SessionCallback callback, int nargs, bool fast_auth = false) noexcept;
	/* Resumes the suspended callback with @nargs values pushed on its coroutine: as run().  nullopt
	 * too when nothing was suspended. */
	std::optional<CallbackOutcome> resume(int nargs) noexcept;
	bool suspended() const noexcept { return run_ && run_->status() == CallbackStatus::suspended; }
	/* The coroutine of the suspended callback, or nullptr. */
	lua_State *suspended_thread() const noexcept { return suspended() ? run_->thread() : nullptr; }
	/* The callback that runs or ran last. */
	SessionCallback current() const noexcept { return callback; }
	/* Abandons a suspended callback. */
	void abandon() noexcept { run_.reset(); }
	/* The session ends: abandons the callback, cuts the client object off, drops the proof. */
	void release() noexcept;

private:
	lua_State *L;
	int handler;
	CallbackOwner &owner;
	const SessionLog &log;
	std::unique_ptr<CallbackRun> run_;
	SessionCallback callback = SessionCallback::on_connect;
	bool fast_auth_rules = false;
	int client_ref = -2;	 /* LUA_NOREF */
	int auth_proof_ref = -2; /* LUA_NOREF: the verify method's proof while on_handshake_response runs */

	CallbackOutcome finished() noexcept;
};

} // namespace myproxy
