// myproxy's client login; see client_login.hpp.  The state table is small: greeting, the answer to
// our HandshakeResponse41 (OK, ERR, or one AuthSwitchRequest), and the answer after a switch.
// Secrets (the password, its SHA1, a clear-text auth response) are wiped when no longer needed.
#include "client_login.hpp"

#include "auth_switch.hpp"
#include "caching_sha2_password.hpp"
#include "change_user_packet.hpp"
#include "ed25519_password.hpp"
#include "err_packet.hpp"
#include "handshake_v10.hpp"
#include "mysql_capabilities.hpp"
#include "mysql_packet.hpp"
#include "ok_packet.hpp"
#include "secret.hpp"


namespace myproxy {

namespace {

/* The connection attributes as the packet builders take them; none unless CLIENT_CONNECT_ATTRS was
   negotiated (a login and a COM_CHANGE_USER alike). */
std::vector<ConnectAttr> connect_attr_views(const std::vector<std::pair<std::string, std::string>> &attrs,
					    std::uint32_t capabilities)
{
	std::vector<ConnectAttr> views;
	if (capabilities & CLIENT_CONNECT_ATTRS) {
		views.reserve(attrs.size());
		for (const auto &[key, value] : attrs)
			views.push_back({key, value});
	}
	return views;
}

} // namespace

const std::uint32_t CLIENT_LOGIN_UNSUPPORTED_CAPABILITIES =
	CLIENT_SSL | CLIENT_SSL_VERIFY_SERVER_CERT | CLIENT_COMPRESS | CLIENT_ZSTD_COMPRESSION_ALGORITHM |
	CLIENT_QUERY_ATTRIBUTES | CLIENT_OPTIONAL_RESULTSET_METADATA | CLIENT_MULTI_FACTOR_AUTHENTICATION |
	CLIENT_CAPABILITY_EXTENSION | CLIENT_REMEMBER_OPTIONS;

const std::uint32_t CLIENT_LOGIN_REQUIRED_CAPABILITIES =
	CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;

/* A plugin name comes from the server and ends up in log lines: printable ASCII only, bounded. */
static std::string printable_plugin_name(std::string_view name)
{
	constexpr std::size_t MAX_SHOWN = 64;
	std::string out;
	for (char c : name.substr(0, MAX_SHOWN))
		out += c >= 0x20 && c < 0x7F ? c : '?';
	if (name.size() > MAX_SHOWN)
		out += "...";
	return out;
}

ClientLogin::ClientLogin(const ClientLoginParams &params)
	: user(params.user), password(params.password), password_sha1(params.password_sha1),
	  database(params.database), wanted_capabilities(params.capabilities),
	  wanted_mariadb_capabilities(params.mariadb_capabilities), required_capabilities(params.required_capabilities),
	  character_set(params.character_set), max_packet_size(params.max_packet_size),
	  allow_clear_password(params.allow_clear_password), local_transport(params.secure_transport),
	  server_public_key(params.server_public_key), plugin(params.initial_plugin), ssl(params.ssl),
	  compress(params.compress)
{
	attrs.reserve(params.attrs.size());
	for (const ConnectAttr &attr : params.attrs)
		attrs.emplace_back(attr.key, attr.value);
}

ClientLogin::~ClientLogin() noexcept
{
	wipe(password);
	wipe(greeting_nonce);
}

ClientLoginStatus ClientLogin::fail(ClientLoginFailure::Kind kind, std::string message, std::size_t offset)
{
	state = State::FAILED;
	error.kind = kind;
	error.message = std::move(message);
	error.parse_offset = offset;
	return ClientLoginStatus::FAILED;
}

ClientLoginStatus ClientLogin::fail_parse(const ParseError &parse_error)
{
	return fail(ClientLoginFailure::Kind::PARSE_ERROR, parse_error.what, parse_error.offset);
}

ClientLoginStatus ClientLogin::fail_server(ByteSpan payload)
{
	/* Before the greeting nothing is negotiated; CLIENT_PROTOCOL_41 makes the SQLSTATE optional. */
	const std::uint32_t capabilities = state == State::GREETING ? CLIENT_PROTOCOL_41 : result.capabilities;
	auto err = parse_err_packet(payload, capabilities);
	if (!err)
		return fail_parse(err.error());
	error.error_code = err->error_code;
	error.sql_state = err->sql_state;
	return fail(ClientLoginFailure::Kind::SERVER_ERROR, std::string(err->message));
}

/* Appends the auth response of the current plugin for @plugin_nonce; on failure sets @problem. */
bool ClientLogin::append_auth_response(std::vector<std::uint8_t> &out, ByteSpan plugin_nonce, std::string &problem)
{
	if (plugin == MYSQL_NATIVE_PASSWORD) {
		if (password_sha1) {
			auto scramble = native_password_scramble_from_sha1(*password_sha1, plugin_nonce);
			if (scramble) {
				out.insert(out.end(), scramble->begin(), scramble->end());
				return true;
			}
		} else if (native_password_auth_response(out, password, plugin_nonce)) {
			return true;
		}
		problem = "mysql_native_password: the server's nonce is not 20 bytes";
		return false;
	}
	if (plugin == CACHING_SHA2_PASSWORD) {
		if (password_sha1) {
			problem = "caching_sha2_password needs the password, but only its SHA1 is known";
			return false;
		}
		if (!caching_sha2_auth_response(out, password, plugin_nonce)) {
			problem = "caching_sha2_password: SHA256 failed";
			return false;
		}
		sha2_step = Sha2Step::SCRAMBLE_SENT;
		return true;
	}
	if (plugin == CLIENT_ED25519)
		/* In HandshakeResponse41 there is no nonce yet: the server sends one in its switch. */
		return state == State::GREETING || state == State::TLS_HANDSHAKE ||
		       append_ed25519(out, plugin_nonce, problem);
	if (plugin == MYSQL_CLEAR_PASSWORD) {
		if (!cleartext_allowed()) {
			problem = "mysql_clear_password is not allowed for this login (neither TLS nor a local socket, "
				  "and allow_cleartext is not set)";
			return false;
		}
		if (password_sha1) {
			problem = "mysql_clear_password needs the password, but only its SHA1 is known";
			return false;
		}
		out.insert(out.end(), password.begin(), password.end());
		out.push_back(0);
		return true;
	}
	if (state == State::GREETING || state == State::TLS_HANDSHAKE)
		/* An unknown initial plugin: no data, the server will switch us. */
		return true;
	problem = "the server asks for the unsupported auth plugin '" + printable_plugin_name(plugin) + "'";
	return false;
}

ClientLoginStatus ClientLogin::greeting(ByteSpan payload, std::vector<std::uint8_t> &out)
{
	if (!payload.empty() && payload[0] == ERR_HEADER)
		return fail_server(payload);
	auto handshake = parse_handshake_v10(payload);
	if (!handshake)
		return fail_parse(handshake.error());
	result.server_version = handshake->server_version;
	result.connection_id = handshake->connection_id;
	result.server_capabilities = handshake->capabilities;
	greeting_offer = backend_offer(*handshake, greeting_offer_problem);
	const std::uint32_t offered = handshake->capabilities;
	if (!(offered & CLIENT_PROTOCOL_41))
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR,
			    "the server does not speak protocol 4.1 (no CLIENT_PROTOCOL_41)");
	if (const std::uint64_t missing = required_capabilities & ~handshake->all_capabilities()) {
		error.missing = missing;
		return fail(ClientLoginFailure::Kind::MISSING_CAPABILITY,
			    std::string("the server does not offer ") + capability_name64(missing & -missing));
	}

