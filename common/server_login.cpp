// myproxy's server login; see server_login.hpp.  The states follow the client's packets: greeting
// sent, (SSLRequest, TLS), HandshakeResponse41, an optional AuthSwitchRequest, caching_sha2_password's
// full path, then the script; COM_CHANGE_USER re-enters at "the script" or at a switch to
// mysql_clear_password.  Every ERR carries the sequence id the client waits for.
#include "server_login.hpp"

#include "auth_switch.hpp"
#include "caching_sha2_password.hpp"
#include "change_user_packet.hpp"
#include "err_packet.hpp"
#include "handshake_response41.hpp"
#include "handshake_v10.hpp"
#include "mysql_capabilities.hpp"
#include "mysql_packet.hpp"

#include <algorithm>

namespace myproxy {

/* mysql_clear_password sends the password NUL-terminated. */
static std::string_view cleartext(ByteSpan auth) noexcept
{
	std::string_view password = ByteReader::as_string(auth);
	if (!password.empty() && password.back() == '\0')
		password.remove_suffix(1);
	return password;
}

ServerLogin::ServerLogin(const ServerLoginParams &params)
	: rsa(params.rsa), connection_id(params.connection_id), nonce(params.nonce),
	  server_capabilities(params.capabilities),
	  server_mariadb_capabilities(params.capabilities & CLIENT_LONG_PASSWORD ? 0 : params.mariadb_capabilities),
	  server_character_set(params.character_set), tls_offered(params.tls_offered),
	  tls_required(params.tls_required), local_transport(params.local_transport)
{
	static_assert(client_auth_plugin_count <= 8, "offered is a byte of bits");
	if (!params.plugins.empty())
		first_plugin = params.plugins.front();
	offered = std::uint8_t(1u << unsigned(first_plugin));
	for (const ClientAuthPlugin each : params.plugins)
		offered |= std::uint8_t(1u << unsigned(each));
	ex().server_version = params.server_version;
}

ServerLogin::~ServerLogin() noexcept
{
	forget_secrets();
}

void ServerLogin::forget_secrets() noexcept
{
	if (!exchange)
		return;
	exchange->password.clear();
	wipe(exchange->scramble);
	wipe(exchange->login_packet);
	exchange->password_given = false;
	exchange->shown = {};
}

ServerLogin::Exchange &ServerLogin::ex()
{
	if (!exchange)
		exchange = std::make_unique<Exchange>();
	return *exchange;
}

void ServerLogin::established() noexcept
{
	forget_secrets();
	exchange.reset();
	changing_user = false;
	state = State::ESTABLISHED;
}

const ServerLoginCredentials &ServerLogin::credentials() const noexcept
{
	static const ServerLoginCredentials none;
	return exchange ? exchange->shown : none;
}

const ServerLoginFailure &ServerLogin::failure() const noexcept
{
	static const ServerLoginFailure none;
	return exchange ? exchange->error : none;
}

bool ServerLogin::offers(ClientAuthPlugin candidate) const noexcept
{
	return (offered >> unsigned(candidate)) & 1u;
}

bool ServerLogin::waiting_for_client() const noexcept
{
	return state == State::RESPONSE || state == State::SWITCHED || state == State::FULL_AUTH ||
	       state == State::KEY_SENT;
}

void ServerLogin::append_err(std::vector<std::uint8_t> &out, const ServerError &code, std::string_view message)
{
	const std::size_t start = begin_packet(out);
	build_err_packet(out, code, message, negotiated != 0 ? negotiated : CLIENT_PROTOCOL_41);
	finish_packet(out, start, sequence_id);
}

void ServerLogin::append_more_data(std::vector<std::uint8_t> &out, ByteSpan data)
{
	const std::size_t start = begin_packet(out);
	build_auth_more_data(out, data);
	finish_packet(out, start, sequence_id);
}

void ServerLogin::append_switch(std::vector<std::uint8_t> &out, ClientAuthPlugin to)
{
	const std::size_t start = begin_packet(out);
	/* mysql_clear_password has no nonce; the others answer the greeting's again. */
	build_auth_switch_request(out, client_auth_plugin_name(to),
				  to == ClientAuthPlugin::clear_password ? ByteSpan() : ByteSpan(nonce));
	finish_packet(out, start, sequence_id);
}

ServerLoginStatus ServerLogin::fail(std::vector<std::uint8_t> &out, const ServerError &code, std::string_view message,
				    std::string reason, bool protocol_violation)
{
	forget_secrets();
	append_err(out, code, message);
	state = State::FAILED;
	ex().error.error = code;
	ex().error.reason = std::move(reason);
	ex().error.protocol_violation = protocol_violation;
	return ServerLoginStatus::FAILED;
}

ServerLoginStatus ServerLogin::bad_handshake(std::vector<std::uint8_t> &out, std::string reason)
{
	return fail(out, ER_HANDSHAKE_ERROR, "Bad handshake", std::move(reason), true);
}

void ServerLogin::abort(std::vector<std::uint8_t> &out, const ServerError &code, std::string_view message)
{
	fail(out, code, message, std::string(message), false);
}

ServerLoginStatus ServerLogin::greeting(std::vector<std::uint8_t> &out)
{
	if (state != State::GREETING)
		return fail(out, ER_UNKNOWN_ERROR, "myproxy: internal error", "greeting() called twice", false);
	HandshakeV10Params params;
	params.server_version = ex().server_version;
	params.connection_id = connection_id;
	params.scramble = nonce;
	params.capabilities = server_capabilities | (tls_offered ? CLIENT_SSL : 0);
	params.mariadb_capabilities = server_mariadb_capabilities;
	params.character_set = server_character_set;
	params.status_flags = SERVER_STATUS_AUTOCOMMIT;
	params.auth_plugin_name = client_auth_plugin_name(first_plugin);
	const std::size_t start = begin_packet(out);
	if (!build_handshake_v10(out, params)) {
		out.resize(start);
		state = State::FAILED;
		ex().error.error = ER_UNKNOWN_ERROR;
		ex().error.reason = "cannot encode the greeting (server_version '" + ex().server_version + "')";
		return ServerLoginStatus::FAILED;
	}
	finish_packet(out, start, sequence_id);
	state = State::RESPONSE;
	return ServerLoginStatus::CONTINUE;
}

ServerLoginStatus ServerLogin::feed(ByteSpan payload, std::uint8_t id, std::vector<std::uint8_t> &out)
{
	switch (state) {
	case State::RESPONSE:
	case State::SWITCHED:
	case State::FULL_AUTH:
	case State::KEY_SENT:
		break;
	case State::ESTABLISHED:
		sequence_id = std::uint8_t(id + 1);
		return bad_handshake(out, "a second HandshakeResponse41");
	case State::FAILED:
		ex().error.reason = "a packet after the login failed";
		return ServerLoginStatus::FAILED;
	case State::GREETING:
	case State::TLS_HANDSHAKE:
	case State::SCRIPT:
		sequence_id = std::uint8_t(id + 1);
		return bad_handshake(out, "a packet while none was expected");
	}
	if (id != sequence_id) {
		const std::string reason = "login packet with sequence id " + std::to_string(id) + " where " +
					   std::to_string(sequence_id) + " was expected";
		sequence_id = std::uint8_t(id + 1);
		return bad_handshake(out, reason);
	}
	sequence_id = std::uint8_t(id + 1);
	if (state == State::RESPONSE)
		return handshake_response(payload, out);
	if (changing_user)
		return change_user_auth_packet(payload, out);
	if (state == State::SWITCHED)
		return accept_auth_data(payload, out);
	return full_auth_packet(payload, out);
}

ServerLoginStatus ServerLogin::handshake_response(ByteSpan payload, std::vector<std::uint8_t> &out)
{
	auto response = parse_handshake_response41(payload);
	if (!response)
		return bad_handshake(out, std::string("malformed HandshakeResponse41: ") + response.error().what +
						  " (offset " + std::to_string(response.error().offset) + ")");
	if (response->is_ssl_request) {
		if (!tls_offered)
			return fail(out, ER_HANDSHAKE_ERROR, "TLS is not supported by this server",
				    "the client asked for TLS, which this listener does not offer", false);
		if (tls_active)
			return bad_handshake(out, "a second SSLRequest");
		state = State::TLS_HANDSHAKE;
		return ServerLoginStatus::START_TLS;
	}
	if (ex().refusal) {
		negotiated = response->capabilities & server_capabilities;
		return fail(out, *ex().refusal, ex().refusal_message, "refused after the greeting: " + ex().refusal_message, false);
	}
	if (tls_required && !tls_active)
		return fail(out, ER_ACCESS_DENIED, "Access denied: this server requires SSL (require_ssl); connect with TLS",
			    "refused: the listener requires TLS (require_ssl) and the client did not start it", false);
	negotiated = response->capabilities & server_capabilities;
	negotiated_mariadb = response->mariadb_capabilities & server_mariadb_capabilities;
	client_character_set = response->character_set;
	client_max_packet_size = response->max_packet_size;
	if (!(response->capabilities & CLIENT_PLUGIN_AUTH))
		return fail(out, ER_NOT_SUPPORTED_AUTH_MODE,
			    "Client does not support authentication protocol requested by server; consider upgrading MariaDB client",
			    "the client cannot switch auth plugins (no CLIENT_PLUGIN_AUTH)", false);
	ex().login_packet.assign(payload.begin(), payload.end());
	const auto named = parse_client_auth_plugin(response->auth_plugin_name);
	if (named && offers(*named)) {
		plugin = *named;
		return accept_auth_data(response->auth_response, out);
	}
	plugin = first_plugin;
	append_switch(out, plugin);
	state = State::SWITCHED;
	return ServerLoginStatus::CONTINUE;
}

void ServerLogin::refuse_at_response(const ServerError &code, std::string_view message)
{
	ex().refusal = code;
	ex().refusal_message.assign(message);
}

ServerLoginStatus ServerLogin::tls_established()
{
	if (state != State::TLS_HANDSHAKE) {
		state = State::FAILED;
		ex().error.error = ER_HANDSHAKE_ERROR;
		ex().error.reason = "tls_established() without START_TLS";
		return ServerLoginStatus::FAILED;
	}
	tls_active = true;
	state = State::RESPONSE; /* the real HandshakeResponse41 follows, encrypted */
	return ServerLoginStatus::CONTINUE;
}

/* The plugin's first data from the client: the password, or a scramble for the script to verify. */
ServerLoginStatus ServerLogin::accept_auth_data(ByteSpan data, std::vector<std::uint8_t> &out)
{
	switch (plugin) {
	case ClientAuthPlugin::clear_password:
		ex().password = cleartext(data);
		ex().password_given = true;
		break;
	case ClientAuthPlugin::native_password:
		ex().scramble.assign(data.begin(), data.end());
		break;
	case ClientAuthPlugin::caching_sha2_password:
		if (data.empty()) {
			/* How a client says its password is empty; it expects OK or ERR next, not a
			 * request for the full path. */
			ex().password.clear();
			ex().password_given = true;
			break;
		}
		if (rsa == nullptr)
			return fail(out, ER_ACCESS_DENIED, "Access denied: caching_sha2_password is not configured",
				    "caching_sha2_password offered without an RSA key", false);
		ex().scramble.assign(data.begin(), data.end());
		fast_path = true;
		break;
	}
	return ask_script();
}

/* caching_sha2_password's full path: the public key on request, then the password, in clear over a
 * private transport or RSA-encrypted with our key. */
ServerLoginStatus ServerLogin::full_auth_packet(ByteSpan payload, std::vector<std::uint8_t> &out)
{
	if (state == State::FULL_AUTH && payload.size() == 1 && payload[0] == CACHING_SHA2_REQUEST_PUBLIC_KEY) {
		state = State::KEY_SENT;
		append_more_data(out, ByteSpan(reinterpret_cast<const std::uint8_t *>(rsa->public_pem.data()), rsa->public_pem.size()));
		return ServerLoginStatus::CONTINUE;
	}
	std::optional<std::string> decrypted;
	if (state == State::FULL_AUTH && transport_private())
		decrypted.emplace(cleartext(payload));
	else
		/* Not private, or the client chose RSA anyway: only an encrypted password is accepted. */
		decrypted = caching_sha2_rsa_decrypt_password(rsa->key.get(), nonce, payload);
	if (!decrypted)
		return fail(out, ER_ACCESS_DENIED,
			    "Access denied: caching_sha2_password needs TLS, a local socket or the server's RSA key",
			    "caching_sha2_password: the client's password is not encrypted with our key", false);
	ex().password = *decrypted;
	wipe(*decrypted);
	ex().password_given = true;
	return ask_script();
}

ServerLoginStatus ServerLogin::ask_script()
{
	state = State::SCRIPT;
	Exchange &x = ex();
	x.shown = {};
	x.shown.change_user = changing_user;
	if (x.password_given)
		x.shown.password = x.password.view();
	x.shown.nonce = nonce;
	x.shown.scramble = x.scramble;
	if (changing_user) {
		auto command = parse_change_user(x.login_packet, negotiated);
		/* Checked when it arrived; the copy has not changed since. */
		if (command) {
			x.shown.user = command->user;
			x.shown.database = command->database;
			x.shown.attrs = command->attrs.bytes();
			x.shown.character_set = command->character_set;
			x.shown.auth_plugin = x.password_given ? client_auth_plugin_name(ClientAuthPlugin::clear_password)
							   : command->auth_plugin_name;
		}
		if (!x.password_given && plugin == ClientAuthPlugin::native_password)
			x.shown.verify = ServerLoginCredentials::Verify::native_password;
		return ServerLoginStatus::ASK_SCRIPT;
	}
	auto response = parse_handshake_response41(x.login_packet);
	if (response) {
		x.shown.user = response->user;
		x.shown.database = response->database;
		x.shown.attrs = response->attrs.bytes();
	}
	x.shown.auth_plugin = client_auth_plugin_name(plugin);
	if (!x.password_given) {
		if (plugin == ClientAuthPlugin::native_password)
			x.shown.verify = ServerLoginCredentials::Verify::native_password;
		else if (plugin == ClientAuthPlugin::caching_sha2_password && fast_path)
			x.shown.verify = ServerLoginCredentials::Verify::caching_sha2_password;
	}
	return ServerLoginStatus::ASK_SCRIPT;
}

ServerLoginStatus ServerLogin::script_decided(const ScriptDecision &decision, std::vector<std::uint8_t> &out)
{
	if (state != State::SCRIPT) {
		state = State::FAILED;
		ex().error.error = ER_UNKNOWN_ERROR;
		ex().error.reason = "script_decided() without ASK_SCRIPT";
		return ServerLoginStatus::FAILED;
	}
	if (changing_user)
		return change_user_decided(decision, out);
	if (fast_path)
		return fast_path_decided(decision, out);
	return login_decided(decision, out);
}

ServerLoginStatus ServerLogin::login_decided(const ScriptDecision &decision, std::vector<std::uint8_t> &out)
{
	switch (decision.verdict) {
	case ScriptDecision::Verdict::connect:
		established();
		return ServerLoginStatus::AUTHENTICATED;
	case ScriptDecision::Verdict::refuse:
		return fail(out, ER_ACCESS_DENIED, decision.message,
			    "on_handshake_response refused the login: " + std::string(decision.message), false);
	case ScriptDecision::Verdict::pass:
	case ScriptDecision::Verdict::failed:
		break;
	}
	return fail(out, ER_UNKNOWN_ERROR, "myproxy: the login script failed", "the login script failed", false);
}

/* The first run of caching_sha2_password: a verified connect gets FAST_AUTH_SUCCESS, nil or an
 * unverified connect the full path (the script runs again with the password). */
ServerLoginStatus ServerLogin::fast_path_decided(const ScriptDecision &decision, std::vector<std::uint8_t> &out)
{
	fast_path = false;
	const bool connect = decision.verdict == ScriptDecision::Verdict::connect;
	if (connect && decision.proof_verified) {
		static constexpr std::uint8_t fast_auth_success[] = {CACHING_SHA2_FAST_AUTH_SUCCESS};
		append_more_data(out, fast_auth_success);
		return login_decided(decision, out);
	}
	if (!connect && decision.verdict != ScriptDecision::Verdict::pass)
		return login_decided(decision, out);
	static constexpr std::uint8_t perform_full_auth[] = {CACHING_SHA2_PERFORM_FULL_AUTH};
	wipe(ex().scramble);
	append_more_data(out, perform_full_auth);
	state = State::FULL_AUTH;
	return ServerLoginStatus::CONTINUE;
}

ServerLoginStatus ServerLogin::refuse_change_user(std::vector<std::uint8_t> &out, const ServerError &code,
						  std::string_view message)
{
	forget_secrets();
	append_err(out, code, message);
	established();
	return ServerLoginStatus::REFUSED;
}

ServerLoginStatus ServerLogin::change_user_decided(const ScriptDecision &decision, std::vector<std::uint8_t> &out)
{
	switch (decision.verdict) {
	case ScriptDecision::Verdict::connect:
		established();
		return ServerLoginStatus::AUTHENTICATED;
	case ScriptDecision::Verdict::refuse:
		return refuse_change_user(out, ER_ACCESS_DENIED, decision.message);
	case ScriptDecision::Verdict::pass:
	case ScriptDecision::Verdict::failed:
		break;
	}
	return refuse_change_user(out, ER_UNKNOWN_ERROR, "myproxy: the login script failed");
}

ServerLoginStatus ServerLogin::change_user(ByteSpan payload, std::uint8_t id, std::vector<std::uint8_t> &out)
{
	sequence_id = std::uint8_t(id + 1);
	if (state != State::ESTABLISHED)
		return bad_handshake(out, "COM_CHANGE_USER before the login was over");
	auto command = parse_change_user(payload, negotiated);
	if (!command)
		return bad_handshake(out, std::string("malformed COM_CHANGE_USER: ") + command.error().what +
						  " (offset " + std::to_string(command.error().offset) + ")");
	forget_secrets();
	changing_user = true;
	ex().login_packet.assign(payload.begin(), payload.end());
	if (command->auth_plugin_name == client_auth_plugin_name(ClientAuthPlugin::clear_password)) {
		ex().password = cleartext(command->auth_response);
		ex().password_given = true;
		return ask_script();
	}
	if (command->auth_plugin_name == client_auth_plugin_name(ClientAuthPlugin::native_password) &&
	    offers(ClientAuthPlugin::native_password)) {
		/* A scramble of the greeting's nonce, for the script's verify_native_password(). */
		plugin = ClientAuthPlugin::native_password;
		ex().scramble.assign(command->auth_response.begin(), command->auth_response.end());
		return ask_script();
	}
	/* The client answered our greeting's nonce (or not at all): ask for the cleartext password, as
	 * at login. */
	append_switch(out, ClientAuthPlugin::clear_password);
	state = State::SWITCHED;
	return ServerLoginStatus::CONTINUE;
}

ServerLoginStatus ServerLogin::change_user_auth_packet(ByteSpan payload, std::vector<std::uint8_t> &out)
{
	(void)out;
	ex().password = cleartext(payload);
	ex().password_given = true;
	return ask_script();
}

} // namespace myproxy
