// Networks in CIDR notation ("10.0.0.0/8", "fd00::/8", "192.0.2.7"), as control_listen()'s option
// `allow` names the UDP senders it accepts besides loopback.  Pure: parsing and matching only;
// IPv4-mapped IPv6 senders (::ffff:a.b.c.d) match IPv4 networks.
#pragma once

#include "common/socket_address.hpp"

#include <optional>
#include <string_view>

namespace myproxy {

struct Network {
	/* AF_INET or AF_INET6; the address bytes (4 or 16 used) with the host bits zeroed. */
	int family = 0;
	unsigned char bytes[16]{};
	unsigned prefix_length = 0;
};

/* "a.b.c.d[/n]" or "ipv6[/n]" (no brackets, no port); nullopt for anything else or host bits set
   below the prefix ("10.0.0.1/8" is a mistake worth reporting). */
std::optional<Network> parse_network(std::string_view text) noexcept;

/* Whether @address (AF_INET or AF_INET6) lies in @network. */
bool network_contains(const Network &network, const SocketAddress &address) noexcept;

/* 127.0.0.0/8, ::1, and ::ffff:127.0.0.0/104. */
bool is_loopback_address(const SocketAddress &address) noexcept;

} // namespace myproxy
