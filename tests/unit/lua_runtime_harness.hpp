// Shared by the Lua runtime unit tests (check_lua_runtime, check_lua_client): a fresh LuaState with a
// handler script loaded from a string, one client object, and the worker's part played by hand.  Test
// code only; a stand-in asynchronous function replaces db:execute() where no PgDriver is set.
#pragma once

#include "lua/lua_compat.hpp"
#include "lua/lua_json.hpp"
#include "lua/lua_jwt.hpp"
#include "lua/lua_sleep.hpp"
#include "lua/lua_socket.hpp"
#include "lua/lua_control_client.hpp"
#include "lua/callback_run.hpp"
#include "lua/lua_action.hpp"
#include "lua/lua_address.hpp"
#include "lua/lua_client.hpp"
#include "lua/lua_cluster.hpp"
#include "lua/lua_handshake_response.hpp"
#include "lua/lua_pg.hpp"
#include "lua/lua_sodium.hpp"
#include "lua/lua_state.hpp"
#include "lua/lua_tls_options.hpp"

#include <check.h>
#include <lua.hpp>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace myproxy::test {

inline void assert_str_eq(const std::string &actual, const std::string &expected)
{
	ck_assert_msg(actual == expected, "got '%s', expected '%s'", actual.c_str(), expected.c_str());
}

inline void assert_contains(const std::string &text, const std::string &part)
{
	ck_assert_msg(text.find(part) != std::string::npos, "'%s' does not contain '%s'", text.c_str(), part.c_str());
}

/* A stand-in for db:execute(): suspends the callback until the worker resumes it. */
inline int wait_for_worker(lua_State *L)
{
	return yield_to_worker(L);
}

inline int open_test_api(lua_State *L)
{
	open_lua_compat(L);
	open_lua_json(L);
	open_lua_jwt(L);
	open_lua_sleep(L);
	open_lua_socket(L);
	open_lua_control_client(L);
	register_lua_address(L);
	register_lua_tls(L);
	set_lua_tls_loading(L, true);
	open_lua_sodium(L);
	open_lua_pg(L);
	register_lua_cluster(L);
	lua_register(L, "wait_for_worker", wait_for_worker);
	return 0;
}

/* What load_config() does once the script ran: no more file loading (as in a worker). */
inline int close_test_api(lua_State *L)
{
	set_lua_tls_loading(L, false);
	return 0;
}

/* The worker's side of one connection. */
struct Harness {
	LuaState state;
	lua_State *L;
	int handler_ref = LUA_NOREF;
	ClientAttributes attributes;
	int client_ref = LUA_NOREF;

	/* @script is the body of config.lua: it must return the handler table. */
	explicit Harness(const char *script)
	{
		L = state.get();
		lua_pushcfunction(L, open_test_api);
		ck_assert_int_eq(lua_pcall(L, 0, 0, 0), LUA_OK);
		ck_assert(register_worker_lua_api(L));
		ck_assert(register_worker_lua_api(L)); /* idempotent */
		const int status = luaL_loadbufferx(L, script, std::strlen(script), "@config.lua", "t");
		ck_assert_msg(status == LUA_OK, "load: %s", lua_tostring(L, -1));
		ck_assert_msg(lua_pcall(L, 0, 1, 0) == LUA_OK, "run: %s", lua_tostring(L, -1));
		ck_assert_int_eq(lua_type(L, -1), LUA_TTABLE);
		handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);
		lua_pushcfunction(L, close_test_api);
		ck_assert_int_eq(lua_pcall(L, 0, 0, 0), LUA_OK);

		attributes.has_credentials = true;
		attributes.pid = 4242;
		attributes.uid = 1000;
		attributes.gid = 100;
		attributes.cgroup_path = "/user.slice/user-1000.slice/session-1.scope";
		attributes.address = "/run/myproxy.sock";
		attributes.server_version = "10.11.6-myproxy";
		client_ref = create_lua_client(L, attributes);
		ck_assert_int_ne(client_ref, LUA_NOREF);
	}

	~Harness() { detach_lua_client(L, client_ref); }

	/* Starts @name with the client (and @database for on_init_db) as arguments. */
	void start(CallbackRun &run, const char *name, const char *database = nullptr)
	{
		const int top = lua_gettop(L);
		push_lua_client(L, client_ref);
		if (database != nullptr)
			ck_assert(push_lua_string(L, database));
		ck_assert(run.start(handler_ref, name, database != nullptr ? 2 : 1));
		ck_assert_int_eq(lua_gettop(L), top);
	}

	void start_handshake_response(CallbackRun &run, const HandshakeResponseFields &fields)
	{
		push_lua_client(L, client_ref);
		ck_assert(push_handshake_response(L, fields));
		ck_assert(run.start(handler_ref, "on_handshake_response", 2));
	}
};

inline void assert_finished(const CallbackRun &run)
{
	ck_assert_msg(run.status() == CallbackStatus::finished, "callback %s did not finish: %s", run.name(),
		      run.error().c_str());
}

inline void assert_failed(const CallbackRun &run, const std::string &part)
{
	ck_assert_msg(run.status() == CallbackStatus::failed, "callback %s did not fail", run.name());
	assert_contains(run.error(), part);
}

inline LuaAction take_action(const CallbackRun &run, const ActionRules &rules)
{
	assert_finished(run);
	ActionResult result = take_lua_action(run.thread(), -1, rules);
	ck_assert_msg(result.is_action(), "no action: %s", result.is_error() ? result.error().c_str() : "nil");
	return std::move(result.action());
}

inline std::string take_error(const CallbackRun &run, const ActionRules &rules)
{
	assert_finished(run);
	ActionResult result = take_lua_action(run.thread(), -1, rules);
	ck_assert(result.is_error());
	return result.error();
}

/* A connection attribute block as a client sends it (one-byte lenenc lengths). */
inline std::vector<std::uint8_t> attr_block(std::initializer_list<std::pair<const char *, const char *>> pairs)
{
	std::vector<std::uint8_t> block;
	for (const auto &[key, value] : pairs)
		for (const char *s : {key, value}) {
			block.push_back(static_cast<std::uint8_t>(std::strlen(s)));
			block.insert(block.end(), s, s + std::strlen(s));
		}
	return block;
}

inline HandshakeResponseFields sample_fields(const std::vector<std::uint8_t> &block)
{
	HandshakeResponseFields fields;
	fields.user = "alice";
	fields.password = "secret";
	fields.database = "shop";
	fields.auth_plugin = "mysql_clear_password";
	auto attrs = parse_connect_attrs(block);
	ck_assert(attrs.ok());
	fields.attributes = attrs.value();
	return fields;
}

} // namespace myproxy::test
