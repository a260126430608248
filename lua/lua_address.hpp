// Socket addresses in Lua: the userdata mysql_resolve() returns (metatable "myproxy.address") and the
// accessor mysql_listen() and client:connect() use for an address argument.  Master and workers; a worker
// must never resolve a host name (seccomp forbids DNS), which set_lua_name_lookup(L, false) guarantees.
// Functions taking a lua_State may raise (longjmp): call them from Lua C functions or inside a protected
// call, with no C++ object that has a destructor alive in the calling frame.
#pragma once

#include "common/socket_address.hpp"

#include <cstddef>
#include <vector>

struct lua_State;

namespace myproxy {

inline constexpr const char *lua_address_metatable = "myproxy.address";

/* Creates the metatable and the global function mysql_resolve(s), which accepts "1.2.3.4[:port]"
 * (port 3306 by default), "[IPv6][:port]", "host[:port]", "/path", "@abstract" or an address object and
 * returns an address object whose tostring() prints it. */
void register_lua_address(lua_State *L);

void push_lua_address(lua_State *L, const SocketAddress &address);

/* The address object at idx, or nullptr for any other value.  Never raises. */
const SocketAddress *to_lua_address(lua_State *L, int idx) noexcept;

/* Argument arg as an address: an address object, or a string parsed like mysql_resolve() does.  Raises
 * "bad argument #arg to 'f' (...)" with the parser's message otherwise. */
SocketAddress check_lua_address(lua_State *L, int arg);

/* The value at idx as an address, like check_lua_address() but without raising: an address object, or
 * a string parsed like mysql_resolve() does; anything else is an error naming its type.  For elements
 * of tables (mysql_cluster()'s nodes), whose errors name the element, not an argument. */
AddressResult to_lua_address_value(lua_State *L, int idx, std::uint16_t default_port = mysql_default_port) noexcept;

/* How many addresses mysql_resolve() remembers while config.lua loads (more are not remembered). */
inline constexpr std::size_t lua_resolved_addresses_max = 256;

/* After config.lua ran (outside any Lua call; may throw std::bad_alloc): appends to @addresses each
 * address mysql_resolve() returned while it loaded, once, in order, and forgets the list.  These are
 * the backends the configuration names outside clusters, whose greetings the master reads. */
void collect_lua_resolved_addresses(lua_State *L, std::vector<SocketAddress> &addresses);

/* Whether strings naming a host may be resolved (getaddrinfo).  Off unless turned on: load_config()
 * allows it while config.lua runs and forbids it afterwards, so the state that workers inherit fails
 * with a clear error instead of a DNS query. */
void set_lua_name_lookup(lua_State *L, bool allowed);

} // namespace myproxy
