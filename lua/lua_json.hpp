// The Lua table `json` (master and workers): json.dump(value) and json.parse(text), as upstream
// scripts use them, built on nlohmann-json.  Bounded: at most json_depth_max levels of nesting and
// json_text_max bytes of text either way.  A value that cannot be written (a function, a cycle,
// NaN) is a Lua error (a script bug); text that does not parse gives nil and the reason (data).
// Never touches files or the network.
#pragma once

#include <cstddef>
#include <string>

struct lua_State;

namespace myproxy {

inline constexpr int json_depth_max = 64;
inline constexpr std::size_t json_text_max = 1024 * 1024;

/* Sets the global `json` (a Lua C function: call it through lua_pcall or a protected opener). */
int open_lua_json(lua_State *L);

/* The JSON text of the value at @idx (for jwt.sign): false and the reason in @problem when it
 * cannot be written.  Never raises and never calls into Lua code. */
bool lua_value_to_json(lua_State *L, int idx, std::string &text, std::string &problem) noexcept;

} // namespace myproxy
