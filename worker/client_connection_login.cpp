// The login part of a client connection (worker side): the greeting, the client's
// HandshakeResponse41 and cleartext password, the backend connect and ClientLogin, the start of the
// relay, and the login deadline.  Passwords are wiped from our buffers as soon as Lua or the
// backend login has its own copy.
#include "client_connection.hpp"

#include "worker/connect_socket.hpp"
#include "worker/connection_util.hpp"
#include "worker/worker_loop.hpp"

#include "common/auth_switch.hpp"
#include "common/command_packet.hpp"
#include "common/err_packet.hpp"
#include "common/handshake_response41.hpp"
#include "common/handshake_v10.hpp"
#include "common/log.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/native_password.hpp"
#include "common/ok_packet.hpp"
#include "lua/callback_run.hpp"
#include "lua/lua_auth_verify.hpp"
#include "lua/lua_handshake_response.hpp"

#include <lua.hpp>
#include <openssl/crypto.h>
#include <systemd/sd-event.h>

#include <sys/epoll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

namespace myproxy {

/* --- pre-command I/O -------------------------------------------------------------------------- */

static bool send_some(StreamSocket &stream, std::vector<std::uint8_t> &out, int &error) noexcept
{
	while (!out.empty()) {
		const ssize_t n = stream.write(out.data(), out.size());
		if (n < 0) {
			if (errno == EAGAIN)
				return true;
			error = errno;
			return false;
		}
		out.erase(out.begin(), out.begin() + n);
		if (!out.empty())
			return true; /* the kernel took what it could: wait for EPOLLOUT */
	}
	return true;
}

bool ClientConnection::flush_client() noexcept
{
	int error = 0;
	if (send_some(client_stream, client_out, error))
		return true;
	if (error == tls_errno)
		log(LogLevel::info, "send to client failed: %s", client_stream.tls_error().c_str());
	else if (error != EPIPE && error != ECONNRESET)
		log(LogLevel::info, "send to client failed: %s", std::strerror(error));
	close();
	return false;
}

bool ClientConnection::flush_backend() noexcept
{
	int error = 0;
	if (send_some(backend_stream, backend_out, error))
		return true;
	char backend[socket_address_text_max];
	format_backend(backend, sizeof(backend));
	log(LogLevel::warning, "send to backend %s failed: %s", backend,
	    error == tls_errno ? backend_stream.tls_error().c_str() : std::strerror(error));
	fail_login(ER_UNKNOWN_ERROR, "myproxy: lost the connection to the backend");
	return false;
}

void ClientConnection::send_client(const std::vector<std::uint8_t> &bytes) noexcept
{
	try {
		client_out.insert(client_out.end(), bytes.begin(), bytes.end());
	} catch (const std::bad_alloc &) {
		close();
		return;
	}
	flush_client();
}

bool ClientConnection::receive(StreamSocket &stream, std::vector<std::uint8_t> &in, bool &eof) noexcept
{
	constexpr std::size_t chunk = 4096;
	eof = false;
	const std::size_t old_size = in.size();
	try {
		in.resize(old_size + chunk);
	} catch (const std::bad_alloc &) {
		close();
		return false;
	}
	const ssize_t n = stream.read(in.data() + old_size, chunk);
	const int error = errno;
	in.resize(old_size + (n > 0 ? std::size_t(n) : 0));
	if (n == 0)
		eof = true;
	if (n < 0 && error != EAGAIN) {
		const char *reason = error == tls_errno ? stream.tls_error().c_str() : std::strerror(error);
		const bool from_client = &stream == &client_stream;
		if (from_client) {
			log(LogLevel::info, "receive from client failed: %s", reason);
			close();
		} else {
			char backend[socket_address_text_max];
			format_backend(backend, sizeof(backend));
			log(LogLevel::warning, "receive from backend %s failed: %s", backend, reason);
			fail_login(ER_UNKNOWN_ERROR, "myproxy: lost the connection to the backend");
		}
		return false;
	}
	return true;
}

bool ClientConnection::next_packet(std::vector<std::uint8_t> &in, std::vector<std::uint8_t> &payload,
				   std::uint8_t &sequence_id, bool from_client) noexcept
{
	ParseResult<ReassembledPayload> result = ParseError{"", 0};
	try {
		result = reassemble_payload(in, payload, login_packet_max);
	} catch (const std::bad_alloc &) {
		close();
		return false;
	}
	if (!result) {
		if (from_client) {
			/* Whatever it sent, the client now waits for our answer. */
			client_sequence = std::uint8_t(client_sequence + 1);
			metrics_client_malformed_packet();
			log(LogLevel::warning, "malformed packet during login: %s", result.error().what);
			fail_login(ER_NET_PACKET_TOO_LARGE, "Got a packet bigger than 'max_allowed_packet' bytes");
		} else {
			char backend[socket_address_text_max];
			format_backend(backend, sizeof(backend));
			log(LogLevel::warning, "backend %s: malformed packet during login: %s", backend,
			    result.error().what);
			fail_login(ER_UNKNOWN_ERROR, "myproxy: the backend sent a malformed packet");
		}
		return false;
	}
	if (!result->complete)
		return false;
	if (from_client)
		metrics_client_packet(result->wire_size);
	in.erase(in.begin(), in.begin() + std::ptrdiff_t(result->wire_size));
	sequence_id = result->first_sequence_id;
	return true;
}

/* --- the client's login ----------------------------------------------------------------------- */

void ClientConnection::start() noexcept
{
	metrics_session_started(id);
	try {
		if (handler < 0) {
			log(LogLevel::error, "no listener for this client");
			close();
			return;
		}
		if (sd_event_add_io(worker.event_loop(), client_source.out(), client_fd.get(), EPOLLIN, on_client_io, this) <
		    0) {
			log(LogLevel::error, "cannot watch the client socket");
			close();
			return;
		}
		client_events = EPOLLIN;
		login_watch = worker.watch_login(*this);
		if (attributes.has_credentials) {
			if (!worker.reserve_pending_login(attributes.uid)) {
				log(LogLevel::warning, "too many logins in progress for uid %u", attributes.uid);
				metrics_connection_rejected();
				fail_handshake(ER_CON_COUNT_ERROR, "Too many connections");
				return;
			}
			pending_login_reserved = true;
		}
		lua_State *L = worker.lua();
		client_ref = create_lua_client(L, attributes);
		if (client_ref == LUA_NOREF || !lua_checkstack(L, 2)) {
			log(LogLevel::error, "Lua heap full: cannot create the client object");
			fail_handshake(ER_OUT_OF_RESOURCES, "Out of memory");
			return;
		}
		attributes.server_version_settable = true;
		push_lua_client(L, client_ref);
		run_callback(CallbackKind::on_connect, 1);
		update_events();
	} catch (const std::exception &e) {
		log(LogLevel::error, "login: %s", e.what());
		close();
	}
}

void ClientConnection::send_greeting()
{
	const auto nonce = generate_scramble();
	if (!nonce) {
		log(LogLevel::error, "generate_scramble() failed");
		fail_handshake(ER_UNKNOWN_ERROR, "myproxy: internal error");
		return;
	}
	ServerLoginParams params;
	params.plugins = listener_auth->plugins;
	params.rsa = listener_auth->rsa ? &*listener_auth->rsa : nullptr;
	params.server_version = attributes.server_version;
	params.connection_id = worker.next_connection_id();
	params.nonce = *nonce;
	params.capabilities = offered_capabilities;
	params.tls_offered = listener_tls != nullptr;
	params.tls_required = listener_requires_tls;
	/* The master got the peer's credentials, which only local sockets give. */
	params.local_transport = attributes.has_credentials;
	server_login = std::make_unique<ServerLogin>(params);
	std::vector<std::uint8_t> out;
	if (server_login->greeting(out) != ServerLoginStatus::CONTINUE) {
		log(LogLevel::error, "%s", server_login->failure().reason.c_str());
		fail_handshake(ER_UNKNOWN_ERROR, "myproxy: internal error");
		return;
	}
	client_sequence = server_login->next_sequence_id();
	phase = Phase::greeting_sent;
	send_client(out);
}

void ClientConnection::refuse_after_greeting(const ServerError &error, std::string_view message)
{
	send_greeting();
	if (server_login && phase == Phase::greeting_sent)
		server_login->refuse_at_response(error, message);
}

void ClientConnection::handle_client_login_packet(std::vector<std::uint8_t> &payload, std::uint8_t sequence_id)
{
	std::vector<std::uint8_t> out;
	const ServerLoginStatus status = server_login->feed(payload, sequence_id, out);
	wipe(payload);
	server_login_status(status, out);
}

/* Carries out what server_login asked for after a client packet or the script's decision. */
void ClientConnection::server_login_status(ServerLoginStatus status, std::vector<std::uint8_t> &out)
{
	client_sequence = server_login->next_sequence_id();
	switch (status) {
	case ServerLoginStatus::CONTINUE:
		phase = server_login->waiting_for_client() ? Phase::auth_switch_sent : Phase::greeting_sent;
		if (!out.empty())
			send_client(out);
		break;
	case ServerLoginStatus::START_TLS:
		start_client_tls();
		break;
	case ServerLoginStatus::ASK_SCRIPT:
		metrics_handshake_response();
		client_capabilities = server_login->capabilities();
		client_character_set = server_login->character_set();
		client_max_packet_size = server_login->max_packet_size();
		if (!out.empty())
			send_client(out);
		if (phase != Phase::closed)
			run_handshake_response_script();
		break;
	case ServerLoginStatus::AUTHENTICATED:
	case ServerLoginStatus::REFUSED:
		/* Only after script_decided(): handshake_response_outcome() goes on. */
		if (!out.empty())
			send_client(out);
		break;
	case ServerLoginStatus::FAILED:
		server_login_failed(out);
		break;
	}
	wipe(out);
}

void ClientConnection::server_login_failed(std::vector<std::uint8_t> &out)
{
	const ServerLoginFailure &failure = server_login->failure();
	log(failure.protocol_violation ? LogLevel::warning : LogLevel::info, "%s", failure.reason.c_str());
	if (failure.protocol_violation)
		metrics_client_malformed_packet();
	if (out.empty())
		close();
	else
		finish_with(std::move(out));
}

void ClientConnection::start_client_tls()
{
	/* The client may have sent its ClientHello right behind the SSLRequest: what was read past the
	 * SSLRequest belongs to the TLS stream. */
	phase = Phase::client_tls;
	const bool started = client_stream.start_tls(listener_tls, true, client_in.data(), client_in.size());
	release(client_in);
	if (!started) {
		log(LogLevel::error, "cannot start TLS with the client: %s", client_stream.tls_error().c_str());
		close();
		return;
	}
	client_tls_step();
}

void ClientConnection::client_tls_step()
{
	const int status = client_stream.handshake();
	if (status != 0)
		metrics_tls_handshake(status > 0);
	if (status < 0) {
		/* Nothing sensible can reach the client now: an ERR in clear text is no TLS record. */
		log(LogLevel::info, "TLS handshake with the client failed: %s", client_stream.tls_error().c_str());
		close();
		return;
	}
	if (status > 0) {
		log(LogLevel::debug, "TLS with the client established");
		attributes.ssl = true;
		(void)server_login->tls_established();
		phase = Phase::greeting_sent; /* the real HandshakeResponse41 follows, encrypted */
	}
}

void ClientConnection::run_handshake_response_script()
{
	phase = Phase::on_handshake_response;
	if (!push_client_and_response()) {
		log(LogLevel::error, "Lua heap full: cannot build the handshake_response table");
		fail_login(ER_OUT_OF_RESOURCES, "Out of memory");
		return;
	}
	run_callback(CallbackKind::on_handshake_response, 2);
}

ScriptDecision ClientConnection::script_decision(const CallbackOutcome &outcome, bool proof_verified) noexcept
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

/* on_handshake_response decided: server_login answers the client (FAST_AUTH_SUCCESS, the full path,
 * or an ERR); once it says AUTHENTICATED the backend login starts. */
void ClientConnection::handshake_response_outcome(CallbackOutcome &outcome)
{
	const bool verified = auth_proof_verified(worker.lua(), auth_proof_ref);
	release_auth_proof(worker.lua(), auth_proof_ref);
	const ScriptDecision decision = script_decision(outcome, verified);
	if (decision.verdict == ScriptDecision::Verdict::refuse)
		log(LogLevel::info, "on_handshake_response refused the login: %s", std::string(decision.message).c_str());
	std::vector<std::uint8_t> out;
	const ServerLoginStatus status = server_login->script_decided(decision, out);
	if (status == ServerLoginStatus::FAILED) {
		client_sequence = server_login->next_sequence_id();
		if (out.empty())
			close();
		else
			finish_with(std::move(out));
		return;
	}
	server_login_status(status, out);
	if (status == ServerLoginStatus::AUTHENTICATED && phase != Phase::closed)
		connect_backend(std::get<ConnectAction>(*outcome.action));
}

/* --- the backend's login ---------------------------------------------------------------------- */

std::optional<Sha1Digest> ClientConnection::credentials_fingerprint(const ConnectAction &action) noexcept
{
	if (action.password_sha1)
		return native_password_sha1(ByteReader::as_string(*action.password_sha1));
	return native_password_stored_hash(action.password ? std::string_view(*action.password) : std::string_view());
}

void ClientConnection::connect_backend(ConnectAction &action)
{
	if (action.cluster) {
		if (!choose_node(action))
			return;
	} else {
		backend_address = action.address;
	}
	backend_user = action.user;
	backend_fingerprint = credentials_fingerprint(action);

	std::vector<ConnectAttr> attrs;
	ClientLoginParams params = backend_login_params(action, attrs);
	params.ssl = action.ssl;
	backend_tls_context = action.ssl_context;
	backend_read_timeout = action.read_timeout_usec;
	backend_tls_verify = action.ssl_verify;
	backend_tls_name = action.ssl_server_name;
	/* Without ssl_server_name an IP address must match the certificate's IP addresses (set per
	 * connect: a cluster login may go on to another node). */
	backend_tls_name_is_address = action.ssl && backend_tls_name.empty() && backend_tls_verify;
	login = std::make_unique<ClientLogin>(params);
	start_backend_connect();
}

ClientLoginParams ClientConnection::backend_login_params(const ConnectAction &action,
							 std::vector<ConnectAttr> &attrs) const
{
	attrs.reserve(action.attributes.size());
	for (const auto &[key, value] : action.attributes)
		attrs.push_back({key, value});
	ClientLoginParams params;
	params.user = action.user;
	if (action.password)
		params.password = *action.password;
	params.password_sha1 = action.password_sha1;
	params.database = action.database;
	params.attrs = attrs;
	params.capabilities = client_capabilities;
	params.allow_clear_password = action.allow_cleartext;
	/* A local socket is as private as TLS: the password may go as it is (as MySQL's clients do). */
	params.secure_transport = backend_address.family() == AF_UNIX;
	params.server_public_key = action.server_public_key;
	if (client_character_set != 0)
		params.character_set = client_character_set;
	if (client_max_packet_size != 0)
		params.max_packet_size = client_max_packet_size;
	return params;
}

void ClientConnection::start_backend_connect()
{
	if (backend_tls_name_is_address) {
		char text[INET6_ADDRSTRLEN] = "";
		const sockaddr *address = reinterpret_cast<const sockaddr *>(&backend_address.storage);
		if (address->sa_family == AF_INET)
			inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in *>(address)->sin_addr, text, sizeof(text));
		else if (address->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6 *>(address)->sin6_addr, text,
				  sizeof(text));
		backend_tls_name = text;
	}
	ConnectStart connection = start_connect(backend_address);
	if (connection.error != 0) {
		backend_connect_failed(connection.error);
		return;
	}
	backend_fd = std::move(connection.fd);
	backend_stream.attach(backend_fd.get());
	backend_events = connection.in_progress ? EPOLLOUT : EPOLLIN;
	if (sd_event_add_io(worker.event_loop(), backend_source.out(), backend_fd.get(), backend_events, on_backend_io,
			    this) < 0) {
		log(LogLevel::error, "cannot watch the backend socket");
		fail_login(ER_UNKNOWN_ERROR, "myproxy: internal error");
		return;
	}
	if (connection.in_progress)
		phase = Phase::backend_connecting;
	else
		backend_connected();
}

