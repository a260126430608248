// The Lua table `control_client` (master and workers), as upstream scripts use it to notify other
// daemons of the family (beng-proxy, workshop): control_client:new(address), client:build(), the
// builder's commands, client:send(builder), and control_resolve(address) (port 5478 by default).  The datagrams are built with common/control_protocol
// (the codec control_listen() parses).  Sockets never block.  A client made while config.lua loads
// keeps working in the workers: each process opens its own socket (the master's fds are closed
// there), so a worker never sends on an fd it did not open.
#pragma once

struct lua_State;

namespace myproxy {

/* Sets the globals `control_client` and `control_resolve` (a Lua C function: call it through lua_pcall or a protected opener). */
int open_lua_control_client(lua_State *L);

} // namespace myproxy
