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
		if (!script.create_client(attributes) || !lua_checkstack(L, 2)) {
			log(LogLevel::error, "Lua heap full: cannot create the client object");
			fail_handshake(ER_OUT_OF_RESOURCES, "Out of memory");
			return;
		}
		attributes.server_version_settable = true;
		script.push_client();
		run_callback(SessionCallback::on_connect, 1);
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
	if (!script.push_client_and_response(server_login->credentials())) {
		log(LogLevel::error, "Lua heap full: cannot build the handshake_response table");
		fail_login(ER_OUT_OF_RESOURCES, "Out of memory");
		return;
	}
	run_callback(SessionCallback::on_handshake_response, 2);
}

/* on_handshake_response decided: server_login answers the client (FAST_AUTH_SUCCESS, the full path,
 * or an ERR); once it says AUTHENTICATED the backend login starts. */
void ClientConnection::handshake_response_outcome(CallbackOutcome &outcome)
{
	const ScriptDecision decision = script_decision(outcome, script.take_proof_verified());
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

void ClientConnection::connect_backend(ConnectAction &action)
{
	phase = Phase::backend_login;
	ClientSessionParams client;
	client.capabilities = client_capabilities;
	client.character_set = client_character_set;
	client.max_packet_size = client_max_packet_size;
	backend_step(backend.connect(action, client, attributes.account));
}

/* What the backend side reports while it connects and logs in. */
void ClientConnection::backend_step(BackendSide::Step step)
{
	switch (step) {
	case BackendSide::Step::waiting:
		break;
	case BackendSide::Step::logged_in:
		backend_logged_in();
		break;
	case BackendSide::Step::failed:
		backend_login_failed();
		break;
	}
}

void ClientConnection::backend_login_failed()
{
	const BackendLoginError &error = backend.error();
	if (error.close_only) {
		close();
		return;
	}
	if (!error.server) {
		fail_login(error.error, error.message);
		return;
	}
	/* The backend's own error, code, SQLSTATE and text unchanged. */
	ErrPacket err;
	err.error_code = error.server->error_code;
	err.sql_state = error.server->sql_state;
	err.message = error.server->message;
	std::vector<std::uint8_t> out;
	const std::size_t start = begin_packet(out);
	build_err_packet(out, err, client_capabilities);
	finish_packet(out, start, client_sequence);
	finish_with(std::move(out));
}

void ClientConnection::backend_logged_in()
{
	attributes.server_version = backend.server_version();
	phase = Phase::on_command_phase;
	lua_State *L = worker.lua();
	if (!lua_checkstack(L, 2)) {
		fail_login(ER_OUT_OF_RESOURCES, "Out of memory");
		return;
	}
	script.push_client();
	run_callback(SessionCallback::on_command_phase, 1);
}

void ClientConnection::start_relay()
{
	OkPacket ok;
	ok.status_flags = backend.session().status_flags;
	ok.warnings = backend.session().warnings;
	std::vector<std::uint8_t> out;
	const std::size_t start = begin_packet(out);
	build_ok_packet(out, ok, client_capabilities);
	finish_packet(out, start, client_sequence);

	relay = std::make_unique<Relay>(worker.relay_buffers(), client_stream, backend.stream(),
					(client_capabilities & CLIENT_LOCAL_FILES) != 0);
	relay->intercept_command(COM_INIT_DB);
	relay->intercept_command(COM_CHANGE_USER);
	CommandIntercept::Host &host = *this;
	intercept = std::make_unique<CommandIntercept>(*relay, *server_login, script, backend, log, host,
						       client_capabilities);
	relay->metrics_tap().attach(backend.address());
	metrics_auth_ok(id);
	if (!relay->send_to_client(out) || !relay->preload(RelaySide::client, client_in) ||
	    !relay->preload(RelaySide::backend, backend.early_bytes())) {
		log(LogLevel::error, "cannot start the relay");
		close();
		return;
	}

	char address[socket_address_text_max];
	backend.format_address(address, sizeof(address));
	log(LogLevel::debug, "logged in to backend %s as '%s'", address, backend.login_user().c_str());

	backend.login_done();
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
	char address[socket_address_text_max];
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
		backend.format_address(address, sizeof(address));
		log(LogLevel::warning, "login deadline: backend %s did not answer", address);
		std::snprintf(message, sizeof(message), "myproxy: backend %s did not answer in time", address);
		fail_login(ER_UNKNOWN_ERROR, message);
		break;
	case Phase::closing:
	case Phase::relay:
	case Phase::closed:
		break;
	}
}

} // namespace myproxy