void ClientConnection::backend_connected()
{
	phase = Phase::backend_login;
}

void ClientConnection::handle_backend_login_packet(const std::vector<std::uint8_t> &payload, std::uint8_t sequence_id)
{
	const ClientLoginStatus status = login->feed(payload, sequence_id, backend_out);
	if (!backend_out.empty() && !flush_backend())
		return;
	if (status == ClientLoginStatus::START_TLS)
		start_backend_tls();
	else if (status == ClientLoginStatus::SUCCEEDED)
		backend_logged_in();
	else if (status == ClientLoginStatus::FAILED)
		backend_login_failed();
}

void ClientConnection::start_backend_tls()
{
	char backend[socket_address_text_max];
	format_backend(backend, sizeof(backend));
	if (!backend_out.empty()) {
		/* 36 bytes to a socket that just delivered a greeting: the kernel always takes them. */
		log(LogLevel::warning, "backend %s: the SSLRequest could not be sent at once", backend);
		fail_login(ER_UNKNOWN_ERROR, "myproxy: TLS to the backend failed");
		return;
	}
	phase = Phase::backend_tls;
	const bool started = backend_stream.start_tls(backend_tls_context, false, backend_in.data(), backend_in.size(),
						      backend_tls_name, backend_tls_verify);
	release(backend_in);
	if (!started) {
		log(LogLevel::error, "cannot start TLS with backend %s: %s", backend, backend_stream.tls_error().c_str());
		fail_login(ER_UNKNOWN_ERROR, "myproxy: TLS to the backend failed");
		return;
	}
	backend_tls_step();
}

