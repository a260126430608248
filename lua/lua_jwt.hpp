// The Lua table `jwt` (master and workers): jwt.sign(secret_key, header, payload), a JSON Web Token
// in compact form signed with EdDSA (Ed25519, libsodium, RFC 8037), as upstream scripts use it to
// hand other services a signed claim.  Header and payload are tables (written with json.dump) or
// JSON text.  Never touches files or the network.
#pragma once

struct lua_State;

namespace myproxy {

/* Sets the global `jwt` (a Lua C function: call it through lua_pcall or a protected opener). */
int open_lua_jwt(lua_State *L);

} // namespace myproxy
