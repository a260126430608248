// The handshake_response table given to on_handshake_response(client, handshake_response), and reading
// it back when the script passes it (possibly modified) to client:connect().  Worker side.  The table is
// plain Lua data the script owns; nothing here keeps a pointer into it beyond one Lua C function call.
#pragma once

#include "common/handshake_response41.hpp"
#include "lua/lua_action.hpp"
#include "lua/lua_auth_verify.hpp"

#include <optional>
#include <string_view>

struct lua_State;

namespace myproxy {

/* What the client sent, as the worker hands it to Lua.  Views: they must live until
 * push_handshake_response() returned. */
struct HandshakeResponseFields {
	std::string_view user;
	/* Cleartext (mysql_clear_password); nullopt when the client sent none. */
	std::optional<std::string_view> password;
	/* Empty: none. */
	std::string_view database;
	/* The plugin the client authenticated with; empty when it named none. */
	std::string_view auth_plugin;
	ConnectAttrs attributes;
	/* A verify method for clients that sent a scramble (lua_auth_verify.hpp); when its kind is not
	 * none, *proof_ref receives the reference to its proof. */
	AuthVerifyInput verify;
	int *proof_ref = nullptr;
};

/* Pushes a fresh table {user=, password=, database=, auth_plugin=, attributes={key=value...}}; the
 * optional fields are nil when absent or empty, attributes is always a table (the first of duplicate
 * keys wins, as in ConnectAttrs::find()).  Never raises: when Lua's heap is full, pushes nothing and
 * returns false. */
[[nodiscard]] bool push_handshake_response(lua_State *L, const HandshakeResponseFields &fields) noexcept;

/* A handshake_response table as client:connect() read it: views of Lua strings that the checker left
 * on the stack (so they stay alive for the calling C function).  Trivially destructible, so it may live
 * in a frame that Lua longjmps out of. */
struct LuaHandshakeResponse {
	std::string_view user;
	std::optional<std::string_view> password;
	std::optional<std::string_view> password_sha1;
	std::string_view database;
	/* Absolute stack index of the attributes table; 0 when there is none. */
	int attributes_index;
};

/* Checks argument @arg of the running Lua C function as a handshake_response table and pushes its
 * fields.  Raises "bad argument #N to 'connect' (handshake_response.user must be a string)" and the
 * like: user is a string, password nil or a string, password_sha1 nil or exactly 20 bytes, database nil
 * or a string, none of them with NUL bytes; attributes nil or a table of at most MAX_CONNECT_ATTRS
 * string keys with string values.  Other fields (auth_plugin, the script's own) are ignored. */
LuaHandshakeResponse check_lua_handshake_response(lua_State *L, int arg);

/* Copies a checked table into @action (all but the address).  Calls only Lua functions that cannot
 * raise; throws only std::bad_alloc.  Attributes are read again and skipped when they are no longer
 * strings: a finalizer may have run since the check. */
void copy_lua_handshake_response(lua_State *L, const LuaHandshakeResponse &checked, ConnectAction &action);

} // namespace myproxy
