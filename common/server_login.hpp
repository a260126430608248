// myproxy as a MySQL server: a client's login (and a later COM_CHANGE_USER) as a state machine
// without I/O, the mirror of ClientLogin.  The caller frames packets, feeds each payload in and writes
// out what the machine appended; the machine says when to start TLS, when the script must decide,
// and when the client is authenticated or refused.  Never touches a socket, an event loop, Lua or a
// log; never reports AUTHENTICATED without the script's "connect" (and, on caching_sha2_password's
// fast path, a verified proof).  Secrets it holds are wiped when it no longer needs them.
#pragma once

#include "byte_reader.hpp"
#include "client_auth_plugins.hpp"
#include "mysql_errors.hpp"
#include "rsa_key.hpp"
#include "secret.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace myproxy {

/* utf8mb4_general_ci: what the greeting announces as the server's character set. */
constexpr std::uint8_t SERVER_LOGIN_CHARACTER_SET = 45;

struct ServerLoginParams {
	/* What the listener offers, the first one named in the greeting; never empty. */
	std::span<const ClientAuthPlugin> plugins;
	/* caching_sha2_password's key for the full path without a secure transport; required when
	 * that plugin is offered (without it such a client is refused). */
	const RsaKeyPair *rsa = nullptr;
	std::string_view server_version;
	std::uint32_t connection_id = 0;
	/* The greeting's 20-byte nonce (generate_scramble()); COM_CHANGE_USER answers it again. */
	std::array<std::uint8_t, 20> nonce{};
	/* What the server offers (CLIENT_SSL is added when tls_offered). */
	std::uint32_t capabilities = 0;
	/* MariaDB's extended capabilities (unshifted); only with CLIENT_LONG_PASSWORD clear. */
	std::uint32_t mariadb_capabilities = 0;
	/* The greeting's collation (the backends' default). */
	std::uint8_t character_set = SERVER_LOGIN_CHARACTER_SET;
	/* The listener has a certificate (START_TLS is possible), and requires it (require_ssl). */
	bool tls_offered = false;
	bool tls_required = false;
	/* A local socket whose peer the master identified: as private as TLS for passwords. */
	bool local_transport = false;
};

enum class ServerLoginStatus : std::uint8_t {
	/* Write what was appended (possibly nothing) and feed the next client packet. */
	CONTINUE,
	/* Run the TLS handshake as the server on the same connection (bytes read past the SSLRequest
	 * belong to it), then call tls_established(). */
	START_TLS,
	/* Write what was appended; credentials() are ready: run the script, then script_decided(). */
	ASK_SCRIPT,
	/* Write what was appended; the script let the client in (connect).  The final OK (or an ERR
	 * from the backend) carries next_sequence_id(). */
	AUTHENTICATED,
	/* Only for COM_CHANGE_USER: write the ERR that was appended; the session stays as it was. */
	REFUSED,
	/* Write the ERR that was appended (possibly nothing: a broken TLS handshake leaves no way to
	 * talk), then close.  failure() says why, for the log. */
	FAILED,
};

/* What the script is told about the client (views valid until the next call into the machine). */
struct ServerLoginCredentials {
	enum class Verify : std::uint8_t { none, native_password, caching_sha2_password };

	std::string_view user;
	std::string_view database;
	/* The plugin the client authenticated with, as named to the script. */
	std::string_view auth_plugin;
	/* Set when the client sent its password (mysql_clear_password, caching_sha2_password's full
	 * path, or an empty caching_sha2_password response). */
	std::optional<std::string_view> password;
	/* The scramble the script may check (verify_native_password() or
	 * verify_caching_sha2_password()): the client's response to nonce. */
	Verify verify = Verify::none;
	ByteSpan nonce;
	ByteSpan scramble;
	/* The connection attribute block, unchanged (parse_connect_attrs()). */
	ByteSpan attrs;
	bool change_user = false;
	/* COM_CHANGE_USER only: the collation the packet names (two bytes, unlike a login's one);
	 * absent when the packet ended before it. */
	std::optional<std::uint16_t> character_set;
};

