// A client connection (worker side): sd-event plumbing, logging, closing and the I/O dispatch; see
// client_connection.hpp.  The Lua callbacks are in client_connection_callbacks.cpp, the login in
// client_connection_login.cpp, the command phase's interception in client_connection_command.cpp.
#include "client_connection.hpp"

#include "common/connect_socket.hpp"
#include "worker/connection_util.hpp"
#include "worker/worker_loop.hpp"
#include "worker/session_ending.hpp"

#include "common/auth_switch.hpp"
#include "common/command_packet.hpp"
#include "common/err_packet.hpp"
#include "common/handshake_response41.hpp"
#include "common/handshake_v10.hpp"
#include "common/log.hpp"
#include "common/worker_activity.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/native_password.hpp"
#include "common/ok_packet.hpp"
#include "lua/lua_auth_verify.hpp"
#include "lua/callback_run.hpp"
#include "lua/config_loader.hpp"
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

ClientConnection::ClientConnection(Worker &owner, UniqueFd socket, const ClientInfo &info)
	: worker(owner), client_fd(std::move(socket)), id(info.client_id),
	  handler(owner.handler_ref(info.listener_index)), listener_auth(owner.listener_auth(info.listener_index)),
	  script(owner.lua(), handler, *this), backend(owner.event_loop(), owner.clusters(), log, on_backend_io, this)
{
	client_stream.attach(client_fd.get());
	if (const ListenerConfig *listener = owner.listener(info.listener_index)) {
		listener_tls = listener->ssl_context;
		listener_requires_tls = listener->require_ssl;
	}
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
		set_tcp_nodelay(client_fd.get(), peer.family());
		/* An unnamed UNIX peer (the usual client) has nothing worth printing. */
		if (peer.family() != AF_UNIX || info.peer_address.size() > sizeof(sa_family_t)) {
			char text[socket_address_text_max];
			format_socket_address(peer, text, sizeof(text));
			attributes.address = text;
		}
	}
	attributes.server_version = default_server_version;
}

ClientConnection::~ClientConnection()
{
	if (phase != Phase::closed) {
		/* The worker is going away: release without telling it. */
		phase = Phase::closed;
		script.release();
		intercept.reset();
		relay.reset();
		client_source.reset();
		backend.close();
		closing_timer.reset();
		pending_source.reset();
		end_login_watch();
		if (pending_login_reserved)
			worker.release_pending_login(attributes.uid);
	}
	server_login.reset();
}

/* --- event plumbing ------------------------------------------------------------------------ */

bool ClientConnection::set_client_events(std::uint32_t events) noexcept
{
	if (!client_source || events == client_events)
		return true;
	if (sd_event_source_set_io_events(client_source.get(), events) < 0)
		return false;
	client_events = events;
	return true;
}

void ClientConnection::update_events() noexcept
{
	if (phase == Phase::closed)
		return;
	std::uint32_t client = 0, backend_wanted = 0;
	switch (phase) {
	case Phase::relay:
		client = relay->wanted_client_events();
		backend_wanted = relay->wanted_backend_events();
		break;
	case Phase::greeting_sent:
	case Phase::auth_switch_sent:
		client = EPOLLIN;
		backend_wanted = 0;
		break;
	case Phase::client_tls:
		/* The stream polls for what the handshake waits for. */
		client = EPOLLIN;
		break;
	case Phase::closing:
		client = lingering ? std::uint32_t(EPOLLIN) : 0u;
		break;
	default:
		/* Input is expected only in some phases, but polling for it throughout saves
		 * re-arming epoll at every phase change; a peer that speaks out of turn is muted. */
		client = client_muted ? 0 : std::uint32_t(EPOLLIN);
		backend_wanted = backend_muted ? 0 : std::uint32_t(EPOLLIN);
		break;
	}
	if (phase != Phase::relay && !client_out.empty())
		client |= EPOLLOUT;
	/* The link knows what its connect, TLS handshake and login wait for (already as poll events). */
	const std::uint32_t backend_poll = !backend.connected()		  ? 0
					   : phase == Phase::backend_login ? backend.login_events()
									   : backend.stream().poll_events(backend_wanted);
	if (!set_client_events(client_stream.poll_events(client)) || !backend.poll(backend_poll)) {
		log(LogLevel::error, "sd_event_source_set_io_events() failed");
		close();
		return;
	}
	if ((client_stream.pending() && wants_client_input()) ||
	    (backend.connected() && backend.stream().pending() && wants_backend_input()))
		schedule_pending_input();
}

