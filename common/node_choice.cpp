// Rendezvous hashing and the node ranking (see node_choice.hpp).  BLAKE2b's incremental API hashes
// the node key and the account without a concatenation buffer, so no account is too long for it.
#include "node_choice.hpp"

#include <sodium.h>

#include <sys/un.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace myproxy {

std::string node_hash_key(const SocketAddress &address)
{
	switch (address.family()) {
	case AF_INET: {
		const auto &sin = reinterpret_cast<const sockaddr_in &>(address.storage);
		return std::string(reinterpret_cast<const char *>(&sin.sin_addr), sizeof(sin.sin_addr));
	}
	case AF_INET6: {
		const auto &sin6 = reinterpret_cast<const sockaddr_in6 &>(address.storage);
		return std::string(reinterpret_cast<const char *>(&sin6.sin6_addr), sizeof(sin6.sin6_addr));
	}
	case AF_UNIX: {
		const auto &sun = reinterpret_cast<const sockaddr_un &>(address.storage);
		const std::size_t offset = offsetof(sockaddr_un, sun_path);
		if (address.length <= offset)
			return {};
		std::size_t length = address.length - offset;
		/* A path may come with its terminating NUL in the length; an abstract name keeps its first. */
		if (sun.sun_path[0] != '\0')
			length = strnlen(sun.sun_path, length);
		return std::string(sun.sun_path, length);
	}
	default:
		return {};
	}
}

std::uint64_t rendezvous_score(std::string_view node_key, std::string_view account) noexcept
{
	crypto_generichash_state state;
	unsigned char digest[16];
	crypto_generichash_init(&state, nullptr, 0, sizeof(digest));
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
			return a.score < b.score;
		return a.index < b.index;
	});
	order.clear();
	for (std::size_t i = 0; i < count; ++i)
		order.push_back(ranked[i].index);
}

} // namespace myproxy
