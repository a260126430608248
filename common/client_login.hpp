// myproxy as a MySQL client: the login to a server (backend connections in the worker, health checks
// in the master's cluster monitor), as a state machine without I/O.  The caller reads packets from
// its socket, feeds each one in, and writes out what the login appended.  Never touches a socket,
// an event loop or TLS itself, and never logs: failures are returned.  With ClientLoginParams::ssl
// it sends the SSLRequest and says START_TLS; the caller runs the TLS handshake and calls
// tls_established(), which sends the HandshakeResponse41 (now encrypted).  On an established
// session it also changes the user (COM_CHANGE_USER) with every plugin it speaks.
#pragma once

#include "backend_offer.hpp"
#include "byte_reader.hpp"
#include "handshake_response41.hpp"
#include "native_password.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace myproxy {

constexpr std::string_view MYSQL_NATIVE_PASSWORD = "mysql_native_password";
constexpr std::string_view MYSQL_CLEAR_PASSWORD = "mysql_clear_password";
/* The plugins ClientLogin speaks: these two, caching_sha2_password (caching_sha2_password.hpp) and
 * client_ed25519 (ed25519_password.hpp). */

/* utf8mb4_general_ci: understood by every MariaDB and MySQL server that speaks protocol 4.1 with
 * plugin auth. */
constexpr std::uint8_t CLIENT_LOGIN_DEFAULT_CHARACTER_SET = 45;

/* Capabilities the login never announces, whatever the caller asks for: CLIENT_SSL only through
 * ClientLoginParams::ssl (a caller's flag must not start TLS it cannot run), compression and query attributes would change the framing or the command layout, and MySQL's
 * optional metadata or multi-factor authentication would change replies the rest of myproxy parses. */
extern const std::uint32_t CLIENT_LOGIN_UNSUPPORTED_CAPABILITIES;

/* The capabilities the login adds by itself when the server has them: protocol 4.1 (required),
 * 20-byte scrambles, plugin names (so the server can switch us) and lenenc auth data. */
extern const std::uint32_t CLIENT_LOGIN_REQUIRED_CAPABILITIES;

struct ClientLoginParams {
	std::string_view user;
	/* Used when password_sha1 is not set. */
	std::string_view password;
	/* SHA1(password): enough for mysql_native_password, not for mysql_clear_password. */
	std::optional<Sha1Digest> password_sha1;
	/* Empty: no default schema (CLIENT_CONNECT_WITH_DB is then not sent). */
	std::string_view database;
	/* Sent with CLIENT_CONNECT_ATTRS when not empty and the server supports them. */
	std::span<const ConnectAttr> attrs;
	/* What the caller would like (e.g. CLIENT_DEPRECATE_EOF | CLIENT_MULTI_STATEMENTS); the login
	 * announces (these | CLIENT_LOGIN_REQUIRED_CAPABILITIES) & ~CLIENT_LOGIN_UNSUPPORTED_CAPABILITIES
	 * & what the server offers. */
	std::uint32_t capabilities = 0;
	/* MariaDB's extended capabilities the caller would like (unshifted, as in the filler); sent
	 * only to a server that offers them (CLIENT_LONG_PASSWORD clear in its greeting). */
	std::uint32_t mariadb_capabilities = 0;
	/* Flags (MariaDB's shifted up by 32) the server's greeting must offer, or the login fails with
	 * MISSING_CAPABILITY before anything is sent: what the client negotiated with us and the relay
	 * cannot do without (common/backend_offer.hpp). */
	std::uint64_t required_capabilities = 0;
	/* A login's HandshakeResponse41 carries the low byte; COM_CHANGE_USER carries both (MariaDB's
	 * collation ids go past 255). */
	std::uint16_t character_set = CLIENT_LOGIN_DEFAULT_CHARACTER_SET;
	std::uint32_t max_packet_size = 1u << 24;
	/* Whether the server may have us send the password in clear text (mysql_clear_password) even
	 * without secure_transport: the script's explicit choice (connect option allow_cleartext). */
	bool allow_clear_password = false;
	/* The connection cannot be read by others: a local (UNIX) socket.  Allows mysql_clear_password,
	 * and makes caching_sha2_password's full path send the password as it is instead of
	 * RSA-encrypted.  TLS established through this login counts too (private_channel()). */
	bool secure_transport = false;
	/* caching_sha2_password's full path without secure_transport: the server's RSA public key (PEM)
	 * when the script configured one; empty: ask the server for its key. */
	std::string_view server_public_key;
	/* The plugin named in HandshakeResponse41.  mysql_native_password and caching_sha2_password
	 * answer the greeting's nonce;
	 * mysql_clear_password (needs allow_clear_password) sends the password; any other name goes with
	 * an empty auth response, so that the server switches us to the account's plugin (what a client
	 * does that does not know the server's default plugin; tests use it to provoke a switch). */
	std::string_view initial_plugin = MYSQL_NATIVE_PASSWORD;
	/* Start TLS before the HandshakeResponse41 (SSLRequest, then START_TLS).  A server that does
	 * not offer CLIENT_SSL fails the login (TLS_UNAVAILABLE): never a cleartext login instead. */
	bool ssl = false;
	/* Ask for the compressed protocol (CLIENT_COMPRESS, zlib) when the server offers it; the
	 * caller compresses after the OK when ClientLoginSuccess::capabilities has it.  A server
	 * without it gets an uncompressed login. */
	bool compress = false;
};