/* The script's answer to ASK_SCRIPT. */
struct ScriptDecision {
	enum class Verdict : std::uint8_t {
		connect,	/* let the client in */
		refuse,		/* an ERR with message */
		pass,		/* nil: allowed only on caching_sha2_password's fast path (ask for the password) */
		failed,		/* a Lua error, a bad return value, no on_handshake_response */
	};
	Verdict verdict = Verdict::failed;
	/* The script proved the client's scramble with verify_*() during this run. */
	bool proof_verified = false;
	std::string_view message;
};

struct ServerLoginFailure {
	ServerError error{0, ""};
	/* For the log line: what went wrong, without secrets. */
	std::string reason;
	/* The client broke the protocol (a warning), rather than being refused (info). */
	bool protocol_violation = false;
};

class ServerLogin {
	enum class State : std::uint8_t {
		GREETING,	/* greeting() not called yet */
		RESPONSE,	/* waiting for HandshakeResponse41 or an SSLRequest */
		TLS_HANDSHAKE,
		SWITCHED,	/* AuthSwitchRequest sent: waiting for the plugin's data */
		FULL_AUTH,	/* caching_sha2_password: PERFORM_FULL_AUTH sent */
		KEY_SENT,	/* ... and our RSA public key after the client asked */
		SCRIPT,		/* ASK_SCRIPT reported: waiting for script_decided() */
		ESTABLISHED,	/* AUTHENTICATED: only COM_CHANGE_USER may follow */
		FAILED,
	};

	/* The listener's plugins: the first one (the greeting's) and all of them as bits
	 * (offers()). */
	ClientAuthPlugin first_plugin = ClientAuthPlugin::clear_password;
	std::uint8_t offered = 0;
	const RsaKeyPair *rsa;
	std::uint32_t connection_id;
	std::array<std::uint8_t, 20> nonce;
	std::uint32_t server_capabilities;
	std::uint32_t server_mariadb_capabilities;
	std::uint8_t server_character_set;
	bool tls_offered, tls_required, local_transport;
	bool tls_active = false;

	State state = State::GREETING;
	std::uint8_t sequence_id = 0;
	bool changing_user = false;
	/* caching_sha2_password's first run of the script, with the fast-path scramble. */
	bool fast_path = false;
	ClientAuthPlugin plugin = ClientAuthPlugin::clear_password;
	std::uint32_t negotiated = 0;
	std::uint32_t negotiated_mariadb = 0;
	std::uint8_t client_character_set = 0;
	std::uint32_t client_max_packet_size = 0;
	/* What one exchange (the login, a COM_CHANGE_USER) needs until it is decided or failed: made on
	 * first use, freed once the session is established (established()), so that an idle session
	 * keeps only the members above (measured in doc/performance.md, "Memory per idle connection"). */
	struct Exchange {
		/* For the greeting. */
		std::string server_version;
		/* The client's HandshakeResponse41 or COM_CHANGE_USER (credentials() views into it). */
		SecretBytes login_packet;
		SecretBytes scramble;
		SecretString password;
		bool password_given = false;
		ServerLoginCredentials shown;
		ServerLoginFailure error;
		/* refuse_at_response(): the ERR the HandshakeResponse41 gets instead of the script. */
		std::optional<ServerError> refusal;
		std::string refusal_message;
	};
	std::unique_ptr<Exchange> exchange;
	Exchange &ex();
	/* The login or the change of user succeeded (or a change of user was refused): the session
	 * stays, the exchange goes. */
	void established() noexcept;

	ServerLoginStatus fail(std::vector<std::uint8_t> &out, const ServerError &code, std::string_view message,
			       std::string reason, bool protocol_violation);
	ServerLoginStatus bad_handshake(std::vector<std::uint8_t> &out, std::string reason);
	ServerLoginStatus refuse_change_user(std::vector<std::uint8_t> &out, const ServerError &code,
					     std::string_view message);
	void append_err(std::vector<std::uint8_t> &out, const ServerError &code, std::string_view message);
	void append_more_data(std::vector<std::uint8_t> &out, ByteSpan data);
	void append_switch(std::vector<std::uint8_t> &out, ClientAuthPlugin to);
	bool offers(ClientAuthPlugin candidate) const noexcept;
	bool transport_private() const noexcept { return tls_active || local_transport; }
	void forget_secrets() noexcept;

