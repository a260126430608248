// One client's life in a worker (see client_connection.hpp): the wiring of sd-event sources into the
// client side, the backend side, the script and the relay, phase after phase, and the one way out.
#include "client_connection.hpp"

#include "worker/connection_util.hpp"
#include "worker/session_ending.hpp"
#include "worker/session_metrics.hpp"
#include "worker/worker_loop.hpp"

#include "common/command_packet.hpp"
#include "common/log.hpp"
#include "common/worker_activity.hpp"

#include <lua.hpp>
#include <systemd/sd-event.h>
#include <sys/epoll.h>

#include <cstdio>
#include <cstring>
#include <exception>

namespace myproxy {

ClientConnection::ClientConnection(Worker &owner, UniqueFd socket, const ClientInfo &info)
	: worker(owner), id(info.client_id), handler(owner.handler_ref(info.listener_index)),
	  client(std::move(socket), owner.listener(info.listener_index), owner.listener_auth(info.listener_index), log),
	  script(owner.lua(), handler, *this, log),
	  backend(owner.event_loop(), owner.clusters(), owner.backend_pool(), log, on_io<&ClientConnection::backend_io>,
		  this),
	  login(owner)
{
	describe_client(attributes, info, client.fd(), owner.listener(info.listener_index));
	/* The backends' version (or the default) until on_connect sets its own. */
	attributes.server_version = worker.announcement().server_version;
}

/* --- event plumbing ------------------------------------------------------------------------ */

void ClientConnection::update_events() noexcept
{
	if (phase == Phase::closed)
		return;
	std::uint32_t client_wanted = 0, backend_wanted = 0;
	switch (phase) {
	case Phase::relay:
		client_wanted = command->relay().wanted_client_events();
		backend_wanted = command->relay().wanted_backend_events();
		break;
	case Phase::client_login:
		/* The stream polls for what the TLS handshake waits for. */
		client_wanted = EPOLLIN;
		break;
	case Phase::closing:
		client_wanted = client.lingering() ? std::uint32_t(EPOLLIN) : 0u;
		break;
	default:
		/* Input is expected only in some phases, but polling for it throughout saves
		 * re-arming epoll at every phase change; a peer that speaks out of turn is muted. */
		client_wanted = client.muted() ? 0 : std::uint32_t(EPOLLIN);
		backend_wanted = backend.muted() ? 0 : std::uint32_t(EPOLLIN);
		break;
	}
	/* The link knows what its connect, TLS handshake and login wait for (already as poll events). */
	const std::uint32_t backend_poll = !backend.connected()		  ? 0
					   : phase == Phase::backend_login ? backend.login_events()
									   : backend.stream().poll_events(backend_wanted);
	const bool polled = phase == Phase::relay ? command->poll(client_wanted, backend_wanted)
						  : client.poll(client_wanted) && backend.poll(backend_poll);
	if (!polled) {
		log(LogLevel::error, "sd_event_source_set_io_events() failed");
		close();
		return;
	}
	if (pending_input(RelaySide::client) || pending_input(RelaySide::backend))
		schedule_pending_input();
}

/* OpenSSL holds bytes of @side that the phase wants read (the backend link reads its login until
 * the socket would block: only the relay leaves bytes behind there). */
bool ClientConnection::pending_input(RelaySide side) const noexcept
{
	if (phase == Phase::relay)
		return command->pending_input(side);
	return side == RelaySide::client && phase == Phase::client_login && client.reading() && client.stream().pending();
}

void ClientConnection::schedule_pending_input() noexcept
{
	if (const int result = pending_read.schedule(worker.event_loop(), on_pending_input, this); result < 0) {
		log(LogLevel::error, "cannot schedule reading TLS data: %s", std::strerror(-result));
		close();
	}
}

/* The event trampolines are the outermost frames of a connection's work: a connection that closed
 * during the event is destroyed right here, without another loop iteration. */
template <void (ClientConnection::*io)(std::uint32_t, bool) noexcept>
int ClientConnection::on_io(sd_event_source *, int, std::uint32_t revents, void *userdata)
{
	auto *connection = static_cast<ClientConnection *>(userdata);
	Worker &worker = connection->worker;
	const ServingClientScope serving(connection->id);
	(connection->*io)(revents, false);
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
	if (connection->pending_input(RelaySide::client))
		connection->client_io(EPOLLIN, true);
	else if (connection->pending_input(RelaySide::backend))
		connection->backend_io(EPOLLIN, true);
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

/* @logical: @revents are what the stream may do already (bytes OpenSSL decrypted ahead), not epoll's. */
void ClientConnection::client_io(std::uint32_t revents, bool logical) noexcept
{
	try {
		revents = logical ? revents : client.stream().ready_events(revents);
		if (phase == Phase::relay) {
			relay_event(command->relay().handle_client(revents));
			return;
		}
		if (phase == Phase::closing) {
			if (client.farewell_io(revents))
				close();
			return;
		}
		if (phase == Phase::client_login) {
			client_step(client.handle(revents));
		} else if (!client.out_of_turn(revents)) {
			close();
			return;
		}
		update_events();
	} catch (const std::exception &e) {
		log(LogLevel::error, "login: %s", e.what());
		close();
	}
}

void ClientConnection::backend_io(std::uint32_t revents, bool logical) noexcept
{
	try {
		if (phase == Phase::relay) {
			relay_event(command->relay().handle_backend(logical ? revents : backend.stream().ready_events(revents)));
			return;
		}
		if (phase == Phase::backend_login) {
			backend_step(backend.handle(revents));
		} else if (!backend.out_of_turn(revents)) {
			fail_login(ER_UNKNOWN_ERROR, "myproxy: the backend closed the connection");
			return;
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
		if (!client.watch(worker.event_loop(), on_io<&ClientConnection::client_io>, this)) {
			log(LogLevel::error, "cannot watch the client socket");
			close();
			return;
		}
		login.watch(*this);
		if (attributes.has_credentials && !login.reserve(attributes.uid)) {
			log(LogLevel::warning, "too many logins in progress for uid %u", attributes.uid);
			metrics_connection_rejected();
			fail_login(ER_CON_COUNT_ERROR, "Too many connections", true);
			return;
		}
		if (!script.create_client(attributes) || !lua_checkstack(script.lua(), 2)) {
			log(LogLevel::error, "Lua heap full: cannot create the client object");
			fail_login(ER_OUT_OF_RESOURCES, "Out of memory", true);
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
	backend_step(backend.connect(action, client.session_params(), attributes.account));
}

void ClientConnection::backend_step(BackendSide::Step step)
{
	const BackendLoginError &error = backend.error();
	if (step == BackendSide::Step::logged_in)
		backend_logged_in();
	else if (step != BackendSide::Step::failed)
		return;
	else if (error.close_only)
		close();
	else if (error.server)
		finish_with(client.make_server_err(*error.server));
	else
		fail_login(error.error, error.message);
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
	CommandIntercept::Host &host = *this;
	KillIntercept::Host &kill_host = *this;
	command = std::make_unique<CommandPhase>(worker.relay_buffers(), client, backend, script, log, host,
						 worker.kill_board(), kill_host, std::uint32_t(id));
	if (!command->start(id)) {
		close();
		return;
	}
	login.end();
	phase = Phase::relay;
	command->watch(worker.relay_poller(), on_io<&ClientConnection::client_io>, on_io<&ClientConnection::backend_io>,
		       this);
	/* A connection kept for reuse must not hear the client's goodbye (worker/session_reuse). */
	if (backend.reusing())
		command->relay().intercept_command(COM_QUIT);
	relay_event(command->relay().resume());
}

void ClientConnection::relay_event(RelayEvent event) noexcept
{
	try {
		while (event.kind != RelayEvent::Kind::none) {
			if (command->park_backend(event, attributes.account)) {
				log(LogLevel::debug, backend.connected() ? "session ended; its backend connection had bytes in flight"
									 : "session ended; backend connection parked for reuse");
				close();
				return;
			}
			if (command->handle(event)) {
				close();
				return;
			}
			if (phase != Phase::relay)
				return;
			if (script.suspended())
				break; /* resume_callback() goes on */
			event = command->relay().resume();
		}
		update_events();
	} catch (const std::exception &e) {
		log(LogLevel::error, "relay: %s", e.what());
		close();
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
		relay_event(command->relay().resume());
	else
		update_events();
}

void ClientConnection::deliver(SessionCallback kind, CallbackOutcome &outcome) noexcept
{
	try {
		dispatch_outcome(kind, outcome);
	} catch (const std::exception &e) {
		log(LogLevel::error, "%s: %s", session_callback_name(kind), e.what());
		close();
	}
}

/* on_command_phase failed or refused the client: it gets an ERR, the session ends. */
bool ClientConnection::refused(SessionCallback kind, const CallbackOutcome &outcome, const ErrAction *err) noexcept
{
	if (outcome.kind == CallbackOutcome::Kind::failed) {
		fail_login(ER_UNKNOWN_ERROR, "myproxy: the login script failed");
	} else if (err != nullptr) {
		log(LogLevel::info, "%s refused the client: %s", session_callback_name(kind), err->message.c_str());
		fail_login(ER_ACCESS_DENIED, err->message);
	} else {
		return false;
	}
	return true;
}

/* on_connect failed or refused the client: as a server refuses an ordinary user at max_connections,
   after the greeting and TLS, so a TLS client reads the ERR, not 2002 (ServerLogin::refuse_at_response). */
void ClientConnection::refuse_after_greeting(const CallbackOutcome &outcome, const ErrAction *err) noexcept
{
	const bool failed = outcome.kind == CallbackOutcome::Kind::failed;
	if ((!failed && err == nullptr) || phase != Phase::client_login || !client.logged_in())
		return;
	if (!failed)
		log(LogLevel::info, "on_connect refused the client: %s", err->message.c_str());
	client.login().refuse_at_response(failed ? ER_UNKNOWN_ERROR : ER_ACCESS_DENIED,
					  failed ? std::string_view("myproxy: the login script failed") : err->message);
}

/* What each callback's outcome leads to: the next phase of the session. */
void ClientConnection::dispatch_outcome(SessionCallback kind, CallbackOutcome &outcome)
{
	if (phase == Phase::closed)
		return;

	const ErrAction *err = outcome.action ? std::get_if<ErrAction>(&*outcome.action) : nullptr;
	switch (kind) {
	case SessionCallback::on_connect:
		attributes.server_version_settable = false;
		phase = Phase::client_login;
		/* The master got the peer's credentials, which only local sockets give. */
		/* The master's connection id (master/connection_ids): KILL finds the session by it. */
		client_step(client.greet(worker.announcement(), attributes.server_version, std::uint32_t(id),
					 attributes.has_credentials));
		refuse_after_greeting(outcome, err);
		break;
	case SessionCallback::on_handshake_response:
		handshake_response_outcome(outcome);
		break;
	case SessionCallback::on_command_phase:
		if (!refused(kind, outcome, err))
			start_relay();
		break;
	case SessionCallback::on_init_db:
		command->init_db_outcome(outcome);
		break;
	case SessionCallback::change_user:
		command->change_user_outcome(outcome);
		break;
	}
}

/* --- the end ----------------------------------------------------------------------------------- */

void ClientConnection::close() noexcept
{
	if (phase == Phase::closed)
		return;
	phase = Phase::closed;
	if (command)
		command->unwatch(false); /* before the sockets close */
	script.release();
	/* The command phase stays until the worker destroys the session: close() may run inside it. */
	client.close();
	backend.close();
	pending_read.reset();
	login.end();
	metrics_session_ended(id);
	worker.connection_closed(*this);
}

void ClientConnection::finish_with(std::vector<std::uint8_t> packet) noexcept
{
	script.abandon();
	if (command) {
		/* Best effort: the relay writes what the socket takes now. */
		if (command->relay().send_to_client(packet))
			(void)command->relay().resume();
		close();
		return;
	}
	metrics_auth_err();
	backend.close();
	phase = Phase::closing;
	if (!client.farewell(std::move(packet), worker.event_loop(), on_closing_timeout, this)) {
		close();
		return;
	}
	login.unwatch();
	update_events();
}

void ClientConnection::fail_login(const ServerError &error, std::string_view message, bool before_greeting) noexcept
{
	before_greeting = before_greeting || phase == Phase::on_connect;
	try {
		finish_with(client.make_err(error, message, before_greeting ? 0 : client.sequence(), before_greeting));
	} catch (const std::bad_alloc &) {
		close();
	}
}

void ClientConnection::login_deadline_expired() noexcept
{
	login.expired();
	if (phase == Phase::client_login) {
		client_step(client.deadline_passed());
	} else if (phase == Phase::backend_login) {
		backend_step(backend.deadline_passed());
	} else if (phase == Phase::on_connect || phase == Phase::on_handshake_response ||
		   phase == Phase::on_command_phase) {
		log(LogLevel::warning, "login deadline: %s did not finish", session_callback_name(script.current()));
		fail_login(ER_UNKNOWN_ERROR, "myproxy: the login script timed out");
	} /* closing, in the relay or closed: the deadline no longer applies */
}

void ClientConnection::shut_down(const char *reason) noexcept
{
	if (phase == Phase::closed)
		return;
	log(LogLevel::info, "closing: %s", reason);
	if (phase == Phase::relay)
		command->final_err(ER_SERVER_SHUTDOWN, "Server shutdown in progress");
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

void ClientConnection::backend_timed_out() noexcept
{
	if (phase != Phase::relay)
		return;
	log(LogLevel::warning, "closing: the backend was silent for %llu ms (read_timeout)",
	    static_cast<unsigned long long>(backend.read_timeout_usec() / 1000));
	command->final_err(ER_NET_READ_ERROR, "The backend server did not answer within read_timeout");
	if (backend.cluster())
		worker.report_node_suspect(*backend.cluster(), backend.node());
	close();
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

void ClientConnection::relay_failed(const char *what) noexcept
{
	log(LogLevel::warning, "%s", what);
	close();
}

void ClientConnection::kill_resume() noexcept
{
	const ServingClientScope serving(id);
	if (phase == Phase::relay)
		relay_event(command->relay().resume());
}

void ClientConnection::end_relay_killed(const char *message) noexcept
{
	if (!command->killed(message)) {
		close();
		return;
	}
	command->unwatch(true);
	command.reset();
	backend.close();
	phase = Phase::closing;
	if (!client.linger(worker.event_loop(), on_closing_timeout, this)) {
		close();
		return;
	}
	update_events();
}

} // namespace myproxy
