// The Lua side of one client session; see session_script.hpp.
#include "session_script.hpp"

#include "common/log.hpp"
#include "common/secret.hpp"
#include "common/server_login.hpp"
#include "worker/session_log.hpp"
#include "lua/lua_auth_verify.hpp"
#include "lua/lua_client.hpp"
#include "lua/lua_handshake_response.hpp"

#include <lua.hpp>

#include <new>

namespace myproxy {

const char *session_callback_name(SessionCallback callback) noexcept
{
	static const char *const names[] = {"on_connect", "on_handshake_response", "on_command_phase", "on_init_db",
					    "on_handshake_response"};
	return names[int(callback)];
}

CallbackOutcome::~CallbackOutcome()
{
	if (action) {
		if (auto *connect = std::get_if<ConnectAction>(&*action); connect && connect->password)
			wipe(*connect->password);
	}
}

void SessionScript::release() noexcept
{
	run_.reset();
	if (client_ref != LUA_NOREF) {
		detach_lua_client(L, client_ref);
		client_ref = LUA_NOREF;
	}
	release_auth_proof(L, auth_proof_ref);
}

bool SessionScript::create_client(ClientAttributes &attributes) noexcept
{
	client_ref = create_lua_client(L, attributes);
	return client_ref != LUA_NOREF;
}

void SessionScript::push_client() noexcept
{
	push_lua_client(L, client_ref);
}

ScriptDecision script_decision(const CallbackOutcome &outcome, bool proof_verified) noexcept
{
	ScriptDecision decision;
	decision.proof_verified = proof_verified;
	if (outcome.kind == CallbackOutcome::Kind::nil) {
		decision.verdict = ScriptDecision::Verdict::pass;
	} else if (outcome.kind == CallbackOutcome::Kind::action && outcome.action) {
		if (const auto *err = std::get_if<ErrAction>(&*outcome.action)) {
			decision.verdict = ScriptDecision::Verdict::refuse;
			decision.message = err->message;
		} else if (std::holds_alternative<ConnectAction>(*outcome.action)) {
			decision.verdict = ScriptDecision::Verdict::connect;
		}
	}
	return decision;
}

bool SessionScript::take_proof_verified() noexcept
{
	const bool verified = auth_proof_verified(L, auth_proof_ref);
	release_auth_proof(L, auth_proof_ref);
	return verified;
}

bool SessionScript::push_client_and_response(const ServerLoginCredentials &credentials) noexcept
{
	if (!lua_checkstack(L, 4))
		return false;
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

std::optional<CallbackOutcome> SessionScript::run(SessionCallback which, int nargs, bool fast_auth) noexcept
{
	callback = which;
	fast_auth_rules = fast_auth;
	try {
		run_ = std::make_unique<CallbackRun>(L);
	} catch (const std::bad_alloc &) {
		lua_pop(L, nargs);
		log(LogLevel::error, "%s failed: out of memory", session_callback_name(which));
		CallbackOutcome outcome;
		outcome.kind = CallbackOutcome::Kind::failed;
		return outcome;
	}
	run_->set_owner(&owner);
	if (!run_->start(handler, session_callback_name(which), nargs)) {
		run_.reset();
		if (which == SessionCallback::on_handshake_response || which == SessionCallback::change_user)
			log(LogLevel::error, "the listener's handler has no on_handshake_response");
		return CallbackOutcome{};
	}
	/* Suspended: nothing of this client is read until the callback is done (the session stops
	 * reading in the callback phases; the relay holds the packet). */
	if (run_->status() == CallbackStatus::suspended)
		return std::nullopt;
	return finished();
}

std::optional<CallbackOutcome> SessionScript::resume(int nargs) noexcept
{
	if (!suspended())
		return std::nullopt;
	run_->resume(nargs);
	if (run_->status() == CallbackStatus::suspended)
		return std::nullopt;
	return finished();
}

CallbackOutcome SessionScript::finished() noexcept
{
	CallbackOutcome outcome;
	try {
		if (run_->status() == CallbackStatus::failed) {
			outcome.kind = CallbackOutcome::Kind::failed;
			outcome.error = run_->error();
		} else {
			static const ActionRules *const rules[] = {&on_connect_rules, &on_handshake_response_rules,
								   &on_command_phase_rules, &on_init_db_rules,
								   &on_handshake_response_rules};
			/* In caching_sha2_password's fast phase nil means "ask for the password". */
			const ActionRules &rule = callback == SessionCallback::on_handshake_response && fast_auth_rules
							  ? on_handshake_response_fast_auth_rules
							  : *rules[int(callback)];
			ActionResult result = take_lua_action(run_->thread(), -1, rule);
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
	run_.reset();
	if (outcome.kind == CallbackOutcome::Kind::failed)
		log(LogLevel::error, "%s failed: %s", session_callback_name(callback),
		    outcome.error.empty() ? "out of memory" : outcome.error.c_str());
	return outcome;
}

} // namespace myproxy
