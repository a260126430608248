// CIDR networks (see network_mask.hpp).
#include "common/network_mask.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>
#include <string>

namespace myproxy {

namespace {

/* The address bytes of an AF_INET/AF_INET6 sockaddr, an IPv4-mapped IPv6 one as IPv4. */
bool address_bytes(const SocketAddress &address, int &family, const unsigned char *&bytes) noexcept
{
	if (address.family() == AF_INET && address.length >= sizeof(sockaddr_in)) {
		family = AF_INET;
		bytes = reinterpret_cast<const unsigned char *>(
			&reinterpret_cast<const sockaddr_in *>(&address.storage)->sin_addr);
		return true;
	}
	if (address.family() == AF_INET6 && address.length >= sizeof(sockaddr_in6)) {
		const auto *in6 = &reinterpret_cast<const sockaddr_in6 *>(&address.storage)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			family = AF_INET;
			bytes = reinterpret_cast<const unsigned char *>(in6) + 12;
		} else {
			family = AF_INET6;
			bytes = reinterpret_cast<const unsigned char *>(in6);
		}
		return true;
	}
	return false;
}

bool prefix_matches(const unsigned char *a, const unsigned char *b, unsigned bits) noexcept
{
	const unsigned whole = bits / 8, rest = bits % 8;
	if (std::memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	const unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

} // namespace

std::optional<Network> parse_network(std::string_view text) noexcept
{
	const std::size_t slash = text.find('/');
	const std::string_view host = text.substr(0, slash);
	if (host.empty() || host.size() >= 64)
		return std::nullopt;
	char buffer[64];
	std::memcpy(buffer, host.data(), host.size());
	buffer[host.size()] = '\0';

	Network network;
	unsigned max_bits;
	if (inet_pton(AF_INET, buffer, network.bytes) == 1) {
		network.family = AF_INET;
		max_bits = 32;
	} else if (inet_pton(AF_INET6, buffer, network.bytes) == 1) {
		network.family = AF_INET6;
		max_bits = 128;
	} else {
		return std::nullopt;
	}
	network.prefix_length = max_bits;
	if (slash != std::string_view::npos) {
		const std::string_view digits = text.substr(slash + 1);
		unsigned value = 0;
		const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
		if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() || value > max_bits)
			return std::nullopt;
		network.prefix_length = value;
	}
	/* Host bits below the prefix must be zero. */
	for (unsigned bit = network.prefix_length; bit < max_bits; ++bit)
		if (network.bytes[bit / 8] & (0x80 >> (bit % 8)))
			return std::nullopt;
	return network;
}

bool network_contains(const Network &network, const SocketAddress &address) noexcept
{
	int family;
	const unsigned char *bytes;
	if (!address_bytes(address, family, bytes) || family != network.family)
		return false;
	return prefix_matches(bytes, network.bytes, network.prefix_length);
}

bool is_loopback_address(const SocketAddress &address) noexcept
{
	int family;
	const unsigned char *bytes;
	if (!address_bytes(address, family, bytes))
		return false;
	if (family == AF_INET)
		return bytes[0] == 127;
	static const unsigned char loopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	return std::memcmp(bytes, loopback6, 16) == 0;
}

} // namespace myproxy
