// The worker process: its sd-event loop, the channel to the master, and the set of client
// connections; see worker.hpp and worker_loop.hpp.  Messages from the master are decoded and
// validated by the channel codec, then dispatched by type; a received client socket is checked
// against the inode the master saw before a byte of it is read.
#include "worker/worker.hpp"
#include "worker/worker_loop.hpp"

#include "worker/client_connection.hpp"
#include "worker/lua_pg_host.hpp"

#include "common/channel_socket.hpp"
#include "common/exit_status.hpp"
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

Worker::Worker(LoadedConfig &configuration, UniqueFd channel_fd, unsigned index)
	: config(configuration), channel(std::move(channel_fd)), worker_index(index), cluster_state(configuration.clusters)
{
}

Worker::~Worker()
{
	/* Connections release their sources while the loop still exists. */
	connections.clear();
	closed.clear();
	pg.reset();
	sd_event_source_disable_unref(channel_source);
	sd_event_source_disable_unref(reaper_source);
	sd_event_source_disable_unref(drain_timer);
	sd_event_source_disable_unref(login_timer);
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

std::uint32_t Worker::next_connection_id() noexcept
{
	if (++connection_id_counter == 0)
		++connection_id_counter;
	return connection_id_counter;
}

bool Worker::reserve_pending_login(std::uint32_t uid)
{
	unsigned &count = pending_logins[uid];
	if (count >= static_cast<unsigned>(config.max_pending_logins_per_uid))
		return false;
	++count;
	return true;
}

void Worker::release_pending_login(std::uint32_t uid) noexcept
{
	const auto i = pending_logins.find(uid);
	if (i == pending_logins.end())
		return;
	if (--i->second == 0)
		pending_logins.erase(i);
}

std::list<LoginWatch>::iterator Worker::watch_login(ClientConnection &connection)
{
	std::uint64_t now = 0;
	sd_event_now(event, CLOCK_MONOTONIC, &now);
	login_watches.push_back({&connection, now + config.connect_timeout_usec});
	if (login_watches.size() == 1)
		arm_login_timer();
	return std::prev(login_watches.end());
}

void Worker::unwatch_login(std::list<LoginWatch>::iterator watch) noexcept
{
	/* The timer is left as it is: it finds nothing due and re-arms for the new front. */
	login_watches.erase(watch);
}

void Worker::arm_login_timer() noexcept
{
	if (login_watches.empty())
		return;
	const std::uint64_t when = login_watches.front().deadline_usec;
	/* Coalescing wake-ups by up to 250 ms is fine for 10 s, not for a connect_timeout of 0.5 s.
	 * (0 would mean sd-event's default, 250 ms.) */
	const std::uint64_t accuracy = std::clamp<std::uint64_t>(config.connect_timeout_usec / 10, 1, 250'000);
	int r;
	if (login_timer == nullptr)
		r = sd_event_add_time(event, &login_timer, CLOCK_MONOTONIC, when, accuracy, on_login_timer, this);
	else if ((r = sd_event_source_set_time(login_timer, when)) >= 0)
		r = sd_event_source_set_enabled(login_timer, SD_EVENT_ONESHOT);
	if (r < 0)
		log_errno(LogLevel::error, -r, nullptr, "cannot arm the login deadline timer");
}

int Worker::on_login_timer(sd_event_source *, std::uint64_t now, void *userdata)
{
	auto &worker = *static_cast<Worker *>(userdata);
	while (!worker.login_watches.empty() && worker.login_watches.front().deadline_usec <= now) {
		ClientConnection *connection = worker.login_watches.front().connection;
		worker.login_watches.pop_front();
		/* It forgets its (erased) entry and fails the login. */
		const ServingClientScope serving(connection->client_id());
		connection->login_deadline_expired();
	}
	worker.arm_login_timer();
	return 0;
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
		sd_event_source_set_enabled(reaper_source, SD_EVENT_ONESHOT);
	}
	maybe_finish_drain();
}

void Worker::reap_closed() noexcept
{
	closed.clear();
	sd_event_source_set_enabled(reaper_source, SD_EVENT_OFF);
}

int Worker::on_reaper(sd_event_source *, void *userdata)
{
	static_cast<Worker *>(userdata)->reap_closed();
	return 0;
}

/* --- the channel ------------------------------------------------------------------------------ */

void Worker::send_message(const ChannelMessage &message) noexcept
{
	try {
		std::vector<std::uint8_t> bytes;
		auto encoded = encode_channel_message(bytes, message);
		if (!encoded) {
			log_error("cannot encode %s: %s", channel_message_name(channel_message_type(message)),
				  encoded.error().what);
			return;
		}
		outgoing.push_back(std::move(bytes));
	} catch (const std::bad_alloc &) {
		log_error("out of memory queueing a message for the master");
		return;
	}
	flush_outgoing();
}

void Worker::flush_outgoing() noexcept
{
	while (!outgoing.empty() && channel) {
		const ChannelSendResult result = send_channel_message(channel.get(), outgoing.front(), {});
		if (result.status == ChannelIoStatus::would_block)
			break;
		if (result.status != ChannelIoStatus::ok) {
			if (result.status == ChannelIoStatus::error)
				log_errno(LogLevel::error, result.error_number, nullptr, "send to the master");
			outgoing.clear();
			exit_loop(exit_ok);
			return;
		}
		outgoing.pop_front();
	}
	update_channel_events();
}

void Worker::update_channel_events() noexcept
{
	if (channel_source != nullptr)
		sd_event_source_set_io_events(channel_source, EPOLLIN | (outgoing.empty() ? 0u : std::uint32_t(EPOLLOUT)));
}

int Worker::on_channel(sd_event_source *, int, std::uint32_t revents, void *userdata)
{
	auto &worker = *static_cast<Worker *>(userdata);
	if (revents & EPOLLOUT)
		worker.flush_outgoing();
	if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
		worker.receive_message();
	return 0;
}

void Worker::receive_message()
{
	/* One message per wake-up: SEQPACKET gives no hint whether another is queued, and a read
	 * that fails with EAGAIN costs as much as the wake-up that brings the next one. */
	if (!channel)
		return;
	ReceivedChannelMessage received = receive_channel_message(channel.get(), receive_buffer);
	switch (received.status) {
	case ChannelIoStatus::would_block:
		return;
	case ChannelIoStatus::peer_closed:
		log_info("the master closed the channel; exiting");
		close_all_connections();
		exit_loop(exit_ok);
		return;
	case ChannelIoStatus::error:
		log_errno(LogLevel::error, received.error_number, nullptr, "receive from the master: %s",
			  received.what != nullptr ? received.what : "failed");
		close_all_connections();
		exit_loop(exit_channel_protocol);
		return;
	case ChannelIoStatus::ok:
		break;
	}
	auto message = decode_channel_message(ByteSpan(receive_buffer.data(), received.size), received.fd_count,
					       ChannelDirection::master_to_worker);
	if (!message) {
		log_error("bad message from the master: %s", message.error().what);
		close_all_connections();
		exit_loop(exit_channel_protocol);
		return;
	}
	try {
		handle_message(*message, received.fds);
	} catch (const std::exception &e) {
		log_error("%s: %s", channel_message_name(channel_message_type(*message)), e.what());
	}
}

void Worker::handle_message(const ChannelMessage &message, std::array<UniqueFd, channel_max_fds> &fds)
{
	if (const auto *new_client = std::get_if<NewClientMessage>(&message)) {
		accept_client(*new_client, std::move(fds[0]), new_client->has_pidfd ? std::move(fds[1]) : UniqueFd());
	} else if (std::holds_alternative<ReloadMessage>(message)) {
		reload();
	} else if (const auto *drain = std::get_if<DrainMessage>(&message)) {
		start_drain(drain->timeout_ms);
	} else if (const auto *stats = std::get_if<StatsRequestMessage>(&message)) {
		StatsReplyMessage reply;
		reply.request_id = stats->request_id;
		reply.active_connections = active_connections();
		reply.total_connections = total_connections();
		send_message(reply);
	} else if (const auto *disconnect = std::get_if<DisconnectAccountMessage>(&message)) {
		std::vector<ClientConnection *> victims;
		for (const auto &[pointer, connection] : connections)
			if (connection->account() == disconnect->account)
				victims.push_back(pointer);
		for (ClientConnection *victim : victims)
			victim->shut_down("account disconnected");
	} else if (const auto *node_state = std::get_if<NodeStateMessage>(&message)) {
		node_state_changed(*node_state);
	}
}

void Worker::accept_client(const NewClientMessage &message, UniqueFd client, UniqueFd pidfd)
{
	++connections_received;
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
		ConnectionClosedMessage closed_message;
		closed_message.client_id = info.client_id;
		send_message(closed_message);
		return;
	}

	auto connection = std::make_unique<ClientConnection>(*this, std::move(client), info);
	ClientConnection *pointer = connection.get();
	pointer->keep_pidfd(std::move(pidfd));
	connections.emplace(pointer, std::move(connection));
	const ServingClientScope serving(info.client_id);
	pointer->start();
}

