// The Lua table `sodium` (master and workers): libsodium's helpers, random bytes, sealed boxes,
// X25519 base-point multiplication, Ed25519 detached signatures and BLAKE2b hashing, with binary
// strings in and out.  Wrong key or signature sizes are Lua errors (a script bug); input that
// fails authentication or decoding (data) gives nil.  Never touches files or the network.
#pragma once

struct lua_State;

namespace myproxy {

/* Sets the global `sodium` (a Lua C function: call it through lua_pcall or a protected opener).
 * Initializes libsodium, so the master does it before the fork (its random source included). */
int open_lua_sodium(lua_State *L);

} // namespace myproxy
