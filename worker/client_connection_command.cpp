// The command phase of a client connection: reacting to the relay's events, on_init_db, and
// COM_CHANGE_USER (the script decides again; the backend never sees the client's credentials).
// Worker side.  Exchanges with the backend run with the client held, one at a time, and their
// final reply reaches the client with the sequence id it expects.
#include "client_connection.hpp"
#include "worker/session_ending.hpp"

#include "common/change_user_packet.hpp"
#include "worker/connection_util.hpp"
#include "worker/worker_loop.hpp"

#include "common/auth_switch.hpp"
#include "common/command_packet.hpp"
#include "common/err_packet.hpp"
#include "common/log.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/native_password.hpp"
#include "common/ok_packet.hpp"
#include "lua/callback_run.hpp"
#include "lua/lua_auth_verify.hpp"

#include <lua.hpp>
#include <openssl/crypto.h>

#include <cstring>

namespace myproxy {

/* Pushes a string with lua_pushlstring() inside a protected call: on a full Lua heap it returns
 * false instead of raising. */
static int push_string_unprotected(lua_State *L)
{
	const auto *text = static_cast<const std::string_view *>(lua_touserdata(L, 1));
	lua_pushlstring(L, text->data(), text->size());
	return 1;
}

static bool push_string(lua_State *L, std::string_view text) noexcept
{
	if (!lua_checkstack(L, 3))
		return false;
	lua_pushcfunction(L, push_string_unprotected);
	lua_pushlightuserdata(L, &text);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		lua_pop(L, 1);
		return false;
	}
	return true;
}

static ByteSpan payload_of(ByteSpan packet) noexcept
{
	return packet.subspan(PACKET_HEADER_SIZE);
}

void ClientConnection::relay_event(RelayEvent event) noexcept
{
	try {
		while (event.kind != RelayEvent::Kind::none) {
			handle_relay_event(event);
			if (phase != Phase::relay)
				return;
			if (script.suspended())
				break; /* resume_callback() goes on */
			event = relay->resume();
		}
		update_events();
	} catch (const std::exception &e) {
		log(LogLevel::error, "relay: %s", e.what());
		close();
	}
}

void ClientConnection::handle_relay_event(RelayEvent &event)
{
	switch (event.kind) {
	case RelayEvent::Kind::none:
		break;
	case RelayEvent::Kind::closed: {
		const char *reason = relay_close_reason_name(event.close_reason);
		switch (event.close_reason) {
		case RelayEvent::CloseReason::client_quit:
		case RelayEvent::CloseReason::client_closed:
			log(LogLevel::debug, "%s", reason);
			break;
		case RelayEvent::CloseReason::backend_closed:
			log(LogLevel::info, "%s", reason);
			(void)send_final_err(*relay, ER_CONNECTION_KILLED, "Lost connection to the backend server",
					     client_capabilities);
			break;
		case RelayEvent::CloseReason::client_error:
		case RelayEvent::CloseReason::backend_error:
			if (event.close_reason == RelayEvent::CloseReason::backend_error)
				(void)send_final_err(*relay, ER_CONNECTION_KILLED, "Lost connection to the backend server",
						     client_capabilities);
			if (event.error_number == tls_errno) {
				const StreamSocket &stream = event.close_reason == RelayEvent::CloseReason::client_error
								     ? client_stream
								     : backend.stream();
				log(LogLevel::info, "%s: %s", reason, stream.tls_error().c_str());
			} else {
				log(LogLevel::info, "%s: %s", reason, std::strerror(event.error_number));
			}
			break;
		case RelayEvent::CloseReason::packet_too_large:
		case RelayEvent::CloseReason::protocol_error:
		case RelayEvent::CloseReason::out_of_memory:
			log(LogLevel::warning, "%s", reason);
			if (event.close_reason == RelayEvent::CloseReason::protocol_error)
				(void)send_final_err(*relay, ER_NET_READ_ERROR,
						     relay->pending_report(RelaySide::backend) != nullptr
							     ? "The backend asked for a LOCAL INFILE the client did not allow"
							     : "Malformed packet",
						     client_capabilities);
			break;
		}
		close();
		break;
	}
	case RelayEvent::Kind::command:
		if (event.start.first_byte == COM_INIT_DB)
			init_db_command(event);
		else if (event.start.first_byte == COM_CHANGE_USER)
			change_user_command(event);
		else
			relay->forward_packet(RelaySide::client);
		break;
	case RelayEvent::Kind::captured:
		captured_packet(event);
		break;
	}
}

