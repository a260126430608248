// handshake_response tables (see lua_handshake_response.hpp).  Building one runs in a protected call of
// its own, so the worker can push it from C++ without risking a longjmp; reading one back happens inside
// client:connect(), where only trivially destructible views may be alive while Lua can raise.
#include "lua/lua_handshake_response.hpp"

#include <lua.hpp>

#include <cmath>
#include <cstring>

namespace myproxy {

namespace {

constexpr std::size_t password_sha1_length = std::tuple_size_v<decltype(ConnectAction::password_sha1)::value_type>;

void set_string_field(lua_State *L, const char *name, std::string_view value)
{
	lua_pushlstring(L, value.data(), value.size());
	lua_setfield(L, -2, name);
}

/* (fields) -> table */
int build_handshake_response(lua_State *L)
{
	const auto &fields = *static_cast<const HandshakeResponseFields *>(lua_touserdata(L, 1));
	lua_createtable(L, 0, 5);
	set_string_field(L, "user", fields.user);
	if (fields.password)
		set_string_field(L, "password", *fields.password);
	if (!fields.database.empty())
		set_string_field(L, "database", fields.database);
	if (!fields.auth_plugin.empty())
		set_string_field(L, "auth_plugin", fields.auth_plugin);

	lua_createtable(L, 0, static_cast<int>(fields.attributes.size()));
	for (const ConnectAttr &attr : fields.attributes) {
		lua_pushlstring(L, attr.key.data(), attr.key.size());
		if (lua_rawget(L, -2) == LUA_TNIL) {
			lua_pop(L, 1);
			lua_pushlstring(L, attr.key.data(), attr.key.size());
			lua_pushlstring(L, attr.value.data(), attr.value.size());
			lua_rawset(L, -3);
		} else {
			lua_pop(L, 1);
		}
	}
	lua_setfield(L, -2, "attributes");
	if (fields.proof_ref != nullptr)
		*fields.proof_ref = add_auth_verify_method(L, fields.verify);
	return 1;
}

/* Pushes the number at @idx as its decimal string: an integer, or a float with an integral value, without
 * a fraction ("5"); any other float as Lua writes it ("2.5"). */
void push_number_as_decimal(lua_State *L, int idx)
{
	if (lua_isinteger(L, idx) == 0) {
		const lua_Number value = lua_tonumber(L, idx);
		lua_Integer integral = 0;
		if (lua_numbertointeger(std::floor(value), &integral) && static_cast<lua_Number>(integral) == value) {
			lua_pushfstring(L, "%I", static_cast<LUAI_UACINT>(integral));
			return;
		}
	}
	lua_pushvalue(L, idx);
	lua_tolstring(L, -1, nullptr);
}

/* Pushes field @name of the table at @table; a number becomes its decimal string; raises unless it is a string (or nil when @optional)
 * without NUL bytes.  Returns its view, or nullopt for nil. */
std::optional<std::string_view> check_string_field(lua_State *L, int arg, int table, const char *name, bool optional)
{
	const int type = lua_getfield(L, table, name);
	if (type == LUA_TNIL && optional)
		return std::nullopt;
	if (type == LUA_TNUMBER) {
		/* As upstream (LuaJIT): hr.user = client.uid means "1000", and 10/2 means "5", not "5.0". */
		push_number_as_decimal(L, -1);
		lua_replace(L, -2);
	} else if (type != LUA_TSTRING)
		luaL_argerror(L, arg, lua_pushfstring(L, "handshake_response.%s must be %s", name,
						      optional ? "nil or a string" : "a string"));
	std::size_t length;
	const char *text = lua_tolstring(L, -1, &length);
	if (std::memchr(text, '\0', length) != nullptr)
		luaL_argerror(L, arg, lua_pushfstring(L, "handshake_response.%s must not contain NUL bytes", name));
	return std::string_view(text, length);
}

void check_attributes(lua_State *L, int arg, int attributes)
{
	std::size_t count = 0;
	lua_pushnil(L);
	while (lua_next(L, attributes) != 0) {
		/* Exact types: lua_tolstring() would turn a number key into a string and derail lua_next(). */
		if (lua_type(L, -2) != LUA_TSTRING)
			luaL_argerror(L, arg, lua_pushfstring(L, "handshake_response.attributes keys must be strings, "
								 "got a %s key", luaL_typename(L, -2)));
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_argerror(L, arg, lua_pushfstring(L, "handshake_response.attributes['%s'] must be a string, "
								 "got %s", lua_tostring(L, -2), luaL_typename(L, -1)));
		if (++count > MAX_CONNECT_ATTRS)
			luaL_argerror(L, arg, lua_pushfstring(L, "handshake_response.attributes has more than %d entries",
							      static_cast<int>(MAX_CONNECT_ATTRS)));
		lua_pop(L, 1);
	}
}

} // namespace

bool push_handshake_response(lua_State *L, const HandshakeResponseFields &fields) noexcept
{
	if (lua_checkstack(L, 2) == 0)
		return false;
	lua_pushcfunction(L, build_handshake_response);
	lua_pushlightuserdata(L, const_cast<HandshakeResponseFields *>(&fields));
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		lua_pop(L, 1);
		return false;
	}
	return true;
}

