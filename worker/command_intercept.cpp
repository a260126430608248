// The command-phase interceptions: COM_INIT_DB and COM_CHANGE_USER; see command_intercept.hpp.
#include "command_intercept.hpp"

#include "worker/backend_side.hpp"
#include "worker/connection_util.hpp"
#include "worker/relay.hpp"
#include "worker/session_log.hpp"

#include "common/auth_switch.hpp"
#include "common/command_packet.hpp"
#include "common/err_packet.hpp"
#include "common/log.hpp"
#include "common/mysql_packet.hpp"
#include "common/ok_packet.hpp"

#include <lua.hpp>

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

CommandIntercept::CommandIntercept(Relay &relay_, ServerLogin &server_login_, SessionScript &script_,
				   BackendSide &backend_, const SessionLog &log_, Host &host_,
				   std::uint32_t capabilities_) noexcept
	: relay(relay_), server_login(server_login_), script(script_), backend(backend_), log(log_), host(host_),
	  capabilities(capabilities_)
{
}

CommandIntercept::~CommandIntercept() noexcept = default;

void CommandIntercept::command(const RelayEvent &event)
{
	if (event.start.first_byte == COM_INIT_DB)
		init_db_command(event);
	else if (event.start.first_byte == COM_CHANGE_USER)
		change_user_command(event);
	else
		relay.forward_packet(RelaySide::client);
}

std::vector<std::uint8_t> CommandIntercept::make_err(const ServerError &error, std::string_view message) const
{
	std::vector<std::uint8_t> out;
	const std::size_t start = begin_packet(out);
	build_err_packet(out, error, message, capabilities);
	std::uint8_t sequence_id = client_sequence;
	finish_packet(out, start, sequence_id);
	return out;
}

/* False when the ERR cannot be queued: the session is closed then, and so is this interception. */
bool CommandIntercept::answer_client(const ServerError &error, std::string_view message)
{
	const std::vector<std::uint8_t> packet = make_err(error, message);
	if (relay.send_to_client(packet))
		return true;
	host.relay_failed("cannot queue an ERR for the client: a backend reply is in flight");
	return false;
}

/* The backend waits for an answer we cannot give: this session is lost. */
void CommandIntercept::end_with_err(const ServerError &error, std::string_view message) noexcept
{
	try {
		host.finish_with(make_err(error, message));
	} catch (const std::bad_alloc &) {
		host.relay_failed("out of memory");
	}
}

void CommandIntercept::end() noexcept
{
	step = Step::none;
	relay.hold_client(false);
	pending_character_set = 0;
	pending_user.clear();
	change_login.reset();
}

/* --- COM_INIT_DB -------------------------------------------------------------------------------- */

void CommandIntercept::init_db_command(const RelayEvent &event)
{
	client_sequence = std::uint8_t(event.start.header.sequence_id + 1);
	auto command = parse_init_db(payload_of(event.packet));
	if (!command) {
		log(LogLevel::info, "refused COM_INIT_DB: %s", command.error().what);
		relay.drop_packet(RelaySide::client);
		answer_client(ER_DBACCESS_DENIED, "Access denied: invalid database name");
		return;
	}
	lua_State *L = script.lua();
	if (!lua_checkstack(L, 3)) {
		host.relay_failed("Lua stack full");
		return;
	}
	script.push_client();
	if (!push_string(L, command->schema)) {
		lua_pop(L, 1);
		relay.drop_packet(RelaySide::client);
		answer_client(ER_OUT_OF_RESOURCES, "Out of memory");
		return;
	}
	step = Step::init_db_script;
	host.run_callback(SessionCallback::on_init_db, 2);
}

void CommandIntercept::init_db_outcome(CallbackOutcome &outcome)
{
	step = Step::none;
	if (outcome.kind == CallbackOutcome::Kind::failed) {
		relay.drop_packet(RelaySide::client);
		answer_client(ER_UNKNOWN_ERROR, "myproxy: on_init_db failed");
		return;
	}
	if (outcome.kind != CallbackOutcome::Kind::action) {
		relay.forward_packet(RelaySide::client);
		return;
	}
	if (const auto *err = std::get_if<ErrAction>(&*outcome.action)) {
		relay.drop_packet(RelaySide::client);
		answer_client(ER_DBACCESS_DENIED, err->message);
		return;
	}
	if (const auto *init_db = std::get_if<InitDbAction>(&*outcome.action)) {
		std::vector<std::uint8_t> packet;
		const std::size_t start = begin_packet(packet);
		build_com_init_db(packet, init_db->database);
		std::uint8_t sequence_id = 0;
		finish_packet(packet, start, sequence_id);
		if (!relay.replace_packet(RelaySide::client, packet))
			host.relay_failed("the renamed COM_INIT_DB does not fit the relay buffer");
		return;
	}
	relay.forward_packet(RelaySide::client);
}