	ServerLoginStatus handshake_response(ByteSpan payload, std::vector<std::uint8_t> &out);
	ServerLoginStatus accept_auth_data(ByteSpan data, std::vector<std::uint8_t> &out);
	ServerLoginStatus full_auth_packet(ByteSpan payload, std::vector<std::uint8_t> &out);
	ServerLoginStatus change_user_auth_packet(ByteSpan payload, std::vector<std::uint8_t> &out);
	ServerLoginStatus ask_script();
	ServerLoginStatus fast_path_decided(const ScriptDecision &decision, std::vector<std::uint8_t> &out);
	ServerLoginStatus login_decided(const ScriptDecision &decision, std::vector<std::uint8_t> &out);
	ServerLoginStatus change_user_decided(const ScriptDecision &decision, std::vector<std::uint8_t> &out);

public:
	explicit ServerLogin(const ServerLoginParams &params);
	~ServerLogin() noexcept;

	ServerLogin(const ServerLogin &) = delete;
	ServerLogin &operator=(const ServerLogin &) = delete;

	/* Appends the greeting (sequence id 0).  CONTINUE, or FAILED when it cannot be encoded (a NUL
	 * in the server version). */
	ServerLoginStatus greeting(std::vector<std::uint8_t> &out);

	/* The client is refused, but as a server refuses an ordinary user at max_connections: after the
	 * greeting, the client's SSLRequest and TLS, its HandshakeResponse41 is answered with this ERR
	 * (with its SQLSTATE) instead of asking the script, and the machine is FAILED.  A client that asked
	 * for TLS then reads the error it would read from the server; an ERR before the greeting is
	 * reported as 2002 "before completion of TLS handshake" by libmariadb.  Call it before the
	 * HandshakeResponse41 arrives. */
	void refuse_at_response(const ServerError &code, std::string_view message);

	/* Feeds one client packet during the login (its logical payload and first sequence id). */
	ServerLoginStatus feed(ByteSpan payload, std::uint8_t sequence_id, std::vector<std::uint8_t> &out);

	/* After START_TLS, once the handshake succeeded: the HandshakeResponse41 follows, encrypted. */
	ServerLoginStatus tls_established();

	/* The script's decision after ASK_SCRIPT. */
	ServerLoginStatus script_decided(const ScriptDecision &decision, std::vector<std::uint8_t> &out);

	/* A COM_CHANGE_USER (0x11 included) on an established session: a new login, answered with
	 * ASK_SCRIPT, CONTINUE (a switch to mysql_clear_password was appended: feed the client's
	 * answer), or FAILED (malformed: close). */
	ServerLoginStatus change_user(ByteSpan payload, std::uint8_t sequence_id, std::vector<std::uint8_t> &out);

	/* Appends an ERR for the client with the sequence id it expects now (e.g. when the backend
	 * login fails after AUTHENTICATED, or the login deadline passes); the machine is FAILED. */
	void abort(std::vector<std::uint8_t> &out, const ServerError &code, std::string_view message);

	/* Empty outside an exchange (once established). */
	const ServerLoginCredentials &credentials() const noexcept;
	const ServerLoginFailure &failure() const noexcept;
	/* nil is a valid answer now (caching_sha2_password's fast path). */
	bool script_may_pass() const noexcept { return state == State::SCRIPT && fast_path; }
	bool tls_active_now() const noexcept { return tls_active; }
	bool authenticated() const noexcept { return state == State::ESTABLISHED; }
	/* Waiting for the client (rather than for the script or TLS): the login deadline says so. */
	bool waiting_for_client() const noexcept;
	bool in_tls_handshake() const noexcept { return state == State::TLS_HANDSHAKE; }
	std::uint8_t next_sequence_id() const noexcept { return sequence_id; }
	/* What the client asked for, limited to what we offered (valid after its HandshakeResponse41). */
	std::uint32_t capabilities() const noexcept { return negotiated; }
	/* MariaDB's extended capabilities both sides have (unshifted); 0 unless both cleared
	 * CLIENT_LONG_PASSWORD. */
	std::uint32_t mariadb_capabilities() const noexcept { return negotiated_mariadb; }
	std::uint8_t character_set() const noexcept { return client_character_set; }
	std::uint32_t max_packet_size() const noexcept { return client_max_packet_size; }
	ClientAuthPlugin auth_plugin() const noexcept { return plugin; }
};

} // namespace myproxy
