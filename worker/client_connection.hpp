// One client's life in a worker, as wiring: the sd-event sources of the client's and the backend's
// sockets feed worker/client_side (the client's login, driving common/server_login), worker/
// backend_side (the backend link and its login) and, in the command phase, worker/command_phase
// (the relay with myproxy's interceptions); worker/session_script runs config.lua's callbacks.  Every phase
// of the session is in this file, in order: on_connect, the greeting and the client's login,
// on_handshake_response, the backend login, on_command_phase, the relay, the end.  There is one way
// out, close(): it logs why, releases everything, and tells the worker.  Never blocks, never lets an
// exception or a Lua error escape into the event loop.
#pragma once

#include "common/channel_protocol.hpp"
#include "common/event_source.hpp"
#include "common/mysql_errors.hpp"
#include "common/unique_fd.hpp"
#include "lua/lua_client.hpp"
#include "worker/backend_side.hpp"
#include "worker/client_side.hpp"
#include "worker/command_phase.hpp"
#include "worker/deferred_call.hpp"
#include "worker/login_slot.hpp"
#include "worker/session_log.hpp"
#include "worker/session_script.hpp"

#include <cstdint>
#include <list>
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

class ClientConnection final : public CallbackOwner, private CommandIntercept::Host, private KillIntercept::Host {
public:
	ClientConnection(Worker &worker, UniqueFd socket, const ClientInfo &info);
	/* Each part releases what it holds; nobody tells the worker (it is destroying us). */
	~ClientConnection() = default;

	ClientConnection(const ClientConnection &) = delete;
	ClientConnection &operator=(const ClientConnection &) = delete;

	/* Starts the login (on_connect, then the greeting).  May close the connection at once. */
	void start() noexcept;

	/* Holds the client process's pidfd (from the master) for the connection's life, so its pid
	 * cannot be recycled while the connection exists. */

	/* An asynchronous Lua call of this connection's suspended callback completed: resume the
	 * callback with @nargs values pushed on its coroutine (CallbackRun::thread()), and go on with
	 * whatever it decides.  Ignored when no callback is suspended.  It may close the connection,
	 * which the worker then destroys after the current event: the caller must not use it
	 * afterwards (and must forget the coroutine: a closed connection abandons it). */
	void resume_callback(int nargs) noexcept override;
	/* The coroutine of the suspended callback (to match an asynchronous completion to its
	 * connection), or nullptr. */
	lua_State *suspended_thread() const noexcept { return script.suspended_thread(); }

	/* The login deadline (config.lua's connect_timeout) passed: the whole pre-command phase,
	 * greeting to OK, must fit in it.  The worker sweeps the connections still logging in; the
	 * client gets an ERR saying what it was waiting for. */
	void login_deadline_expired() noexcept;

	/* The worker shuts down or the account is disconnected: close now; a client still logging
	 * in gets ERR 1053 (server shutdown). */
	void shut_down(const char *reason) noexcept;

	/* Whether this connection relays to @node of @cluster and is not a read_only one: those are
	 * what disconnect_unavailable closes. */
	bool relays_writer_to(std::uint32_t cluster, std::uint32_t node) const noexcept
	{
		return phase == Phase::relay && backend.cluster() == cluster && backend.node() == node &&
		       !backend.read_only();
	}
	/* disconnect_unavailable: the node this connection relays to became @state (named @node); the
	 * client gets ERR 1927 (connection killed) as the answer to its next command, and the
	 * connection closes. */
	void node_unavailable(const char *node, NodeState state) noexcept;
	/* DISCONNECT_ACCOUNT named this connection's account: ERR 1927 (connection killed), at once
	 * while logging in, else as the answer to the client's next command; then the close. */
	void account_disconnected() noexcept;

	/* In the command phase with nothing running (worker/session_ending.hpp): a drain closes it. */
	bool idle_for_drain() const noexcept { return phase == Phase::relay && !script.suspended() && command->idle(); }
	/* The connect option read_timeout (microseconds, 0: none), for worker/backend_watch. */
	std::uint64_t backend_read_timeout_usec() const noexcept { return backend.read_timeout_usec(); }
	/* The backend stayed silent past read_timeout while the client waited: ERR 1158 to the
	 * client, the node reported suspect (clusters), close. */
	void backend_timed_out() noexcept;

