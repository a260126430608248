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

static const char *callback_name(int kind) noexcept
{
	static const char *const names[] = {"on_connect", "on_handshake_response", "on_command_phase",
					    "on_init_db", "on_handshake_response"};
	return names[kind];
}

void ClientConnection::run_callback(CallbackKind kind, int nargs) noexcept
{
	lua_State *L = worker.lua();
	callback_kind = kind;
	try {
		callback = std::make_unique<CallbackRun>(L);
	} catch (const std::bad_alloc &) {
		lua_pop(L, nargs);
		CallbackOutcome outcome;
		outcome.kind = CallbackOutcome::Kind::failed;
		deliver(kind, outcome);
		return;
	}
	callback->set_owner(this);
	if (!callback->start(handler, callback_name(int(kind)), nargs)) {
		callback.reset();
		CallbackOutcome outcome;
		deliver(kind, outcome);
		return;
	}
	if (callback->status() == CallbackStatus::suspended) {
		/* Nothing of this client is read until the callback is done (update_events() in the
		 * caller stops reading in the callback phases; the relay holds the packet). */
		return;
	}
	callback_done();
}

void ClientConnection::callback_done() noexcept
{
	CallbackOutcome outcome;
	const CallbackKind kind = callback_kind;
	try {
		if (callback->status() == CallbackStatus::failed) {
			outcome.kind = CallbackOutcome::Kind::failed;
			outcome.error = callback->error();
		} else {
			static const ActionRules *const rules[] = {&on_connect_rules, &on_handshake_response_rules,
								   &on_command_phase_rules, &on_init_db_rules,
								   &on_handshake_response_rules};
			/* In caching_sha2_password's fast phase nil means "ask for the password". */
			const ActionRules &rule = kind == CallbackKind::on_handshake_response && server_login &&
							  server_login->script_may_pass()
							  ? on_handshake_response_fast_auth_rules
							  : *rules[int(kind)];
			ActionResult result = take_lua_action(callback->thread(), -1, rule);
			if (result.is_nil()) {
				outcome.kind = CallbackOutcome::Kind::nil;
			} else if (result.is_action()) {
				outcome.kind = CallbackOutcome::Kind::action;
				outcome.action = std::move(result.action());
			} else {
				outcome.kind = CallbackOutcome::Kind::failed;
				outcome.error = result.error();
			}
		}
	} catch (const std::bad_alloc &) {
		outcome.kind = CallbackOutcome::Kind::failed;
		outcome.error = "out of memory";
	}
	callback.reset();
	deliver(kind, outcome);
}

void ClientConnection::deliver(CallbackKind kind, CallbackOutcome &outcome) noexcept
{
	try {
		dispatch_outcome(kind, outcome);
	} catch (const std::exception &e) {
		log(LogLevel::error, "%s: %s", callback_name(int(kind)), e.what());
		close();
	}
	if (outcome.action) {
		if (auto *connect = std::get_if<ConnectAction>(&*outcome.action); connect && connect->password)
			wipe(*connect->password);
	}
}

void ClientConnection::resume_callback(int nargs) noexcept
{
	if (!callback || callback->status() != CallbackStatus::suspended)
		return;
	/* Resumed from another event source (e.g. a PostgreSQL socket): a crash in the script's code
	 * must still be charged to this client. */
	const ServingClientScope serving(id);
	callback->resume(nargs);
	if (callback->status() == CallbackStatus::suspended)
		return;
	callback_done();
	if (phase == Phase::relay)
		relay_event(relay->resume());
	else
		update_events();
}

lua_State *ClientConnection::suspended_thread() const noexcept
{
	return callback && callback->status() == CallbackStatus::suspended ? callback->thread() : nullptr;
}

void ClientConnection::dispatch_outcome(CallbackKind kind, CallbackOutcome &outcome)
{
	if (phase == Phase::closed)
		return;
	if (outcome.kind == CallbackOutcome::Kind::failed)
		log(LogLevel::error, "%s failed: %s", callback_name(int(kind)),
		    outcome.error.empty() ? "out of memory" : outcome.error.c_str());
	else if (outcome.kind == CallbackOutcome::Kind::absent &&
		 (kind == CallbackKind::on_handshake_response || kind == CallbackKind::change_user))
		log(LogLevel::error, "the listener's handler has no on_handshake_response");

	const ErrAction *err = outcome.action ? std::get_if<ErrAction>(&*outcome.action) : nullptr;
	switch (kind) {
	case CallbackKind::on_connect:
		attributes.server_version_settable = false;
		if (outcome.kind == CallbackOutcome::Kind::failed) {
			refuse_after_greeting(ER_UNKNOWN_ERROR, "myproxy: the login script failed");
		} else if (err != nullptr) {
			log(LogLevel::info, "on_connect refused the client: %s", err->message.c_str());
			refuse_after_greeting(ER_ACCESS_DENIED, err->message);
		} else {
			send_greeting();
		}
		break;

	case CallbackKind::on_handshake_response:
		handshake_response_outcome(outcome);
		break;

	case CallbackKind::on_command_phase:
		if (outcome.kind == CallbackOutcome::Kind::failed) {
			fail_login(ER_UNKNOWN_ERROR, "myproxy: the login script failed");
		} else if (err != nullptr) {
			log(LogLevel::info, "on_command_phase refused the client: %s", err->message.c_str());
			fail_login(ER_ACCESS_DENIED, err->message);
		} else {
			start_relay();
		}
		break;

	case CallbackKind::on_init_db:
		init_db_outcome(outcome);
		break;

	case CallbackKind::change_user:
		change_user_outcome(outcome);
		break;
	}
}

/* Pushes the client object and a handshake_response table built from server_login's credentials
 * (the login's or a COM_CHANGE_USER's); on failure nothing stays pushed. */
bool ClientConnection::push_client_and_response() noexcept
{
	lua_State *L = worker.lua();
	if (!lua_checkstack(L, 4))
		return false;
	const ServerLoginCredentials &credentials = server_login->credentials();
	HandshakeResponseFields fields;
	fields.user = credentials.user;
	if (credentials.password)
		fields.password = *credentials.password;
	fields.database = credentials.database;
	fields.auth_plugin = credentials.auth_plugin;
	/* Clients that sent a scramble get the verify method of their plugin. */
	if (credentials.verify == ServerLoginCredentials::Verify::native_password)
		fields.verify.kind = AuthVerifyKind::native_password;
	else if (credentials.verify == ServerLoginCredentials::Verify::caching_sha2_password)
		fields.verify.kind = AuthVerifyKind::caching_sha2_password;
	if (!credentials.password) {
		fields.verify.nonce = credentials.nonce;
		fields.verify.response = credentials.scramble;
		fields.proof_ref = &auth_proof_ref;
	}
	if (!credentials.attrs.empty()) {
		auto attrs = parse_connect_attrs(credentials.attrs);
		if (attrs)
			fields.attributes = *attrs;
	}
	push_lua_client(L, client_ref);
	if (!push_handshake_response(L, fields)) {
		lua_pop(L, 1);
		return false;
	}
	return true;
}

} // namespace myproxy
