// Which words the loaded script's code can name: a walk over every value reachable from a Lua state's
// registry that looks into each Lua function's compiled code.  The master uses it after config.lua
// ran, to skip per-client work for a field no callback can read (client.cgroup).  Read-only: never
// runs Lua code, never changes the state, never raises.
#pragma once

#include <string_view>

struct lua_State;

namespace myproxy {

/* Whether some Lua function reachable from @L's registry (handler tables, globals, modules,
 * upvalues, metatables, user values, the stacks of suspended coroutines) has @word in its compiled
 * code: its string constants and those of the functions nested in it, as lua_dump() writes them
 * without debug information (so a local variable's name or a comment does not count).  A key the
 * script builds at run time ("cg" .. "roup") escapes it.  Answers true whenever it cannot finish
 * (Lua heap full, nesting deeper than it follows): the caller must then assume the word is used. */
bool lua_code_mentions(lua_State *L, std::string_view word) noexcept;

} // namespace myproxy
