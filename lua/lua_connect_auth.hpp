// The authentication options of client:connect(): allow_cleartext (mysql_clear_password toward a
// backend reached neither over TLS nor over a local socket) and server_public_key (caching_sha2_password's
// RSA key for the full path, PEM text the script read at startup).  Worker side; no file access.
#pragma once

#include "lua/lua_action.hpp"

#include <optional>
#include <string_view>

struct lua_State;

namespace myproxy {

/* Views of the option values, alive while the options table is on the stack.  Trivially
 * destructible: it lives in a frame Lua may longjmp out of. */
struct LuaConnectAuthOptions {
	bool allow_cleartext;
	std::optional<std::string_view> server_public_key;
};

/* If @key is one of these options, checks the value at the top of the stack (raising a Lua error for
 * argument @arg when it is wrong), records it in @options and returns true; false for other keys. */
bool check_connect_auth_option(lua_State *L, int arg, const char *key, LuaConnectAuthOptions &options);

/* Copies checked options into @action.  Throws only std::bad_alloc. */
void copy_connect_auth_options(const LuaConnectAuthOptions &options, ConnectAction &action);

} // namespace myproxy
