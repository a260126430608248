// One client's life in a worker: on_connect, the greeting, the client's HandshakeResponse41 (and
// the switch to mysql_clear_password), on_handshake_response, the backend connect and login,
// on_command_phase, then the relay with COM_INIT_DB / COM_CHANGE_USER interception.  A state
// machine driven by sd-event sources; every Lua callback may suspend it.  There is one way out,
// close(): it logs why, releases everything, and tells the worker.  Never blocks, never lets an
// exception or a Lua error escape into the event loop.
#pragma once

#include "common/channel_protocol.hpp"
#include "common/client_login.hpp"
#include "common/event_source.hpp"
#include "common/server_login.hpp"
#include "common/mysql_errors.hpp"
#include "common/socket_address.hpp"
#include "common/unique_fd.hpp"
#include "lua/callback_run.hpp"
#include "lua/listener_auth.hpp"
#include "lua/lua_action.hpp"
#include "lua/lua_client.hpp"
#include "worker/backend_side.hpp"
#include "worker/command_intercept.hpp"
#include "worker/relay.hpp"
#include "worker/session_log.hpp"
#include "worker/session_script.hpp"
#include "common/stream_socket.hpp"

#include <array>
#include <cstdarg>
#include <list>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

typedef struct sd_event_source sd_event_source;

namespace myproxy {

class Worker;
struct LoginWatch;
enum class LogLevel;

/* What the greeting announces until config.lua's on_connect sets client.server_version.  Clients
 * parse it as "major.minor.patch" (and MariaDB's clients look for "MariaDB" in it), so it must look
 * like a real server's; 10.11 is the MariaDB release the project tests against. */
inline constexpr std::string_view default_server_version = "10.11.99-MariaDB-myproxy";

/* How long a client may take to read our last packet before it is dropped. */
inline constexpr std::uint64_t closing_timeout_usec = 5'000'000;

class ClientConnection final : public CallbackOwner, private CommandIntercept::Host {
public:
	ClientConnection(Worker &worker, UniqueFd socket, const ClientInfo &info);
	~ClientConnection();

	ClientConnection(const ClientConnection &) = delete;
	ClientConnection &operator=(const ClientConnection &) = delete;

	/* Starts the login (on_connect, then the greeting).  May close the connection at once. */
	void start() noexcept;

	/* Holds the client process's pidfd (from the master) for the connection's life, so its pid
	 * cannot be recycled while the connection exists. */
	void keep_pidfd(UniqueFd pidfd) noexcept { client_pidfd = std::move(pidfd); }

	/* An asynchronous Lua call of this connection's suspended callback completed: resume the
	 * callback with @nargs values pushed on its coroutine (CallbackRun::thread()), and go on with
	 * whatever it decides.  Ignored when no callback is suspended.  It may close the connection,
	 * which the worker then destroys after the current event: the caller must not use it
	 * afterwards (and must forget the coroutine: a closed connection abandons it). */
	void resume_callback(int nargs) noexcept override;
	/* The coroutine of the suspended callback (to match an asynchronous completion to its
	 * connection), or nullptr. */
	lua_State *suspended_thread() const noexcept;

	/* The login deadline (config.lua's connect_timeout) passed: the whole pre-command phase,
	 * greeting to OK, must fit in it.  The worker sweeps the connections still logging in; the
	 * client gets an ERR saying what it was waiting for. */
	void login_deadline_expired() noexcept;

	/* The worker shuts down or the account is disconnected: close now; a client still logging
	 * in gets ERR 1053 (server shutdown). */
	void shut_down(const char *reason) noexcept;

	/* Whether this connection relays to @node of @cluster and is not a read_only one: those are
	 * what disconnect_unavailable closes. */
	bool relays_writer_to(std::uint32_t cluster, std::uint32_t node) const noexcept;
	/* disconnect_unavailable: the node this connection relays to became @state (named @node); the
	 * client gets ERR 1927 (connection killed) as the answer to its next command, and the
	 * connection closes. */
	void node_unavailable(const char *node, NodeState state) noexcept;
	/* DISCONNECT_ACCOUNT named this connection's account: ERR 1927 (connection killed), at once
	 * while logging in, else as the answer to the client's next command; then the close. */
	void account_disconnected() noexcept;

	/* In the command phase with nothing running (worker/session_ending.hpp): a drain closes it. */
	bool idle_for_drain() const noexcept;
	/* The connect option read_timeout (microseconds, 0: none), for worker/backend_watch. */
	std::uint64_t backend_read_timeout_usec() const noexcept { return backend.read_timeout_usec(); }
	/* The backend stayed silent past read_timeout while the client waited: ERR 1158 to the
	 * client, the node reported suspect (clusters), close. */
	void backend_timed_out() noexcept;

	std::uint64_t client_id() const noexcept { return id; }
	bool is_closed() const noexcept { return phase == Phase::closed; }
	const std::string &account() const noexcept { return attributes.account; }
	const RelayCounters *relay_counters() const noexcept { return relay ? &relay->counters() : nullptr; }

private:
	enum class Phase : std::uint8_t {
		on_connect,		/* the callback runs (or is suspended) */
		greeting_sent,		/* waiting for HandshakeResponse41 (or an SSLRequest) */
		client_tls,		/* the TLS handshake with the client, after its SSLRequest */
		auth_switch_sent,	/* waiting for the cleartext password */
		on_handshake_response,
		backend_login,		/* the backend link connects, runs TLS, logs in */
		on_command_phase,
		relay,
		closing,		/* a final ERR is being written */
		closed,
	};

