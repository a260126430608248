// Cluster monitoring and backend greetings (master side): every node of every cluster with
// `monitoring = true` is checked every check_interval on the master's sd-event loop, asynchronously:
// a non-blocking connect, then the sans-I/O NodeCheck (login, SELECT @@global.read_only, COM_QUIT)
// over a common/backend_link, all within check_timeout.  Every other backend config.lua names (the
// nodes of unmonitored clusters, the addresses mysql_resolve() returned while it loaded) only has
// its greeting read: at startup, then every probe_refresh_usec, sooner after a failure.
// Every change of a node's state is logged and broadcast (NODE_STATE to all workers); what the
// greetings offer becomes the listeners' announcement (common/backend_offer), broadcast as
// BACKEND_OFFER when it changes.  known_messages() is the full picture a new worker gets first.
// A hostile greeting is logged and ignored.  Never blocks, never resolves names (addresses are
// numeric since startup), never reads a client's bytes.
#pragma once

#include "common/backend_offer.hpp"
#include "common/channel_protocol.hpp"
#include "common/cluster_config.hpp"
#include "common/socket_address.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

typedef struct sd_event sd_event;

namespace myproxy {

/* How often a backend that only has its greeting read is read again once it answered (a server
 * upgrade changes what it offers; a reload reads every greeting at once), and the longest wait
 * between attempts while it does not answer (the first retry comes after a second, then doubling).
 * Each read is a connection the server counts as aborted, so seldom. */
inline constexpr std::uint64_t probe_refresh_usec = 300'000'000;
inline constexpr std::uint64_t probe_retry_max_usec = 60'000'000;
inline constexpr std::uint64_t probe_retry_first_usec = 1'000'000;
inline constexpr std::uint64_t probe_timeout_usec = 5'000'000;

class ClusterMonitor {
public:
	/* NODE_STATE or BACKEND_OFFER, for every worker. */
	using Broadcast = std::function<void(const ChannelMessage &)>;

	/* @clusters, @backends (addresses config.lua named outside clusters) and @event must outlive
	 * the monitor. */
	ClusterMonitor(sd_event *event, const std::vector<ClusterConfig> &clusters,
		       const std::vector<SocketAddress> &backends, Broadcast broadcast);
	~ClusterMonitor();

	ClusterMonitor(const ClusterMonitor &) = delete;
	ClusterMonitor &operator=(const ClusterMonitor &) = delete;

	/* Starts the first check of every monitored node and the first greeting read of every other
	 * backend; returns 0 or a negative errno (logged). */
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
	/* What the listeners announce, once any greeting was read. */
	const std::optional<BackendOffer> &announcement() const noexcept { return announced; }
	/* known_states(), then BACKEND_OFFER if anything is announced: what a new worker gets first. */
	std::vector<ChannelMessage> known_messages() const;

	struct Node;

private:
	sd_event *event;
	const std::vector<ClusterConfig> &clusters;
	Broadcast broadcast;
	std::vector<std::unique_ptr<Node>> nodes;
	std::optional<BackendOffer> announced;
	bool stopped = false;

	void add(const ClusterConfig *cluster, std::uint32_t cluster_index, std::uint32_t node_index,
		 const SocketAddress &address, std::string name);
	/* A node's offer changed: the announcement again, broadcast if it changed. */
	void offers_changed() noexcept;
};

} // namespace myproxy