bool ClientConnection::wants_client_input() const noexcept
{
	if (phase == Phase::relay)
		return relay->wants_input(RelaySide::client);
	return phase == Phase::greeting_sent || phase == Phase::auth_switch_sent;
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
	connection->client_io(connection->client_stream.ready_events(revents));
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
	if (connection->client_stream.pending() && connection->wants_client_input())
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

/* --- closing --------------------------------------------------------------------------------- */

void ClientConnection::close() noexcept
{
	if (phase == Phase::closed)
		return;
	phase = Phase::closed;
	script.release();
	intercept.reset();
	relay.reset();
	client_source.reset();
	backend.close();
	closing_timer.reset();
	pending_source.reset();
	end_login_watch();
	client_stream.detach();
	client_fd.reset();
	if (pending_login_reserved) {
		worker.release_pending_login(attributes.uid);
		pending_login_reserved = false;
	}
	server_login.reset();
	release(client_in);
	release(client_out);
	metrics_session_ended(id);
	worker.connection_closed(*this);
}

void ClientConnection::finish_with(std::vector<std::uint8_t> packet) noexcept
{
	script.abandon();
	if (!relay)
		metrics_auth_err();
	if (relay) {
		/* Best effort: the relay writes what the socket takes now. */
		if (relay->send_to_client(packet))
			(void)relay->resume();
		close();
		return;
	}
	backend.close();
	if (client_stream.tls() && !client_stream.secure()) {
		/* Mid-handshake an ERR in clear text would only be a TLS error to the client. */
		close();
		return;
	}
	try {
		client_out.insert(client_out.end(), packet.begin(), packet.end());
	} catch (const std::bad_alloc &) {
		close();
		return;
	}
	phase = Phase::closing;
	if (!flush_client())
		return;
	if (client_out.empty()) {
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

std::vector<std::uint8_t> ClientConnection::make_err(const ServerError &error, std::string_view message,
						     std::uint8_t sequence_id) const
{
	std::vector<std::uint8_t> out;
	const std::size_t start = begin_packet(out);
	if (phase == Phase::on_connect) {
		/* Before the greeting nothing is negotiated: no SQLSTATE, as servers send it. */
		build_handshake_err_packet(out, error, message);
	} else {
		const std::uint32_t capabilities = client_capabilities != 0 ? client_capabilities : CLIENT_PROTOCOL_41;
		build_err_packet(out, error, message, capabilities);
	}
	finish_packet(out, start, sequence_id);
	return out;
}

void ClientConnection::fail_handshake(const ServerError &error, std::string_view message) noexcept
{
	try {
		finish_with(make_err(error, message, 0));
	} catch (const std::bad_alloc &) {
		close();
	}
}

void ClientConnection::fail_login(const ServerError &error, std::string_view message) noexcept
{
	try {
		finish_with(make_err(error, message, phase == Phase::on_connect ? 0 : client_sequence));
	} catch (const std::bad_alloc &) {
		close();
	}
}

void ClientConnection::shut_down(const char *reason) noexcept
{
	if (phase == Phase::closed)
		return;
	log(LogLevel::info, "closing: %s", reason);
	if (phase == Phase::relay && relay)
		(void)send_final_err(*relay, ER_SERVER_SHUTDOWN, "Server shutdown in progress", client_capabilities);
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

/* --- I/O events --------------------------------------------------------------------------------- */

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
			relay_event(relay->handle_client(revents));
			return;
		}
		if (phase == Phase::closing) {
			if (lingering) {
				/* Read what the client sent, so the close does not reset the connection
				 * before the client has read our ERR. */
				std::uint8_t scratch[4096];
				for (int i = 0; i < 16 && ::recv(client_fd.get(), scratch, sizeof(scratch), MSG_DONTWAIT) > 0; ++i) {
				}
				close();
				return;
			}
			if (revents & (EPOLLERR | EPOLLHUP)) {
				close();
				return;
			}
			if (flush_client() && client_out.empty())
				close();
			return;
		}
		if (phase == Phase::client_tls) {
			if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
				client_tls_step();
			if (phase != Phase::closed)
				update_events();
			return;
		}
		if ((revents & EPOLLOUT) && !flush_client())
			return;
		const bool reading = phase == Phase::greeting_sent || phase == Phase::auth_switch_sent;
		if (reading && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
			bool eof = false;
			if (!receive_client(eof))
				return;
			std::vector<std::uint8_t> payload;
			std::uint8_t sequence_id = 0;
			while ((phase == Phase::greeting_sent || phase == Phase::auth_switch_sent) &&
			       next_client_packet(payload, sequence_id))
				handle_client_login_packet(payload, sequence_id);
			wipe(payload);
			if (phase == Phase::closed)
				return;
			if (eof) {
				log(LogLevel::debug, "the client closed the connection during the login");
				close();
				return;
			}
		} else if (!reading && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
			if (!peer_spoke_out_of_turn(client_fd.get(), revents)) {
				log(LogLevel::debug, "the client went away during the login");
				close();
				return;
			}
			client_muted = true;
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
			if (phase == Phase::closed || phase == Phase::closing)
				return;
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

} // namespace myproxy