void ClientConnection::backend_tls_step()
{
	const int status = backend_stream.handshake();
	if (status == 0)
		return;
	metrics_tls_handshake(status > 0);
	char backend[socket_address_text_max];
	format_backend(backend, sizeof(backend));
	if (status < 0) {
		const std::string &reason = backend_stream.tls_error();
		log(LogLevel::warning, "TLS with backend %s failed: %s", backend, reason.c_str());
		char message[socket_address_text_max + 320];
		std::snprintf(message, sizeof(message), "myproxy: TLS to backend %s failed: %.256s", backend,
			      reason.c_str());
		fail_login(ER_UNKNOWN_ERROR, message);
		return;
	}
	log(LogLevel::debug, "TLS with backend %s established", backend);
	phase = Phase::backend_login;
	const ClientLoginStatus login_status = login->tls_established(backend_out);
	if (login_status == ClientLoginStatus::FAILED) {
		backend_login_failed();
		return;
	}
	flush_backend();
}

void ClientConnection::backend_login_failed()
{
	const ClientLoginFailure &failure = login->failure();
	metrics_backend_login(backend_address, false);
	char backend[socket_address_text_max];
	format_backend(backend, sizeof(backend));
	if (failure.kind == ClientLoginFailure::Kind::SERVER_ERROR) {
		log(LogLevel::info, "backend %s refused user '%s': %u %s", backend, backend_user.c_str(),
		    failure.error_code, failure.message.c_str());
		/* The backend's own error, code, SQLSTATE and text unchanged. */
		ErrPacket err;
		err.error_code = failure.error_code;
		err.sql_state = failure.sql_state;
		err.message = failure.message;
		std::vector<std::uint8_t> out;
		const std::size_t start = begin_packet(out);
		build_err_packet(out, err, client_capabilities);
		finish_packet(out, start, client_sequence);
		finish_with(std::move(out));
		return;
	}
	log(LogLevel::warning, "login to backend %s failed: %s", backend, failure.message.c_str());
	if (failure.kind == ClientLoginFailure::Kind::TLS_UNAVAILABLE) {
		char message[socket_address_text_max + 128];
		std::snprintf(message, sizeof(message),
			      "myproxy: backend %s does not offer TLS, which ssl = true requires", backend);
		fail_login(ER_UNKNOWN_ERROR, message);
		return;
	}
	char message[socket_address_text_max + 64];
	std::snprintf(message, sizeof(message), "myproxy: login to backend %s failed", backend);
	fail_login(ER_UNKNOWN_ERROR, message);
}

