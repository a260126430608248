// Lua 5.1 names that upstream scripts (written for LuaJIT) use and Lua 5.4 keeps under another name:
// unpack, loadstring, table.getn and math.pow, as aliases of what 5.4 has.  Master side while
// config.lua loads; workers inherit them through fork().  What cannot be aliased (number
// formatting: 10/2 is 5.0 in 5.4) is documented in myproxy.lua(5) instead.  Adds globals only.
#pragma once

struct lua_State;

namespace myproxy {

/* Sets the aliases (a Lua C function: call it through lua_pcall or a protected opener, after the
 * standard libraries).  A name the state already has is left alone. */
int open_lua_compat(lua_State *L);

} // namespace myproxy
