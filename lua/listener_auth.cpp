// Listener authentication options; see listener_auth.hpp.  Master side, at startup only.
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

/* 2048 bits, as MySQL generates for caching_sha2_password. */
constexpr int generated_key_bits = 2048;

/* A key file is small; anything bigger is a mistake (a wrong path). */
constexpr std::size_t key_file_max = 64 * 1024;

/* The plugin named by the string at @idx; raises for anything else. */
ClientAuthPlugin check_plugin_name(lua_State *L, int arg, int idx)
{
	if (lua_type(L, idx) != LUA_TSTRING)
		luaL_argerror(L, arg, lua_pushfstring(L, "option auth_plugins: entries must be strings, got %s",
						      luaL_typename(L, idx)));
	std::size_t length;
	const char *name = lua_tolstring(L, idx, &length);
	const auto plugin = parse_client_auth_plugin(std::string_view(name, length));
	if (!plugin)
		luaL_argerror(L, arg, lua_pushfstring(L, "option auth_plugins: unknown plugin '%s' (expected "
							 "mysql_clear_password, mysql_native_password or "
							 "caching_sha2_password)", name));
	return *plugin;
}

/* auth_plugins: one name, or a non-empty array of distinct names. */
void read_plugins(lua_State *L, int arg, ListenerAuthOptions &options)
{
	options.count = 0;
	if (lua_type(L, -1) == LUA_TSTRING) {
		options.plugins[options.count++] = check_plugin_name(L, arg, -1);
		return;
	}
	if (lua_type(L, -1) != LUA_TTABLE)
		luaL_argerror(L, arg, lua_pushfstring(L, "option auth_plugins must be a string or an array of "
							 "strings, got %s", luaL_typename(L, -1)));
	const lua_Integer count = lua_Integer(lua_rawlen(L, -1));
	if (count == 0 || count > lua_Integer(client_auth_plugin_count))
		luaL_argerror(L, arg, "option auth_plugins must name between 1 and 3 distinct plugins");
	std::size_t keys = 0;
	lua_pushnil(L);
	while (lua_next(L, -2) != 0) {
		lua_pop(L, 1);
		++keys;
	}
	if (keys != std::size_t(count))
		luaL_argerror(L, arg, "option auth_plugins must be an array (no other keys)");
	for (lua_Integer i = 1; i <= count; ++i) {
		lua_rawgeti(L, -1, i);
		const ClientAuthPlugin plugin = check_plugin_name(L, arg, -1);
		lua_pop(L, 1);
		if (std::find(options.plugins, options.plugins + options.count, plugin) != options.plugins + options.count)
			luaL_argerror(L, arg, "option auth_plugins names a plugin twice");
		options.plugins[options.count++] = plugin;
	}
}

bool read_key_file(const std::string &path, std::string &text, std::string &problem)
{
	std::ifstream file(path, std::ios::binary);
	if (!file) {
		problem = "rsa_private_key: cannot open " + path + ": " + std::strerror(errno);
		return false;
	}
	std::ostringstream buffer;
	buffer << file.rdbuf();
	text = buffer.str();
	if (text.size() > key_file_max) {
		problem = "rsa_private_key: " + path + " is too big for a key file";
		return false;
	}
	return true;
}

} // namespace

bool read_listener_auth_option(lua_State *L, int arg, ListenerAuthOptions &options)
{
	if (lua_type(L, -2) != LUA_TSTRING)
		return false;
	const char *key = lua_tostring(L, -2);
	if (std::strcmp(key, "auth_plugins") == 0) {
		read_plugins(L, arg, options);
		return true;
	}
	if (std::strcmp(key, "rsa_private_key") == 0) {
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_argerror(L, arg, lua_pushfstring(L, "option rsa_private_key must be a file name, got %s",
							      luaL_typename(L, -1)));
		lua_pushvalue(L, -1);
		options.key_path_ref = luaL_ref(L, LUA_REGISTRYINDEX);
		options.has_key_path = true;
		return true;
	}
	return false;
}

bool load_listener_auth(lua_State *L, const ListenerAuthOptions &options, ListenerAuth &auth,
			std::optional<RsaKeyPair> &generated, std::string &problem)
{
	if (options.count > 0)
		auth.plugins.assign(options.plugins, options.plugins + options.count);

	if (options.has_key_path) {
		if (!lua_checkstack(L, 1) || lua_rawgeti(L, LUA_REGISTRYINDEX, options.key_path_ref) != LUA_TSTRING) {
			lua_pop(L, 1);
			problem = "rsa_private_key: lost its file name";
			return false;
		}
		std::size_t length;
		const char *text = lua_tolstring(L, -1, &length);
		const std::string path(text, length);
		lua_pop(L, 1);
		std::string pem;
		if (!read_key_file(path, pem, problem))
			return false;
		auth.rsa = parse_rsa_private_key(pem, problem);
		if (!auth.rsa) {
			problem = "rsa_private_key: " + path + ": " + problem;
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
