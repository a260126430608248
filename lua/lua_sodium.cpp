// The `sodium` table (see lua_sodium.hpp).  Each function is a small Lua C function: fixed-size
// keys live in stack arrays (wiped with wipe_secret, common/secret.hpp), variable-size output is
// written straight into a luaL_Buffer, so no C++ object with a destructor is alive when Lua raises.
#include "lua/lua_sodium.hpp"

#include "common/secret.hpp"

#include <lua.hpp>
#include <sodium.h>

#include <cstddef>

namespace myproxy {

namespace {

/* The largest randombytes() request: more is a script bug, not a key. */
constexpr lua_Integer randombytes_max = 1 << 20;

const unsigned char *check_bytes(lua_State *L, int arg, std::size_t expected, const char *what)
{
	std::size_t length;
	const char *s = luaL_checklstring(L, arg, &length);
	if (length != expected)
		luaL_argerror(L, arg, lua_pushfstring(L, "%s must be %d bytes, got %d", what, int(expected), int(length)));
	return reinterpret_cast<const unsigned char *>(s);
}

const unsigned char *check_data(lua_State *L, int arg, std::size_t &length)
{
	return reinterpret_cast<const unsigned char *>(luaL_checklstring(L, arg, &length));
}

void push_bytes(lua_State *L, const unsigned char *bytes, std::size_t length)
{
	lua_pushlstring(L, reinterpret_cast<const char *>(bytes), length);
}

/* bin2hex(bin) -> hex (lower case) */
int bin2hex(lua_State *L)
{
	std::size_t length;
	const unsigned char *bin = check_data(L, 1, length);
	luaL_Buffer b;
	char *hex = luaL_buffinitsize(L, &b, length * 2 + 1);
	sodium_bin2hex(hex, length * 2 + 1, bin, length);
	luaL_pushresultsize(&b, length * 2);
	return 1;
}

/* hex2bin(hex [, ignore]) -> bin | nil, message */
int hex2bin(lua_State *L)
{
	std::size_t length;
	const char *hex = luaL_checklstring(L, 1, &length);
	const char *ignore = luaL_optstring(L, 2, nullptr);
	luaL_Buffer b;
	auto *bin = reinterpret_cast<unsigned char *>(luaL_buffinitsize(L, &b, length / 2 + 1));
	std::size_t bin_length = 0;
	const char *end = nullptr;
	if (sodium_hex2bin(bin, length / 2 + 1, hex, length, ignore, &bin_length, &end) != 0 ||
	    end != hex + length) {
		luaL_pushresultsize(&b, 0);
		lua_pushnil(L);
		lua_pushliteral(L, "invalid hex string");
		return 2;
	}
	luaL_pushresultsize(&b, bin_length);
	return 1;
}

/* randombytes(n) -> n random bytes */
int randombytes(lua_State *L)
{
	const lua_Integer n = luaL_checkinteger(L, 1);
	luaL_argcheck(L, n >= 0 && n <= randombytes_max, 1, "must be from 0 to 1048576");
	luaL_Buffer b;
	char *out = luaL_buffinitsize(L, &b, static_cast<std::size_t>(n));
	randombytes_buf(out, static_cast<std::size_t>(n));
	luaL_pushresultsize(&b, static_cast<std::size_t>(n));
	return 1;
}

/* Pushes a fresh key pair and wipes the secret key's stack copy; returns 2 (the Lua results). */
int push_key_pair(lua_State *L, const unsigned char *pk, std::size_t pk_size, unsigned char *sk,
		  std::size_t sk_size)
{
	if (!lua_checkstack(L, 2)) {
		wipe_secret(sk, sk_size);
		return luaL_error(L, "stack overflow");
	}
	push_bytes(L, pk, pk_size);
	/* Should this raise (Lua heap full), the stack copy stays unwiped; the Lua string that
	 * holds the key cannot be wiped anyway. */
	lua_pushlstring(L, reinterpret_cast<const char *>(sk), sk_size);
	wipe_secret(sk, sk_size);
	return 2;
}

/* crypto_box_keypair() -> public key, secret key */
int box_keypair(lua_State *L)
{
	unsigned char pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
	crypto_box_keypair(pk, sk);
	return push_key_pair(L, pk, sizeof(pk), sk, sizeof(sk));
}

/* crypto_box_seal(message, public key) -> ciphertext */
int box_seal(lua_State *L)
{
	std::size_t length;
	const unsigned char *message = check_data(L, 1, length);
	const unsigned char *pk = check_bytes(L, 2, crypto_box_PUBLICKEYBYTES, "public key");
	luaL_Buffer b;
	auto *out = reinterpret_cast<unsigned char *>(luaL_buffinitsize(L, &b, length + crypto_box_SEALBYTES));
	if (crypto_box_seal(out, message, length, pk) != 0)
		return luaL_error(L, "crypto_box_seal() failed (invalid public key)");
	luaL_pushresultsize(&b, length + crypto_box_SEALBYTES);
	return 1;
}

/* crypto_box_seal_open(ciphertext, public key, secret key) -> message | nil, message */
int box_seal_open(lua_State *L)
{
	std::size_t length;
	const unsigned char *ciphertext = check_data(L, 1, length);
	const unsigned char *pk = check_bytes(L, 2, crypto_box_PUBLICKEYBYTES, "public key");
	const unsigned char *sk = check_bytes(L, 3, crypto_box_SECRETKEYBYTES, "secret key");
	if (length < crypto_box_SEALBYTES) {
		lua_pushnil(L);
		lua_pushliteral(L, "ciphertext too short");
		return 2;
	}
	luaL_Buffer b;
	auto *out = reinterpret_cast<unsigned char *>(luaL_buffinitsize(L, &b, length - crypto_box_SEALBYTES + 1));
	if (crypto_box_seal_open(out, ciphertext, length, pk, sk) != 0) {
		luaL_pushresultsize(&b, 0);
		lua_pushnil(L);
		lua_pushliteral(L, "crypto_box_seal_open failed: not sealed for this key pair, or altered");
		return 2;
	}
	luaL_pushresultsize(&b, length - crypto_box_SEALBYTES);
	return 1;
}

/* crypto_scalarmult_base(secret key) -> public key */
int scalarmult_base(lua_State *L)
{
	const unsigned char *sk = check_bytes(L, 1, crypto_scalarmult_SCALARBYTES, "secret key");
	unsigned char pk[crypto_scalarmult_BYTES];
	if (crypto_scalarmult_base(pk, sk) != 0)
		return luaL_error(L, "crypto_scalarmult_base() failed");
	push_bytes(L, pk, sizeof(pk));
	return 1;
}

/* crypto_sign_keypair() -> public key, secret key */
int sign_keypair(lua_State *L)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	crypto_sign_keypair(pk, sk);
	return push_key_pair(L, pk, sizeof(pk), sk, sizeof(sk));
}

/* crypto_sign_detached(message, secret key) -> signature */
int sign_detached(lua_State *L)
{
	std::size_t length;
	const unsigned char *message = check_data(L, 1, length);
	const unsigned char *sk = check_bytes(L, 2, crypto_sign_SECRETKEYBYTES, "secret key");
	unsigned char signature[crypto_sign_BYTES];
	crypto_sign_detached(signature, nullptr, message, length, sk);
	push_bytes(L, signature, sizeof(signature));
	return 1;
}

/* crypto_sign_verify_detached(signature, message, public key) -> boolean */
int sign_verify_detached(lua_State *L)
{
	std::size_t length;
	const unsigned char *signature = check_bytes(L, 1, crypto_sign_BYTES, "signature");
	const unsigned char *message = check_data(L, 2, length);
	const unsigned char *pk = check_bytes(L, 3, crypto_sign_PUBLICKEYBYTES, "public key");
	lua_pushboolean(L, crypto_sign_verify_detached(signature, message, length, pk) == 0);
	return 1;
}

/* crypto_generichash(message [, key [, length]]) -> hash (BLAKE2b) */
int generichash(lua_State *L)
{
	std::size_t length, key_length = 0;
	const unsigned char *message = check_data(L, 1, length);
	const unsigned char *key = nullptr;
	if (!lua_isnoneornil(L, 2)) {
		key = check_data(L, 2, key_length);
		luaL_argcheck(L, key_length >= crypto_generichash_KEYBYTES_MIN && key_length <= crypto_generichash_KEYBYTES_MAX,
			      2, "key must be 16 to 64 bytes");
	}
	const lua_Integer out_length = luaL_optinteger(L, 3, crypto_generichash_BYTES);
	luaL_argcheck(L, out_length >= lua_Integer(crypto_generichash_BYTES_MIN) &&
			       out_length <= lua_Integer(crypto_generichash_BYTES_MAX),
		      3, "length must be 16 to 64");
	unsigned char hash[crypto_generichash_BYTES_MAX];
	crypto_generichash(hash, std::size_t(out_length), message, length, key, key_length);
	push_bytes(L, hash, std::size_t(out_length));
	return 1;
}

const luaL_Reg sodium_functions[] = {
	{"bin2hex", bin2hex},
	{"hex2bin", hex2bin},
	{"randombytes", randombytes},
	{"crypto_box_keypair", box_keypair},
	{"crypto_box_seal", box_seal},
	{"crypto_box_seal_open", box_seal_open},
	{"crypto_scalarmult_base", scalarmult_base},
	{"crypto_sign_keypair", sign_keypair},
	{"crypto_sign_detached", sign_detached},
	{"crypto_sign_verify_detached", sign_verify_detached},
	{"crypto_generichash", generichash},
	{nullptr, nullptr},
};

} // namespace

int open_lua_sodium(lua_State *L)
{
	if (sodium_init() < 0)
		return luaL_error(L, "sodium_init() failed");
	luaL_newlib(L, sodium_functions);
	lua_setglobal(L, "sodium");
	return 0;
}

} // namespace myproxy