/* --- clusters -------------------------------------------------------------------------------- */

void Worker::node_state_changed(const NodeStateMessage &message) noexcept
{
	if (!cluster_state.set(message.cluster_index, message.node_index, message.state)) {
		log_error("NODE_STATE for cluster %u node %u, which the configuration does not have",
			  message.cluster_index, message.node_index);
		return;
	}
	if (!cluster_state.disconnects_writers(message.cluster_index, message.node_index))
		return;
	const ClusterConfig &cluster = *cluster_state.config(message.cluster_index);
	const std::string &node = cluster.nodes[message.node_index].name;
	std::vector<ClientConnection *> victims;
	try {
		for (const auto &[pointer, connection] : connections)
			if (connection->relays_writer_to(message.cluster_index, message.node_index))
				victims.push_back(pointer);
	} catch (const std::bad_alloc &) {
		log_error("out of memory collecting the connections to node %s", node.c_str());
	}
	if (!victims.empty())
		log_info("node %s of cluster %u is %s: closing %zu connections to it", node.c_str(),
			 message.cluster_index, node_state_name(message.state), victims.size());
	for (ClientConnection *victim : victims)
		victim->node_unavailable(node.c_str(), message.state);
}

/* --- reload, drain, exit ---------------------------------------------------------------------- */