LuaHandshakeResponse check_lua_handshake_response(lua_State *L, int arg)
{
	arg = lua_absindex(L, arg);
	luaL_checktype(L, arg, LUA_TTABLE);
	luaL_checkstack(L, 8, "handshake_response");

	LuaHandshakeResponse checked{};
	checked.user = *check_string_field(L, arg, arg, "user", false);
	checked.password = check_string_field(L, arg, arg, "password", true);

	const int sha1_type = lua_getfield(L, arg, "password_sha1");
	if (sha1_type != LUA_TNIL) {
		if (sha1_type != LUA_TSTRING)
			luaL_argerror(L, arg, "handshake_response.password_sha1 must be nil or a string of 20 bytes");
		std::size_t length;
		const char *bytes = lua_tolstring(L, -1, &length);
		if (length != password_sha1_length)
			luaL_argerror(L, arg, lua_pushfstring(L, "handshake_response.password_sha1 must be exactly "
								 "%d bytes, got %d",
							      static_cast<int>(password_sha1_length),
							      static_cast<int>(length)));
		checked.password_sha1 = std::string_view(bytes, length);
	}

	checked.database = check_string_field(L, arg, arg, "database", true).value_or(std::string_view());

	const int attributes_type = lua_getfield(L, arg, "attributes");
	if (attributes_type == LUA_TTABLE) {
		checked.attributes_index = lua_gettop(L);
		check_attributes(L, arg, checked.attributes_index);
	} else if (attributes_type != LUA_TNIL) {
		luaL_argerror(L, arg, lua_pushfstring(L, "handshake_response.attributes must be nil or a table, got %s",
						      luaL_typename(L, -1)));
	}
	return checked;
}

void copy_lua_handshake_response(lua_State *L, const LuaHandshakeResponse &checked, ConnectAction &action)
{
	action.user.assign(checked.user);
	if (checked.password)
		action.password.emplace(*checked.password);
	if (checked.password_sha1) {
		auto &digest = action.password_sha1.emplace();
		std::memcpy(digest.data(), checked.password_sha1->data(), digest.size());
	}
	action.database.assign(checked.database);

	if (checked.attributes_index == 0)
		return;
	lua_pushnil(L);
	while (lua_next(L, checked.attributes_index) != 0) {
		if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING &&
		    action.attributes.size() < MAX_CONNECT_ATTRS) {
			std::size_t key_length, value_length;
			const char *key = lua_tolstring(L, -2, &key_length);
			const char *value = lua_tolstring(L, -1, &value_length);
			action.attributes.emplace_back(std::string(key, key_length), std::string(value, value_length));
		}
		lua_pop(L, 1);
	}
}

} // namespace myproxy