/* --- COM_CHANGE_USER ---------------------------------------------------------------------------- */

void CommandIntercept::change_user_command(const RelayEvent &event)
{
	std::vector<std::uint8_t> out;
	const ServerLoginStatus status =
		server_login.change_user(payload_of(event.packet), event.start.header.sequence_id, out);
	client_sequence = server_login.next_sequence_id();
	relay.drop_packet(RelaySide::client);
	relay.hold_client(true);
	change_user_status(status, out);
}

/* What server_login asked for during a COM_CHANGE_USER: the script, the client's password after a
 * switch to mysql_clear_password, or (malformed) the end of the session. */
void CommandIntercept::change_user_status(ServerLoginStatus status, std::vector<std::uint8_t> &out)
{
	switch (status) {
	case ServerLoginStatus::ASK_SCRIPT:
		run_change_user_script();
		break;
	case ServerLoginStatus::CONTINUE:
		if (!relay.send_to_client(out)) {
			host.relay_failed("cannot queue the AuthSwitchRequest: a backend reply is in flight");
			return;
		}
		step = Step::change_user_password;
		relay.hold_client(false);
		relay.capture_next(RelaySide::client);
		break;
	case ServerLoginStatus::FAILED: {
		const ServerLoginFailure &failure = server_login.failure();
		log(failure.protocol_violation ? LogLevel::warning : LogLevel::info, "%s", failure.reason.c_str());
		host.finish_with(std::move(out));
		break;
	}
	case ServerLoginStatus::START_TLS:
	case ServerLoginStatus::AUTHENTICATED:
	case ServerLoginStatus::REFUSED:
		host.relay_failed("COM_CHANGE_USER: unexpected step of the server login");
		break;
	}
}

void CommandIntercept::run_change_user_script()
{
	step = Step::change_user_script;
	relay.hold_client(true);
	/* The credentials are forgotten once the script has decided. */
	pending_character_set = server_login.credentials().character_set.value_or(server_login.character_set());
	if (!script.push_client_and_response(server_login.credentials())) {
		/* Back to the established session, then our own answer. */
		std::vector<std::uint8_t> ignored;
		(void)server_login.script_decided({}, ignored);
		if (answer_client(ER_OUT_OF_RESOURCES, "Out of memory"))
			end();
		return;
	}
	host.run_callback(SessionCallback::change_user, 2);
}

void CommandIntercept::change_user_outcome(CallbackOutcome &outcome)
{
	const ScriptDecision decision = script_decision(outcome, script.take_proof_verified());
	if (decision.verdict == ScriptDecision::Verdict::refuse)
		log(LogLevel::info, "COM_CHANGE_USER refused: %s", std::string(decision.message).c_str());
	std::vector<std::uint8_t> out;
	if (server_login.script_decided(decision, out) != ServerLoginStatus::AUTHENTICATED) {
		if (!relay.send_to_client(out))
			host.relay_failed("cannot queue an ERR for the client: a backend reply is in flight");
		else
			end();
		return;
	}
	auto *connect = std::get_if<ConnectAction>(&*outcome.action);
	if (!backend.same_backend(*connect)) {
		log(LogLevel::info, "COM_CHANGE_USER to another backend refused");
		if (answer_client(ER_ACCESS_DENIED, "COM_CHANGE_USER to another server is not supported"))
			end();
		return;
	}

	send_backend_change_user(*connect);
}

/* Whatever the account, the backend gets a COM_CHANGE_USER: only the server's own reset gives the
 * client what it would have directly (no database unless the packet names one, the packet's
 * character set, no variables, temporary tables or prepared statements). */