void ClientConnection::backend_logged_in()
{
	const ClientLoginSuccess &success = login->success();
	metrics_backend_login(backend_address, true);
	backend_session = success;
	const std::uint32_t missing = client_capabilities & format_capabilities & ~success.capabilities;
	if (missing != 0) {
		char backend[socket_address_text_max];
		format_backend(backend, sizeof(backend));
		const std::uint32_t flag = missing & -missing;
		log(LogLevel::warning, "backend %s lacks %s, which the client uses", backend, capability_name(flag));
		fail_login(ER_UNKNOWN_ERROR, "myproxy: the backend lacks a capability the client needs");
		return;
	}
	/* MariaDB 10+ prefixes "5.5.5-" for the sake of old replication clients; scripts want the
	 * real version, as clients show it. */
	std::string_view version = success.server_version;
	if (version.starts_with("5.5.5-") && version.find("MariaDB") != std::string_view::npos)
		version.remove_prefix(6);
	attributes.server_version = version;
	phase = Phase::on_command_phase;
	lua_State *L = worker.lua();
	if (!lua_checkstack(L, 2)) {
		fail_login(ER_OUT_OF_RESOURCES, "Out of memory");
		return;
	}
	push_lua_client(L, client_ref);
	run_callback(CallbackKind::on_command_phase, 1);
}