	std::uint64_t client_id() const noexcept { return id; }
	/* In the relay: what KILLs of other sessions reach (worker/kill_board); else nullptr. */
	KillIntercept *kill_target() noexcept { return phase == Phase::relay ? &command->kill() : nullptr; }
	bool is_closed() const noexcept { return phase == Phase::closed; }
	const std::string &account() const noexcept { return attributes.account; }
	const RelayCounters *relay_counters() const noexcept { return command ? &command->relay().counters() : nullptr; }

private:
	enum class Phase : std::uint8_t {
		on_connect,		/* the callback runs (or is suspended) */
		client_login,		/* the client speaks (greeting, SSLRequest and TLS, auth switch) */
		on_handshake_response,
		backend_login,		/* the backend link connects, runs TLS, logs in */
		on_command_phase,
		relay,
		closing,		/* a final ERR is being written */
		closed,
	};

	Worker &worker;
	std::uint64_t id;
	int handler;
	ClientAttributes attributes;
	/* Log lines with the client's name (reads attributes and id at each line). */
	SessionLog log{attributes, id};
	Phase phase = Phase::on_connect;

	/* The client's socket and login; the script; the backend's connection; the relay with the
	 * interceptions, which goes first (members are destroyed in reverse). */
	ClientSide client;
	SessionScript script;
	BackendSide backend;
	std::unique_ptr<CommandPhase> command;

	/* OpenSSL holds decrypted bytes that epoll will not announce: read them on the next loop
	 * iteration. */
	DeferredCall pending_read;
	/* The login's deadline and the uid's slot of logins in progress, until logged in. */
	LoginSlot login;

	/* sd-event plumbing. */
	void update_events() noexcept;
	template <void (ClientConnection::*io)(std::uint32_t, bool) noexcept>
	static int on_io(sd_event_source *source, int fd, std::uint32_t revents, void *userdata);
	static int on_closing_timeout(sd_event_source *source, std::uint64_t usec, void *userdata);
	static int on_pending_input(sd_event_source *source, void *userdata);
	bool pending_input(RelaySide side) const noexcept;
	void schedule_pending_input() noexcept;
	void client_io(std::uint32_t revents, bool logical) noexcept;
	void backend_io(std::uint32_t revents, bool logical) noexcept;

	/* The phases, in order. */
	void client_step(ClientSide::Step step, CallbackOutcome *outcome = nullptr);
	void run_handshake_response_script();
	void handshake_response_outcome(CallbackOutcome &outcome);
	void connect_backend(ConnectAction &action);
	void backend_step(BackendSide::Step step);
	void backend_logged_in();
	void start_relay();
	void relay_event(RelayEvent event) noexcept;

	/* Callbacks. */
	void run_callback(SessionCallback kind, int nargs) noexcept override;
	void deliver(SessionCallback kind, CallbackOutcome &outcome) noexcept;
	void dispatch_outcome(SessionCallback kind, CallbackOutcome &outcome);
	bool refused(SessionCallback kind, const CallbackOutcome &outcome, const ErrAction *err) noexcept;
	void refuse_after_greeting(const CallbackOutcome &outcome, const ErrAction *err) noexcept;

	/* The one way out: releases sockets, sources, the Lua client object, the login slot. */
	void close() noexcept;
	/* Sends @packet (framed) to the client and closes once it is written. */
	void finish_with(std::vector<std::uint8_t> packet) noexcept override;
	/* ERR packets of ours, with the sequence id the client expects next. */
	void fail_login(const ServerError &error, std::string_view message, bool before_greeting = false) noexcept;
	void relay_failed(const char *what) noexcept override;
	/* KillIntercept::Host: the master answered a KILL; another server's session killed this one. */
	void kill_resume() noexcept override;
	void kill_end() noexcept override
	{
		if (phase == Phase::relay)
			end_relay_killed("Connection was killed");
	}
	/* In the relay: ERR 1927 with @message as the answer to the client's next command, then close. */
	void end_relay_killed(const char *message) noexcept;
};

} // namespace myproxy
