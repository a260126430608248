// The worker's cluster state (see cluster_state.hpp).
#include "worker/cluster_state.hpp"

namespace myproxy {

ClusterState::ClusterState(const std::vector<ClusterConfig> &clusters_) : clusters(clusters_)
{
	states.reserve(clusters.size());
	hash_keys.reserve(clusters.size());
	for (const ClusterConfig &cluster : clusters) {
		states.emplace_back(cluster.nodes.size(), NodeState::unknown);
		auto &keys = hash_keys.emplace_back();
		for (const ClusterNodeConfig &node : cluster.nodes)
			keys.push_back(node_hash_key(node.address));
	}
}

const ClusterConfig *ClusterState::config(std::uint32_t cluster) const noexcept
{
	return cluster < clusters.size() ? &clusters[cluster] : nullptr;
}

bool ClusterState::set(std::uint32_t cluster, std::uint32_t node, NodeState state) noexcept
{
	if (cluster >= states.size() || node >= states[cluster].size())
		return false;
	states[cluster][node] = state;
	return true;
}

NodeState ClusterState::state(std::uint32_t cluster, std::uint32_t node) const noexcept
{
	if (cluster >= states.size() || node >= states[cluster].size())
		return NodeState::unknown;
	return states[cluster][node];
}

NodePreference ClusterState::preference(const ClusterConfig &cluster, bool read_only_connection) noexcept
{
	if (read_only_connection)
		return NodePreference::read_only;
	return cluster.no_read_only ? NodePreference::writable : NodePreference::any;
}

void ClusterState::rank(std::uint32_t cluster, NodePreference preference, std::string_view account,
			std::vector<std::uint32_t> &order) const
{
	order.clear();
	if (cluster >= clusters.size())
		return;
	const ClusterConfig &config = clusters[cluster];
	std::vector<NodeCandidate> candidates;
	candidates.reserve(config.nodes.size());
	for (std::size_t i = 0; i < config.nodes.size(); ++i)
		candidates.push_back({hash_keys[cluster][i], states[cluster][i]});
	rank_nodes(candidates, preference, account, order);
}

bool ClusterState::disconnects_writers(std::uint32_t cluster, std::uint32_t node) const noexcept
{
	const ClusterConfig *config = this->config(cluster);
	if (config == nullptr || !config->disconnect_unavailable || node >= states[cluster].size())
		return false;
	const NodeState now = states[cluster][node];
	const bool unavailable = !node_state_available(now);
	const bool lost_writes = config->no_read_only && now == NodeState::read_only;
	if (!unavailable && !lost_writes)
		return false;
	for (std::size_t other = 0; other < states[cluster].size(); ++other) {
		if (other == node)
			continue;
		const NodeState state = states[cluster][other];
		if (unavailable ? node_state_available(state) : state == NodeState::alive)
			return true;
	}
	return false;
}

void ClusterState::writer_disconnects(std::uint32_t cluster, std::uint32_t node, std::vector<std::uint32_t> &nodes) const
{
	nodes.clear();
	const ClusterConfig *config = this->config(cluster);
	if (config == nullptr || !config->disconnect_unavailable || node >= states[cluster].size())
		return;
	if (disconnects_writers(cluster, node))
		nodes.push_back(node);
	const NodeState now = states[cluster][node];
	if (!node_state_available(now))
		return;
	const NodePreference writers = preference(*config, false);
	const unsigned tier = node_tier(now, writers);
	for (std::uint32_t other = 0; other < states[cluster].size(); ++other) {
		const NodeState state = states[cluster][other];
		if (other != node && state != NodeState::unknown && node_tier(state, writers) > tier)
			nodes.push_back(other);
	}
}

} // namespace myproxy