	std::uint32_t capabilities = (wanted_capabilities | CLIENT_LOGIN_REQUIRED_CAPABILITIES) &
		~(CLIENT_LOGIN_UNSUPPORTED_CAPABILITIES | CLIENT_CONNECT_WITH_DB | CLIENT_CONNECT_ATTRS);
	if (!database.empty())
		capabilities |= CLIENT_CONNECT_WITH_DB;
	if (!attrs.empty())
		capabilities |= CLIENT_CONNECT_ATTRS;
	if (compress)
		capabilities |= CLIENT_COMPRESS;
	capabilities &= offered;
	if (!database.empty() && !(capabilities & CLIENT_CONNECT_WITH_DB))
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR,
			    "the server does not accept a database at login (no CLIENT_CONNECT_WITH_DB)");
	if (!(capabilities & CLIENT_PLUGIN_AUTH) && plugin != MYSQL_NATIVE_PASSWORD)
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR,
			    "the server cannot switch auth plugins (no CLIENT_PLUGIN_AUTH)");
	auto scramble = handshake_v10_scramble20(*handshake);
	if (scramble) {
		greeting_nonce.assign(scramble->begin(), scramble->end());
		result.nonce = greeting_nonce;
	} else if (plugin == MYSQL_NATIVE_PASSWORD || plugin == CACHING_SHA2_PASSWORD) {
		return fail_parse(scramble.error());
	}
	if (ssl) {
		if (!(offered & CLIENT_SSL))
			return fail(ClientLoginFailure::Kind::TLS_UNAVAILABLE,
				    "TLS was required, but the server does not offer it (no CLIENT_SSL)");
		capabilities |= CLIENT_SSL;
	}
	result.capabilities = capabilities;
	/* A MariaDB server clears CLIENT_LONG_PASSWORD (CLIENT_MYSQL) when it reads extended flags. */
	if (!(capabilities & CLIENT_LONG_PASSWORD))
		result.mariadb_capabilities = wanted_mariadb_capabilities & handshake->mariadb_capabilities;
	if (!ssl)
		return send_response(out);

	HandshakeResponse41Params request;
	request.capabilities = capabilities;
	request.mariadb_capabilities = result.mariadb_capabilities;
	request.max_packet_size = max_packet_size;
	request.character_set = std::uint8_t(character_set);
	const std::size_t start = begin_packet(out);
	if (!build_ssl_request(out, request)) {
		out.resize(start);
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR, "SSLRequest: cannot be encoded");
	}
	finish_packet(out, start, next_sequence_id);
	state = State::TLS_HANDSHAKE;
	return ClientLoginStatus::START_TLS;
}