/* What a successful login learned. */
struct ClientLoginSuccess {
	std::string server_version;
	std::uint32_t connection_id = 0;
	/* What both sides agreed on: the flags sent in HandshakeResponse41 (all offered by the server).
	 * Pass them to ResultSetReader, parse_ok_packet() etc. */
	std::uint32_t capabilities = 0;
	/* MariaDB's extended capabilities sent in HandshakeResponse41 (unshifted). */
	std::uint32_t mariadb_capabilities = 0;
	/* Everything the server offered, for log lines. */
	std::uint32_t server_capabilities = 0;
	/* From the final OK packet. */
	std::uint16_t status_flags = 0;
	std::uint16_t warnings = 0;
	/* The plugin that was in effect when the server accepted us, and whether the server had
	 * switched us to it. */
	std::string auth_plugin;
	bool auth_switched = false;
	/* The greeting's 20-byte nonce (empty if the server sent none): a COM_CHANGE_USER answers it
	 * again.  Not a secret: it went over the wire in clear. */
	std::vector<std::uint8_t> nonce;
	/* TLS was established by the login: a later change of user may send passwords over it. */
	bool tls = false;
};

struct ClientLoginFailure {
	enum class Kind : std::uint8_t {
		/* The server refused with an ERR packet: code, SQLSTATE (possibly empty: errors sent
		 * before the greeting carry none) and message verbatim, to relay to a client. */
		SERVER_ERROR,
		/* A server packet was malformed: message is the parser's text, parse_offset where. */
		PARSE_ERROR,
		/* Well-formed packets in the wrong place, a plugin we do not speak or may not use, or
		 * parameters that cannot be encoded: message says which. */
		PROTOCOL_ERROR,
		/* ClientLoginParams::ssl, but the server's greeting has no CLIENT_SSL. */
		TLS_UNAVAILABLE,
		/* The greeting lacks required_capabilities: missing says which (MariaDB's shifted). */
		MISSING_CAPABILITY,
	};

	Kind kind = Kind::PROTOCOL_ERROR;
	std::uint16_t error_code = 0;
	std::string sql_state;
	std::string message;
	std::size_t parse_offset = 0;
	std::uint64_t missing = 0;
};

enum class ClientLoginStatus : std::uint8_t {
	/* Write what was appended (possibly nothing) and feed the next packet. */
	CONTINUE,
	/* Logged in: success() holds the details; the command phase starts with sequence id 0. */
	SUCCEEDED,
	/* failure() tells why; nothing more may be fed.  Close the connection. */
	FAILED,
	/* Write the SSLRequest that was appended, run the TLS handshake as a client on the same
	 * connection, then call tls_established(). */
	START_TLS,
};

class ClientLogin {
	enum class State : std::uint8_t { GREETING, TLS_HANDSHAKE, AUTH_RESULT, SWITCHED_AUTH_RESULT, SUCCEEDED, FAILED };
	/* Where caching_sha2_password's exchange is: scramble sent, public key requested, password sent. */
	enum class Sha2Step : std::uint8_t { NONE, SCRAMBLE_SENT, KEY_REQUESTED, PASSWORD_SENT };

	/* Own copies: the caller's strings may be gone by the time the server answers. */
	std::string user;
	std::string password;
	std::optional<Sha1Digest> password_sha1;
	std::string database;
	std::vector<std::pair<std::string, std::string>> attrs;
	std::uint32_t wanted_capabilities;
	std::uint32_t wanted_mariadb_capabilities;
	std::uint64_t required_capabilities;
	std::uint16_t character_set;
	std::uint32_t max_packet_size;
	bool allow_clear_password;
	bool local_transport;
	std::string server_public_key;
	std::string plugin;
	bool ssl;
	bool compress;
	/* TLS is up (tls_established()): the auth plugins may send secrets in clear over it. */
	bool tls_active = false;
	/* The greeting's 20-byte nonce, kept across the TLS handshake. */
	std::vector<std::uint8_t> greeting_nonce;
	/* The nonce the current plugin answered (caching_sha2_password's RSA path needs it again). */
	std::vector<std::uint8_t> nonce;
	Sha2Step sha2_step = Sha2Step::NONE;

