// The client half of a worker session; see client_side.hpp.
#include "client_side.hpp"

#include "worker/connection_util.hpp"
#include "worker/session_log.hpp"
#include "worker/session_metrics.hpp"

#include "common/err_packet.hpp"
#include "common/log.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/native_password.hpp"
#include "common/connect_socket.hpp"
#include "common/channel_protocol.hpp"
#include "lua/lua_client.hpp"
#include "lua/config_loader.hpp"
#include "lua/listener_auth.hpp"

#include <systemd/sd-event.h>

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace myproxy {

/* What the script's client object shows of the client (the master's NEW_CLIENT). */
void describe_client(ClientAttributes &attributes, const ClientInfo &info, int fd,
		     const ListenerConfig *listener) noexcept
{
	attributes.cgroup_read = listener == nullptr || listener->reads_client_cgroup;
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
}

ClientSide::ClientSide(UniqueFd fd, const ListenerConfig *listener, const ListenerAuth *listener_auth,
		       const SessionLog &session_log) noexcept
	: socket(std::move(fd)), auth(listener_auth), log(session_log)
{
	byte_stream.attach(socket.get());
	if (listener != nullptr) {
		listener_tls = listener->ssl_context;
		listener_requires_tls = listener->require_ssl;
	}
}

ClientSide::~ClientSide() noexcept
{
	close();
}

void ClientSide::close() noexcept
{
	closing_timer.reset();
	source.reset();
	byte_stream.detach();
	socket.reset();
	server_login.reset();
	state = State::idle;
	release_buffers();
}

void ClientSide::release_buffers() noexcept
{
	release(in);
	release(out);
}

bool ClientSide::watch(sd_event *event, IoHandler on_io, void *userdata) noexcept
{
	if (sd_event_add_io(event, source.out(), socket.get(), EPOLLIN, on_io, userdata) < 0)
		return false;
	events = EPOLLIN;
	return true;
}

bool ClientSide::poll(std::uint32_t wanted) noexcept
{
	if (!out.empty())
		wanted |= EPOLLOUT;
	const std::uint32_t mask = byte_stream.poll_events(wanted);
	if (!source || mask == events)
		return true;
	if (sd_event_source_set_io_events(source.get(), mask) < 0)
		return false;
	events = mask;
	return true;
}

/* --- packet I/O ------------------------------------------------------------------------------- */

bool ClientSide::flush() noexcept
{
	while (!out.empty()) {
		const ssize_t n = byte_stream.write(out.data(), out.size());
		if (n < 0) {
			if (errno == EAGAIN)
				return true;
			const int error = errno;
			if (error == tls_errno)
				log(LogLevel::info, "send to client failed: %s", byte_stream.tls_error().c_str());
			else if (error != EPIPE && error != ECONNRESET)
				log(LogLevel::info, "send to client failed: %s", std::strerror(error));
			return false;
		}
		out.erase(out.begin(), out.begin() + n);
		if (!out.empty())
			return true; /* the kernel took what it could: wait for EPOLLOUT */
	}
	return true;
}

bool ClientSide::send(const std::vector<std::uint8_t> &packet) noexcept
{
	try {
		out.insert(out.end(), packet.begin(), packet.end());
	} catch (const std::bad_alloc &) {
		return false;
	}
	return flush();
}

bool ClientSide::receive(bool &eof) noexcept
{
	constexpr std::size_t chunk = 4096;
	eof = false;
	const std::size_t old_size = in.size();
	try {
		in.resize(old_size + chunk);
	} catch (const std::bad_alloc &) {
		return false;
	}
	const ssize_t n = byte_stream.read(in.data() + old_size, chunk);
	const int error = errno;
	in.resize(old_size + (n > 0 ? std::size_t(n) : 0));
	if (n == 0)
		eof = true;
	if (n < 0 && error != EAGAIN) {
		log(LogLevel::info, "receive from client failed: %s",
		    error == tls_errno ? byte_stream.tls_error().c_str() : std::strerror(error));
		return false;
	}
	return true;
}

ClientSide::Framing ClientSide::next_packet(std::vector<std::uint8_t> &payload, std::uint8_t &sequence_id) noexcept
{
	ParseResult<ReassembledPayload> result = ParseError{"", 0};
	try {
		result = reassemble_payload(in, payload, login_packet_max);
	} catch (const std::bad_alloc &) {
		return Framing::failed;
	}
	if (!result) {
		/* Whatever it sent, the client now waits for our answer. */
		client_sequence = std::uint8_t(client_sequence + 1);
		metrics_client_malformed_packet();
		log(LogLevel::warning, "malformed packet during login: %s", result.error().what);
		return Framing::malformed;
	}
	if (!result->complete)
		return Framing::incomplete;
	metrics_client_packet(result->wire_size);
	in.erase(in.begin(), in.begin() + std::ptrdiff_t(result->wire_size));
	sequence_id = result->first_sequence_id;
	return Framing::complete;
}

std::vector<std::uint8_t> ClientSide::make_err(const ServerError &error, std::string_view message,
					       std::uint8_t sequence_id, bool before_greeting) const
{
	std::vector<std::uint8_t> packet;
	const std::size_t start = begin_packet(packet);
	if (before_greeting) {
		/* Before the greeting nothing is negotiated: no SQLSTATE, as servers send it. */
		build_handshake_err_packet(packet, error, message);
	} else {
		const std::uint32_t flags = client_capabilities != 0 ? client_capabilities : CLIENT_PROTOCOL_41;
		build_err_packet(packet, error, message, flags);
	}
	finish_packet(packet, start, sequence_id);
	return packet;
}

std::vector<std::uint8_t> ClientSide::make_server_err(const ClientLoginFailure &failure) const
{
	ErrPacket err;
	err.error_code = failure.error_code;
	err.sql_state = failure.sql_state;
	err.message = failure.message;
	std::vector<std::uint8_t> packet;
	const std::size_t start = begin_packet(packet);
	build_err_packet(packet, err, client_capabilities);
	std::uint8_t sequence_id = client_sequence;
	finish_packet(packet, start, sequence_id);
	return packet;
}

bool ClientSide::out_of_turn(std::uint32_t revents) noexcept
{
	if ((revents & EPOLLOUT) && !flush())
		return false;
	if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return true;
	if (!peer_spoke_out_of_turn(socket.get(), revents)) {
		log(LogLevel::debug, "the client went away during the login");
		return false;
	}
	spoke_out_of_turn = true;
	return true;
}

ClientSide::Step ClientSide::finish(std::vector<std::uint8_t> packet) noexcept
{
	state = State::idle;
	final_packet = std::move(packet);
	return Step::finish;
}

ClientSide::Step ClientSide::deadline_passed()
{
	if (state == State::tls) {
		log(LogLevel::info, "login deadline: the client did not finish the TLS handshake");
		return Step::close;
	}
	log(LogLevel::info, "login deadline: the client did not answer");
	return finish(make_err(ER_NET_READ_ERROR, "Got timeout reading communication packets", client_sequence, false));
}

/* --- the farewell ------------------------------------------------------------------------------ */

bool ClientSide::farewell(std::vector<std::uint8_t> packet, sd_event *event, TimeHandler on_timeout,
			  void *userdata) noexcept
{
	state = State::idle;
	/* Mid-handshake an ERR in clear text would only be a TLS error to the client. */
	if (byte_stream.tls() && !byte_stream.secure())
		return false;
	if (!send(packet) || out.empty())
		return false;
	/* The client does not read: give it a little while, then drop it. */
	return closing_timer || sd_event_add_time_relative(event, closing_timer.out(), CLOCK_MONOTONIC,
							   closing_timeout_usec, 100'000, on_timeout, userdata) >= 0;
}

bool ClientSide::linger(sd_event *event, TimeHandler on_timeout, void *userdata) noexcept
{
	/* The client reads the ERR only after it sent its next command (a client library that finds
	 * the socket closed on writing reports "gone away" instead): so keep the socket open, its
	 * write side shut, until the client says something or hangs up. */
	::shutdown(socket.get(), SHUT_WR);
	waiting_to_hang_up = true;
	return sd_event_add_time_relative(event, closing_timer.out(), CLOCK_MONOTONIC, closing_timeout_usec, 100'000,
					  on_timeout, userdata) >= 0;
}

bool ClientSide::farewell_io(std::uint32_t revents) noexcept
{
	if (waiting_to_hang_up) {
		/* Read what the client sent, so the close does not reset the connection before the
		 * client has read our ERR. */
		std::uint8_t scratch[4096];
		for (int i = 0; i < 16 && ::recv(socket.get(), scratch, sizeof(scratch), MSG_DONTWAIT) > 0; ++i) {
		}
		return true;
	}
	return (revents & (EPOLLERR | EPOLLHUP)) || !flush() || out.empty();
}

/* --- the login -------------------------------------------------------------------------------- */

ClientSide::Step ClientSide::greet(const BackendOffer &offer, std::string_view server_version,
				   std::uint32_t connection_id, bool local_transport)
{
	const auto nonce = generate_scramble();
	if (!nonce) {
		log(LogLevel::error, "generate_scramble() failed");
		return finish(make_err(ER_UNKNOWN_ERROR, "myproxy: internal error", 0, true));
	}
	ServerLoginParams params;
	params.plugins = auth->plugins;
	params.rsa = auth->rsa ? &*auth->rsa : nullptr;
	params.server_version = server_version;
	params.connection_id = connection_id;
	params.nonce = *nonce;
	params.capabilities = std::uint32_t(offer.capabilities);
	params.mariadb_capabilities = std::uint32_t(offer.capabilities >> 32);
	params.character_set = offer.collation;
	params.tls_offered = listener_tls != nullptr;
	params.tls_required = listener_requires_tls;
	params.local_transport = local_transport;
	auto login = std::make_unique<ServerLogin>(params);
	std::vector<std::uint8_t> greeting;
	if (login->greeting(greeting) != ServerLoginStatus::CONTINUE) {
		log(LogLevel::error, "%s", login->failure().reason.c_str());
		return finish(make_err(ER_UNKNOWN_ERROR, "myproxy: internal error", 0, true));
	}
	server_login = std::move(login);
	client_sequence = server_login->next_sequence_id();
	state = State::reading;
	return send(greeting) ? Step::waiting : Step::close;
}

ClientSide::Step ClientSide::handle(std::uint32_t revents)
{
	if (state == State::tls)
		return (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) ? tls_step() : Step::waiting;
	if ((revents & EPOLLOUT) && !flush())
		return Step::close;
	if (state != State::reading || !(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return Step::waiting;
	bool eof = false;
	if (!receive(eof))
		return Step::close;
	std::vector<std::uint8_t> payload;
	std::uint8_t sequence_id = 0;
	Step step = Step::waiting;
	while (step == Step::waiting && state == State::reading) {
		const Framing framing = next_packet(payload, sequence_id);
		if (framing == Framing::incomplete)
			break;
		if (framing == Framing::failed) {
			step = Step::close;
			break;
		}
		if (framing == Framing::malformed) {
			step = finish(make_err(ER_NET_PACKET_TOO_LARGE, "Got a packet bigger than 'max_allowed_packet' bytes",
					       client_sequence, false));
			break;
		}
		std::vector<std::uint8_t> answer;
		const ServerLoginStatus status = server_login->feed(payload, sequence_id, answer);
		wipe(payload);
		step = login_status(status, answer);
	}
	wipe(payload);
	if (eof && (step == Step::waiting || step == Step::ask_script || step == Step::authenticated)) {
		if (step == Step::waiting) {
			log(LogLevel::debug, "the client closed the connection during the login");
			return Step::close;
		}
		peer_closed = true;
	}
	return step;
}

/* Carries out what server_login asked for after a client packet or the script's decision. */
ClientSide::Step ClientSide::login_status(ServerLoginStatus status, std::vector<std::uint8_t> &answer)
{
	client_sequence = server_login->next_sequence_id();
	Step step = Step::waiting;
	switch (status) {
	case ServerLoginStatus::CONTINUE:
		state = State::reading;
		break;
	case ServerLoginStatus::START_TLS:
		step = start_tls();
		break;
	case ServerLoginStatus::ASK_SCRIPT:
		metrics_handshake_response();
		client_capabilities = server_login->capabilities();
		client_mariadb_capabilities = server_login->mariadb_capabilities();
		client_character_set = server_login->character_set();
		client_max_packet_size = server_login->max_packet_size();
		state = State::idle;
		step = Step::ask_script;
		break;
	case ServerLoginStatus::AUTHENTICATED:
		state = State::idle;
		step = Step::authenticated;
		break;
	case ServerLoginStatus::REFUSED:
		/* Only after script_decided(), with the ERR in @answer. */
		state = State::idle;
		break;
	case ServerLoginStatus::FAILED:
		return login_failed(answer);
	}
	if (!answer.empty() && step != Step::close && !send(answer))
		step = Step::close;
	wipe(answer);
	return step;
}

ClientSide::Step ClientSide::login_failed(std::vector<std::uint8_t> &answer)
{
	const ServerLoginFailure &failure = server_login->failure();
	log(failure.protocol_violation ? LogLevel::warning : LogLevel::info, "%s", failure.reason.c_str());
	if (failure.protocol_violation)
		metrics_client_malformed_packet();
	if (answer.empty())
		return Step::close;
	return finish(std::move(answer));
}

ClientSide::Step ClientSide::script_decided(const ScriptDecision &decision)
{
	std::vector<std::uint8_t> answer;
	const ServerLoginStatus status = server_login->script_decided(decision, answer);
	if (status == ServerLoginStatus::FAILED) {
		client_sequence = server_login->next_sequence_id();
		if (answer.empty())
			return Step::close;
		return finish(std::move(answer));
	}
	return login_status(status, answer);
}

ClientSide::Step ClientSide::start_tls()
{
	/* The client may have sent its ClientHello right behind the SSLRequest: what was read past the
	 * SSLRequest belongs to the TLS stream. */
	state = State::tls;
	const bool started = byte_stream.start_tls(listener_tls, true, in.data(), in.size());
	release(in);
	if (!started) {
		log(LogLevel::error, "cannot start TLS with the client: %s", byte_stream.tls_error().c_str());
		return Step::close;
	}
	return tls_step();
}

ClientSide::Step ClientSide::tls_step()
{
	const int status = byte_stream.handshake();
	if (status != 0)
		metrics_tls_handshake(status > 0);
	if (status < 0) {
		/* Nothing sensible can reach the client now: an ERR in clear text is no TLS record. */
		log(LogLevel::info, "TLS handshake with the client failed: %s", byte_stream.tls_error().c_str());
		return Step::close;
	}
	if (status > 0) {
		log(LogLevel::debug, "TLS with the client established");
		(void)server_login->tls_established();
		state = State::reading; /* the real HandshakeResponse41 follows, encrypted */
	}
	return Step::waiting;
}

} // namespace myproxy