ClientLoginStatus ClientLogin::tls_established(std::vector<std::uint8_t> &out)
{
	if (state != State::TLS_HANDSHAKE)
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR, "tls_established() without START_TLS");
	tls_active = true;
	return send_response(out);
}

/* The HandshakeResponse41 for the negotiated result.capabilities and the greeting's nonce. */
ClientLoginStatus ClientLogin::send_response(std::vector<std::uint8_t> &out)
{
	const std::uint32_t capabilities = result.capabilities;
	std::vector<std::uint8_t> auth;
	std::string problem;
	/* Kept: caching_sha2_password's RSA path XORs the password with it. */
	nonce.assign(greeting_nonce.begin(), greeting_nonce.end());
	if (!append_auth_response(auth, nonce, problem))
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR, std::move(problem));
	wipe(greeting_nonce);
	greeting_nonce.clear();

	const std::vector<ConnectAttr> attr_views = connect_attr_views(attrs, capabilities);
	HandshakeResponse41Params response;
	response.capabilities = capabilities;
	response.mariadb_capabilities = result.mariadb_capabilities;
	response.max_packet_size = max_packet_size;
	response.character_set = std::uint8_t(character_set);
	response.user = user;
	response.auth_response = auth;
	response.database = database;
	if (capabilities & CLIENT_PLUGIN_AUTH)
		response.auth_plugin_name = plugin;
	response.attrs = attr_views;

	const std::size_t start = begin_packet(out);
	const bool built = build_handshake_response41(out, response);
	wipe(auth);
	if (!built) {
		out.resize(start);
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR,
			    "HandshakeResponse41: the login cannot be encoded (a NUL in the user, database or "
			    "plugin name, or too many or too long connection attributes)");
	}
	finish_packet(out, start, next_sequence_id);
	if (!(capabilities & CLIENT_PLUGIN_AUTH))
		plugin = MYSQL_NATIVE_PASSWORD;
	state = State::AUTH_RESULT;
	return ClientLoginStatus::CONTINUE;
}

ClientLoginStatus ClientLogin::change_user(const ClientLoginSuccess &session, std::vector<std::uint8_t> &out)
{
	if (state != State::GREETING)
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR, "change_user() on a login that has begun");
	constexpr std::uint32_t required = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
	if ((session.capabilities & required) != required)
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR,
			    "COM_CHANGE_USER needs protocol 4.1 with plugin auth, which this session lacks");
	result = session;
	result.auth_switched = false;
	tls_active = session.tls;
	nonce = session.nonce;
	std::vector<std::uint8_t> auth;
	std::string problem;
	/* In the GREETING state client_ed25519 and unknown plugins send nothing: the server switches. */
	if (!append_auth_response(auth, nonce, problem))
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR, std::move(problem));

	const std::vector<ConnectAttr> attr_views = connect_attr_views(attrs, session.capabilities);
	ChangeUserParams params;
	params.user = user;
	params.auth_response = auth;
	params.database = database;
	params.character_set = character_set;
	params.auth_plugin_name = plugin;
	params.attrs = attr_views;
	std::vector<std::uint8_t> payload;
	const bool built = build_change_user(payload, params, session.capabilities);
	wipe(auth);
	if (!built)
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR,
			    "COM_CHANGE_USER: cannot be encoded (a NUL in the user, database or plugin name, a "
			    "response over 255 bytes, or too many connection attributes)");
	next_sequence_id = 0;
	append_packet(out, payload, next_sequence_id);
	wipe(payload);
	state = State::AUTH_RESULT;
	return ClientLoginStatus::CONTINUE;
}

