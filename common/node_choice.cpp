// Rendezvous hashing and the node ranking (see node_choice.hpp).  BLAKE2b (libsodium's
// crypto_generichash) rather than SipHash (crypto_shorthash): its incremental API hashes the node
// key and the account without a concatenation buffer, so no account is too long for it.
#include "node_choice.hpp"

#include <sodium.h>

#include <algorithm>

namespace myproxy {

namespace {

/* Changing this key (or the input layout) moves accounts between nodes on upgrade: don't. */
constexpr unsigned char rendezvous_key[crypto_generichash_KEYBYTES_MIN] = {
	'm', 'y', 'p', 'r', 'o', 'x', 'y', ' ', 'r', 'e', 'n', 'd', 'e', 'z', 'v', '1',
};

} // namespace

std::uint64_t rendezvous_score(std::string_view node_key, std::string_view account) noexcept
{
	crypto_generichash_state state;
	unsigned char digest[crypto_generichash_BYTES_MIN];
	const auto length = static_cast<std::uint32_t>(node_key.size());
	const unsigned char length_bytes[4] = {
		static_cast<unsigned char>(length), static_cast<unsigned char>(length >> 8),
		static_cast<unsigned char>(length >> 16), static_cast<unsigned char>(length >> 24),
	};
	crypto_generichash_init(&state, rendezvous_key, sizeof(rendezvous_key), sizeof(digest));
	crypto_generichash_update(&state, length_bytes, sizeof(length_bytes));
	crypto_generichash_update(&state, reinterpret_cast<const unsigned char *>(node_key.data()), node_key.size());
	crypto_generichash_update(&state, reinterpret_cast<const unsigned char *>(account.data()), account.size());
	crypto_generichash_final(&state, digest, sizeof(digest));
	std::uint64_t score = 0;
	for (int i = 7; i >= 0; --i)
		score = (score << 8) | digest[i];
	return score;
}

unsigned node_tier(NodeState state, NodePreference preference) noexcept
{
	if (!node_state_available(state))
		return 2;
	switch (preference) {
	case NodePreference::any:
		return 0;
	case NodePreference::writable:
		return state == NodeState::alive ? 0 : 1;
	case NodePreference::read_only:
		return state == NodeState::read_only ? 0 : 1;
	}
	return 1;
}

void rank_nodes(std::span<const NodeCandidate> nodes, NodePreference preference, std::string_view account,
		std::vector<std::uint32_t> &order)
{
	struct Ranked {
		unsigned tier;
		std::uint64_t score;
		std::uint32_t index;
	};
	/* Clusters are small (mysql_cluster() caps them); a fixed array keeps this allocation-free. */
	constexpr std::size_t max_on_stack = 256;
	Ranked ranked[max_on_stack];
	const std::size_t count = std::min(nodes.size(), max_on_stack);
	for (std::size_t i = 0; i < count; ++i)
		ranked[i] = {node_tier(nodes[i].state, preference), rendezvous_score(nodes[i].key, account),
			     static_cast<std::uint32_t>(i)};
	std::sort(ranked, ranked + count, [](const Ranked &a, const Ranked &b) {
		if (a.tier != b.tier)
			return a.tier < b.tier;
		if (a.score != b.score)
			return a.score > b.score;
		return a.index < b.index;
	});
	order.clear();
	for (std::size_t i = 0; i < count; ++i)
		order.push_back(ranked[i].index);
}

} // namespace myproxy
