// The operator interfaces' configuration (both processes): what prometheus_listen() and
// control_listen() declared in config.lua, kept by the master in its configuration model
// (common/config.hpp) and opened before the fork.  Plain data; lua/lua_operator_listen fills it in.
#pragma once

#include "common/network_mask.hpp"
#include "common/socket_address.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace myproxy {

/* Upstream's defaults: the Prometheus exporter's port (node_exporter's), the control port. */
inline constexpr std::uint16_t prometheus_default_port = 9100;
/* At most this many networks in control_listen()'s option allow. */
inline constexpr std::size_t control_allow_max = 32;

struct PrometheusListenerConfig {
	SocketAddress address;
	/* "[::]:9100", "/run/myproxy/metrics.sock". */
	std::string description;
};

struct ControlListenerConfig {
	SocketAddress address;
	std::string description;
	/* The option allow: UDP senders accepted besides loopback. */
	std::vector<Network> allow;
	/* The options multicast_group (an IPv4 or IPv6 group joined after bind) and interface
	   (SO_BINDTODEVICE, and the interface of the group). */
	SocketAddress multicast_group;
	std::string interface_name;
};

} // namespace myproxy
