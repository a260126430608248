// The worker process's state (worker side): its own sd-event loop, the channel to the master, the
// client connections it serves, and what they share (Lua state, relay buffers, per-uid login
// counts).  Connections reach the worker only through this interface.  Never touches the master's
// loop or sources (they are unusable after fork anyway) and never accepts clients itself.
#pragma once

#include "common/backend_offer.hpp"
#include "common/channel_protocol.hpp"
#include "common/event_source.hpp"
#include "common/exit_status.hpp"
#include "common/unique_fd.hpp"
#include "worker/backend_pool.hpp"
#include "worker/backend_watch.hpp"
#include "worker/cluster_state.hpp"
#include "worker/login_deadlines.hpp"
#include "worker/master_link.hpp"
#include "worker/relay_buffer_pool.hpp"
#include "worker/relay_poller.hpp"
#include "lua/listener_auth.hpp"

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;
struct lua_State;

namespace myproxy {

struct LoadedConfig;
struct ListenerConfig;
class ClientConnection;
class LuaPgHost;
class LuaResolveHost;
class LuaTimerHost;
class ReloadRun;
class KillBoard;


class Worker final : private MasterLink::Host {
public:
	Worker(LoadedConfig &config, UniqueFd channel, unsigned index);
	~Worker();

	Worker(const Worker &) = delete;
	Worker &operator=(const Worker &) = delete;

	/* Sets up the loop and the channel, says WORKER_READY, runs until done; the exit status. */
	int run();

	sd_event *event_loop() const noexcept { return event; }
	lua_State *lua() const noexcept;
	RelayBufferPool &relay_buffers() noexcept { return buffers; }
	/* The epoll set of the sockets in the relay (worker/relay_poller). */
	RelayPoller &relay_poller() noexcept { return poller; }
	/* The node states the master reported, and the node choice over them. */
	const ClusterState &clusters() const noexcept { return cluster_state; }
	unsigned index() const noexcept { return worker_index; }
	/* What the listeners' greetings announce (BACKEND_OFFER; the default until the master knows). */
	const BackendOffer &announcement() const noexcept { return backend_announcement; }

	/* The handler table (registry reference) of listener @listener_index, or -1 when the index
	 * names no listener. */
	int handler_ref(std::uint32_t listener_index) const noexcept;
	/* The listener's configuration (TLS context, require_ssl), or nullptr for a bad index. */
	const ListenerConfig *listener(std::uint32_t listener_index) const noexcept;
	/* How listener @listener_index authenticates clients, or nullptr when the index names none. */
	const ListenerAuth *listener_auth(std::uint32_t listener_index) const noexcept;

	/* The idle backend connections of client:connect()'s reuse (worker/backend_pool). */
	BackendPool &backend_pool() noexcept { return *idle_backends; }

	/* KILL between sessions (worker/kill_board). */
	KillBoard &kill_board() noexcept { return *kills; }

	/* Counts a login in progress for @uid; false when the uid is at its cap. */
	bool reserve_pending_login(std::uint32_t uid);
	void release_pending_login(std::uint32_t uid) noexcept;

	/* Watches a login's deadline (config.lua's connect_timeout from now).  All logins get the
	 * same time, so the list stays in deadline order and one timer serves it: no timer per
	 * connection. */
	std::list<LoginWatch>::iterator watch_login(ClientConnection &connection) { return login_deadlines.watch(connection); }
	/* The login ended (either way).  When the deadline passes, the worker erases the entry
	 * itself before it calls ClientConnection::login_deadline_expired(). */
	void unwatch_login(std::list<LoginWatch>::iterator watch) noexcept { login_deadlines.unwatch(watch); }

	/* The connection has released its sockets: tell the master, destroy it once the current
	 * event has been handled (by reap_closed() or, failing that, a deferred event). */
	void connection_closed(ClientConnection &connection) noexcept;
	/* Destroys the closed connections.  Only from the outermost frame of an event handler: no
	 * method of a closed connection may be running. */
	void reap_closed() noexcept;

	/* A session's backend node let a command wait past read_timeout: NODE_SUSPECT to the master. */
	void report_node_suspect(std::uint32_t cluster, std::uint32_t node) noexcept;

