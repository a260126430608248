// The cluster part of a client connection (worker side): choosing the node for client:connect(cluster,
// ...), trying the next node when a connect fails on an unmonitored cluster, and closing a relayed
// connection whose node the monitor reports unavailable (disconnect_unavailable).
#include "client_connection.hpp"

#include "worker/worker_loop.hpp"

#include "common/log.hpp"

#include <systemd/sd-event.h>

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>

namespace myproxy {

/* Without monitoring, how many nodes one login tries before it gives up (the first included): enough
 * to get past one or two nodes that are down, few enough that a dead cluster fails fast. */
static constexpr std::size_t cluster_connect_attempts_max = 3;

bool ClientConnection::choose_node(const ConnectAction &action)
{
	const ClusterState &clusters = worker.clusters();
	const ClusterConfig *config = clusters.config(*action.cluster);
	if (config == nullptr || config->nodes.empty()) {
		log(LogLevel::error, "client:connect() named cluster %u, which the configuration does not have",
		    *action.cluster);
		fail_login(ER_UNKNOWN_ERROR, "myproxy: internal error");
		return false;
	}
	cluster = *action.cluster;
	read_only_connection = action.read_only;
	const NodePreference preference = ClusterState::preference(*config, action.read_only);
	/* As upstream (myproxy.lua(5)): the account decides; without one, the empty string. */
	const std::string_view account = attributes.account;
	clusters.rank(*cluster, preference, account, node_order);
	node_attempt = 0;
	cluster_node = node_order.front();
	backend_address = config->nodes[cluster_node].address;
	const NodeState state = clusters.state(*cluster, cluster_node);
	if (node_tier(state, preference) == 2)
		log(LogLevel::warning, "no node of cluster %u is available; trying %s (%s) anyway", *cluster,
		    config->nodes[cluster_node].name.c_str(), node_state_name(state));
	else
		log(LogLevel::debug, "cluster %u: node %s (%s) for '%.*s'", *cluster, config->nodes[cluster_node].name.c_str(),
		    node_state_name(state), static_cast<int>(account.size()), account.data());
	return true;
}

void ClientConnection::backend_connect_failed(int error)
{
	char backend[socket_address_text_max];
	format_backend(backend, sizeof(backend));
	const ClusterConfig *config = cluster ? worker.clusters().config(*cluster) : nullptr;
	const std::size_t attempts = std::min(node_order.size(), cluster_connect_attempts_max);
	if (config != nullptr && !config->monitoring && node_attempt + 1 < attempts) {
		cluster_node = node_order[++node_attempt];
		backend_address = config->nodes[cluster_node].address;
		log(LogLevel::warning, "connect to backend %s failed: %s; trying node %s", backend, std::strerror(error),
		    config->nodes[cluster_node].name.c_str());
		start_backend_connect();
		return;
	}
	log(LogLevel::warning, "connect to backend %s failed: %s", backend, std::strerror(error));
	metrics_backend_login(backend_address, false);
	char message[socket_address_text_max + 128];
	std::snprintf(message, sizeof(message), "myproxy: backend %s unreachable: %s", backend, std::strerror(error));
	fail_login(ER_UNKNOWN_ERROR, message);
}

bool ClientConnection::same_backend(const ConnectAction &action) const noexcept
{
	/* A COM_CHANGE_USER into the same cluster stays on the node it has. */
	if (action.cluster || cluster)
		return action.cluster == cluster;
	return action.address == backend_address;
}

bool ClientConnection::relays_writer_to(std::uint32_t cluster_index, std::uint32_t node) const noexcept
{
	return phase == Phase::relay && cluster == cluster_index && cluster_node == node && !read_only_connection;
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

void ClientConnection::end_relay_killed(const char *message) noexcept
{
	std::vector<std::uint8_t> err;
	try {
		/* Sequence id 1: the answer to the client's next command, which is where it reads it. */
		err = make_err(ER_CONNECTION_KILLED, message, 1);
	} catch (const std::bad_alloc &) {
		close();
		return;
	}
	/* Only at a packet boundary toward the client, and only if it all goes out now; else the
	 * client just sees the connection end. */
	if (!relay->send_to_client(err) || relay->resume().kind == RelayEvent::Kind::closed ||
	    (relay->wanted_client_events() & EPOLLOUT) != 0) {
		close();
		return;
	}
	/* The client reads the ERR only after it sent its next command (a client library that finds
	 * the socket closed on writing reports "gone away" instead): so keep the socket open, its
	 * write side shut, until the client says something or hangs up, bounded by a timer. */
	relay.reset();
	backend_source.reset();
	backend_link.reset();
	::shutdown(client_fd.get(), SHUT_WR);
	phase = Phase::closing;
	lingering = true;
	if (sd_event_add_time_relative(worker.event_loop(), closing_timer.out(), CLOCK_MONOTONIC, closing_timeout_usec,
				       100'000, on_closing_timeout, this) < 0) {
		close();
		return;
	}
	update_events();
}

} // namespace myproxy
