// One client's life in a worker (see client_connection.hpp): the wiring of sd-event sources into the
// client side, the backend side, the script and the relay, phase after phase, and the one way out.
#include "client_connection.hpp"

#include "worker/connection_util.hpp"
#include "worker/session_ending.hpp"
#include "worker/session_metrics.hpp"
#include "worker/worker_loop.hpp"

#include "common/connect_socket.hpp"
#include "common/command_packet.hpp"
#include "common/err_packet.hpp"
#include "common/log.hpp"
#include "common/mysql_packet.hpp"
#include "common/ok_packet.hpp"
#include "common/worker_activity.hpp"

#include <lua.hpp>
#include <systemd/sd-event.h>

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

namespace myproxy {

/* What the script's client object shows of the client (the master's NEW_CLIENT). */
static void describe_client(ClientAttributes &attributes, const ClientInfo &info, int fd) noexcept
{
	attributes.has_credentials = info.has_credentials;
	attributes.pid = info.pid;
	attributes.uid = info.uid;
	attributes.gid = info.gid;
	attributes.cgroup_path = info.cgroup_path;
	attributes.cgroup_xattrs.assign(reinterpret_cast<const char *>(info.cgroup_xattrs.data()), info.cgroup_xattrs.size());
	if (info.peer_address.size() >= sizeof(sa_family_t) && info.peer_address.size() <= sizeof(sockaddr_storage)) {
		SocketAddress peer;
		std::memcpy(&peer.storage, info.peer_address.data(), info.peer_address.size());
		peer.length = socklen_t(info.peer_address.size());
		set_tcp_nodelay(fd, peer.family());
		/* An unnamed UNIX peer (the usual client) has nothing worth printing. */
		if (peer.family() != AF_UNIX || info.peer_address.size() > sizeof(sa_family_t)) {
			char text[socket_address_text_max];
			format_socket_address(peer, text, sizeof(text));
			attributes.address = text;
		}
	}
	attributes.server_version = default_server_version;
}

ClientConnection::ClientConnection(Worker &owner, UniqueFd socket, const ClientInfo &info)
	: worker(owner), id(info.client_id), handler(owner.handler_ref(info.listener_index)),
	  client(std::move(socket), owner.listener(info.listener_index), owner.listener_auth(info.listener_index), log),
	  script(owner.lua(), handler, *this), backend(owner.event_loop(), owner.clusters(), log, on_backend_io, this)
{
	describe_client(attributes, info, client.fd());
}

ClientConnection::~ClientConnection()
{
	if (phase != Phase::closed) {
		/* The worker is going away: release without telling it. */
		phase = Phase::closed;
		script.release();
		intercept.reset();
		relay.reset();
		client.close();
		backend.close();
		closing_timer.reset();
		pending_source.reset();
		end_login_watch();
		if (pending_login_reserved)
			worker.release_pending_login(attributes.uid);
	}
}

/* --- event plumbing ------------------------------------------------------------------------ */

void ClientConnection::update_events() noexcept
{
	if (phase == Phase::closed)
		return;
	std::uint32_t client_wanted = 0, backend_wanted = 0;
	switch (phase) {
	case Phase::relay:
		client_wanted = relay->wanted_client_events();
		backend_wanted = relay->wanted_backend_events();
		break;
	case Phase::client_login:
		/* The stream polls for what the TLS handshake waits for. */
		client_wanted = EPOLLIN;
		break;
	case Phase::closing:
		client_wanted = lingering ? std::uint32_t(EPOLLIN) : 0u;
		break;
	default:
		/* Input is expected only in some phases, but polling for it throughout saves
		 * re-arming epoll at every phase change; a peer that speaks out of turn is muted. */
		client_wanted = client_muted ? 0 : std::uint32_t(EPOLLIN);
		backend_wanted = backend_muted ? 0 : std::uint32_t(EPOLLIN);
		break;
	}
	/* The link knows what its connect, TLS handshake and login wait for (already as poll events). */
	const std::uint32_t backend_poll = !backend.connected()		  ? 0
					   : phase == Phase::backend_login ? backend.login_events()
									   : backend.stream().poll_events(backend_wanted);
	if (!client.poll(client_wanted) || !backend.poll(backend_poll)) {
		log(LogLevel::error, "sd_event_source_set_io_events() failed");
		close();
		return;
	}
	if ((client.stream().pending() && wants_client_input()) ||
	    (backend.connected() && backend.stream().pending() && wants_backend_input()))
		schedule_pending_input();
}

bool ClientConnection::wants_client_input() const noexcept
{
	if (phase == Phase::relay)
		return relay->wants_input(RelaySide::client);
	return phase == Phase::client_login && client.reading();
}

bool ClientConnection::wants_backend_input() const noexcept
{
	/* The backend link reads its login until the socket would block. */
	return phase == Phase::relay && relay->wants_input(RelaySide::backend);
}

void ClientConnection::schedule_pending_input() noexcept
{
	int result;
	if (!pending_source)
		/* Defer sources are one-shot: enabled again for each need. */
		result = sd_event_add_defer(worker.event_loop(), pending_source.out(), on_pending_input, this);
	else
		result = sd_event_source_set_enabled(pending_source.get(), SD_EVENT_ONESHOT);
	if (result < 0) {
		log(LogLevel::error, "cannot schedule reading TLS data: %s", std::strerror(-result));
		close();
	}
}

/* The event trampolines are the outermost frames of a connection's work: a connection that closed
 * during the event is destroyed right here, without another loop iteration. */
int ClientConnection::on_client_io(sd_event_source *, int, std::uint32_t revents, void *userdata)
{
	auto *connection = static_cast<ClientConnection *>(userdata);
	Worker &worker = connection->worker;
	const ServingClientScope serving(connection->id);
	connection->client_io(revents);
	if (connection->is_closed())
		worker.reap_closed();
	return 0;
}

int ClientConnection::on_backend_io(sd_event_source *, int, std::uint32_t revents, void *userdata)
{
	auto *connection = static_cast<ClientConnection *>(userdata);
	Worker &worker = connection->worker;
	const ServingClientScope serving(connection->id);
	connection->backend_io(revents);
	if (connection->is_closed())
		worker.reap_closed();
	return 0;
}

/* Bytes OpenSSL decrypted ahead: read them as if epoll had said so. */
int ClientConnection::on_pending_input(sd_event_source *, void *userdata)
{
	auto *connection = static_cast<ClientConnection *>(userdata);
	Worker &worker = connection->worker;
	const ServingClientScope serving(connection->id);
	if (connection->client.stream().pending() && connection->wants_client_input())
		connection->client_io(EPOLLIN);
	else if (connection->backend.connected() && connection->backend.stream().pending() &&
		 connection->wants_backend_input())
		connection->backend_io(EPOLLIN);
	else
		connection->update_events();
	if (connection->is_closed())
		worker.reap_closed();
	return 0;
}

int ClientConnection::on_closing_timeout(sd_event_source *, std::uint64_t, void *userdata)
{
	auto &connection = *static_cast<ClientConnection *>(userdata);
	const ServingClientScope serving(connection.id);
	connection.log(LogLevel::debug, "the client did not take its last packet");
	connection.close();
	return 0;
}

void ClientConnection::end_login_watch() noexcept
{
	if (login_watch) {
		worker.unwatch_login(*login_watch);
		login_watch.reset();
	}
}

/* Input arrived in a phase that reads nothing: true when it is data (leave it for later), false
 * when the peer closed or failed. */
static bool peer_spoke_out_of_turn(int fd, std::uint32_t revents) noexcept
{
	if (revents & EPOLLERR)
		return false;
	std::uint8_t byte;
	const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	return n > 0 || (n < 0 && errno == EAGAIN);
}

void ClientConnection::client_io(std::uint32_t revents) noexcept
{
	try {
		if (phase == Phase::relay) {
			relay_event(relay->handle_client(client.stream().ready_events(revents)));
			return;
		}
		revents = client.stream().ready_events(revents);
		if (phase == Phase::closing) {
			if (lingering) {
				/* Read what the client sent, so the close does not reset the connection
				 * before the client has read our ERR. */
				std::uint8_t scratch[4096];
				for (int i = 0; i < 16 && ::recv(client.fd(), scratch, sizeof(scratch), MSG_DONTWAIT) > 0; ++i) {
				}
				close();
			} else if ((revents & (EPOLLERR | EPOLLHUP)) || !client.flush() || !client.output_pending()) {
				close();
			}
			return;
		}
		if (phase == Phase::client_login) {
			client_step(client.handle(revents));
		} else {
			if ((revents & EPOLLOUT) && !client.flush()) {
				close();
				return;
			}
			if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				if (!peer_spoke_out_of_turn(client.fd(), revents)) {
					log(LogLevel::debug, "the client went away during the login");
					close();
					return;
				}
				client_muted = true;
			}
		}
		update_events();
	} catch (const std::exception &e) {
		log(LogLevel::error, "login: %s", e.what());
		close();
	}
}

