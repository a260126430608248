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

bool ClientConnection::relays_writer_to(std::uint32_t cluster_index, std::uint32_t node) const noexcept
{
	return phase == Phase::relay && backend.cluster() == cluster_index && backend.node() == node &&
	       !backend.read_only();
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
	intercept.reset();
	relay.reset();
	backend.close();
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