	Worker &worker;
	UniqueFd client_fd;
	/* The byte stream over that fd (plain or TLS); declared after it: a TLS stream sends its
	 * close_notify on the fd when it goes. */
	StreamSocket client_stream;
	/* The client process, held for the connection's life so its pid cannot be recycled. */
	UniqueFd client_pidfd;
	/* The listener's TLS context (ssl_cert) and require_ssl; nullptr/false for a plain listener. */
	SSL_CTX *listener_tls = nullptr;
	bool listener_requires_tls = false;
	EventSource client_source;
	/* OpenSSL holds decrypted bytes that epoll will not announce: read them on the next loop
	 * iteration (a one-shot defer source, created on first need). */
	EventSource pending_source;
	/* Only while a final ERR is being written (the login deadline is the worker's sweep). */
	EventSource closing_timer;
	std::uint32_t client_events = 0;
	/* The peer sent bytes while we were not expecting any (e.g. while a callback runs): stop
	 * polling it for input until the phase reads again.  Saves re-arming epoll in every phase. */
	bool client_muted = false, backend_muted = false;
	/* Closing after disconnect_unavailable's ERR: waiting for the client's next bytes or hang-up. */
	bool lingering = false;
	/* Our entry in the worker's list of logins in progress; unset once logged in. */
	std::optional<std::list<LoginWatch>::iterator> login_watch;

	std::uint64_t id;
	int handler;
	/* The listener's plugins and RSA key, for server_login. */
	const ListenerAuth *listener_auth;
	/* The server side of the client's login and of its COM_CHANGE_USER (common/server_login). */
	std::unique_ptr<ServerLogin> server_login;
	ClientAttributes attributes;
	/* Log lines with the client's name (reads attributes and id at each line). */
	SessionLog log{attributes, id};
	Phase phase = Phase::on_connect;
	bool pending_login_reserved = false;

	/* The client object and the callback that runs (worker/session_script). */
	SessionScript script;

	/* The client's pre-command packet I/O; emptied (capacity too) when the relay starts. */
	std::vector<std::uint8_t> client_in, client_out;
	/* The next sequence id of the client exchange in progress, whoever sends next: what the
	 * client's packet must carry, and after it, what our answer carries. */
	std::uint8_t client_sequence = 0;
	/* What the client asked for, limited to what we offered. */
	std::uint32_t client_capabilities = 0;
	std::uint8_t client_character_set = 0;
	std::uint32_t client_max_packet_size = 0;

	/* The backend's connection: login, node choice, then the relay's backend stream. */
	BackendSide backend;

	std::unique_ptr<Relay> relay;
	/* COM_INIT_DB and COM_CHANGE_USER on top of the relay; goes before it. */
	std::unique_ptr<CommandIntercept> intercept;


	/* sd-event plumbing. */
	void update_events() noexcept;
	bool set_client_events(std::uint32_t events) noexcept;
	static int on_client_io(sd_event_source *source, int fd, std::uint32_t revents, void *userdata);
	static int on_backend_io(sd_event_source *source, int fd, std::uint32_t revents, void *userdata);
	static int on_closing_timeout(sd_event_source *source, std::uint64_t usec, void *userdata);
	static int on_pending_input(sd_event_source *source, void *userdata);
	bool wants_client_input() const noexcept;
	bool wants_backend_input() const noexcept;
	void schedule_pending_input() noexcept;
	void client_io(std::uint32_t revents) noexcept;
	void backend_io(std::uint32_t revents) noexcept;
	void end_login_watch() noexcept;

	/* The one way out: releases sockets, sources, the Lua client object, the login slot. */
	void close() noexcept;
	/* Sends @packet (framed) to the client and closes once it is written. */
	void finish_with(std::vector<std::uint8_t> packet) noexcept override;
	/* ERR packets of ours, with the sequence id the client expects next. */
	void fail_handshake(const ServerError &error, std::string_view message) noexcept; /* before the greeting */
	void fail_login(const ServerError &error, std::string_view message) noexcept;
	std::vector<std::uint8_t> make_err(const ServerError &error, std::string_view message, std::uint8_t sequence_id) const;

	/* Pre-command I/O. */
	bool flush_client() noexcept;
	void send_client(const std::vector<std::uint8_t> &bytes) noexcept;
	/* Reads once from the client; false when the connection was closed.  @eof is set on orderly
	 * EOF. */
	bool receive_client(bool &eof) noexcept;
	/* Takes the client's next complete packet into @payload; false while incomplete.  On a
	 * framing error closes the connection (check is_closed()). */
	bool next_client_packet(std::vector<std::uint8_t> &payload, std::uint8_t &sequence_id) noexcept;

	/* Callbacks. */
	void run_callback(SessionCallback kind, int nargs) noexcept override;
	void deliver(SessionCallback kind, CallbackOutcome &outcome) noexcept;
	void dispatch_outcome(SessionCallback kind, CallbackOutcome &outcome);

	/* The login. */
	void send_greeting();
	void handle_client_login_packet(std::vector<std::uint8_t> &payload, std::uint8_t sequence_id);
	void server_login_status(ServerLoginStatus status, std::vector<std::uint8_t> &out);
	void server_login_failed(std::vector<std::uint8_t> &out);
	void handshake_response_outcome(CallbackOutcome &outcome);
	void start_client_tls();
	void client_tls_step();
	void run_handshake_response_script();
	void connect_backend(ConnectAction &action);
	void backend_step(BackendSide::Step step);
	void backend_login_failed();
	void backend_logged_in();
	void start_relay();

	/* The command phase (client_connection_command.cpp). */
	void relay_event(RelayEvent event) noexcept;
	void handle_relay_event(RelayEvent &event);
	void relay_failed(const char *what) noexcept override;
	/* In the relay: ERR 1927 with @message as the answer to the client's next command, then close
	 * (client_connection_cluster.cpp). */
	void end_relay_killed(const char *message) noexcept;
};

} // namespace myproxy
