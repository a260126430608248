// jwt.sign (see lua_jwt.hpp).  The token is base64url(header) "." base64url(payload) "."
// base64url(signature), without padding; the signature is Ed25519 over the first two parts.  The
// header is taken as given: the script names alg = "EdDSA" (and typ) itself, as with upstream.
#include "lua/lua_jwt.hpp"

#include "lua/lua_json.hpp"

#include <lua.hpp>
#include <sodium.h>

#include <string>

namespace myproxy {

namespace {

/* Pushes the JSON text of argument @arg: a string as it is, a table through json.dump's writer. */
void push_json_argument(lua_State *L, int arg)
{
	if (lua_type(L, arg) == LUA_TSTRING) {
		lua_pushvalue(L, arg);
		return;
	}
	luaL_checktype(L, arg, LUA_TTABLE);
	lua_getglobal(L, "json");
	if (lua_type(L, -1) != LUA_TTABLE)
		luaL_error(L, "jwt.sign needs the json library");
	lua_getfield(L, -1, "dump");
	lua_pushvalue(L, arg);
	lua_call(L, 1, 1);
	lua_remove(L, -2);
}

/* Pushes base64url (no padding) of the string at the top, replacing it. */
void to_base64url(lua_State *L)
{
	std::size_t size;
	const auto *bytes = reinterpret_cast<const unsigned char *>(lua_tolstring(L, -1, &size));
	const std::size_t capacity = sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	luaL_Buffer buffer;
	char *out = luaL_buffinitsize(L, &buffer, capacity);
	sodium_bin2base64(out, capacity, bytes, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	luaL_pushresultsize(&buffer, capacity - 1);
	lua_remove(L, -2);
}

/* jwt.sign(secret_key, header, payload) -> token */
int jwt_sign(lua_State *L)
{
	std::size_t key_size;
	const auto *key = reinterpret_cast<const unsigned char *>(luaL_checklstring(L, 1, &key_size));
	if (key_size != crypto_sign_SECRETKEYBYTES)
		luaL_argerror(L, 1, lua_pushfstring(L, "secret key must be %d bytes (sodium.crypto_sign_keypair())",
						    static_cast<int>(crypto_sign_SECRETKEYBYTES)));
	lua_settop(L, 3);
	luaL_checkstack(L, 8, "jwt.sign");
	push_json_argument(L, 2);
	to_base64url(L);
	lua_pushliteral(L, ".");
	push_json_argument(L, 3);
	to_base64url(L);
	lua_concat(L, 3);
	std::size_t input_size;
	const auto *input = reinterpret_cast<const unsigned char *>(lua_tolstring(L, -1, &input_size));
	unsigned char signature[crypto_sign_BYTES];
	crypto_sign_detached(signature, nullptr, input, input_size, key);
	lua_pushliteral(L, ".");
	lua_pushlstring(L, reinterpret_cast<const char *>(signature), sizeof(signature));
	to_base64url(L);
	lua_concat(L, 3);
	return 1;
}

} // namespace

int open_lua_jwt(lua_State *L)
{
	static const luaL_Reg functions[] = {
		{"sign", jwt_sign},
		{nullptr, nullptr},
	};
	luaL_newlib(L, functions);
	lua_setglobal(L, "jwt");
	return 0;
}

} // namespace myproxy