ClientLoginStatus ClientLogin::auth_switch(ByteSpan payload, std::vector<std::uint8_t> &out)
{
	if (state == State::SWITCHED_AUTH_RESULT)
		/* A server switches a client at most once per login. */
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR, "a second AuthSwitchRequest");
	auto request = parse_auth_switch_request(payload);
	if (!request) {
		if (request.error().what == AUTH_SWITCH_OLD_STYLE_ERROR)
			return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR,
				    "the server asks for the unsupported auth plugin 'mysql_old_password'");
		return fail_parse(request.error());
	}
	plugin = request->plugin_name;
	nonce.assign(request->plugin_data.begin(), request->plugin_data.end());
	sha2_step = Sha2Step::NONE;
	std::vector<std::uint8_t> auth;
	std::string problem;
	if (!append_auth_response(auth, request->plugin_data, problem))
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR, std::move(problem));
	append_packet(out, auth, next_sequence_id);
	wipe(auth);
	state = State::SWITCHED_AUTH_RESULT;
	return ClientLoginStatus::CONTINUE;
}

ClientLoginStatus ClientLogin::accepted(ByteSpan payload)
{
	auto ok = parse_ok_packet(payload, result.capabilities);
	if (!ok)
		return fail_parse(ok.error());
	result.status_flags = ok->status_flags;
	result.warnings = ok->warnings;
	result.auth_plugin = plugin;
	result.auth_switched = state == State::SWITCHED_AUTH_RESULT;
	result.tls = tls_active;
	state = State::SUCCEEDED;
	return ClientLoginStatus::SUCCEEDED;
}

/* AuthMoreData: only caching_sha2_password has further rounds (fast-auth result, full authentication,
 * the server's public key). */
ClientLoginStatus ClientLogin::more_data(ByteSpan payload, std::vector<std::uint8_t> &out)
{
	auto more = parse_auth_more_data(payload);
	if (!more)
		return fail_parse(more.error());
	if (plugin != CACHING_SHA2_PASSWORD || sha2_step == Sha2Step::NONE || sha2_step == Sha2Step::PASSWORD_SENT)
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR,
			    "unexpected AuthMoreData for auth plugin '" + printable_plugin_name(plugin) + "'");
	std::vector<std::uint8_t> reply;
	std::string problem;
	bool ok;
	if (sha2_step == Sha2Step::KEY_REQUESTED) {
		ok = append_caching_sha2_rsa(reply, ByteReader::as_string(more->data), problem);
	} else if (more->data.size() == 1 && more->data[0] == CACHING_SHA2_FAST_AUTH_SUCCESS) {
		/* The OK (or ERR) follows; nothing to send. */
		sha2_step = Sha2Step::PASSWORD_SENT;
		return ClientLoginStatus::CONTINUE;
	} else if (more->data.size() == 1 && more->data[0] == CACHING_SHA2_PERFORM_FULL_AUTH) {
		ok = append_caching_sha2_full_auth(reply, problem);
	} else {
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR,
			    "caching_sha2_password: unexpected AuthMoreData of " + std::to_string(more->data.size()) +
				    " bytes");
	}
	if (!ok) {
		wipe(reply);
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR, std::move(problem));
	}
	append_packet(out, reply, next_sequence_id);
	wipe(reply);
	return ClientLoginStatus::CONTINUE;
}

ClientLoginStatus ClientLogin::auth_result(ByteSpan payload, std::vector<std::uint8_t> &out)
{
	if (payload.empty())
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR, "an empty packet during authentication");
	switch (payload[0]) {
	case OK_HEADER:
		return accepted(payload);
	case ERR_HEADER:
		return fail_server(payload);
	case AUTH_SWITCH_REQUEST_HEADER:
		return auth_switch(payload, out);
	case AUTH_MORE_DATA_HEADER:
		return more_data(payload, out);
	}
	return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR,
		    "unexpected packet during authentication (header byte " + std::to_string(payload[0]) + ")");
}

ClientLoginStatus ClientLogin::feed(ByteSpan payload, std::uint8_t sequence_id, std::vector<std::uint8_t> &out)
{
	if (state == State::SUCCEEDED || state == State::FAILED)
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR, "a packet after the login was over");
	if (state == State::TLS_HANDSHAKE)
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR, "a packet before the TLS handshake was done");
	if (sequence_id != next_sequence_id)
		return fail(ClientLoginFailure::Kind::PROTOCOL_ERROR,
			    "packet sequence id " + std::to_string(sequence_id) + " where " +
				    std::to_string(next_sequence_id) + " was expected");
	next_sequence_id = std::uint8_t(sequence_id + 1);
	if (state == State::GREETING)
		return greeting(payload, out);
	return auth_result(payload, out);
}

} // namespace myproxy
