// What a worker knows about the clusters (worker side): every node's state as the master's NODE_STATE
// messages told it (unknown until then, which counts as usable), the node ranking for a new backend
// connection, and which relayed connections disconnect_unavailable closes after a change.  Pure
// bookkeeping over the inherited Config: no I/O, no Lua.
#pragma once

#include "common/cluster_config.hpp"
#include "common/node_choice.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace myproxy {

class ClusterState {
public:
	explicit ClusterState(const std::vector<ClusterConfig> &clusters);

	/* The cluster of index @cluster, or nullptr. */
	const ClusterConfig *config(std::uint32_t cluster) const noexcept;

	/* NODE_STATE: false (nothing changed) when the indexes name no node of the configuration. */
	bool set(std::uint32_t cluster, std::uint32_t node, NodeState state) noexcept;
	/* unknown for indexes that name no node. */
	NodeState state(std::uint32_t cluster, std::uint32_t node) const noexcept;

	/* The preference of a connection to @cluster: read_only with the connect option, writable with
	 * the cluster's no_read_only, any otherwise. */
	static NodePreference preference(const ClusterConfig &cluster, bool read_only_connection) noexcept;

	/* The order in which to try the nodes of @cluster for @account (see rank_nodes()). */
	void rank(std::uint32_t cluster, NodePreference preference, std::string_view account,
		  std::vector<std::uint32_t> &order) const;

	/* After @node of @cluster changed to its current state: whether disconnect_unavailable closes the
	 * relayed writer connections (not read_only ones) to it.  Yes when the cluster has the option and
	 * the node is no longer available while another node is, or (with no_read_only) the node turned
	 * read_only while another node is alive. */
	bool disconnects_writers(std::uint32_t cluster, std::uint32_t node) const noexcept;

private:
	const std::vector<ClusterConfig> &clusters;
	std::vector<std::vector<NodeState>> states;
};

} // namespace myproxy