void ClientConnection::start_relay()
{
	const ClientLoginSuccess &success = login->success();
	OkPacket ok;
	ok.status_flags = success.status_flags;
	ok.warnings = success.warnings;
	std::vector<std::uint8_t> out;
	const std::size_t start = begin_packet(out);
	build_ok_packet(out, ok, client_capabilities);
	finish_packet(out, start, client_sequence);

	relay = std::make_unique<Relay>(worker.relay_buffers(), client_stream, backend_stream,
					(client_capabilities & CLIENT_LOCAL_FILES) != 0);
	relay->intercept_command(COM_INIT_DB);
	relay->intercept_command(COM_CHANGE_USER);
	relay->metrics_tap().attach(backend_address);
	metrics_auth_ok(id);
	if (!relay->send_to_client(out) || !relay->preload(RelaySide::client, client_in) ||
	    !relay->preload(RelaySide::backend, backend_in)) {
		log(LogLevel::error, "cannot start the relay");
		close();
		return;
	}

	char backend[socket_address_text_max];
	format_backend(backend, sizeof(backend));
	log(LogLevel::debug, "logged in to backend %s as '%s'", backend, backend_user.c_str());

	login.reset();
	release(client_in);
	release(client_out);
	release(backend_in);
	release(backend_out);
	end_login_watch();
	if (pending_login_reserved) {
		worker.release_pending_login(attributes.uid);
		pending_login_reserved = false;
	}
	phase = Phase::relay;
	relay_event(relay->resume());
}

