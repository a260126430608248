// Unit tests for lua/config_loader (and through it lua/lua_address and lua/lua_state): small config.lua
// files written to a private temporary directory, good ones and every kind of mistake an administrator
// makes, each of which must come back as one ConfigError naming the file and, where Lua knows it, the line.
#include "lua/config_loader.hpp"
#include "lua/lua_address.hpp"
#include "tests/check_main.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <lua.hpp>

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

using namespace myproxy;

/* ck_assert_str_eq() keeps only the char pointers, which dangle when the argument is a temporary string. */
static void assert_str_eq(const std::string &actual, const std::string &expected)
{
	ck_assert_msg(actual == expected, "got '%s', expected '%s'", actual.c_str(), expected.c_str());
}

static char temp_dir[] = "/tmp/check_config_loader.XXXXXX";

static std::string config_path()
{
	return std::string(temp_dir) + "/config.lua";
}

static std::string write_config(const std::string &text)
{
	const std::string path = config_path();
	FILE *f = std::fopen(path.c_str(), "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(std::fwrite(text.data(), 1, text.size(), f), text.size());
	ck_assert_int_eq(std::fclose(f), 0);
	return path;
}

static LoadedConfig load_good(const std::string &text)
{
	ConfigResult result = load_config(write_config(text));
	ck_assert_msg(result.ok(), "unexpected error: %s", result.ok() ? "" : result.error().message.c_str());
	return std::move(result.value());
}

static ConfigError load_bad(const std::string &text)
{
	ConfigResult result = load_config(write_config(text));
	ck_assert_msg(!result.ok(), "config was accepted:\n%s", text.c_str());
	return result.error();
}

/* The message must be exactly "PATH:LINE: problem" (line 0: "PATH: problem"). */
static void assert_error(const ConfigError &error, int line, const std::string &problem)
{
	const std::string where = config_path() + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": ";
	const std::string expected = where + problem;
	assert_str_eq(error.message, expected);
}

static const char handler_lua[] = "local h = { on_handshake_response = function(client, hr) end }\n";

START_TEST(test_good_config)
{
	LoadedConfig config = load_good(std::string(handler_lua) + // line 1
				  "worker_processes = 3\n"
				  "mysql_listen('/run/myproxy.sock', h)\n"                   // line 3
				  "local full = {\n"
				  "  on_connect = function(client) end,\n"
				  "  on_handshake_response = function(client, hr) end,\n"
				  "  on_command_phase = function(client) end,\n"
				  "  on_init_db = function(client, db) end,\n"
				  "}\n"
				  "mysql_listen(mysql_resolve('127.0.0.1:3307'), full)\n"    // line 10
				  "mysql_listen('*:3306', h)\n"
				  "mysql_listen(systemd, h)\n");
	ck_assert_int_eq(config.worker_processes, 3);
	ck_assert_uint_eq(config.listeners.size(), 4);

	const ListenerConfig &unix_listener = config.listeners[0];
	ck_assert(!unix_listener.systemd);
	ck_assert_int_eq(unix_listener.address.family(), AF_UNIX);
	assert_str_eq(unix_listener.description, "/run/myproxy.sock");
	assert_str_eq(unix_listener.origin, (config_path() + ":3"));

	const ListenerConfig &tcp = config.listeners[1];
	assert_str_eq(tcp.description, "127.0.0.1:3307");
	assert_str_eq(tcp.origin, (config_path() + ":10"));
	assert_str_eq(config.listeners[2].description, "[::]:3306");
	ck_assert(config.listeners[3].systemd);
	ck_assert(!config.listeners[3].address.defined());
	assert_str_eq(config.listeners[3].description, "systemd");

	/* The refs lead to the handler tables, alive in the state that workers will inherit. */
	lua_State *L = config.state.get();
	lua_rawgeti(L, LUA_REGISTRYINDEX, tcp.handler_ref);
	ck_assert_int_eq(lua_type(L, -1), LUA_TTABLE);
	ck_assert_int_eq(lua_getfield(L, -1, "on_init_db"), LUA_TFUNCTION);
	lua_pop(L, 2);
	lua_rawgeti(L, LUA_REGISTRYINDEX, unix_listener.handler_ref);
	lua_rawgeti(L, LUA_REGISTRYINDEX, config.listeners[3].handler_ref);
	ck_assert(lua_rawequal(L, -1, -2));
	lua_pop(L, 2);
}
END_TEST

/* Startup-only functions refuse to work once the state is handed on. */
START_TEST(test_after_loading)
{
	LoadedConfig config = load_good(std::string(handler_lua) + "mysql_listen('@myproxy', h)\n");
	lua_State *L = config.state.get();

	ck_assert_int_ne(luaL_dostring(L, "mysql_listen('/x', {on_handshake_response = print})"), LUA_OK);
	ck_assert_ptr_nonnull(std::strstr(lua_tostring(L, -1), "mysql_listen() works only while config.lua is loading"));
	lua_pop(L, 1);

	ck_assert_int_ne(luaL_dostring(L, "return mysql_resolve('localhost:3307')"), LUA_OK);
	ck_assert_ptr_nonnull(std::strstr(lua_tostring(L, -1),
					  "bad argument #1 to 'mysql_resolve' (host name in 'localhost:3307' "
					  "(host names are resolved only at startup))"));
	lua_pop(L, 1);

	/* numeric addresses still work, e.g. for client:connect() in a worker */
	ck_assert_int_eq(luaL_dostring(L, "return tostring(mysql_resolve('[::1]:3307'))"), LUA_OK);
	assert_str_eq(lua_tostring(L, -1), "[::1]:3307");
	lua_pop(L, 1);
}
END_TEST

START_TEST(test_default_worker_processes)
{
	LoadedConfig config = load_good(std::string(handler_lua) + "mysql_listen('/run/x.sock', h)\n");
	const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	ck_assert_int_eq(config.worker_processes, cpus < 1 ? 1 : cpus > 1024 ? 1024 : cpus);

	Config integral = load_good(std::string(handler_lua) + "mysql_listen('/run/x.sock', h)\n"
								"worker_processes = 4.0\n");
	ck_assert_int_eq(integral.worker_processes, 4);
}
END_TEST

START_TEST(test_bad_worker_processes)
{
	const std::string base = std::string(handler_lua) + "mysql_listen('/run/x.sock', h)\n";
	const std::string problem = "worker_processes must be an integer from 1 to 1024, got ";
	assert_error(load_bad(base + "worker_processes = 0\n"), 0, problem + "0");
	assert_error(load_bad(base + "worker_processes = 'x'\n"), 0, problem + "string");
	assert_error(load_bad(base + "worker_processes = '4'\n"), 0, problem + "string");
	assert_error(load_bad(base + "worker_processes = 1025\n"), 0, problem + "1025");
	assert_error(load_bad(base + "worker_processes = 2.5\n"), 0, problem + "2.5");
	assert_error(load_bad(base + "worker_processes = -1\n"), 0, problem + "-1");
	assert_error(load_bad(base + "worker_processes = {}\n"), 0, problem + "table");
}
END_TEST

START_TEST(test_max_pending_logins_per_uid)
{
	const std::string base = std::string(handler_lua) + "mysql_listen('/run/x.sock', h)\n";
	ck_assert_int_eq(load_good(base).max_pending_logins_per_uid, 1024);
	ck_assert_int_eq(load_good(base + "max_pending_logins_per_uid = 8\n").max_pending_logins_per_uid, 8);
	const std::string problem = "max_pending_logins_per_uid must be an integer from 1 to 1000000, got ";
	assert_error(load_bad(base + "max_pending_logins_per_uid = 0\n"), 0, problem + "0");
	assert_error(load_bad(base + "max_pending_logins_per_uid = 1.5\n"), 0, problem + "1.5");
	assert_error(load_bad(base + "max_pending_logins_per_uid = '8'\n"), 0, problem + "string");
}
END_TEST

START_TEST(test_connect_timeout)
{
	const std::string base = std::string(handler_lua) + "mysql_listen('/run/x.sock', h)\n";
	ck_assert_uint_eq(load_good(base).connect_timeout_usec, 10'000'000);
	ck_assert_uint_eq(load_good(base + "connect_timeout = 1\n").connect_timeout_usec, 1'000'000);
	ck_assert_uint_eq(load_good(base + "connect_timeout = 2.5\n").connect_timeout_usec, 2'500'000);
	ck_assert_uint_eq(load_good(base + "connect_timeout = 3600\n").connect_timeout_usec, 3'600'000'000);
	/* Set before mysql_listen() works as well; a tiny fraction rounds up, never to "no deadline". */
	ck_assert_uint_eq(load_good("connect_timeout = 0.25\n" + base).connect_timeout_usec, 250'000);
	ck_assert_uint_eq(load_good(base + "connect_timeout = 1e-9\n").connect_timeout_usec, 1);
	/* It does not disturb worker_processes, nor the other way round. */
	Config both = load_good(base + "worker_processes = 2\nconnect_timeout = 30\n");
	ck_assert_int_eq(both.worker_processes, 2);
	ck_assert_uint_eq(both.connect_timeout_usec, 30'000'000);
}
END_TEST

START_TEST(test_bad_connect_timeout)
{
	const std::string base = std::string(handler_lua) + "mysql_listen('/run/x.sock', h)\n";
	const std::string problem = "connect_timeout must be a number of seconds above 0 and at most 3600, got ";
	assert_error(load_bad(base + "connect_timeout = 0\n"), 0, problem + "0");
	assert_error(load_bad(base + "connect_timeout = 0.0\n"), 0, problem + "0.0");
	assert_error(load_bad(base + "connect_timeout = -1\n"), 0, problem + "-1");
	assert_error(load_bad(base + "connect_timeout = -0.5\n"), 0, problem + "-0.5");
	assert_error(load_bad(base + "connect_timeout = 3601\n"), 0, problem + "3601");
	assert_error(load_bad(base + "connect_timeout = 3600.5\n"), 0, problem + "3600.5");
	assert_error(load_bad(base + "connect_timeout = math.huge\n"), 0, problem + "inf");
	assert_error(load_bad(base + "connect_timeout = 'x'\n"), 0, problem + "string");
	assert_error(load_bad(base + "connect_timeout = '10'\n"), 0, problem + "string");
	assert_error(load_bad(base + "connect_timeout = true\n"), 0, problem + "boolean");
	assert_error(load_bad(base + "connect_timeout = {}\n"), 0, problem + "table");
	/* NaN compares false both ways; Lua spells it "nan" or "-nan" depending on the C library. */
	const ConfigError nan = load_bad(base + "connect_timeout = 0/0\n");
	ck_assert_msg(nan.message.find(problem) != std::string::npos && nan.message.find("nan") != std::string::npos,
		      "unexpected message: %s", nan.message.c_str());
}
END_TEST

START_TEST(test_syntax_error)
{
	const ConfigError error = load_bad("local a = 1\nlocal = 2\n");
	ck_assert_msg(error.message.find(config_path() + ":2: ") == 0, "%s", error.message.c_str());
	ck_assert(error.traceback.empty());
	ck_assert_ptr_nonnull(std::strstr(error.message.c_str(), "config.lua:2:"));
}
END_TEST

START_TEST(test_binary_chunk_refused)
{
	const ConfigError error = load_bad("\x1bLua binary");
	assert_error(error, 0, "attempt to load a binary chunk (mode is 't')");
}
END_TEST

START_TEST(test_runtime_error)
{
	const ConfigError error = load_bad("local a = 1\n\nerror('boom')\n");
	assert_error(error, 3, "boom");
	ck_assert_msg(error.traceback.find("stack traceback:") == 0, "%s", error.traceback.c_str());
	ck_assert_ptr_nonnull(std::strstr(error.traceback.c_str(), "config.lua:3: in main chunk"));

	const ConfigError nil_call = load_bad("\nlocal t = nil\nt.x = 1\n");
	assert_error(nil_call, 3, "attempt to index a nil value (local 't')");

	/* Without a position from Lua, the file name still leads. */
	assert_error(load_bad("error('plain', 0)\n"), 0, "plain");
	assert_error(load_bad("error({})\n"), 0, "(error object is a table value)");
	assert_error(load_bad("error(setmetatable({}, {__tostring = function() return 'custom' end}))\n"), 0,
		     "custom");
	assert_error(load_bad("error(42, 0)\n"), 0, "42");
}
END_TEST

START_TEST(test_handler_errors)
{
	assert_error(load_bad("\nmysql_listen('/run/x.sock', 42)\n"), 2,
		     "bad argument #2 to 'mysql_listen' (table expected, got number)");
	assert_error(load_bad("mysql_listen('/run/x.sock')\n"), 1,
		     "bad argument #2 to 'mysql_listen' (table expected, got nil)");
	assert_error(load_bad("mysql_listen('/run/x.sock', {on_handshake_response = print,\n"
			      "  on_connect = 'yes'})\n"),
		     1, "bad argument #2 to 'mysql_listen' (handler.on_connect must be a function, got string)");
	assert_error(load_bad("mysql_listen('/run/x.sock', {on_connect = print})\n"), 1,
		     "bad argument #2 to 'mysql_listen' (handler.on_handshake_response is required)");
	assert_error(load_bad("mysql_listen('/run/x.sock', {})\n"), 1,
		     "bad argument #2 to 'mysql_listen' (handler.on_handshake_response is required)");
	assert_error(load_bad("mysql_listen('/run/x.sock', {on_handshake_response = print, on_conect = print})\n"),
		     1,
		     "bad argument #2 to 'mysql_listen' (unknown handler field 'on_conect' (expected on_connect, "
		     "on_handshake_response, on_command_phase or on_init_db))");
	assert_error(load_bad("mysql_listen('/run/x.sock', {print, on_handshake_response = print})\n"), 1,
		     "bad argument #2 to 'mysql_listen' (handler keys must be strings, got a number key)");
}
END_TEST

/* The options auth_plugins and rsa_private_key (lua/listener_auth). */
START_TEST(test_listener_auth)
{
	const std::string base = std::string(handler_lua);
	LoadedConfig config = load_good(base + "mysql_listen('/run/a.sock', h)\n"
					 "mysql_listen('/run/b.sock', h, {auth_plugins = 'mysql_native_password'})\n"
					 "mysql_listen('/run/c.sock', h,\n"
					 "  {auth_plugins = {'caching_sha2_password', 'mysql_native_password'}})\n"
					 "mysql_listen('/run/d.sock', h,\n"
					 "  {auth_plugins = {'mysql_clear_password', 'caching_sha2_password'}})\n");
	ck_assert_uint_eq(config.listeners.size(), 4);
	const auto &a = config.listeners[0].auth, &b = config.listeners[1].auth;
	const auto &c = config.listeners[2].auth, &d = config.listeners[3].auth;
	ck_assert(a.plugins == std::vector<ClientAuthPlugin>{ClientAuthPlugin::clear_password} && !a.rsa);
	ck_assert(b.plugins == std::vector<ClientAuthPlugin>{ClientAuthPlugin::native_password} && !b.rsa);
	ck_assert(c.plugins.size() == 2 && c.plugins[0] == ClientAuthPlugin::caching_sha2_password &&
		  c.plugins[1] == ClientAuthPlugin::native_password);
	/* One generated key serves every listener without its own. */
	ck_assert(c.rsa && d.rsa && c.rsa->key == d.rsa->key);
	ck_assert(c.rsa->public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));

	/* A key file, read at load time. */
	EVP_PKEY *key = EVP_RSA_gen(2048);
	ck_assert_ptr_nonnull(key);
	const std::string key_path = std::string(temp_dir) + "/key.pem";
	FILE *f = std::fopen(key_path.c_str(), "w");
	ck_assert(f != nullptr && PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1);
	std::fclose(f);
	EVP_PKEY_free(key);
	config = load_good(base + "mysql_listen('/run/a.sock', h, {auth_plugins = 'caching_sha2_password',\n"
				  "  rsa_private_key = '" + key_path + "'})\n");
	ck_assert(config.listeners[0].auth.rsa.has_value());

	const std::string listen = base + "mysql_listen('/run/a.sock', h, {";
	const std::string bad = "bad argument #3 to 'mysql_listen' (";
	assert_error(load_bad(listen + "auth_plugins = 'sha256_password'})\n"), 2,
		     bad + "option auth_plugins: unknown plugin 'sha256_password' (expected mysql_clear_password, "
			   "mysql_native_password or caching_sha2_password))");
	assert_error(load_bad(listen + "auth_plugins = {}})\n"), 2,
		     bad + "option auth_plugins must name between 1 and 3 distinct plugins)");
	assert_error(load_bad(listen + "auth_plugins = {'mysql_native_password', 'mysql_native_password'}})\n"), 2,
		     bad + "option auth_plugins names a plugin twice)");
	assert_error(load_bad(listen + "auth_plugins = {'mysql_native_password', x = 1}})\n"), 2,
		     bad + "option auth_plugins must be an array (no other keys))");
	assert_error(load_bad(listen + "auth_plugins = 7})\n"), 2,
		     bad + "option auth_plugins must be a string or an array of strings, got number)");
	assert_error(load_bad(listen + "auth_plugins = {true}})\n"), 2,
		     bad + "option auth_plugins: entries must be strings, got boolean)");
	assert_error(load_bad(listen + "rsa_private_key = false})\n"), 2,
		     bad + "option rsa_private_key must be a file name, got boolean)");
	assert_error(load_bad(listen + "rsa_private_key = '/nonexistent/key.pem'})\n"), 2,
		     "rsa_private_key: cannot open /nonexistent/key.pem: No such file or directory");
	assert_error(load_bad(listen + "rsa_private_key = '" + config_path() + "'})\n"), 2,
		     "rsa_private_key: " + config_path() + ": not an unencrypted PEM private key");
}
END_TEST

START_TEST(test_handler_changed_afterwards)
{
	assert_error(load_bad(std::string(handler_lua) + "mysql_listen('/run/x.sock', h)\n"
							 "h.on_command = print\n"),
		     2, "handler of mysql_listen() changed afterwards: unknown handler field 'on_command' (expected "
			"on_connect, on_handshake_response, on_command_phase or on_init_db)");

	/* Filling in an optional callback later is fine. */
	LoadedConfig config = load_good(std::string(handler_lua) + "mysql_listen('/run/x.sock', h)\n"
							     "function h.on_connect(client) end\n");
	ck_assert_uint_eq(config.listeners.size(), 1);
}
END_TEST

/* As upstream, the script runs in its own directory: relative dofile(), io.open() and mysql_listen()
 * paths resolve next to it; afterwards the caller's directory is current again. */
START_TEST(test_config_directory)
{
	const std::string helper = std::string(temp_dir) + "/helper.lua";
	FILE *f = std::fopen(helper.c_str(), "w");
	ck_assert_ptr_nonnull(f);
	std::fputs("return 'from helper'\n", f);
	ck_assert_int_eq(std::fclose(f), 0);
	char before[4096];
	ck_assert_ptr_nonnull(getcwd(before, sizeof(before)));
	ck_assert_int_eq(chdir("/"), 0);
	Config config = load_good(std::string(handler_lua) +
				  "assert(dofile('helper.lua') == 'from helper')\n"
				  "assert(io.open('./helper.lua')):close()\n"
				  "mysql_listen('run/x.sock', h)\n"
				  "mysql_listen('./y.sock', h)\n");
	assert_str_eq(config.listeners[0].description, std::string(temp_dir) + "/run/x.sock");
	assert_str_eq(config.listeners[1].description, std::string(temp_dir) + "/./y.sock");
	char after[4096];
	ck_assert_ptr_nonnull(getcwd(after, sizeof(after)));
	assert_str_eq(after, "/");
	ck_assert_int_eq(chdir(before), 0);
	/* A failing script leaves the directory as it was, too. */
	load_bad("dofile('no-such-file.lua')\n");
	ck_assert_ptr_nonnull(getcwd(after, sizeof(after)));
	assert_str_eq(after, before);
	ck_assert_int_eq(unlink(helper.c_str()), 0);
}
END_TEST

START_TEST(test_address_errors)
{
	const std::string base = std::string(handler_lua);
	assert_error(load_bad(base + "mysql_listen('1.2.3.4:99999', h)\n"), 2,
		     "bad argument #1 to 'mysql_listen' (port out of range in '1.2.3.4:99999')");
	assert_error(load_bad(base + "mysql_listen(mysql_resolve('run/x.sock'), h)\n"), 2,
		     "bad argument #1 to 'mysql_resolve' (socket path not absolute in 'run/x.sock')");
	assert_error(load_bad(base + "mysql_listen(3306, h)\n"), 2,
		     "bad argument #1 to 'mysql_listen' (address or systemd expected, got number)");
	assert_error(load_bad(base + "mysql_listen(nil, h)\n"), 2,
		     "bad argument #1 to 'mysql_listen' (address or systemd expected, got nil)");
	assert_error(load_bad(base + "mysql_listen('/run/x.sock', h)\nmysql_listen(mysql_resolve('/run/x.sock'), h)\n"),
		     3, "bad argument #1 to 'mysql_listen' (/run/x.sock is already a listener (" + config_path() +
				":2))");
	assert_error(load_bad(base + "mysql_listen(systemd, h)\nmysql_listen(systemd, h)\n"), 3,
		     "bad argument #1 to 'mysql_listen' (systemd is already a listener (" + config_path() + ":2))");
}
END_TEST

START_TEST(test_no_listeners)
{
	assert_error(load_bad("worker_processes = 2\n"), 0, "no mysql_listen() in config.lua");
	assert_error(load_bad(""), 0, "no mysql_listen() in config.lua");
}
END_TEST

START_TEST(test_mysql_resolve)
{
	LoadedConfig config = load_good(std::string(handler_lua) + "mysql_listen('/run/x.sock', h)\n"
							     "v4 = tostring(mysql_resolve('1.2.3.4'))\n"
							     "v4port = tostring(mysql_resolve('1.2.3.4:3307'))\n"
							     "v6 = tostring(mysql_resolve('[::1]:3307'))\n"
							     "path = tostring(mysql_resolve('/run/mysqld/mysqld.sock'))\n"
							     "abstract = tostring(mysql_resolve('@mysqld'))\n"
							     "host = tostring(mysql_resolve('localhost:3308'))\n"
							     "same = mysql_resolve('1.2.3.4') == mysql_resolve('1.2.3.4:3306')\n"
							     "differ = mysql_resolve('1.2.3.4') ~= mysql_resolve('1.2.3.5')\n"
							     "again = tostring(mysql_resolve(mysql_resolve('@x')))\n"
							     "meta = getmetatable(mysql_resolve('@x'))\n");
	lua_State *L = config.state.get();
	const struct {
		const char *global;
		const char *expected;
	} cases[] = {
		{"v4", "1.2.3.4:3306"},       {"v4port", "1.2.3.4:3307"}, {"v6", "[::1]:3307"},
		{"path", "/run/mysqld/mysqld.sock"}, {"abstract", "@mysqld"},     {"again", "@x"},
	};
	for (const auto &c : cases) {
		lua_getglobal(L, c.global);
		assert_str_eq(lua_tostring(L, -1), c.expected);
		lua_pop(L, 1);
	}
	lua_getglobal(L, "host");
	const std::string host = lua_tostring(L, -1);
	lua_pop(L, 1);
	ck_assert_msg(host == "127.0.0.1:3308" || host == "[::1]:3308", "%s", host.c_str());
	lua_getglobal(L, "same");
	ck_assert(lua_toboolean(L, -1));
	lua_getglobal(L, "differ");
	ck_assert(lua_toboolean(L, -1));
	lua_getglobal(L, "meta");
	ck_assert_int_eq(lua_type(L, -1), LUA_TBOOLEAN);
	lua_pop(L, 3);
}
END_TEST

START_TEST(test_mysql_resolve_errors)
{
	assert_error(load_bad("\nlocal a = mysql_resolve('[::1')\n"), 2,
		     "bad argument #1 to 'mysql_resolve' (missing ']' in '[::1')");
	assert_error(load_bad("local a = mysql_resolve()\n"), 1,
		     "bad argument #1 to 'mysql_resolve' (address string or mysql_resolve() result expected, got "
		     "no value)");
	assert_error(load_bad("local a = mysql_resolve({})\n"), 1,
		     "bad argument #1 to 'mysql_resolve' (address string or mysql_resolve() result expected, got "
		     "table)");
	const ConfigError unknown = load_bad("local a = mysql_resolve('no-such-host.invalid:3306')\n");
	ck_assert_msg(unknown.message.find(config_path() + ":1: bad argument #1 to 'mysql_resolve' (cannot resolve "
					   "'no-such-host.invalid': ") == 0,
		      "%s", unknown.message.c_str());
}
END_TEST

START_TEST(test_heap_limit)
{
	const ConfigError error = load_bad(std::string(handler_lua) + "mysql_listen('/run/x.sock', h)\n"
								       "local t = string.rep('x', 1e9)\n");
	assert_error(error, 0, "not enough memory (Lua heap limit reached)");

	/* Scripts may catch the error themselves and go on: the state stays usable. */
	LoadedConfig config = load_good(std::string(handler_lua) + "mysql_listen('/run/x.sock', h)\n"
							     "ok, err = pcall(string.rep, 'x', 1e9)\n");
	lua_State *L = config.state.get();
	lua_getglobal(L, "err");
	assert_str_eq(lua_tostring(L, -1), "not enough memory");
	lua_pop(L, 1);
	ck_assert_uint_le(config.state.heap_used(), config.state.heap_limit());

	/* A smaller cap applies to the whole script. */
	ConfigResult small = load_config(write_config(std::string(handler_lua) + "mysql_listen('/run/x.sock', h)\n"
										  "local t = string.rep('x', 2e6)\n"),
					 1 << 20);
	ck_assert(!small.ok());
	assert_str_eq(small.error().message,
			 (config_path() + ": not enough memory (Lua heap limit reached)"));
}
END_TEST

START_TEST(test_lua_state)
{
	LuaState state(8 << 20);
	ck_assert_uint_gt(state.heap_used(), 0);
	ck_assert_uint_eq(state.heap_limit(), 8 << 20);
	lua_State *L = state.get();
	ck_assert_int_eq(luaL_dostring(L, "return string.format('%d', 42)"), LUA_OK);
	assert_str_eq(lua_tostring(L, -1), "42");
	lua_pop(L, 1);

	ck_assert_int_eq(luaL_loadstring(L, "local t = {} for i = 1, 1e6 do t[i] = i end"), LUA_OK);
	state.set_heap_limit(state.heap_used());
	ck_assert_int_eq(lua_pcall(L, 0, 0, 0), LUA_ERRMEM);
	assert_str_eq(lua_tostring(L, -1), "not enough memory");
	lua_pop(L, 1);
	state.set_heap_limit(8 << 20);

	LuaState moved = std::move(state);
	ck_assert_ptr_eq(moved.get(), L);
	ck_assert_ptr_null(state.get());
	ck_assert_int_eq(luaL_dostring(L, "return 1 + 1"), LUA_OK);
	lua_pop(L, 1);

	try {
		LuaState too_small(1024);
		ck_abort_msg("a Lua state fit in 1 KiB");
	} catch (const std::bad_alloc &) {
	}
}
END_TEST

START_TEST(test_missing_file)
{
	const std::string path = std::string(temp_dir) + "/absent.lua";
	ConfigResult result = load_config(path);
	ck_assert(!result.ok());
	const std::string expected = "cannot open " + path + ": " + std::strerror(ENOENT);
	assert_str_eq(result.error().message, expected);

	ConfigResult directory = load_config(temp_dir);
	ck_assert(!directory.ok());
	assert_str_eq(directory.error().message,
			 ("cannot read " + std::string(temp_dir) + ": " + std::strerror(EISDIR)));
}
END_TEST

START_TEST(test_supervision_globals)
{
	const std::string base = std::string(handler_lua) + "mysql_listen('/run/x.sock', h)\n";
	const Config defaults = load_good(base);
	ck_assert_uint_eq(defaults.drain_timeout_usec, 10'000'000);
	ck_assert_uint_eq(defaults.crash_penalty_usec, 90'000'000);
	ck_assert(defaults.worker_user.empty());

	const Config set = load_good(base + "drain_timeout = 2.5\ncrash_penalty = 0\nworker_user = 'myproxy'\n");
	ck_assert_uint_eq(set.drain_timeout_usec, 2'500'000);
	ck_assert_uint_eq(set.crash_penalty_usec, 0);
	assert_str_eq(set.worker_user, "myproxy");
	ck_assert_uint_eq(load_good(base + "drain_timeout = 0\n").drain_timeout_usec, 0);
	ck_assert_uint_eq(load_good(base + "crash_penalty = 86400\n").crash_penalty_usec, 86'400'000'000);

	assert_error(load_bad(base + "drain_timeout = -1\n"), 0,
		     "drain_timeout must be a number of seconds from 0 to 86400, got -1");
	assert_error(load_bad(base + "crash_penalty = '90'\n"), 0,
		     "crash_penalty must be a number of seconds from 0 to 86400, got string");
	assert_error(load_bad(base + "crash_penalty = 86401\n"), 0,
		     "crash_penalty must be a number of seconds from 0 to 86400, got 86401");
	assert_error(load_bad(base + "worker_user = 65534\n"), 0, "worker_user must be a user name, got number");
	assert_error(load_bad(base + "worker_user = ''\n"), 0, "worker_user must be a user name, got an empty or odd string");
	assert_error(load_bad(base + "worker_user = 'a\\0b'\n"), 0,
		     "worker_user must be a user name, got an empty or odd string");
}
END_TEST

START_TEST(test_relay_io_global)
{
	const std::string base = std::string(handler_lua) + "mysql_listen('/run/x.sock', h)\n";
	ck_assert(load_good(base).relay_io == RelayIo::automatic);
	ck_assert(load_good(base + "relay_io = 'auto'\n").relay_io == RelayIo::automatic);
	ck_assert(load_good(base + "relay_io = 'epoll'\n").relay_io == RelayIo::epoll);
	assert_error(load_bad(base + "relay_io = 'uring'\n"), 0, "relay_io must be \"auto\" or \"epoll\", got uring");
	assert_error(load_bad(base + "relay_io = true\n"), 0, "relay_io must be \"auto\" or \"epoll\", got boolean");
}
END_TEST

START_TEST(test_backend_idle_globals)
{
	const std::string base = std::string(handler_lua) + "mysql_listen('/run/x.sock', h)\n";
	const Config defaults = load_good(base);
	ck_assert_int_eq(defaults.backend_idle_max, 32);
	ck_assert_uint_eq(defaults.backend_idle_timeout_usec, 10'000'000);
	const Config set = load_good(base + "backend_idle_max = 0\nbackend_idle_timeout = 2.5\n");
	ck_assert_int_eq(set.backend_idle_max, 0);
	ck_assert_uint_eq(set.backend_idle_timeout_usec, 2'500'000);
	ck_assert_int_eq(load_good(base + "backend_idle_max = 100000\n").backend_idle_max, 100000);
	assert_error(load_bad(base + "backend_idle_max = 100001\n"), 0,
		     "backend_idle_max must be an integer from 0 to 100000, got 100001");
	assert_error(load_bad(base + "backend_idle_max = 1.5\n"), 0,
		     "backend_idle_max must be an integer from 0 to 100000, got 1.5");
	assert_error(load_bad(base + "backend_idle_timeout = 3601\n"), 0,
		     "backend_idle_timeout must be a number of seconds from 0 to 3600, got 3601");
	assert_error(load_bad(base + "backend_idle_timeout = 'long'\n"), 0,
		     "backend_idle_timeout must be a number of seconds from 0 to 3600, got string");
}
END_TEST

static Suite *config_loader_suite()
{
	Suite *s = suite_create("config_loader");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_good_config);
	tcase_add_test(tc, test_after_loading);
	tcase_add_test(tc, test_default_worker_processes);
	tcase_add_test(tc, test_bad_worker_processes);
	tcase_add_test(tc, test_max_pending_logins_per_uid);
	tcase_add_test(tc, test_connect_timeout);
	tcase_add_test(tc, test_bad_connect_timeout);
	tcase_add_test(tc, test_supervision_globals);
	tcase_add_test(tc, test_backend_idle_globals);
	tcase_add_test(tc, test_syntax_error);
	tcase_add_test(tc, test_binary_chunk_refused);
	tcase_add_test(tc, test_runtime_error);
	tcase_add_test(tc, test_handler_errors);
	tcase_add_test(tc, test_handler_changed_afterwards);
	tcase_add_test(tc, test_address_errors);
	tcase_add_test(tc, test_config_directory);
	tcase_add_test(tc, test_no_listeners);
	tcase_add_test(tc, test_mysql_resolve);
	tcase_add_test(tc, test_mysql_resolve_errors);
	tcase_add_test(tc, test_heap_limit);
	tcase_add_test(tc, test_listener_auth);
	tcase_add_test(tc, test_lua_state);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_relay_io_global);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	if (mkdtemp(temp_dir) == nullptr) {
		std::perror("mkdtemp");
		return EXIT_FAILURE;
	}
	const int status = run_check_suites({config_loader_suite()});
	unlink(config_path().c_str());
	rmdir(temp_dir);
	return status;
}