bool ClientConnection::idle_for_drain() const noexcept
{
	return phase == Phase::relay && relay && intercept == Intercept::none &&
	       !script.suspended() && relay_session_idle(*relay);
}

void ClientConnection::backend_timed_out() noexcept
{
	if (phase != Phase::relay || !relay)
		return;
	log(LogLevel::warning, "closing: the backend was silent for %llu ms (read_timeout)",
	    static_cast<unsigned long long>(backend.read_timeout_usec() / 1000));
	(void)send_final_err(*relay, ER_NET_READ_ERROR, "The backend server did not answer within read_timeout",
			     client_capabilities);
	if (backend.cluster())
		worker.report_node_suspect(*backend.cluster(), backend.node());
	close();
}

void ClientConnection::relay_failed(const char *what)
{
	log(LogLevel::warning, "%s", what);
	close();
}

void ClientConnection::answer_client(const ServerError &error, std::string_view message)
{
	const std::vector<std::uint8_t> packet = make_err(error, message, client_sequence);
	if (!relay->send_to_client(packet))
		relay_failed("cannot queue an ERR for the client: a backend reply is in flight");
}

void ClientConnection::end_intercept() noexcept
{
	intercept = Intercept::none;
	if (relay)
		relay->hold_client(false);
	pending_database.clear();
	pending_user.clear();
	pending_fingerprint.reset();
	change_login.reset();
}

/* --- COM_INIT_DB -------------------------------------------------------------------------------- */

void ClientConnection::init_db_command(const RelayEvent &event)
{
	client_sequence = std::uint8_t(event.start.header.sequence_id + 1);
	auto command = parse_init_db(payload_of(event.packet));
	if (!command) {
		log(LogLevel::info, "refused COM_INIT_DB: %s", command.error().what);
		relay->drop_packet(RelaySide::client);
		answer_client(ER_DBACCESS_DENIED, "Access denied: invalid database name");
		return;
	}
	lua_State *L = worker.lua();
	if (!lua_checkstack(L, 3)) {
		relay_failed("Lua stack full");
		return;
	}
	script.push_client();
	if (!push_string(L, command->schema)) {
		lua_pop(L, 1);
		relay->drop_packet(RelaySide::client);
		answer_client(ER_OUT_OF_RESOURCES, "Out of memory");
		return;
	}
	intercept = Intercept::init_db_script;
	run_callback(SessionCallback::on_init_db, 2);
}

void ClientConnection::init_db_outcome(CallbackOutcome &outcome)
{
	intercept = Intercept::none;
	if (outcome.kind == CallbackOutcome::Kind::failed) {
		relay->drop_packet(RelaySide::client);
		answer_client(ER_UNKNOWN_ERROR, "myproxy: on_init_db failed");
		return;
	}
	if (outcome.kind != CallbackOutcome::Kind::action) {
		relay->forward_packet(RelaySide::client);
		return;
	}
	if (const auto *err = std::get_if<ErrAction>(&*outcome.action)) {
		relay->drop_packet(RelaySide::client);
		answer_client(ER_DBACCESS_DENIED, err->message);
		return;
	}
	if (const auto *init_db = std::get_if<InitDbAction>(&*outcome.action)) {
		std::vector<std::uint8_t> packet;
		const std::size_t start = begin_packet(packet);
		build_com_init_db(packet, init_db->database);
		std::uint8_t sequence_id = 0;
		finish_packet(packet, start, sequence_id);
		if (!relay->replace_packet(RelaySide::client, packet))
			relay_failed("the renamed COM_INIT_DB does not fit the relay buffer");
		return;
	}
	relay->forward_packet(RelaySide::client);
}

/* --- COM_CHANGE_USER ---------------------------------------------------------------------------- */

void ClientConnection::change_user_command(const RelayEvent &event)
{
	std::vector<std::uint8_t> out;
	const ServerLoginStatus status =
		server_login->change_user(payload_of(event.packet), event.start.header.sequence_id, out);
	client_sequence = server_login->next_sequence_id();
	relay->drop_packet(RelaySide::client);
	relay->hold_client(true);
	change_user_status(status, out);
}