	/* RLIMIT_NOFILE as raised at startup: a client received within the reserve is refused. */
	void set_fd_limit(std::uint64_t limit) noexcept { fd_limit = limit; }
	/* A reload started this worker's generation: reload() runs before WORKER_READY. */
	void set_run_reload(bool run) noexcept { run_reload = run; }


private:
	LoadedConfig &config;
	MasterLink link;
	unsigned worker_index;
	sd_event *event = nullptr;
	EventSource reaper_source;
	EventSource drain_timer;
	/* read_timeout: sweeps the sessions every backend_watch_interval_usec. */
	EventSource backend_watch_timer;
	BackendWatch backend_watch;
	/* While draining: closes the sessions whose command has finished. */
	EventSource drain_sweep_timer;
	static constexpr std::uint64_t drain_sweep_usec = 100'000;
	RelayBufferPool buffers;
	/* Before the connections: they leave it when they go. */
	RelayPoller poller;
	ClusterState cluster_state;
	BackendOffer backend_announcement = default_announcement();
	/* The Lua pg library's connections; destroyed after the client connections. */
	std::unique_ptr<LuaPgHost> pg;
	/* sleep() in callbacks; like pg, destroyed after the connections. */
	std::unique_ptr<LuaTimerHost> timers;
	/* config.lua's reload() while it runs (worker/reload_run); WORKER_READY follows it. */
	std::unique_ptr<ReloadRun> reload_run;
	bool run_reload = false;
	/* mysql_resolve() of host names through the master; like pg, destroyed after the connections. */
	std::unique_ptr<LuaResolveHost> resolver;
	/* KILL by connection id, here or through the master; see worker/kill_board. */
	struct KillSessions;
	std::unique_ptr<KillSessions> kill_sessions;
	std::unique_ptr<KillBoard> kills;
	/* Created with the loop; destroyed after the connections, before the loop. */
	std::unique_ptr<BackendPool> idle_backends;

	std::unordered_map<ClientConnection *, std::unique_ptr<ClientConnection>> connections;
	/* Closed connections, destroyed by the reaper after the event that closed them. */
	std::vector<std::unique_ptr<ClientConnection>> closed;
	std::unordered_map<std::uint32_t, unsigned> pending_logins;
	LoginDeadlines login_deadlines;
	bool draining = false;
	int exit_status = exit_ok;
	std::uint64_t fd_limit = 1024;

	using ReceivedFds = MasterLink::ReceivedFds;
	/* MasterLink::Host: the dispatch table, a client whose fds did not fit, the end. */
	void master_message(const ChannelMessage &message, ReceivedFds &fds) override;
	void master_lost_fds(ByteSpan record) noexcept override;
	void master_gone(int status, bool close_sessions) noexcept override;
	void handle_new_client(const ChannelMessage &message, ReceivedFds &fds);
	void handle_drain(const ChannelMessage &message, ReceivedFds &fds);
	void handle_node_state(const ChannelMessage &message, ReceivedFds &fds);
	void handle_disconnect_account(const ChannelMessage &message, ReceivedFds &fds);
	void handle_heartbeat(const ChannelMessage &message, ReceivedFds &fds);
	void handle_resolve_reply(const ChannelMessage &message, ReceivedFds &fds);
	void handle_backend_offer(const ChannelMessage &message, ReceivedFds &fds);
	void handle_kill_order(const ChannelMessage &message, ReceivedFds &fds);
	void handle_retire(const ChannelMessage &message, ReceivedFds &fds);
	void accept_client(const NewClientMessage &message, UniqueFd client);
	void node_state_changed(const NodeStateMessage &message) noexcept;
	/* disconnect_unavailable: closes the relayed writer connections to one node. */
	void close_writers_to(std::uint32_t cluster_index, std::uint32_t node_index) noexcept;
	void start_drain(std::uint32_t timeout_ms);
	void send_message(const ChannelMessage &message) noexcept;
	void close_all_connections() noexcept;
	void exit_loop(int status) noexcept;
	void maybe_finish_drain() noexcept;

	static int on_reaper(sd_event_source *source, void *userdata);
	static int on_drain_timeout(sd_event_source *source, std::uint64_t usec, void *userdata);
	static int on_drain_sweep(sd_event_source *source, std::uint64_t usec, void *userdata);
	void close_idle_connections() noexcept;
	static int on_backend_watch(sd_event_source *source, std::uint64_t usec, void *userdata);
	void sweep_backend_timeouts(std::uint64_t now_usec) noexcept;
};

} // namespace myproxy