	State state = State::GREETING;
	std::uint8_t next_sequence_id = 0;
	ClientLoginSuccess result;
	ClientLoginFailure error;
	std::optional<BackendOffer> greeting_offer;
	std::string greeting_offer_problem;

	ClientLoginStatus fail(ClientLoginFailure::Kind kind, std::string message, std::size_t offset = 0);
	ClientLoginStatus fail_parse(const ParseError &parse_error);
	ClientLoginStatus fail_server(ByteSpan payload);
	bool append_auth_response(std::vector<std::uint8_t> &out, ByteSpan nonce, std::string &problem);
	ClientLoginStatus greeting(ByteSpan payload, std::vector<std::uint8_t> &out);
	ClientLoginStatus send_response(std::vector<std::uint8_t> &out);
	ClientLoginStatus auth_result(ByteSpan payload, std::vector<std::uint8_t> &out);
	ClientLoginStatus auth_switch(ByteSpan payload, std::vector<std::uint8_t> &out);
	ClientLoginStatus accepted(ByteSpan payload);
	ClientLoginStatus more_data(ByteSpan payload, std::vector<std::uint8_t> &out);
	/* client_login_plugins.cpp: one function per plugin's packets. */
	bool append_caching_sha2_full_auth(std::vector<std::uint8_t> &out, std::string &problem);
	bool append_caching_sha2_rsa(std::vector<std::uint8_t> &out, std::string_view pem, std::string &problem);
	bool append_ed25519(std::vector<std::uint8_t> &out, ByteSpan nonce, std::string &problem);
	/* Whether a secret may go over the connection as it is: a local socket, or TLS. */
	bool private_channel() const noexcept { return local_transport || tls_active; }
	bool cleartext_allowed() const noexcept { return allow_clear_password || private_channel(); }

public:
	explicit ClientLogin(const ClientLoginParams &params);
	~ClientLogin() noexcept;

	ClientLogin(const ClientLogin &) = delete;
	ClientLogin &operator=(const ClientLogin &) = delete;

	/* Feeds one server packet (the logical payload and the sequence id of its header).  Packets to
	 * send are appended to @out, framed with their sequence ids; after a switch to
	 * mysql_clear_password they hold the password, so the caller clears @out once it is sent. */
	ClientLoginStatus feed(ByteSpan payload, std::uint8_t sequence_id, std::vector<std::uint8_t> &out);

	/* Instead of feeding a greeting: on the session @session describes (what the login, or the
	 * last change of user, learned), appends a COM_CHANGE_USER (sequence id 0) for this login's
	 * parameters, answering the session's nonce with the initial plugin.  Then feed() the server's
	 * replies as during a login: an AuthSwitchRequest, caching_sha2_password's rounds, OK or ERR.
	 * The same rules as a login apply (mysql_clear_password only when allowed).  Returns CONTINUE or
	 * FAILED (the parameters cannot be encoded, or the session lacks protocol 4.1 plugin auth). */
	ClientLoginStatus change_user(const ClientLoginSuccess &session, std::vector<std::uint8_t> &out);

	/* After START_TLS, once the TLS handshake succeeded: appends the HandshakeResponse41.  Returns
	 * CONTINUE (write @out, feed the next packet) or FAILED. */
	ClientLoginStatus tls_established(std::vector<std::uint8_t> &out);

	/* Whether the connection to the server is encrypted (TLS established through this login): what
	 * an auth plugin checks before it sends a password in clear. */
	bool secure_transport() const noexcept { return tls_active; }

	bool succeeded() const noexcept { return state == State::SUCCEEDED; }
	bool failed() const noexcept { return state == State::FAILED; }
	/* Valid once feed() returned SUCCEEDED. */
	const ClientLoginSuccess &success() const noexcept { return result; }
	/* Valid once feed() returned FAILED. */
	const ClientLoginFailure &failure() const noexcept { return error; }
	/* What the server's greeting offered, whatever came after; empty before the greeting, or when
	 * it was not a usable one (then @offer_problem says why). */
	const std::optional<BackendOffer> &offer() const noexcept { return greeting_offer; }
	const std::string &offer_problem() const noexcept { return greeting_offer_problem; }
};

} // namespace myproxy
