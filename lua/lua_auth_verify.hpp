// The verify methods of a handshake_response table, for clients that did not send a cleartext
// password: handshake_response:verify_native_password(stored_hash) and
// handshake_response:verify_caching_sha2_password(stored_hash).  Each checks the client's scramble
// against the script's stored hash; a "proof" userdata that the worker keeps a registry reference to
// records whether one succeeded, so the worker (not the script's table) knows.  Worker side.
#pragma once

#include "common/byte_reader.hpp"

#include <cstdint>

struct lua_State;

namespace myproxy {

enum class AuthVerifyKind : std::uint8_t { none, native_password, caching_sha2_password };

struct AuthVerifyInput {
	AuthVerifyKind kind = AuthVerifyKind::none;
	/* The greeting's (or AuthSwitchRequest's) 20-byte nonce and the client's scramble. */
	ByteSpan nonce;
	ByteSpan response;
};

/* Adds the method of @input.kind to the table at the top of the stack and returns a registry
 * reference to its proof (LUA_NOREF for kind none).  May raise: call it from a protected call. */
int add_auth_verify_method(lua_State *L, const AuthVerifyInput &input);

/* Whether a verify method of the proof @ref succeeded.  Never raises. */
bool auth_proof_verified(lua_State *L, int ref) noexcept;

/* Drops the reference (the table may live on in the script; its method then reports nothing new to
 * anyone).  Never raises. */
void release_auth_proof(lua_State *L, int &ref) noexcept;

} // namespace myproxy
