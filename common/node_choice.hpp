// Choosing a cluster node for a connection: rendezvous (highest random weight) hashing of the
// account over the nodes, in tiers by node state, with upstream CM4all myproxy's hash, so a host
// that migrates keeps every account on its node.  Pure and deterministic: every worker of every
// start ranks the same nodes the same way for the same account, and removing one node of N moves
// only the accounts that were on it.  Worker side (and unit tests); no I/O, no logging.
#pragma once

#include "node_state.hpp"
#include "socket_address.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace myproxy {

/* The steady part of a node's address, which the score hashes: IPv4 the 4 address bytes, IPv6 the
 * 16 address bytes (ports are not hashed: two nodes on one host tie, and the first in the nodes
 * table wins), a local socket its path bytes (an abstract one with its leading NUL). */
std::string node_hash_key(const SocketAddress &address);

/* The score of @node_key (node_hash_key()) for @account (empty when the connection has none): the
 * first 8 bytes, little-endian, of unkeyed BLAKE2b with a 16-byte digest (libsodium's
 * crypto_generichash) over the node key followed by the account.  The smallest score wins. */
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
	/* node_hash_key() of the node. */
	std::string_view key;
	NodeState state;
};

/* Replaces @order with the indexes of @nodes in the order to try them for @account: by tier, then
 * by ascending rendezvous_score(), ties (nodes on one host) by index.  Allocates only when
 * @order's capacity is below nodes.size(). */
void rank_nodes(std::span<const NodeCandidate> nodes, NodePreference preference, std::string_view account,
		std::vector<std::uint32_t> &order);

} // namespace myproxy
