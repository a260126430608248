// Listener authentication settings; see listener_auth.hpp.  Master side, at startup only.
#include "lua/listener_auth.hpp"

#include <lua.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace myproxy {

namespace {

constexpr std::string_view plugin_names[] = {"mysql_clear_password", "mysql_native_password",
					     "caching_sha2_password"};

constexpr const char *auth_fields[] = {"auth_plugins", "rsa_private_key"};

/* 2048 bits, as MySQL generates for caching_sha2_password. */
constexpr int generated_key_bits = 2048;

/* A key file is small; anything bigger is a mistake (a wrong path). */
constexpr std::streamsize key_file_max = 64 * 1024;

bool check_plugin_name(lua_State *L, int idx)
{
	if (lua_type(L, idx) != LUA_TSTRING) {
		lua_pushfstring(L, "handler.auth_plugins entries must be strings, got %s", luaL_typename(L, idx));
		return false;
	}
	std::size_t length;
	const char *name = lua_tolstring(L, idx, &length);
	if (!parse_client_auth_plugin(std::string_view(name, length))) {
		lua_pushfstring(L, "handler.auth_plugins: unknown plugin '%s' (expected mysql_clear_password, "
				   "mysql_native_password or caching_sha2_password)", name);
		return false;
	}
	return true;
}

} // namespace

std::string_view client_auth_plugin_name(ClientAuthPlugin plugin) noexcept
{
	return plugin_names[std::size_t(plugin)];
}

std::optional<ClientAuthPlugin> parse_client_auth_plugin(std::string_view name) noexcept
{
	for (std::size_t i = 0; i < std::size(plugin_names); ++i)
		if (plugin_names[i] == name)
			return ClientAuthPlugin(i);
	return std::nullopt;
}

bool ListenerAuth::offers(ClientAuthPlugin plugin) const noexcept
{
	return std::find(plugins.begin(), plugins.end(), plugin) != plugins.end();
}

bool is_listener_auth_field(const char *key) noexcept
{
	for (const char *field : auth_fields)
		if (std::strcmp(key, field) == 0)
			return true;
	return false;
}

bool check_listener_auth_field(lua_State *L, const char *key)
{
	if (std::strcmp(key, "rsa_private_key") == 0) {
		if (lua_type(L, -1) != LUA_TSTRING) {
			lua_pushfstring(L, "handler.rsa_private_key must be a file name, got %s", luaL_typename(L, -1));
			return false;
		}
		return true;
	}
	/* auth_plugins: one name, or a non-empty array of distinct names. */
	if (lua_type(L, -1) == LUA_TSTRING)
		return check_plugin_name(L, -1);
	if (lua_type(L, -1) != LUA_TTABLE) {
		lua_pushfstring(L, "handler.auth_plugins must be a string or an array of strings, got %s",
				luaL_typename(L, -1));
		return false;
	}
	const lua_Integer count = lua_Integer(lua_rawlen(L, -1));
	if (count == 0 || count > lua_Integer(std::size(plugin_names))) {
		lua_pushliteral(L, "handler.auth_plugins must name between 1 and 3 distinct plugins");
		return false;
	}
	unsigned seen = 0;
	for (lua_Integer i = 1; i <= count; ++i) {
		lua_rawgeti(L, -1, i);
		if (!check_plugin_name(L, -1))
			return false;
		const unsigned bit = 1u << unsigned(*parse_client_auth_plugin(lua_tostring(L, -1)));
		lua_pop(L, 1);
		if ((seen & bit) != 0) {
			lua_pushliteral(L, "handler.auth_plugins names a plugin twice");
			return false;
		}
		seen |= bit;
	}
	std::size_t keys = 0;
	lua_pushnil(L);
	while (lua_next(L, -2) != 0) {
		lua_pop(L, 1);
		++keys;
	}
	if (keys != std::size_t(count)) {
		lua_pushliteral(L, "handler.auth_plugins must be an array (no other keys)");
		return false;
	}
	return true;
}

static bool read_key_file(const std::string &path, std::string &text, std::string &problem)
{
	std::ifstream file(path, std::ios::binary);
	if (!file) {
		problem = "handler.rsa_private_key: cannot open " + path + ": " + std::strerror(errno);
		return false;
	}
	std::ostringstream buffer;
	buffer << file.rdbuf();
	text = buffer.str();
	if (std::streamsize(text.size()) > key_file_max) {
		problem = "handler.rsa_private_key: " + path + " is too big for a key file";
		return false;
	}
	return true;
}

namespace {

/* What the handler table says, as plain data: filled inside a protected call. */
struct ListenerAuthFields {
	ClientAuthPlugin plugins[std::size(plugin_names)];
	std::size_t count;
	/* Into the handler table's string, which outlives this load. */
	const char *key_path;
	std::size_t key_path_length;
};

/* (handler, fields) -> () */
int read_listener_auth_fields(lua_State *L)
{
	auto &fields = *static_cast<ListenerAuthFields *>(lua_touserdata(L, 2));
	if (lua_getfield(L, 1, "auth_plugins") == LUA_TSTRING) {
		fields.plugins[fields.count++] = *parse_client_auth_plugin(lua_tostring(L, -1));
	} else if (lua_type(L, -1) == LUA_TTABLE) {
		const lua_Integer count = lua_Integer(lua_rawlen(L, -1));
		for (lua_Integer i = 1; i <= count && fields.count < std::size(fields.plugins); ++i) {
			lua_rawgeti(L, -1, i);
			fields.plugins[fields.count++] = *parse_client_auth_plugin(lua_tostring(L, -1));
			lua_pop(L, 1);
		}
	}
	if (lua_getfield(L, 1, "rsa_private_key") == LUA_TSTRING)
		fields.key_path = lua_tolstring(L, -1, &fields.key_path_length);
	return 0;
}

} // namespace

bool load_listener_auth(lua_State *L, int idx, ListenerAuth &auth, std::optional<RsaKeyPair> &generated,
			std::string &problem)
{
	ListenerAuthFields fields{};
	idx = lua_absindex(L, idx);
	if (!lua_checkstack(L, 3)) {
		problem = "out of Lua stack";
		return false;
	}
	lua_pushcfunction(L, read_listener_auth_fields);
	lua_pushvalue(L, idx);
	lua_pushlightuserdata(L, &fields);
	if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
		problem = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "cannot read the handler";
		lua_pop(L, 1);
		return false;
	}
	if (fields.count > 0)
		auth.plugins.assign(fields.plugins, fields.plugins + fields.count);

	if (fields.key_path != nullptr) {
		const std::string path(fields.key_path, fields.key_path_length);
		std::string pem;
		if (!read_key_file(path, pem, problem))
			return false;
		auth.rsa = parse_rsa_private_key(pem, problem);
		if (!auth.rsa) {
			problem = "handler.rsa_private_key: " + path + ": " + problem;
			return false;
		}
		return true;
	}
	if (!auth.offers(ClientAuthPlugin::caching_sha2_password))
		return true;
	if (!generated) {
		generated = generate_rsa_key_pair(generated_key_bits, problem);
		if (!generated)
			return false;
	}
	auth.rsa = generated;
	return true;
}

} // namespace myproxy
