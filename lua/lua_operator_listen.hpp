// config.lua's operator interfaces (master side, while config.lua loads): prometheus_listen(address)
// and control_listen(address [, options]).  They only record what to open; the master binds the
// sockets before the fork, and after loading both functions raise, like mysql_listen().
// The Lua functions may raise (longjmp): they keep only trivially destructible records in a registry
// table; collect_operator_listeners() builds the C++ side outside any Lua call.
#pragma once

#include "common/operator_config.hpp"

#include <cstdint>
#include <string>
#include <vector>

struct lua_State;

namespace myproxy {

/* Registers prometheus_listen() and control_listen(); call from load_config()'s open step. */
void register_lua_operator_listen(lua_State *L);

/* After the script ran: appends what it declared, and makes both functions raise from now on.
   Never raises; may throw std::bad_alloc. */
void collect_operator_listeners(lua_State *L, std::vector<PrometheusListenerConfig> &prometheus,
				std::vector<ControlListenerConfig> &control);

} // namespace myproxy
