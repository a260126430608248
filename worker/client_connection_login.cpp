// The login part of a client connection (worker side): the greeting, the client's
// HandshakeResponse41 and cleartext password, the backend connect and ClientLogin, the start of the
// relay, and the login deadline.  Passwords are wiped from our buffers as soon as Lua or the
// backend login has its own copy.
#include "client_connection.hpp"

#include "common/connect_socket.hpp"
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

bool ClientConnection::receive_client(bool &eof) noexcept
{
	constexpr std::size_t chunk = 4096;
	eof = false;
	const std::size_t old_size = client_in.size();
	try {
		client_in.resize(old_size + chunk);
	} catch (const std::bad_alloc &) {
		close();
		return false;
	}
	const ssize_t n = client_stream.read(client_in.data() + old_size, chunk);
	const int error = errno;
	client_in.resize(old_size + (n > 0 ? std::size_t(n) : 0));
	if (n == 0)
		eof = true;
	if (n < 0 && error != EAGAIN) {
		log(LogLevel::info, "receive from client failed: %s",
		    error == tls_errno ? client_stream.tls_error().c_str() : std::strerror(error));
		close();
		return false;
	}
	return true;
}

bool ClientConnection::next_client_packet(std::vector<std::uint8_t> &payload, std::uint8_t &sequence_id) noexcept
{
	ParseResult<ReassembledPayload> result = ParseError{"", 0};
	try {
		result = reassemble_payload(client_in, payload, login_packet_max);
	} catch (const std::bad_alloc &) {
		close();
		return false;
	}
	if (!result) {
		/* Whatever it sent, the client now waits for our answer. */
		client_sequence = std::uint8_t(client_sequence + 1);
		metrics_client_malformed_packet();
		log(LogLevel::warning, "malformed packet during login: %s", result.error().what);
		fail_login(ER_NET_PACKET_TOO_LARGE, "Got a packet bigger than 'max_allowed_packet' bytes");
		return false;
	}
	if (!result->complete)
		return false;
	metrics_client_packet(result->wire_size);
	client_in.erase(client_in.begin(), client_in.begin() + std::ptrdiff_t(result->wire_size));
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
	backend_read_timeout = action.read_timeout_usec;
	backend_tls.context = action.ssl_context;
	backend_tls.verify = action.ssl_verify;
	/* Without ssl_server_name the link verifies the IP address of each node it connects to. */
	backend_tls.server_name = action.ssl_server_name;
	backend_handshake = std::make_unique<BackendHandshake>(params, false, login_packet_max);
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
	backend_source.reset();
	backend_link.reset();
	backend_events = 0;
	phase = Phase::backend_login;
	backend_link = std::make_unique<BackendLink>(*backend_handshake, backend_tls);
	if (backend_link->connect(backend_address) == BackendLink::Event::FAILED) {
		backend_link_failed();
		return;
	}
	backend_events = backend_link->poll_events();
	if (sd_event_add_io(worker.event_loop(), backend_source.out(), backend_link->fd(), backend_events, on_backend_io,
			    this) < 0) {
		log(LogLevel::error, "cannot watch the backend socket");
		fail_login(ER_UNKNOWN_ERROR, "myproxy: internal error");
	}
}

/* What the backend link reports while it connects and logs in. */
void ClientConnection::backend_link_event(BackendLink::Event event)
{
	switch (event) {
	case BackendLink::Event::WAITING:
		break;
	case BackendLink::Event::TLS_ESTABLISHED: {
		metrics_tls_handshake(true);
		char backend[socket_address_text_max];
		format_backend(backend, sizeof(backend));
		log(LogLevel::debug, "TLS with backend %s established", backend);
		break;
	}
	case BackendLink::Event::DONE:
		if (backend_handshake->logged_in())
			backend_logged_in();
		else
			backend_handshake_failed();
		break;
	case BackendLink::Event::FAILED:
		backend_link_failed();
		break;
	}
}

