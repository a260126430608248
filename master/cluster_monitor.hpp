// Cluster monitoring (master side): every node of every cluster with `monitoring = true` is checked
// every check_interval on the master's sd-event loop, asynchronously: a non-blocking connect, then
// the sans-I/O NodeCheck (login, SELECT @@global.read_only, COM_QUIT) over a common/backend_link, all
// within check_timeout.
// Every change of a node's state is logged and handed to the broadcast callback (NODE_STATE to
// all workers); known_states() is the full picture a new worker gets first.  Never blocks, never
// resolves names (node addresses are numeric since startup), never reads a client's bytes.
#pragma once

#include "common/channel_protocol.hpp"
#include "common/cluster_config.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

typedef struct sd_event sd_event;

namespace myproxy {

class ClusterMonitor {
public:
	using Broadcast = std::function<void(const NodeStateMessage &)>;

	/* @clusters and @event must outlive the monitor. */
	ClusterMonitor(sd_event *event, const std::vector<ClusterConfig> &clusters, Broadcast broadcast);
	~ClusterMonitor();

	ClusterMonitor(const ClusterMonitor &) = delete;
	ClusterMonitor &operator=(const ClusterMonitor &) = delete;

	/* Starts the first check of every monitored node; returns 0 or a negative errno (logged). */
	int start();
	/* Shutdown: cancels every check in flight and every timer. */
	void stop() noexcept;

	/* A worker saw @node of @cluster let a command wait past read_timeout: check it now (unless a
	 * check is in flight), not at its next check_interval.  Unknown or unmonitored nodes are
	 * ignored (logged at debug level). */
	void check_now(std::uint32_t cluster, std::uint32_t node) noexcept;

	/* One message per monitored node whose state is no longer unknown (workers start with every
	 * node unknown). */
	std::vector<NodeStateMessage> known_states() const;

	struct Node;

private:
	sd_event *event;
	const std::vector<ClusterConfig> &clusters;
	Broadcast broadcast;
	std::vector<std::unique_ptr<Node>> nodes;
	bool stopped = false;
};

} // namespace myproxy