/* What server_login asked for during a COM_CHANGE_USER: the script, the client's password after a
 * switch to mysql_clear_password, or (malformed) the end of the session. */
void ClientConnection::change_user_status(ServerLoginStatus status, std::vector<std::uint8_t> &out)
{
	switch (status) {
	case ServerLoginStatus::ASK_SCRIPT:
		run_change_user_script();
		break;
	case ServerLoginStatus::CONTINUE:
		if (!relay->send_to_client(out)) {
			relay_failed("cannot queue the AuthSwitchRequest: a backend reply is in flight");
			return;
		}
		intercept = Intercept::change_user_password;
		relay->hold_client(false);
		relay->capture_next(RelaySide::client);
		break;
	case ServerLoginStatus::FAILED: {
		const ServerLoginFailure &failure = server_login->failure();
		log(failure.protocol_violation ? LogLevel::warning : LogLevel::info, "%s", failure.reason.c_str());
		finish_with(std::move(out));
		break;
	}
	case ServerLoginStatus::START_TLS:
	case ServerLoginStatus::AUTHENTICATED:
	case ServerLoginStatus::REFUSED:
		relay_failed("COM_CHANGE_USER: unexpected step of the server login");
		break;
	}
}

void ClientConnection::run_change_user_script()
{
	intercept = Intercept::change_user_script;
	relay->hold_client(true);
	if (!script.push_client_and_response(server_login->credentials())) {
		/* Back to the established session, then our own answer. */
		std::vector<std::uint8_t> ignored;
		(void)server_login->script_decided({}, ignored);
		answer_client(ER_OUT_OF_RESOURCES, "Out of memory");
		end_intercept();
		return;
	}
	run_callback(SessionCallback::change_user, 2);
}

void ClientConnection::change_user_outcome(CallbackOutcome &outcome)
{
	const ScriptDecision decision = script_decision(outcome, script.take_proof_verified());
	if (decision.verdict == ScriptDecision::Verdict::refuse)
		log(LogLevel::info, "COM_CHANGE_USER refused: %s", std::string(decision.message).c_str());
	std::vector<std::uint8_t> out;
	if (server_login->script_decided(decision, out) != ServerLoginStatus::AUTHENTICATED) {
		if (!relay->send_to_client(out))
			relay_failed("cannot queue an ERR for the client: a backend reply is in flight");
		end_intercept();
		return;
	}
	auto *connect = std::get_if<ConnectAction>(&*outcome.action);
	if (!backend.same_backend(*connect)) {
		log(LogLevel::info, "COM_CHANGE_USER to another backend refused");
		answer_client(ER_ACCESS_DENIED, "COM_CHANGE_USER to another server is not supported");
		end_intercept();
		return;
	}

	std::vector<std::uint8_t> packet;
	if (backend.same_login(*connect)) {
		/* The same account: a reset gives the client a fresh session without a login. */
		const std::size_t start = begin_packet(packet);
		std::uint8_t sequence_id = 0;
		build_com_reset_connection(packet);
		finish_packet(packet, start, sequence_id);
		pending_database = connect->database;
		intercept = Intercept::backend_reset;
	} else {
		/* The account's plugin at login is the best first guess (the backend switches us if the
		 * new account uses another), unless it cannot answer up front: mysql_clear_password
		 * waits for the backend's request, as at login, and a SHA1 alone speaks only native. */
		std::vector<ConnectAttr> attrs;
		ClientLoginParams params = backend.login_params(*connect, attrs);
		if (!connect->password_sha1 && backend.session().auth_plugin != MYSQL_CLEAR_PASSWORD)
			params.initial_plugin = backend.session().auth_plugin;
		change_login = std::make_unique<ClientLogin>(params);
		if (change_login->change_user(backend.session(), packet) != ClientLoginStatus::CONTINUE) {
			log(LogLevel::warning, "COM_CHANGE_USER for the backend: %s",
			    change_login->failure().message.c_str());
			answer_client(ER_UNKNOWN_ERROR, "myproxy: cannot encode COM_CHANGE_USER for the backend");
			end_intercept();
			return;
		}
		pending_user = connect->user;
		pending_fingerprint = BackendSide::credentials_fingerprint(*connect);
		intercept = Intercept::backend_change_user;
	}
	if (!relay->send_to_backend(packet)) {
		relay_failed("cannot queue a command for the backend");
		return;
	}
	relay->capture_next(RelaySide::backend);
}

