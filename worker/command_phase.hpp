// The command phase of a worker session: the relay (worker/relay) between the client's and the
// backend's streams, with myproxy's own exchanges on top (worker/command_intercept), from the OK
// that lets the client in to the ERR that tells it why the session ends.  The session
// (worker/client_connection) feeds it the relay's events and closes when it says so; it never
// closes anything itself.
#pragma once

#include "worker/command_intercept.hpp"
#include "worker/kill_intercept.hpp"
#include "worker/relay.hpp"
#include "worker/relay_poller.hpp"

#include "common/mysql_errors.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace myproxy {

class BackendSide;
class ClientSide;
class RelayBufferPool;
class SessionLog;
class SessionScript;

class CommandPhase {
public:
	/* Everything must outlive the command phase. */
	CommandPhase(RelayBufferPool &buffers, ClientSide &client, BackendSide &backend, SessionScript &script,
		     const SessionLog &log, CommandIntercept::Host &host, KillBoard &kill_board,
		     KillIntercept::Host &kill_host, std::uint32_t connection_id);
	~CommandPhase() noexcept;

	CommandPhase(const CommandPhase &) = delete;
	CommandPhase &operator=(const CommandPhase &) = delete;

	/* Sends the client its OK and hands the relay what both sides sent behind their logins;
	 * false when it cannot (logged). */
	bool start(std::uint64_t client_id);
	Relay &relay() noexcept { return relay_; }
	const Relay &relay() const noexcept { return relay_; }

	/* The worker's @poller may watch the relay's two sockets instead of their own sd-event
	 * sources: then one epoll_wait serves every socket ready at one wake-up (worker/relay_poller,
	 * which says when that pays; poll() moves them).  @client_io and @backend_io with @userdata
	 * get the wake-ups there. */
	void watch(RelayPoller &poller, RelayWatch::Handler client_io, RelayWatch::Handler backend_io,
		   void *userdata) noexcept;
	/* Polls the sockets for what the relay wants of each (EPOLLIN/EPOLLOUT, translated for TLS
	 * here), in the poller or in their sources as it says; false on failure. */
	bool poll(std::uint32_t client_wanted, std::uint32_t backend_wanted) noexcept;
	/* Leaves the poller, before the sockets close.  @give_back: the session goes on (the relay
	 * lingers, or keeps the backend), so their sd-event sources watch them again. */
	void unwatch(bool give_back) noexcept;

	/* The client ended the session (COM_QUIT or its close) and the script asked for reuse: true
	 * when the backend connection went to the pool (worker/session_reuse); the session closes. */
	bool park_backend(const RelayEvent &event, std::string_view account);
	/* One event of the relay: true when the relay ended (logged, the client told what it can):
	 * the session closes. */
	bool handle(RelayEvent &event);
	/* OpenSSL (or the compressed link) holds bytes of @side that the relay wants to read (epoll
	 * will not say). */
	bool pending_input(RelaySide side) const noexcept;
	/* Nothing in flight and no exchange of ours running (a drain closes the session). */
	bool idle() const noexcept;
	/* The session ends now with ERR @error (@message) at the sequence id the client expects. */
	void final_err(const ServerError &error, const char *message) noexcept;
	/* ERR 1927 (@message) as the answer to the client's next command: true when it went out whole
	 * (the client side then lingers), false when only a close is left. */
	bool killed(const char *message) noexcept;

	void init_db_outcome(CallbackOutcome &outcome) { intercept.init_db_outcome(outcome); }
	void change_user_outcome(CallbackOutcome &outcome) { intercept.change_user_outcome(outcome); }
	/* The session's KILL translation (worker/kill_intercept), also the side other sessions' KILLs reach. */
	KillIntercept &kill() noexcept { return kill_; }

private:
	ClientSide &client;
	BackendSide &backend;
	const SessionLog &log;
	Relay relay_;
	CommandIntercept intercept;
	KillIntercept kill_;
	/* The worker's poller (watch(); it counts this session), and whether it refused our sockets
	 * once (then they stay in their own sources). */
	RelayPoller *home = nullptr;
	bool home_refused = false;
	RelayWatch::Handler client_handler = nullptr, backend_handler = nullptr;
	void *handler_data = nullptr;
	/* The sockets' places in the poller, only while they are in it: most sessions never move in
	 * (RelayPoller::join_after_commands), so an idle one does not carry them. */
	struct PollerSeat {
		RelayWatch client_watch, backend_watch;
	};
	std::unique_ptr<PollerSeat> seat;
	bool move_to_poller(std::uint32_t client_events, std::uint32_t backend_events) noexcept;
};

} // namespace myproxy
