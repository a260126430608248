// config.lua's operator interfaces (master side, while config.lua loads): prometheus_listen(address)
// and control_listen(address [, options]).  They only record what to open; the master binds the
// sockets before the fork, and after loading both functions raise, like mysql_listen().
// The Lua functions may raise (longjmp): they keep only trivially destructible records in a registry
// table; collect_operator_listeners() builds the C++ side outside any Lua call.
#pragma once

#include "common/network_mask.hpp"
#include "common/socket_address.hpp"

#include <cstdint>
#include <string>
#include <vector>

struct lua_State;

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

/* Registers prometheus_listen() and control_listen(); call from load_config()'s open step. */
void register_lua_operator_listen(lua_State *L);

/* After the script ran: appends what it declared, and makes both functions raise from now on.
   Never raises; may throw std::bad_alloc. */
void collect_operator_listeners(lua_State *L, std::vector<PrometheusListenerConfig> &prometheus,
				std::vector<ControlListenerConfig> &control);

} // namespace myproxy
