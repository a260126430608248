// The client half of a worker session: the client's socket and byte stream (plain, or TLS after its
// SSLRequest), the login's packet I/O, and common/server_login driven through the greeting, the
// HandshakeResponse41, the switch to mysql_clear_password and caching_sha2_password's rounds.  It
// tells the session (worker/client_connection) when the script must decide, when the client is in,
// and when the connection must end (with a last packet or without); the session runs the script
// and the rest.  Passwords are wiped from its buffers as soon as server_login has its own copy.
// Never blocks; never lets a malformed packet through as anything but a clean ERR.
#pragma once

#include "common/backend_offer.hpp"
#include "common/client_login.hpp"
#include "common/event_source.hpp"
#include "common/mysql_errors.hpp"
#include "common/server_login.hpp"
#include "common/stream_socket.hpp"
#include "common/unique_fd.hpp"
#include "worker/backend_side.hpp"

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;
typedef struct ssl_ctx_st SSL_CTX;

namespace myproxy {

/* How long a client may take to read our last packet before it is dropped. */
inline constexpr std::uint64_t closing_timeout_usec = 5'000'000;

class SessionLog;
struct ClientAttributes;
struct ClientInfo;
struct ListenerAuth;
struct ListenerConfig;

/* What the script's client object shows of the client (the master's NEW_CLIENT; whether the master
 * read its cgroup, @listener says); a TCP client's socket @fd gets TCP_NODELAY. */
void describe_client(ClientAttributes &attributes, const ClientInfo &info, int fd,
		     const ListenerConfig *listener) noexcept;

class ClientSide {
public:
	enum class Step : std::uint8_t {
		/* Poll again (reading() says whether the client is to speak). */
		waiting,
		/* server_login has the client's credentials: the script decides (script_decided()). */
		ask_script,
		/* The script let the client in and server_login agreed: the backend login may start. */
		authenticated,
		/* Send final_packet() and close. */
		finish,
		/* Close without a word (already logged): nothing sensible can reach the client. */
		close,
	};
	using IoHandler = int (*)(sd_event_source *, int, std::uint32_t, void *);
	using TimeHandler = int (*)(sd_event_source *, std::uint64_t, void *);

	/* @listener and @auth: the listener the client came through (TLS context, require_ssl, plugins). */
	ClientSide(UniqueFd socket, const ListenerConfig *listener, const ListenerAuth *auth, const SessionLog &log) noexcept;
	~ClientSide() noexcept;

	ClientSide(const ClientSide &) = delete;
	ClientSide &operator=(const ClientSide &) = delete;

	/* Starts polling the socket for input; false on failure. */
	bool watch(sd_event *event, IoHandler on_io, void *userdata) noexcept;
	/* Polls for @wanted (EPOLLIN, EPOLLOUT; the stream translates them for TLS), plus EPOLLOUT
	 * while login bytes wait to go out; false on failure. */
	bool poll(std::uint32_t wanted) noexcept;
	int fd() const noexcept { return socket.get(); }
	/* The socket's sd-event source (nullptr before watch()): the relay switches it off while the
	 * worker's RelayPoller watches the socket (worker/command_phase). */
	sd_event_source *io_source() const noexcept { return source.get(); }
	StreamSocket &stream() noexcept { return byte_stream; }
	const StreamSocket &stream() const noexcept { return byte_stream; }

	/* Sends the greeting (server_login starts) with @offer's capabilities and collation (the
	 * backends', common/backend_offer.hpp) and @server_version: waiting, or finish with an ERR of
	 * the handshake. */
	Step greet(const BackendOffer &offer, std::string_view server_version, std::uint32_t connection_id,
		   bool local_transport);
	/* Whether the client is to speak now (the greeting or a switch was sent) or the TLS handshake
	 * runs. */
	bool reading() const noexcept { return state == State::reading; }
	bool in_tls_handshake() const noexcept { return state == State::tls; }
	/* A wake-up of the socket while reading() or in_tls_handshake(). */
	Step handle(std::uint32_t revents);
	/* The script's decision on the credentials. */
	Step script_decided(const ScriptDecision &decision);
	/* The client closed its end while its last packets were being handled: the session closes
	 * once it has acted on them (as soon as nothing it does needs the client any more). */
	bool hung_up() const noexcept { return peer_closed; }
	/* The last packet after Step::finish. */
	std::vector<std::uint8_t> take_final_packet() noexcept { return std::move(final_packet); }

