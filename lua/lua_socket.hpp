// The Lua table `socket` (master and workers): socket:connect(address [, {type = ...}]) and the
// socket object's send(data [, i [, j]]) and close(), as upstream scripts use them to notify other
// daemons.  Sockets are non-blocking, so a callback never stalls its worker: a stream connect may
// still be in progress when send() is called (then send() gives nil and the reason).  In a worker
// the sandbox allows UNIX, IPv4 and IPv6 sockets of any type; nothing here listens or binds.
#pragma once

struct lua_State;

namespace myproxy {

/* Sets the global `socket` (a Lua C function: call it through lua_pcall or a protected opener). */
int open_lua_socket(lua_State *L);

} // namespace myproxy