void CommandIntercept::send_backend_change_user(const ConnectAction &connect)
{
	/* The account's plugin at login is the best first guess (the backend switches us if the new
	 * account uses another), unless it cannot answer up front: mysql_clear_password waits for the
	 * backend's request, as at login (its password may be longer than the 255 bytes the
	 * command's auth field holds), and a SHA1 alone speaks only native. */
	std::vector<ConnectAttr> attrs;
	ClientLoginParams params = backend.login_params(connect, attrs);
	params.character_set = pending_character_set;
	if (!connect.password_sha1 && backend.session().auth_plugin != MYSQL_CLEAR_PASSWORD)
		params.initial_plugin = backend.session().auth_plugin;
	change_login = std::make_unique<ClientLogin>(params);
	std::vector<std::uint8_t> packet;
	if (change_login->change_user(backend.session(), packet) != ClientLoginStatus::CONTINUE) {
		log(LogLevel::warning, "COM_CHANGE_USER for the backend: %s", change_login->failure().message.c_str());
		if (answer_client(ER_UNKNOWN_ERROR, "myproxy: cannot encode COM_CHANGE_USER for the backend"))
			end();
		return;
	}
	pending_user = connect.user;
	step = Step::backend_change_user;
	const bool queued = relay.send_to_backend(packet);
	wipe(packet);
	if (!queued) {
		host.relay_failed("cannot queue a command for the backend");
		return;
	}
	relay.capture_next(RelaySide::backend);
}

/* Relays the backend's final reply of our exchange to the client, renumbered for the client's
 * exchange. */
void CommandIntercept::backend_reply_to_client(ByteSpan packet)
{
	std::vector<std::uint8_t> copy(packet.begin(), packet.end());
	copy[3] = client_sequence;
	relay.drop_packet(RelaySide::backend);
	if (!relay.send_to_client(copy)) {
		host.relay_failed("cannot queue the backend's reply for the client");
		return;
	}
	end();
}

/* The backend's answer to our COM_CHANGE_USER, fed to change_login: further rounds go back to the
 * backend, the final OK or ERR to the client. */
void CommandIntercept::change_user_reply(const RelayEvent &event)
{
	std::vector<std::uint8_t> out;
	const ClientLoginStatus status =
		change_login->feed(payload_of(event.packet), event.start.header.sequence_id, out);
	switch (status) {
	case ClientLoginStatus::SUCCEEDED:
		backend.user_changed(std::move(pending_user), change_login->success());
		backend_reply_to_client(event.packet);
		return;
	case ClientLoginStatus::CONTINUE:
		relay.drop_packet(RelaySide::backend);
		if (!out.empty()) {
			const bool queued = relay.send_to_backend(out);
			wipe(out);
			if (!queued) {
				host.relay_failed("cannot queue the auth response for the backend");
				return;
			}
		}
		relay.capture_next(RelaySide::backend);
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
	relay.drop_packet(RelaySide::backend);
	/* The backend waits for an answer we cannot give: this session is lost. */
	const ByteSpan payload = payload_of(event.packet);
	if (!payload.empty() && payload[0] == AUTH_SWITCH_REQUEST_HEADER)
		end_with_err(ER_NOT_SUPPORTED_AUTH_MODE,
			     "myproxy: the backend asks for an unsupported authentication method");
	else
		end_with_err(ER_UNKNOWN_ERROR, "myproxy: unexpected reply from the backend");
}

void CommandIntercept::captured(const RelayEvent &event)
{
	const ByteSpan payload = payload_of(event.packet);
	const std::uint8_t header = payload.empty() ? 0 : payload[0];

	if (event.side == RelaySide::client) {
		if (step != Step::change_user_password) {
			host.relay_failed("unexpected packet from the client");
			return;
		}
		if (event.start.header.sequence_id != client_sequence) {
			host.relay_failed("COM_CHANGE_USER: auth response out of order");
			return;
		}
		std::vector<std::uint8_t> out;
		const ServerLoginStatus status = server_login.feed(payload, event.start.header.sequence_id, out);
		client_sequence = server_login.next_sequence_id();
		relay.drop_packet(RelaySide::client);
		change_user_status(status, out);
		return;
	}

	if (step == Step::backend_change_user) {
		change_user_reply(event);
		return;
	}
	log(LogLevel::warning, "unexpected reply from the backend (header byte 0x%02x) during COM_CHANGE_USER",
	    header);
	relay.drop_packet(RelaySide::backend);
	end_with_err(ER_UNKNOWN_ERROR, "myproxy: unexpected reply from the backend");
}

} // namespace myproxy