	ServerLogin &login() noexcept { return *server_login; }
	bool logged_in() const noexcept { return server_login != nullptr; }
	/* What the client asked for, limited to what we offered (after ask_script). */
	std::uint32_t capabilities() const noexcept { return client_capabilities; }
	std::uint8_t character_set() const noexcept { return client_character_set; }
	std::uint32_t max_packet_size() const noexcept { return client_max_packet_size; }
	/* What the backend login passes on of the client's. */
	ClientSessionParams session_params() const noexcept
	{
		return {client_capabilities, client_character_set, client_max_packet_size, client_mariadb_capabilities};
	}
	/* The login deadline passed while the client was to speak (or shake hands). */
	Step deadline_passed();
	/* The sequence id our next packet of the login carries. */
	std::uint8_t sequence() const noexcept { return client_sequence; }

	/* An ERR of ours: @before_greeting in the handshake's format (no SQLSTATE). */
	std::vector<std::uint8_t> make_err(const ServerError &error, std::string_view message, std::uint8_t sequence_id,
					   bool before_greeting) const;
	/* The backend's own refusal of the login, code, SQLSTATE and text unchanged. */
	std::vector<std::uint8_t> make_server_err(const ClientLoginFailure &failure) const;
	/* A wake-up while the client is not to speak (a script runs, the backend logs in): writes what
	 * waits; data stays unread and the socket is muted; false when the client went away (logged). */
	bool out_of_turn(std::uint32_t revents) noexcept;
	bool muted() const noexcept { return spoke_out_of_turn; }
	/* Queues @packet and writes what the socket takes; false when the client is gone (logged). */
	bool send(const std::vector<std::uint8_t> &packet) noexcept;
	/* Writes what waits; false when the client is gone (logged). */
	bool flush() noexcept;
	bool output_pending() const noexcept { return !out.empty(); }
	/* Bytes the client sent behind its login, for the relay; then the login buffers go. */
	std::vector<std::uint8_t> &early_bytes() noexcept { return in; }
	void release_buffers() noexcept;
	/* The session ends with @packet: true while it is being written (poll on; @on_timeout with
	 * @userdata fires after closing_timeout_usec, farewell_io() says when it is done), false when
	 * the session can close at once (written, or nothing sensible can reach the client). */
	bool farewell(std::vector<std::uint8_t> packet, sd_event *event, TimeHandler on_timeout, void *userdata) noexcept;
	/* Our last ERR went out as the answer to the client's next command: shuts our write side and
	 * waits for the client's next bytes or hang-up, bounded by the timer; false when it cannot. */
	bool linger(sd_event *event, TimeHandler on_timeout, void *userdata) noexcept;
	bool lingering() const noexcept { return waiting_to_hang_up; }
	/* A wake-up during the farewell: true when the session can close. */
	bool farewell_io(std::uint32_t revents) noexcept;
	/* Closes the client's socket (close_notify first with TLS) and its source. */
	void close() noexcept;

private:
	enum class State : std::uint8_t { idle, reading, tls };

	UniqueFd socket;
	/* Declared after the fd: a TLS stream sends its close_notify on the fd when it goes. */
	StreamSocket byte_stream;
	EventSource source;
	std::uint32_t events = 0;
	/* Only while our last packet is being written. */
	EventSource closing_timer;
	bool waiting_to_hang_up = false;
	/* The listener's TLS context (ssl_cert) and require_ssl; nullptr/false for a plain listener. */
	SSL_CTX *listener_tls = nullptr;
	bool listener_requires_tls = false;
	/* The listener's plugins and RSA key, for server_login. */
	const ListenerAuth *auth;
	const SessionLog &log;
	/* The server side of the client's login and of its COM_CHANGE_USER (common/server_login). */
	std::unique_ptr<ServerLogin> server_login;
	State state = State::idle;
	bool peer_closed = false;
	/* The client sent bytes while we were not expecting any: stop polling it for input until the
	 * phase reads again (saves re-arming epoll in every phase). */
	bool spoke_out_of_turn = false;
	std::vector<std::uint8_t> in, out;
	std::vector<std::uint8_t> final_packet;
	/* The next sequence id of the client exchange in progress, whoever sends next. */
	std::uint8_t client_sequence = 0;
	std::uint32_t client_capabilities = 0;
	std::uint32_t client_mariadb_capabilities = 0;
	std::uint8_t client_character_set = 0;
	std::uint32_t client_max_packet_size = 0;

	bool receive(bool &eof) noexcept;
	enum class Framing : std::uint8_t { complete, incomplete, malformed, failed };
	Framing next_packet(std::vector<std::uint8_t> &payload, std::uint8_t &sequence_id) noexcept;
	Step login_status(ServerLoginStatus status, std::vector<std::uint8_t> &out_packets);
	Step login_failed(std::vector<std::uint8_t> &out_packets);
	Step finish(std::vector<std::uint8_t> packet) noexcept;
	Step start_tls();
	Step tls_step();
};

} // namespace myproxy
