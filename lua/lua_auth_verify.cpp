// handshake_response:verify_native_password() and :verify_caching_sha2_password(); see
// lua_auth_verify.hpp.  The proof is a plain userdata (no finalizer needed) holding the nonce, the
// client's scramble and the outcome; the method closure keeps it as its upvalue.
#include "lua/lua_auth_verify.hpp"

#include "common/caching_sha2_password.hpp"
#include "common/native_password.hpp"

#include <lua.hpp>


#include <algorithm>
#include <cstring>
#include <optional>
#include <string_view>

namespace myproxy {

namespace {

struct AuthProof {
	AuthVerifyKind kind;
	bool verified;
	std::uint8_t nonce_length;
	std::uint8_t response_length;
	std::uint8_t nonce[32];
	std::uint8_t response[32];
};

int hex_value(char c) noexcept
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* @text as @N raw bytes, or 2*N hex digits (either case), optionally after @prefix. */
template <std::size_t N>
bool parse_digest(std::string_view text, char prefix, std::uint8_t (&out)[N]) noexcept
{
	if (text.size() == N) {
		std::memcpy(out, text.data(), N);
		return true;
	}
	if (prefix != 0 && text.size() == 2 * N + 1 && text[0] == prefix)
		text.remove_prefix(1);
	if (text.size() != 2 * N)
		return false;
	for (std::size_t i = 0; i < N; ++i) {
		const int high = hex_value(text[2 * i]), low = hex_value(text[2 * i + 1]);
		if (high < 0 || low < 0)
			return false;
		out[i] = std::uint8_t(high * 16 + low);
	}
	return true;
}

int no_match(lua_State *L)
{
	lua_pushnil(L);
	return 1;
}

AuthProof &proof_of(lua_State *L)
{
	return *static_cast<AuthProof *>(lua_touserdata(L, lua_upvalueindex(1)));
}

/* The stored hash argument: nil (an unknown account) gives nil, as does a wrong password. */
std::optional<std::string_view> stored_hash_arg(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	if (lua_isnoneornil(L, 2))
		return std::nullopt;
	std::size_t length;
	const char *text = luaL_checklstring(L, 2, &length);
	return std::string_view(text, length);
}

/* handshake_response:verify_native_password(stored_hash) -> SHA1(password) | nil.  On success also
 * sets handshake_response.password_sha1, so the table can go to client:connect() as it is. */
int verify_native_password(lua_State *L)
{
	const auto text = stored_hash_arg(L);
	AuthProof &proof = proof_of(L);
	if (!text)
		return no_match(L);
	std::uint8_t stored[SHA1_LENGTH];
	if (!parse_digest(*text, '*', stored))
		luaL_argerror(L, 2, "stored hash must be SHA1(SHA1(password)): 20 bytes, 40 hex digits or "
				    "'*' and 40 hex digits");
	auto sha1 = native_password_verify(std::span<const std::uint8_t, SHA1_LENGTH>(stored),
					   ByteSpan(proof.nonce, proof.nonce_length),
					   ByteSpan(proof.response, proof.response_length));
	if (!sha1)
		return no_match(L);
	proof.verified = true;
	lua_pushlstring(L, reinterpret_cast<const char *>(sha1->data()), sha1->size());
	lua_pushvalue(L, -1);
	lua_setfield(L, 1, "password_sha1");
	return 1;
}

/* handshake_response:verify_caching_sha2_password(stored_hash) -> true | nil */
int verify_caching_sha2_password(lua_State *L)
{
	const auto text = stored_hash_arg(L);
	AuthProof &proof = proof_of(L);
	if (!text)
		return no_match(L);
	std::uint8_t stored[SHA256_LENGTH];
	if (!parse_digest(*text, 0, stored))
		luaL_argerror(L, 2, "stored hash must be SHA256(SHA256(password)): 32 bytes or 64 hex digits");
	if (!caching_sha2_verify(std::span<const std::uint8_t, SHA256_LENGTH>(stored),
				 ByteSpan(proof.nonce, proof.nonce_length), ByteSpan(proof.response, proof.response_length)))
		return no_match(L);
	proof.verified = true;
	lua_pushboolean(L, 1);
	return 1;
}

} // namespace

int add_auth_verify_method(lua_State *L, const AuthVerifyInput &input)
{
	if (input.kind == AuthVerifyKind::none)
		return LUA_NOREF;
	auto *proof = static_cast<AuthProof *>(lua_newuserdatauv(L, sizeof(AuthProof), 0));
	std::memset(proof, 0, sizeof(*proof));
	proof->kind = input.kind;
	/* Longer inputs cannot be right; keeping a prefix only makes sure they fail. */
	proof->nonce_length = std::uint8_t(std::min(input.nonce.size(), sizeof(proof->nonce)));
	std::memcpy(proof->nonce, input.nonce.data(), proof->nonce_length);
	if (input.response.size() <= sizeof(proof->response)) {
		proof->response_length = std::uint8_t(input.response.size());
		std::memcpy(proof->response, input.response.data(), proof->response_length);
	}
	lua_pushvalue(L, -1);
	const int ref = luaL_ref(L, LUA_REGISTRYINDEX);
	if (input.kind == AuthVerifyKind::native_password) {
		lua_pushcclosure(L, verify_native_password, 1);
		lua_setfield(L, -2, "verify_native_password");
	} else {
		lua_pushcclosure(L, verify_caching_sha2_password, 1);
		lua_setfield(L, -2, "verify_caching_sha2_password");
	}
	return ref;
}

bool auth_proof_verified(lua_State *L, int ref) noexcept
{
	if (ref == LUA_NOREF || ref == LUA_REFNIL || !lua_checkstack(L, 1))
		return false;
	lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
	const auto *proof = static_cast<const AuthProof *>(lua_touserdata(L, -1));
	const bool verified = proof != nullptr && proof->verified;
	lua_pop(L, 1);
	return verified;
}

void release_auth_proof(lua_State *L, int &ref) noexcept
{
	if (ref != LUA_NOREF && ref != LUA_REFNIL)
		luaL_unref(L, LUA_REGISTRYINDEX, ref);
	ref = LUA_NOREF;
}

} // namespace myproxy

