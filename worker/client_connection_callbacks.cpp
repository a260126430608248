// The Lua side of a client connection (worker side): running a callback in its coroutine,
// resuming it when it was suspended, turning its result into what the connection does next.  No Lua
// error and no exception leaves these functions.
#include "client_connection.hpp"

#include "worker/connection_util.hpp"
#include "worker/worker_loop.hpp"

#include "common/log.hpp"
#include "common/worker_activity.hpp"
#include "lua/callback_run.hpp"
#include "lua/lua_handshake_response.hpp"

#include <lua.hpp>

#include <exception>

namespace myproxy {

void ClientConnection::run_callback(SessionCallback kind, int nargs) noexcept
{
	/* In caching_sha2_password's fast phase nil means "ask for the password". */
	const bool fast_auth = kind == SessionCallback::on_handshake_response && server_login &&
			       server_login->script_may_pass();
	if (auto outcome = script.run(kind, nargs, fast_auth))
		deliver(kind, *outcome);
}

void ClientConnection::deliver(SessionCallback kind, CallbackOutcome &outcome) noexcept
{
	try {
		dispatch_outcome(kind, outcome);
	} catch (const std::exception &e) {
		log(LogLevel::error, "%s: %s", session_callback_name(kind), e.what());
		close();
	}
	if (outcome.action) {
		if (auto *connect = std::get_if<ConnectAction>(&*outcome.action); connect && connect->password)
			wipe(*connect->password);
	}
}

void ClientConnection::resume_callback(int nargs) noexcept
{
	if (!script.suspended())
		return;
	/* Resumed from another event source (e.g. a PostgreSQL socket): a crash in the script's code
	 * must still be charged to this client. */
	const ServingClientScope serving(id);
	auto outcome = script.resume(nargs);
	if (!outcome)
		return;
	deliver(script.current(), *outcome);
	if (phase == Phase::relay)
		relay_event(relay->resume());
	else
		update_events();
}

lua_State *ClientConnection::suspended_thread() const noexcept
{
	return script.suspended_thread();
}

void ClientConnection::dispatch_outcome(SessionCallback kind, CallbackOutcome &outcome)
{
	if (phase == Phase::closed)
		return;
	if (outcome.kind == CallbackOutcome::Kind::failed)
		log(LogLevel::error, "%s failed: %s", session_callback_name(kind),
		    outcome.error.empty() ? "out of memory" : outcome.error.c_str());
	else if (outcome.kind == CallbackOutcome::Kind::absent &&
		 (kind == SessionCallback::on_handshake_response || kind == SessionCallback::change_user))
		log(LogLevel::error, "the listener's handler has no on_handshake_response");

	const ErrAction *err = outcome.action ? std::get_if<ErrAction>(&*outcome.action) : nullptr;
	switch (kind) {
	case SessionCallback::on_connect:
		attributes.server_version_settable = false;
		if (outcome.kind == CallbackOutcome::Kind::failed) {
			fail_handshake(ER_UNKNOWN_ERROR, "myproxy: the login script failed");
		} else if (err != nullptr) {
			log(LogLevel::info, "on_connect refused the client: %s", err->message.c_str());
			fail_handshake(ER_ACCESS_DENIED, err->message);
		} else {
			send_greeting();
		}
		break;

	case SessionCallback::on_handshake_response:
		handshake_response_outcome(outcome);
		break;

	case SessionCallback::on_command_phase:
		if (outcome.kind == CallbackOutcome::Kind::failed) {
			fail_login(ER_UNKNOWN_ERROR, "myproxy: the login script failed");
		} else if (err != nullptr) {
			log(LogLevel::info, "on_command_phase refused the client: %s", err->message.c_str());
			fail_login(ER_ACCESS_DENIED, err->message);
		} else {
			start_relay();
		}
		break;

	case SessionCallback::on_init_db:
		intercept->init_db_outcome(outcome);
		break;

	case SessionCallback::change_user:
		intercept->change_user_outcome(outcome);
		break;
	}
}

} // namespace myproxy