/* The connection to the backend failed under the login: the client hears why, in our words. */
void ClientConnection::backend_link_failed()
{
	const BackendLinkFailure &failure = backend_link->failure();
	char backend[socket_address_text_max];
	format_backend(backend, sizeof(backend));
	const char *reason = failure.error == tls_errno ? failure.reason.c_str() : std::strerror(failure.error);
	switch (failure.kind) {
	case BackendLinkFailure::Kind::CONNECT:
		backend_connect_failed(failure.error);
		return;
	case BackendLinkFailure::Kind::SEND:
	case BackendLinkFailure::Kind::RECEIVE:
		log(LogLevel::warning, "%s backend %s failed: %s",
		    failure.kind == BackendLinkFailure::Kind::SEND ? "send to" : "receive from", backend, reason);
		fail_login(ER_UNKNOWN_ERROR, "myproxy: lost the connection to the backend");
		return;
	case BackendLinkFailure::Kind::CLOSED:
		log(LogLevel::warning, "backend %s closed the connection during the login", backend);
		fail_login(ER_UNKNOWN_ERROR, "myproxy: the backend closed the connection");
		return;
	case BackendLinkFailure::Kind::TLS_START:
		log(LogLevel::error, "cannot start TLS with backend %s: %s", backend, failure.reason.c_str());
		fail_login(ER_UNKNOWN_ERROR, "myproxy: TLS to the backend failed");
		return;
	case BackendLinkFailure::Kind::TLS_HANDSHAKE: {
		metrics_tls_handshake(false);
		log(LogLevel::warning, "TLS with backend %s failed: %s", backend, failure.reason.c_str());
		char message[socket_address_text_max + 320];
		std::snprintf(message, sizeof(message), "myproxy: TLS to backend %s failed: %.256s", backend,
			      failure.reason.c_str());
		fail_login(ER_UNKNOWN_ERROR, message);
		return;
	}
	case BackendLinkFailure::Kind::OUT_OF_MEMORY:
		log(LogLevel::error, "backend login: out of memory");
		close();
		return;
	}
}

/* The backend's packets ended the login without success. */
void ClientConnection::backend_handshake_failed()
{
	const BackendHandshakeFailure &failure = backend_handshake->failure();
	char backend[socket_address_text_max];
	format_backend(backend, sizeof(backend));
	switch (failure.kind) {
	case BackendHandshakeFailure::Kind::LOGIN:
		backend_login_failed(failure.login);
		return;
	case BackendHandshakeFailure::Kind::DATA_BEFORE_TLS:
		log(LogLevel::warning, "backend %s: %s", backend, failure.message.c_str());
		fail_login(ER_UNKNOWN_ERROR, "myproxy: TLS to the backend failed");
		return;
	default:
		log(LogLevel::warning, "backend %s: malformed packet during login: %s", backend, failure.message.c_str());
		fail_login(ER_UNKNOWN_ERROR, "myproxy: the backend sent a malformed packet");
		return;
	}
}

void ClientConnection::backend_login_failed(const ClientLoginFailure &failure)
{
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
	const ClientLoginSuccess &success = backend_handshake->success();
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
	OkPacket ok;
	ok.status_flags = backend_session.status_flags;
	ok.warnings = backend_session.warnings;
	std::vector<std::uint8_t> out;
	const std::size_t start = begin_packet(out);
	build_ok_packet(out, ok, client_capabilities);
	finish_packet(out, start, client_sequence);

	relay = std::make_unique<Relay>(worker.relay_buffers(), client_stream, backend_link->stream(),
					(client_capabilities & CLIENT_LOCAL_FILES) != 0);
	relay->intercept_command(COM_INIT_DB);
	relay->intercept_command(COM_CHANGE_USER);
	relay->metrics_tap().attach(backend_address);
	metrics_auth_ok(id);
	if (!relay->send_to_client(out) || !relay->preload(RelaySide::client, client_in) ||
	    !relay->preload(RelaySide::backend, backend_handshake->rest())) {
		log(LogLevel::error, "cannot start the relay");
		close();
		return;
	}

	char backend[socket_address_text_max];
	format_backend(backend, sizeof(backend));
	log(LogLevel::debug, "logged in to backend %s as '%s'", backend, backend_user.c_str());

	/* The link never asks its conversation anything after DONE. */
	backend_handshake.reset();
	release(client_in);
	release(client_out);
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
	case Phase::backend_login:
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
