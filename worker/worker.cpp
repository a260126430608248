// The worker process: its sd-event loop, the channel to the master, and the set of client
// connections; see worker.hpp and worker_loop.hpp.  Messages from the master are decoded and
// validated by the channel codec, then dispatched by type; a received client socket is checked
// against the inode the master saw before a byte of it is read.
#include "worker/worker.hpp"
#include "worker/worker_loop.hpp"

#include "worker/client_connection.hpp"
#include "common/connect_socket.hpp"
#include "worker/lua_pg_host.hpp"
#include "worker/session_metrics.hpp"
#include "worker/lua_timer_host.hpp"
#include "worker/lua_resolve_host.hpp"
#include "worker/reload_run.hpp"
#include "worker/kill_board.hpp"
#include "worker/kill_intercept.hpp"

#include "common/channel_socket.hpp"
#include "common/exit_status.hpp"
#include "common/fd_limit.hpp"
#include "common/refusal.hpp"
#include "common/log.hpp"
#include "common/worker_activity.hpp"
#include "lua/config_loader.hpp"
#include "lua/lua_client.hpp"

#include <lua.hpp>
#include <systemd/sd-event.h>

#include <sys/epoll.h>
#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <exception>
#include <iterator>
#include <span>

namespace myproxy {

/* What the KILL board asks of the worker: its sessions by connection id (a scan: KILL is rare),
 * and the channel. */
struct Worker::KillSessions final : KillBoard::Host {
	explicit KillSessions(Worker &owner) noexcept : worker(owner) {}
	KillIntercept *kill_session(std::uint32_t id) noexcept override
	{
		for (const auto &[pointer, connection] : worker.connections)
			if (connection->client_id() == id)
				return connection->kill_target();
		return nullptr;
	}
	void send_kill(const ChannelMessage &message) noexcept override { worker.send_message(message); }
	Worker &worker;
};

Worker::Worker(LoadedConfig &configuration, UniqueFd channel_fd, unsigned index)
	: config(configuration), link(std::move(channel_fd), *this), worker_index(index), cluster_state(configuration.clusters),
	  kill_sessions(std::make_unique<KillSessions>(*this)), kills(std::make_unique<KillBoard>(*kill_sessions)),
	  login_deadlines(configuration.connect_timeout_usec)
{
}

Worker::~Worker()
{
	/* Connections release their sources while the loop still exists. */
	connections.clear();
	closed.clear();
	idle_backends.reset();
	/* Before pg and timers: a reload() that still waits abandons its operation there. */
	reload_run.reset();
	pg.reset();
	/* After pg: its db:listen() handlers may sleep too. */
	timers.reset();
	resolver.reset();
	sd_event_unref(event);
}

lua_State *Worker::lua() const noexcept
{
	return config.state.get();
}

const ListenerConfig *Worker::listener(std::uint32_t listener_index) const noexcept
{
	return listener_index < config.listeners.size() ? &config.listeners[listener_index] : nullptr;
}

int Worker::handler_ref(std::uint32_t listener_index) const noexcept
{
	if (listener_index >= config.listeners.size())
		return -1;
	return config.listeners[listener_index].handler_ref;
}

const ListenerAuth *Worker::listener_auth(std::uint32_t listener_index) const noexcept
{
	if (listener_index >= config.listeners.size())
		return nullptr;
	return &config.listeners[listener_index].auth;
}

bool Worker::reserve_pending_login(std::uint32_t uid)
{
	unsigned &count = pending_logins[uid];
	if (count >= static_cast<unsigned>(config.max_pending_logins_per_uid))
		return false;
	++count;
	metrics_login_pending(1);
	return true;
}

void Worker::release_pending_login(std::uint32_t uid) noexcept
{
	const auto i = pending_logins.find(uid);
	if (i == pending_logins.end())
		return;
	metrics_login_pending(-1);
	if (--i->second == 0)
		pending_logins.erase(i);
}

void Worker::connection_closed(ClientConnection &connection) noexcept
{
	ConnectionClosedMessage message;
	message.client_id = connection.client_id();
	send_message(message);
	const auto i = connections.find(&connection);
	if (i != connections.end()) {
		try {
			closed.push_back(std::move(i->second));
		} catch (const std::bad_alloc &) {
			/* Destroying it now would pull the object from under its own call stack; leak it
			 * instead (only when the heap is exhausted). */
			(void)i->second.release();
		}
		connections.erase(i);
		sd_event_source_set_enabled(reaper_source.get(), SD_EVENT_ONESHOT);
	}
	maybe_finish_drain();
}

void Worker::reap_closed() noexcept
{
	closed.clear();
	sd_event_source_set_enabled(reaper_source.get(), SD_EVENT_OFF);
}

int Worker::on_reaper(sd_event_source *, void *userdata)
{
	static_cast<Worker *>(userdata)->reap_closed();
	return 0;
}

/* --- the channel ------------------------------------------------------------------------------ */

void Worker::send_message(const ChannelMessage &message) noexcept
{
	link.send(message);
}

void Worker::master_gone(int status, bool close_sessions) noexcept
{
	if (close_sessions)
		close_all_connections();
	exit_loop(status);
}

/* What the master may send, and when: serving from the start until DRAIN, draining after it.  Any
 * other type, or a type in the wrong state, is a protocol violation: the worker closes its clients
 * and exits with exit_channel_protocol, which the master logs by name. */
void Worker::master_message(const ChannelMessage &message, ReceivedFds &fds)
{
	struct Row {
		ChannelMessageType type;
		bool while_serving;
		bool while_draining;
		void (Worker::*handle)(const ChannelMessage &, ReceivedFds &);
	};
	/* STATS_REQUEST and STATS_REPLY are gone from the protocol: counters come from a shared page
	 * per worker that the master reads, so the master never has to ask. */
	static constexpr Row allowed[] = {
		/* While draining too: clients the master passed before its DRAIN arrived (refused). */
		{ChannelMessageType::new_client, true, true, &Worker::handle_new_client},
		/* RELOAD is not here: a reload is a new generation of workers, which run reload() as
		 * they start (worker/reload_run); the master sends it no more. */
		/* Once: the master drains once; a second SIGTERM kills instead. */
		{ChannelMessageType::drain, true, false, &Worker::handle_drain},
		/* The monitor goes on while connections drain. */
		{ChannelMessageType::node_state, true, true, &Worker::handle_node_state},
		{ChannelMessageType::disconnect_account, true, true, &Worker::handle_disconnect_account},
		/* The master's liveness check: answered from the loop, so a stuck loop stays silent. */
		{ChannelMessageType::heartbeat, true, true, &Worker::handle_heartbeat},
		/* Draining sessions may still wait for a lookup. */
		{ChannelMessageType::resolve_reply, true, true, &Worker::handle_resolve_reply},
		/* Logins go on while draining. */
		{ChannelMessageType::backend_offer, true, true, &Worker::handle_backend_offer},
		/* KILL between workers (worker/kill_board); draining sessions may still kill or be killed. */
		{ChannelMessageType::kill_order, true, true, &Worker::handle_kill_order},
		/* A reload replaced this generation: its idle backend connections go (a draining worker
		 * closed them already). */
		{ChannelMessageType::retire, true, true, &Worker::handle_retire},
	};

	const ChannelMessageType type = channel_message_type(message);
	for (const Row &row : allowed) {
		if (row.type != type)
			continue;
		if (draining ? row.while_draining : row.while_serving) {
			(this->*row.handle)(message, fds);
			return;
		}
		break;
	}
	log_error("the master sent %s, which a %s worker does not accept", channel_message_name(type),
		  draining ? "draining" : "serving");
	close_all_connections();
	exit_loop(exit_channel_protocol);
}

void Worker::handle_new_client(const ChannelMessage &message, ReceivedFds &fds)
{
	const auto &new_client = std::get<NewClientMessage>(message);
	accept_client(new_client, std::move(fds[0]));
}

void Worker::handle_drain(const ChannelMessage &message, ReceivedFds &)
{
	start_drain(std::get<DrainMessage>(message).timeout_ms);
}

void Worker::handle_node_state(const ChannelMessage &message, ReceivedFds &)
{
	node_state_changed(std::get<NodeStateMessage>(message));
}

void Worker::handle_heartbeat(const ChannelMessage &message, ReceivedFds &)
{
	send_message(HeartbeatReplyMessage{std::get<HeartbeatMessage>(message).sequence});
}

void Worker::handle_resolve_reply(const ChannelMessage &message, ReceivedFds &)
{
	resolver->reply(std::get<ResolveReplyMessage>(message));
}

void Worker::handle_backend_offer(const ChannelMessage &message, ReceivedFds &)
{
	const auto &offer = std::get<BackendOfferMessage>(message);
	try {
		backend_announcement.server_version = offer.server_version;
	} catch (const std::bad_alloc &) {
		log_error("BACKEND_OFFER: out of memory; greetings keep announcing %s",
			  backend_announcement.server_version.c_str());
		return;
	}
	/* The master announces only what myproxy relays; a worker holds to that itself, too. */
	backend_announcement.capabilities =
		offer.capabilities & (relayed_capabilities | terminated_capabilities | CLIENT_LONG_PASSWORD);
	backend_announcement.collation = offer.collation;
}

void Worker::handle_kill_order(const ChannelMessage &message, ReceivedFds &)
{
	kills->order(std::get<KillOrderMessage>(message));
	/* A session the order or the answer closed. */
	reap_closed();
}

void Worker::handle_retire(const ChannelMessage &, ReceivedFds &)
{
	const std::size_t idle = idle_backends->size();
	/* The same closing as a drain's, but the sessions run on: their backend connections are
	 * closed when they end, since the pool now parks nothing. */
	idle_backends->close();
	log_info("retired: %zu idle backend connections closed; %zu sessions finish", idle, connections.size());
}

void Worker::handle_disconnect_account(const ChannelMessage &message, ReceivedFds &)
{
	const auto &disconnect = std::get<DisconnectAccountMessage>(message);
	std::vector<ClientConnection *> victims;
	for (const auto &[pointer, connection] : connections)
		if (connection->account() == disconnect.account)
			victims.push_back(pointer);
	log_info("DISCONNECT_ACCOUNT '%.*s': closing %zu sessions", int(disconnect.account.size()),
		 disconnect.account.data(), victims.size());
	idle_backends->drop_account(disconnect.account);
	metrics_sessions_disconnected(victims.size());
	for (ClientConnection *victim : victims)
		victim->account_disconnected();
}

void Worker::accept_client(const NewClientMessage &message, UniqueFd client)
{
	const ClientInfo &info = message.info;

	struct stat st;
	if (fstat(client.get(), &st) < 0 || !S_ISSOCK(st.st_mode) || std::uint64_t(st.st_dev) != info.socket_device ||
	    std::uint64_t(st.st_ino) != info.socket_inode) {
		log_error("client %llu: the received fd is not the socket the master accepted",
			  (unsigned long long)info.client_id);
		ConnectionClosedMessage closed_message;
		closed_message.client_id = info.client_id;
		send_message(closed_message);
		return;
	}
	if (draining) {
		metrics_connection_rejected();
		ConnectionClosedMessage closed_message;
		closed_message.client_id = info.client_id;
		send_message(closed_message);
		return;
	}
	if (fd_near_limit(client.get(), fd_limit)) {
		/* Refused before it costs a backend fd: the sessions already here keep their reserve. */
		log_warning("client %llu (uid=%u) refused: fd %d is within the reserve of the limit %llu",
			    (unsigned long long)info.client_id, unsigned(info.uid), client.get(),
			    (unsigned long long)fd_limit);
		send_pre_greeting_err(client.get(), ER_CON_COUNT_ERROR, "Too many connections: worker at its fd limit");
		ConnectionClosedMessage closed_message;
		closed_message.client_id = info.client_id;
		send_message(closed_message);
		return;
	}

	auto connection = std::make_unique<ClientConnection>(*this, std::move(client), info);
	ClientConnection *pointer = connection.get();
	connections.emplace(pointer, std::move(connection));
	const ServingClientScope serving(info.client_id);
	pointer->start();
}

/* MSG_CTRUNC: a message arrived without its fds (this worker has none left).  If it was a
 * NEW_CLIENT, that client is lost (the kernel closed it) and the master must stop counting it;
 * the channel itself is fine and every other session goes on. */
void Worker::master_lost_fds(ByteSpan record) noexcept
{
	auto message = decode_channel_message(record, 1, ChannelDirection::master_to_worker);
	if (message) {
		if (const auto *new_client = std::get_if<NewClientMessage>(&*message)) {
			log_warning("client %llu (uid=%u) lost: its socket did not fit (MSG_CTRUNC, fd limit %llu)",
				    (unsigned long long)new_client->info.client_id, unsigned(new_client->info.uid),
				    (unsigned long long)fd_limit);
			ConnectionClosedMessage closed_message;
			closed_message.client_id = new_client->info.client_id;
			send_message(closed_message);
			return;
		}
	}
	log_warning("a message from the master lost its fds (MSG_CTRUNC); ignored");
}

/* --- read_timeout ------------------------------------------------------------------------------ */

int Worker::on_backend_watch(sd_event_source *source, std::uint64_t usec, void *userdata)
{
	auto &worker = *static_cast<Worker *>(userdata);
	worker.sweep_backend_timeouts(usec);
	sd_event_source_set_time(source, usec + backend_watch_interval_usec);
	return 0;
}

void Worker::sweep_backend_timeouts(std::uint64_t now_usec) noexcept
{
	std::vector<ClientConnection *> expired;
	try {
		std::vector<BackendWatch::Sample> samples;
		for (const auto &[pointer, connection] : connections) {
			const RelayCounters *counters = connection->relay_counters();
			if (counters == nullptr || connection->backend_read_timeout_usec() == 0)
				continue;
			samples.push_back({pointer, connection->backend_read_timeout_usec(), counters->client_spoke_last,
					   counters->bytes_from_client, counters->bytes_from_backend});
		}
		expired = backend_watch.sweep(samples, now_usec);
	} catch (const std::bad_alloc &) {
		return; /* the next sweep tries again */
	}
	for (ClientConnection *connection : expired) {
		const ServingClientScope serving(connection->client_id());
		connection->backend_timed_out();
	}
}

void Worker::report_node_suspect(std::uint32_t cluster, std::uint32_t node) noexcept
{
	NodeSuspectMessage message;
	message.cluster_index = cluster;
	message.node_index = node;
	send_message(message);
}

/* --- clusters -------------------------------------------------------------------------------- */

void Worker::node_state_changed(const NodeStateMessage &message) noexcept
{
	if (!cluster_state.set(message.cluster_index, message.node_index, message.state)) {
		log_error("NODE_STATE for cluster %u node %u, which the configuration does not have",
			  message.cluster_index, message.node_index);
		return;
	}
	/* Idle connections are never handed to a node the monitor gave up, nor a read_only one in a
	 * cluster that wants writers. */
	if (!node_state_available(message.state) ||
	    (message.state == NodeState::read_only && cluster_state.config(message.cluster_index)->no_read_only))
		idle_backends->drop_node(message.cluster_index, message.node_index);
	std::vector<std::uint32_t> nodes;
	try {
		cluster_state.writer_disconnects(message.cluster_index, message.node_index, nodes);
	} catch (const std::bad_alloc &) {
		log_error("out of memory deciding which connections of cluster %u to close", message.cluster_index);
	}
	for (const std::uint32_t node : nodes)
		close_writers_to(message.cluster_index, node);
}

void Worker::close_writers_to(std::uint32_t cluster_index, std::uint32_t node_index) noexcept
{
	const ClusterConfig &cluster = *cluster_state.config(cluster_index);
	const std::string &node = cluster.nodes[node_index].name;
	const NodeState state = cluster_state.state(cluster_index, node_index);
	std::vector<ClientConnection *> victims;
	try {
		for (const auto &[pointer, connection] : connections)
			if (connection->relays_writer_to(cluster_index, node_index))
				victims.push_back(pointer);
	} catch (const std::bad_alloc &) {
		log_error("out of memory collecting the connections to node %s", node.c_str());
	}
	if (!victims.empty())
		log_info("node %s of cluster %u is %s: closing %zu connections to it", node.c_str(), cluster_index,
			 node_state_name(state), victims.size());
	for (ClientConnection *victim : victims)
		victim->node_unavailable(node.c_str(), state);
}

/* --- drain, exit ---------------------------------------------------------------------- */

void Worker::start_drain(std::uint32_t timeout_ms)
{
	if (draining)
		return;
	draining = true;
	log_info("draining: %zu connections, at most %u ms", connections.size(), timeout_ms);
	/* Nothing will take them: a drained worker holds no backend connection but its sessions'. */
	idle_backends->close();
	/* Idle sessions go at once; running ones finish their command, then go at the next sweep. */
	close_idle_connections();
	if (connections.empty()) {
		exit_loop(exit_ok);
		return;
	}
	if (sd_event_add_time_relative(event, drain_timer.out(), CLOCK_MONOTONIC, std::uint64_t(timeout_ms) * 1000, 10'000,
				       on_drain_timeout, this) < 0 ||
	    sd_event_add_time_relative(event, drain_sweep_timer.out(), CLOCK_MONOTONIC, drain_sweep_usec, 10'000,
				       on_drain_sweep, this) < 0) {
		close_all_connections();
		exit_loop(exit_ok);
	}
}

void Worker::close_idle_connections() noexcept
{
	std::vector<ClientConnection *> idle;
	try {
		for (const auto &[pointer, connection] : connections)
			if (connection->idle_for_drain())
				idle.push_back(pointer);
	} catch (const std::bad_alloc &) {
		/* The timeout closes them instead. */
	}
	for (ClientConnection *connection : idle)
		connection->shut_down("idle at shutdown");
}

int Worker::on_drain_sweep(sd_event_source *source, std::uint64_t usec, void *userdata)
{
	auto &worker = *static_cast<Worker *>(userdata);
	worker.close_idle_connections();
	sd_event_source_set_time(source, usec + drain_sweep_usec);
	sd_event_source_set_enabled(source, SD_EVENT_ON);
	return 0;
}

int Worker::on_drain_timeout(sd_event_source *, std::uint64_t, void *userdata)
{
	auto &worker = *static_cast<Worker *>(userdata);
	log_info("drain timeout: closing %zu connections", worker.connections.size());
	worker.close_all_connections();
	worker.exit_loop(exit_ok);
	return 0;
}

void Worker::close_all_connections() noexcept
{
	std::vector<ClientConnection *> all;
	try {
		all.reserve(connections.size());
		for (const auto &entry : connections)
			all.push_back(entry.first);
	} catch (const std::bad_alloc &) {
		connections.clear();
		return;
	}
	for (ClientConnection *connection : all)
		connection->shut_down("worker shutting down");
}

void Worker::maybe_finish_drain() noexcept
{
	if (draining && connections.empty())
		exit_loop(exit_ok);
}

void Worker::exit_loop(int status) noexcept
{
	if (status != exit_ok && exit_status == exit_ok)
		exit_status = status;
	if (event != nullptr)
		sd_event_exit(event, exit_status);
}

int Worker::run()
{
	int r = sd_event_new(&event);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "sd_event_new()");
		return exit_worker_loop;
	}
	login_deadlines.attach(event);
	r = link.watch(event);
	if (r >= 0)
		r = poller.open(event) ? 0 : -errno;
	if (r >= 0)
		r = sd_event_add_defer(event, reaper_source.out(), on_reaper, this);
	if (r >= 0)
		r = sd_event_source_set_enabled(reaper_source.get(), SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_time_relative(event, backend_watch_timer.out(), CLOCK_MONOTONIC, backend_watch_interval_usec,
					       backend_watch_interval_usec / 10, on_backend_watch, this);
	if (r >= 0)
		r = sd_event_source_set_enabled(backend_watch_timer.get(), SD_EVENT_ON);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "sd-event setup");
		return exit_worker_loop;
	}
	if (!register_worker_lua_api(lua())) {
		log_error("cannot install the Lua client API (Lua heap full)");
		return exit_worker_loop;
	}
	set_backend_keepalive(static_cast<unsigned>(config.backend_keepalive));
	idle_backends = std::make_unique<BackendPool>(event, static_cast<std::size_t>(config.backend_idle_max),
						      config.backend_idle_timeout_usec);
	/* After the fork: each worker has connections of its own. */
	pg = std::make_unique<LuaPgHost>(event, lua());
	timers = std::make_unique<LuaTimerHost>(event, lua());
	resolver = std::make_unique<LuaResolveHost>(lua(), [this](const ChannelMessage &m) { send_message(m); });

	if (run_reload) {
		/* Clients come only after WORKER_READY, so none meets a half-reloaded state. */
		reload_run = std::make_unique<ReloadRun>(lua(), [this] { send_message(WorkerReadyMessage{}); });
		reload_run->start();
	} else {
		send_message(WorkerReadyMessage{});
	}
	r = sd_event_loop(event);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "sd_event_loop()");
		return exit_worker_loop;
	}
	return exit_status;
}

int run_worker(LoadedConfig &config, UniqueFd channel, unsigned worker_index, const SandboxOptions &sandbox,
	       bool run_reload)
{
	log_set_role("worker[%u]", worker_index);
	/* Every send uses MSG_NOSIGNAL; this covers libraries that do not. */
	std::signal(SIGPIPE, SIG_IGN);
	/* Inherited from the master already; raised again in case it was started otherwise. */
	const std::uint64_t fd_limit = raise_fd_limit();
	/* Before anything that reads from the channel, let alone a client: fail closed. */
	if (const int status = enter_sandbox(sandbox, config.relay_io))
		return status;
	try {
		Worker worker(config, std::move(channel), worker_index);
		worker.set_fd_limit(fd_limit);
		worker.set_run_reload(run_reload);
		return worker.run();
	} catch (const std::exception &e) {
		log_error("worker: %s", e.what());
		return exit_worker_loop;
	}
}

} // namespace myproxy