void ClientConnection::login_deadline_expired() noexcept
{
	/* The worker has erased our entry already. */
	login_watch.reset();
	char backend[socket_address_text_max];
	char message[socket_address_text_max + 64];
	switch (phase) {
	case Phase::on_connect:
		log(LogLevel::warning, "login deadline: on_connect did not finish");
		fail_handshake(ER_UNKNOWN_ERROR, "myproxy: the login script timed out");
		break;
	case Phase::client_tls:
		log(LogLevel::info, "login deadline: the client did not finish the TLS handshake");
		close();
		break;
	case Phase::greeting_sent:
	case Phase::auth_switch_sent:
		log(LogLevel::info, "login deadline: the client did not answer");
		fail_login(ER_NET_READ_ERROR, "Got timeout reading communication packets");
		break;
	case Phase::on_handshake_response:
	case Phase::on_command_phase:
		log(LogLevel::warning, "login deadline: %s did not finish",
		    phase == Phase::on_command_phase ? "on_command_phase" : "on_handshake_response");
		fail_login(ER_UNKNOWN_ERROR, "myproxy: the login script timed out");
		break;
	case Phase::backend_connecting:
	case Phase::backend_login:
	case Phase::backend_tls:
		format_backend(backend, sizeof(backend));
		log(LogLevel::warning, "login deadline: backend %s did not answer", backend);
		std::snprintf(message, sizeof(message), "myproxy: backend %s did not answer in time", backend);
		fail_login(ER_UNKNOWN_ERROR, message);
		break;
	case Phase::closing:
	case Phase::relay:
	case Phase::closed:
		break;
	}
}

} // namespace myproxy