/* Relays the backend's final reply of our exchange to the client, renumbered for the client's
 * exchange. */
void ClientConnection::backend_reply_to_client(ByteSpan packet)
{
	std::vector<std::uint8_t> copy(packet.begin(), packet.end());
	copy[3] = client_sequence;
	relay->drop_packet(RelaySide::backend);
	if (!relay->send_to_client(copy)) {
		relay_failed("cannot queue the backend's reply for the client");
		return;
	}
	end_intercept();
}

/* The backend's answer to our COM_CHANGE_USER, fed to change_login: further rounds go back to the
 * backend, the final OK or ERR to the client. */
void ClientConnection::change_user_reply(const RelayEvent &event)
{
	std::vector<std::uint8_t> out;
	const ClientLoginStatus status =
		change_login->feed(payload_of(event.packet), event.start.header.sequence_id, out);
	switch (status) {
	case ClientLoginStatus::SUCCEEDED:
		backend.user_changed(std::move(pending_user), pending_fingerprint, change_login->success());
		backend_reply_to_client(event.packet);
		return;
	case ClientLoginStatus::CONTINUE:
		relay->drop_packet(RelaySide::backend);
		if (!out.empty()) {
			const bool queued = relay->send_to_backend(out);
			wipe(out);
			if (!queued) {
				relay_failed("cannot queue the auth response for the backend");
				return;
			}
		}
		relay->capture_next(RelaySide::backend);
		return;
	case ClientLoginStatus::FAILED:
	case ClientLoginStatus::START_TLS:
		break;
	}
	const ClientLoginFailure &failure = change_login->failure();
	if (failure.kind == ClientLoginFailure::Kind::SERVER_ERROR) {
		backend_reply_to_client(event.packet);
		return;
	}
	log(LogLevel::warning, "COM_CHANGE_USER on the backend failed: %s", failure.message.c_str());
	relay->drop_packet(RelaySide::backend);
	/* The backend waits for an answer we cannot give: this session is lost. */
	fail_login(ER_NOT_SUPPORTED_AUTH_MODE, "myproxy: the backend asks for an unsupported authentication method");
}

void ClientConnection::captured_packet(const RelayEvent &event)
{
	const ByteSpan payload = payload_of(event.packet);
	const std::uint8_t header = payload.empty() ? 0 : payload[0];

	if (event.side == RelaySide::client) {
		if (intercept != Intercept::change_user_password) {
			relay_failed("unexpected packet from the client");
			return;
		}
		if (event.start.header.sequence_id != client_sequence) {
			relay_failed("COM_CHANGE_USER: auth response out of order");
			return;
		}
		std::vector<std::uint8_t> out;
		const ServerLoginStatus status = server_login->feed(payload, event.start.header.sequence_id, out);
		client_sequence = server_login->next_sequence_id();
		relay->drop_packet(RelaySide::client);
		change_user_status(status, out);
		return;
	}

	switch (intercept) {
	case Intercept::backend_reset:
		if (header == OK_HEADER && !pending_database.empty()) {
			relay->drop_packet(RelaySide::backend);
			std::vector<std::uint8_t> packet;
			const std::size_t start = begin_packet(packet);
			build_com_init_db(packet, pending_database);
			std::uint8_t sequence_id = 0;
			finish_packet(packet, start, sequence_id);
			intercept = Intercept::backend_init_db;
			if (!relay->send_to_backend(packet)) {
				relay_failed("cannot queue a command for the backend");
				return;
			}
			relay->capture_next(RelaySide::backend);
			return;
		}
		if (header == OK_HEADER || header == ERR_HEADER) {
			backend_reply_to_client(event.packet);
			return;
		}
		break;

	case Intercept::backend_init_db:
		if (header == OK_HEADER || header == ERR_HEADER) {
			backend_reply_to_client(event.packet);
			return;
		}
		break;

	case Intercept::backend_change_user:
		change_user_reply(event);
		return;

	default:
		break;
	}
	log(LogLevel::warning, "unexpected reply from the backend (header byte 0x%02x) during COM_CHANGE_USER",
	    header);
	relay->drop_packet(RelaySide::backend);
	fail_login(ER_UNKNOWN_ERROR, "myproxy: unexpected reply from the backend");
}

} // namespace myproxy
