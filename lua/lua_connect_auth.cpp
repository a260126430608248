// client:connect()'s authentication options; see lua_connect_auth.hpp.
#include "lua/lua_connect_auth.hpp"

#include <lua.hpp>

#include <cstring>

namespace myproxy {

static constexpr std::string_view pem_public_key_start = "-----BEGIN PUBLIC KEY-----";

bool check_connect_auth_option(lua_State *L, int arg, const char *key, LuaConnectAuthOptions &options)
{
	if (std::strcmp(key, "allow_cleartext") == 0) {
		if (lua_type(L, -1) != LUA_TBOOLEAN)
			luaL_argerror(L, arg, lua_pushfstring(L, "option allow_cleartext must be a boolean, got %s",
							      luaL_typename(L, -1)));
		options.allow_cleartext = lua_toboolean(L, -1) != 0;
		return true;
	}
	if (std::strcmp(key, "server_public_key") == 0) {
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_argerror(L, arg, lua_pushfstring(L, "option server_public_key must be a string, got %s",
							      luaL_typename(L, -1)));
		std::size_t length;
		const char *text = lua_tolstring(L, -1, &length);
		const std::string_view pem(text, length);
		if (pem.find(pem_public_key_start) == std::string_view::npos)
			luaL_argerror(L, arg, "option server_public_key must be a PEM public key "
					      "(-----BEGIN PUBLIC KEY-----)");
		options.server_public_key = pem;
		return true;
	}
	return false;
}

void copy_connect_auth_options(const LuaConnectAuthOptions &options, ConnectAction &action)
{
	action.allow_cleartext = options.allow_cleartext;
	if (options.server_public_key)
		action.server_public_key.assign(*options.server_public_key);
}

} // namespace myproxy
