// Choosing a cluster node for a connection: rendezvous (highest random weight) hashing of the
// account over the nodes, in tiers by node state.  Pure and deterministic: every worker of every
// start of myproxy ranks the same nodes the same way for the same account, and removing one node
// of N moves only the accounts that were on it.  Worker side (and unit tests); no I/O, no logging.
#pragma once

#include "node_state.hpp"

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace myproxy {

/* The score of @node_key (the node's address as text, "10.0.0.1:3306") for @account: the first 8
 * bytes (little-endian) of BLAKE2b keyed with a fixed key over the node key's length (u32 LE), the
 * node key and the account.  The key is compiled in and not secret: it only makes the scores
 * stable across workers, restarts and machines. */
std::uint64_t rendezvous_score(std::string_view node_key, std::string_view account) noexcept;

/* What a connection prefers. */
enum class NodePreference : std::uint8_t {
	/* Any available node (the default). */
	any,
	/* A writable one: alive (mysql_cluster option no_read_only). */
	writable,
	/* A replica: read_only (client:connect() option read_only = true). */
	read_only,
};

/* 0: a node in the preferred state; 1: another available node; 2: an unavailable node, the last
 * resort when no node is available (wrong monitoring credentials make every node auth_failed while
 * they serve clients fine). */
unsigned node_tier(NodeState state, NodePreference preference) noexcept;

struct NodeCandidate {
	std::string_view key;
	NodeState state;
};

/* Replaces @order with the indexes of @nodes in the order to try them for @account: by tier, then
 * by descending rendezvous_score(), ties (practically impossible) by index.  Allocates only when
 * @order's capacity is below nodes.size(). */
void rank_nodes(std::span<const NodeCandidate> nodes, NodePreference preference, std::string_view account,
		std::vector<std::uint32_t> &order);

} // namespace myproxy