static int lua_traceback_handler(lua_State *L)
{
	const char *message = lua_tostring(L, 1);
	luaL_traceback(L, L, message != nullptr ? message : "(error object is not a string)", 1);
	return 1;
}

static int call_lua_reload(lua_State *L)
{
	if (lua_getglobal(L, "reload") != LUA_TFUNCTION)
		return 0;
	lua_call(L, 0, 0);
	return 0;
}

void Worker::reload() noexcept
{
	lua_State *L = lua();
	if (!lua_checkstack(L, 3)) {
		log_error("reload(): Lua stack full");
		return;
	}
	/* XXX reload() runs without the callbacks' instruction budget and may not yield. */
	lua_pushcfunction(L, lua_traceback_handler);
	lua_pushcfunction(L, call_lua_reload);
	if (lua_pcall(L, 0, 0, -2) != LUA_OK) {
		const char *message = lua_tostring(L, -1);
		log_error("reload() failed: %s", message != nullptr ? message : "?");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

void Worker::start_drain(std::uint32_t timeout_ms)
{
	if (draining)
		return;
	draining = true;
	log_info("draining: %zu connections, at most %u ms", connections.size(), timeout_ms);
	if (connections.empty()) {
		exit_loop(exit_ok);
		return;
	}
	if (sd_event_add_time_relative(event, &drain_timer, CLOCK_MONOTONIC, std::uint64_t(timeout_ms) * 1000, 10'000,
				       on_drain_timeout, this) < 0) {
		close_all_connections();
		exit_loop(exit_ok);
	}
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
	r = sd_event_add_io(event, &channel_source, channel.get(), EPOLLIN, on_channel, this);
	if (r >= 0)
		r = sd_event_add_defer(event, &reaper_source, on_reaper, this);
	if (r >= 0)
		r = sd_event_source_set_enabled(reaper_source, SD_EVENT_OFF);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "sd-event setup");
		return exit_worker_loop;
	}
	if (!register_worker_lua_api(lua())) {
		log_error("cannot install the Lua client API (Lua heap full)");
		return exit_worker_loop;
	}
	/* After the fork: each worker has connections of its own. */
	pg = std::make_unique<LuaPgHost>(event, lua());

	send_message(WorkerReadyMessage{});
	r = sd_event_loop(event);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "sd_event_loop()");
		return exit_worker_loop;
	}
	return exit_status;
}

int run_worker(LoadedConfig &config, UniqueFd channel, unsigned worker_index, const SandboxOptions &sandbox)
{
	log_set_role("worker[%u]", worker_index);
	/* Every send uses MSG_NOSIGNAL; this covers libraries that do not. */
	std::signal(SIGPIPE, SIG_IGN);
	/* Before anything that reads from the channel, let alone a client: fail closed. */
	if (const int status = enter_sandbox(sandbox))
		return status;
	try {
		Worker worker(config, std::move(channel), worker_index);
		return worker.run();
	} catch (const std::exception &e) {
		log_error("worker: %s", e.what());
		return exit_worker_loop;
	}
}

} // namespace myproxy