void ClientConnection::backend_io(std::uint32_t revents) noexcept
{
	try {
		if (phase == Phase::relay) {
			relay_event(relay->handle_backend(backend.stream().ready_events(revents)));
			return;
		}
		if (phase == Phase::backend_login) {
			backend_step(backend.handle(revents));
		} else if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
			if (!peer_spoke_out_of_turn(backend.fd(), revents)) {
				char address[socket_address_text_max];
				backend.format_address(address, sizeof(address));
				log(LogLevel::warning, "backend %s went away during the login", address);
				fail_login(ER_UNKNOWN_ERROR, "myproxy: the backend closed the connection");
				return;
			}
			backend_muted = true;
		}
		update_events();
	} catch (const std::exception &e) {
		log(LogLevel::error, "backend login: %s", e.what());
		close();
	}
}

/* --- on_connect --------------------------------------------------------------------------------- */

void ClientConnection::start() noexcept
{
	metrics_session_started(id);
	try {
		if (handler < 0) {
			log(LogLevel::error, "no listener for this client");
			close();
			return;
		}
		if (!client.watch(worker.event_loop(), on_client_io, this)) {
			log(LogLevel::error, "cannot watch the client socket");
			close();
			return;
		}
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
		if (!script.create_client(attributes) || !lua_checkstack(script.lua(), 2)) {
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

/* --- the client's login, on_handshake_response ------------------------------------------------ */

/* What the client side asks for after a client packet, the greeting, or the script's @outcome. */
void ClientConnection::client_step(ClientSide::Step step, CallbackOutcome *outcome)
{
	attributes.ssl = client.stream().secure();
	switch (step) {
	case ClientSide::Step::waiting:
		phase = client.reading() || client.in_tls_handshake() ? Phase::client_login : phase;
		break;
	case ClientSide::Step::ask_script:
		run_handshake_response_script();
		break;
	case ClientSide::Step::authenticated:
		/* Only the script's decision lets the client in. */
		if (outcome != nullptr)
			connect_backend(std::get<ConnectAction>(*outcome->action));
		break;
	case ClientSide::Step::finish:
		finish_with(client.take_final_packet());
		return;
	case ClientSide::Step::close:
		close();
		return;
	}
	if (client.hung_up() && phase != Phase::closed && phase != Phase::closing) {
		log(LogLevel::debug, "the client closed the connection during the login");
		close();
	}
}

void ClientConnection::run_handshake_response_script()
{
	phase = Phase::on_handshake_response;
	if (!script.push_client_and_response(client.login().credentials())) {
		log(LogLevel::error, "Lua heap full: cannot build the handshake_response table");
		fail_login(ER_OUT_OF_RESOURCES, "Out of memory");
		return;
	}
	run_callback(SessionCallback::on_handshake_response, 2);
}

/* on_handshake_response decided: server_login answers the client (FAST_AUTH_SUCCESS, the full path,
 * or an ERR); once it says authenticated the backend login starts. */
void ClientConnection::handshake_response_outcome(CallbackOutcome &outcome)
{
	const ScriptDecision decision = script_decision(outcome, script.take_proof_verified());
	if (decision.verdict == ScriptDecision::Verdict::refuse)
		log(LogLevel::info, "on_handshake_response refused the login: %s", std::string(decision.message).c_str());
	client_step(client.script_decided(decision), &outcome);
}

/* --- the backend's login, on_command_phase ------------------------------------------------------ */

void ClientConnection::connect_backend(ConnectAction &action)
{
	phase = Phase::backend_login;
	ClientSessionParams params;
	params.capabilities = client.capabilities();
	params.character_set = client.character_set();
	params.max_packet_size = client.max_packet_size();
	backend_step(backend.connect(action, params, attributes.account));
}

void ClientConnection::backend_step(BackendSide::Step step)
{
	if (step == BackendSide::Step::logged_in)
		backend_logged_in();
	else if (step == BackendSide::Step::failed)
		backend_login_failed();
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
	build_err_packet(out, err, client.capabilities());
	std::uint8_t sequence_id = client.sequence();
	finish_packet(out, start, sequence_id);
	finish_with(std::move(out));
}

void ClientConnection::backend_logged_in()
{
	attributes.server_version = backend.server_version();
	phase = Phase::on_command_phase;
	if (!lua_checkstack(script.lua(), 2)) {
		fail_login(ER_OUT_OF_RESOURCES, "Out of memory");
		return;
	}
	script.push_client();
	run_callback(SessionCallback::on_command_phase, 1);
}

/* --- the relay ------------------------------------------------------------------------------- */

void ClientConnection::start_relay()
{
	OkPacket ok;
	ok.status_flags = backend.session().status_flags;
	ok.warnings = backend.session().warnings;
	std::vector<std::uint8_t> out;
	const std::size_t start = begin_packet(out);
	build_ok_packet(out, ok, client.capabilities());
	std::uint8_t sequence_id = client.sequence();
	finish_packet(out, start, sequence_id);

	relay = std::make_unique<Relay>(worker.relay_buffers(), client.stream(), backend.stream(),
					(client.capabilities() & CLIENT_LOCAL_FILES) != 0);
	relay->intercept_command(COM_INIT_DB);
	relay->intercept_command(COM_CHANGE_USER);
	CommandIntercept::Host &host = *this;
	intercept = std::make_unique<CommandIntercept>(*relay, client.login(), script, backend, log, host,
						       client.capabilities());
	relay->metrics_tap().attach(backend.address());
	metrics_auth_ok(id);
	if (!relay->send_to_client(out) || !relay->preload(RelaySide::client, client.early_bytes()) ||
	    !relay->preload(RelaySide::backend, backend.early_bytes())) {
		log(LogLevel::error, "cannot start the relay");
		close();
		return;
	}
	char address[socket_address_text_max];
	backend.format_address(address, sizeof(address));
	log(LogLevel::debug, "logged in to backend %s as '%s'", address, backend.login_user().c_str());

	backend.login_done();
	client.release_buffers();
	end_login_watch();
	if (pending_login_reserved) {
		worker.release_pending_login(attributes.uid);
		pending_login_reserved = false;
	}
	phase = Phase::relay;
	relay_event(relay->resume());
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
	case RelayEvent::Kind::closed:
		report_relay_end(event, *relay, client.stream(), backend.stream(), client.capabilities(), log);
		close();
		break;
	case RelayEvent::Kind::command:
		intercept->command(event);
		break;
	case RelayEvent::Kind::captured:
		intercept->captured(event);
		break;
	}
}

/* --- the callbacks ----------------------------------------------------------------------------- */

void ClientConnection::run_callback(SessionCallback kind, int nargs) noexcept
{
	/* In caching_sha2_password's fast phase nil means "ask for the password". */
	const bool fast_auth = kind == SessionCallback::on_handshake_response && client.logged_in() &&
			       client.login().script_may_pass();
	if (auto outcome = script.run(kind, nargs, fast_auth))
		deliver(kind, *outcome);
}

void ClientConnection::resume_callback(int nargs) noexcept
{
	if (!script.suspended())
		return;
	/* Resumed from another event source (e.g. a PostgreSQL socket): a crash in the script's code
	 * must still be charged to this client. */
	const ServingClientScope serving(id);
	auto outcome = script.resume(nargs);
	if (!outcome)
		return;
	deliver(script.current(), *outcome);
	if (phase == Phase::relay)
		relay_event(relay->resume());
	else
		update_events();
}

lua_State *ClientConnection::suspended_thread() const noexcept
{
	return script.suspended_thread();
}

void ClientConnection::deliver(SessionCallback kind, CallbackOutcome &outcome) noexcept
{
	try {
		dispatch_outcome(kind, outcome);
	} catch (const std::exception &e) {
		log(LogLevel::error, "%s: %s", session_callback_name(kind), e.what());
		close();
	}
	if (outcome.action) {
		if (auto *connect = std::get_if<ConnectAction>(&*outcome.action); connect && connect->password)
			wipe(*connect->password);
	}
}

/* What each callback's outcome leads to: the next phase of the session. */
void ClientConnection::dispatch_outcome(SessionCallback kind, CallbackOutcome &outcome)
{
	if (phase == Phase::closed)
		return;
	if (outcome.kind == CallbackOutcome::Kind::failed)
		log(LogLevel::error, "%s failed: %s", session_callback_name(kind),
		    outcome.error.empty() ? "out of memory" : outcome.error.c_str());
	else if (outcome.kind == CallbackOutcome::Kind::absent &&
		 (kind == SessionCallback::on_handshake_response || kind == SessionCallback::change_user))
		log(LogLevel::error, "the listener's handler has no on_handshake_response");

	const ErrAction *err = outcome.action ? std::get_if<ErrAction>(&*outcome.action) : nullptr;
	switch (kind) {
	case SessionCallback::on_connect:
		attributes.server_version_settable = false;
		if (outcome.kind == CallbackOutcome::Kind::failed) {
			fail_handshake(ER_UNKNOWN_ERROR, "myproxy: the login script failed");
		} else if (err != nullptr) {
			log(LogLevel::info, "on_connect refused the client: %s", err->message.c_str());
			fail_handshake(ER_ACCESS_DENIED, err->message);
		} else {
			phase = Phase::client_login;
			/* The master got the peer's credentials, which only local sockets give. */
			client_step(client.greet(attributes.server_version, worker.next_connection_id(),
						 attributes.has_credentials));
		}
		break;
	case SessionCallback::on_handshake_response:
		handshake_response_outcome(outcome);
		break;
	case SessionCallback::on_command_phase:
		if (outcome.kind == CallbackOutcome::Kind::failed) {
			fail_login(ER_UNKNOWN_ERROR, "myproxy: the login script failed");
		} else if (err != nullptr) {
			log(LogLevel::info, "on_command_phase refused the client: %s", err->message.c_str());
			fail_login(ER_ACCESS_DENIED, err->message);
		} else {
			start_relay();
		}
		break;
	case SessionCallback::on_init_db:
		intercept->init_db_outcome(outcome);
		break;
	case SessionCallback::change_user:
		intercept->change_user_outcome(outcome);
		break;
	}
}

/* --- the end ----------------------------------------------------------------------------------- */

void ClientConnection::close() noexcept
{
	if (phase == Phase::closed)
		return;
	phase = Phase::closed;
	script.release();
	intercept.reset();
	relay.reset();
	client.close();
	backend.close();
	closing_timer.reset();
	pending_source.reset();
	end_login_watch();
	if (pending_login_reserved) {
		worker.release_pending_login(attributes.uid);
		pending_login_reserved = false;
	}
	metrics_session_ended(id);
	worker.connection_closed(*this);
}

void ClientConnection::finish_with(std::vector<std::uint8_t> packet) noexcept
{
	script.abandon();
	if (relay) {
		/* Best effort: the relay writes what the socket takes now. */
		if (relay->send_to_client(packet))
			(void)relay->resume();
		close();
		return;
	}
	metrics_auth_err();
	backend.close();
	if (client.stream().tls() && !client.stream().secure()) {
		/* Mid-handshake an ERR in clear text would only be a TLS error to the client. */
		close();
		return;
	}
	phase = Phase::closing;
	if (!client.send(packet) || !client.output_pending()) {
		close();
		return;
	}
	/* The client does not read: give it a little while, then drop it. */
	end_login_watch();
	if (!closing_timer &&
	    sd_event_add_time_relative(worker.event_loop(), closing_timer.out(), CLOCK_MONOTONIC, closing_timeout_usec,
				       100'000, on_closing_timeout, this) < 0) {
		close();
		return;
	}
	update_events();
}

void ClientConnection::fail_handshake(const ServerError &error, std::string_view message) noexcept
{
	try {
		finish_with(client.make_err(error, message, 0, true));
	} catch (const std::bad_alloc &) {
		close();
	}
}

void ClientConnection::fail_login(const ServerError &error, std::string_view message) noexcept
{
	const bool before_greeting = phase == Phase::on_connect;
	try {
		finish_with(client.make_err(error, message, before_greeting ? 0 : client.sequence(), before_greeting));
	} catch (const std::bad_alloc &) {
		close();
	}
}

void ClientConnection::relay_failed(const char *what) noexcept
{
	log(LogLevel::warning, "%s", what);
	close();
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
	case Phase::client_login:
		if (client.in_tls_handshake()) {
			log(LogLevel::info, "login deadline: the client did not finish the TLS handshake");
			close();
		} else {
			log(LogLevel::info, "login deadline: the client did not answer");
			fail_login(ER_NET_READ_ERROR, "Got timeout reading communication packets");
		}
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

void ClientConnection::shut_down(const char *reason) noexcept
{
	if (phase == Phase::closed)
		return;
	log(LogLevel::info, "closing: %s", reason);
	if (phase == Phase::relay && relay)
		(void)send_final_err(*relay, ER_SERVER_SHUTDOWN, "Server shutdown in progress", client.capabilities());
	if (phase == Phase::relay || phase == Phase::closing)
		close();
	else
		fail_login(ER_SERVER_SHUTDOWN, "Server shutdown in progress");
}

void ClientConnection::account_disconnected() noexcept
{
	if (phase == Phase::closed || phase == Phase::closing)
		return;
	log(LogLevel::info, "closing: the account was disconnected (DISCONNECT_DATABASE)");
	static constexpr const char *message = "myproxy: this account was disconnected by the administrator";
	if (phase == Phase::relay)
		end_relay_killed(message);
	else
		fail_login(ER_CONNECTION_KILLED, message);
}

bool ClientConnection::idle_for_drain() const noexcept
{
	return phase == Phase::relay && relay && intercept && intercept->idle() && !script.suspended() &&
	       relay_session_idle(*relay);
}

void ClientConnection::backend_timed_out() noexcept
{
	if (phase != Phase::relay || !relay)
		return;
	log(LogLevel::warning, "closing: the backend was silent for %llu ms (read_timeout)",
	    static_cast<unsigned long long>(backend.read_timeout_usec() / 1000));
	(void)send_final_err(*relay, ER_NET_READ_ERROR, "The backend server did not answer within read_timeout",
			     client.capabilities());
	if (backend.cluster())
		worker.report_node_suspect(*backend.cluster(), backend.node());
	close();
}

bool ClientConnection::relays_writer_to(std::uint32_t cluster_index, std::uint32_t node) const noexcept
{
	return phase == Phase::relay && backend.cluster() == cluster_index && backend.node() == node &&
	       !backend.read_only();
}

void ClientConnection::node_unavailable(const char *node, NodeState state) noexcept
{
	if (phase != Phase::relay)
		return;
	log(LogLevel::warning, "closing: its backend node %s is %s (disconnect_unavailable)", node,
	    node_state_name(state));
	char message[socket_address_text_max + 96];
	std::snprintf(message, sizeof(message), "myproxy: backend node %s is %s; connection closed, please reconnect",
		      node, node_state_name(state));
	end_relay_killed(message);
}

void ClientConnection::end_relay_killed(const char *message) noexcept
{
	std::vector<std::uint8_t> err;
	try {
		/* Sequence id 1: the answer to the client's next command, which is where it reads it. */
		err = client.make_err(ER_CONNECTION_KILLED, message, 1, false);
	} catch (const std::bad_alloc &) {
		close();
		return;
	}
	/* Only at a packet boundary toward the client, and only if it all goes out now; else the
	 * client just sees the connection end. */
	if (!relay->send_to_client(err) || relay->resume().kind == RelayEvent::Kind::closed ||
	    (relay->wanted_client_events() & EPOLLOUT) != 0) {
		close();
		return;
	}
	/* The client reads the ERR only after it sent its next command (a client library that finds
	 * the socket closed on writing reports "gone away" instead): so keep the socket open, its
	 * write side shut, until the client says something or hangs up, bounded by a timer. */
	intercept.reset();
	relay.reset();
	backend.close();
	::shutdown(client.fd(), SHUT_WR);
	phase = Phase::closing;
	lingering = true;
	if (sd_event_add_time_relative(worker.event_loop(), closing_timer.out(), CLOCK_MONOTONIC, closing_timeout_usec,
				       100'000, on_closing_timeout, this) < 0) {
		close();
		return;
	}
	update_events();
}

} // namespace myproxy
