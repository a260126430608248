// Unit tests for what handler callbacks see and return: the client object (attributes, settable account
// and server_version, notes, detaching), handshake_response tables, client:connect()/err()/init_db() with
// their argument checks, and take_lua_action() with each callback's rules; upstream compatibility: numbers
// in handshake_response, read_only on an address, client.cgroup as a string, xattr short names, Lua 5.1
// aliases.
#include "common/cgroup_xattrs.hpp"
#include "tests/unit/lua_runtime_harness.hpp"
#include "tests/check_main.hpp"

using namespace myproxy;
using namespace myproxy::test;

START_TEST(test_on_connect_results)
{
	Harness h("local n = 0\n"
		  "return { on_connect = function(client)\n"
		  "    n = n + 1\n"
		  "    if n == 1 then return end\n"
		  "    if n == 2 then return 42 end\n"
		  "    if n == 3 then return client:connect('127.0.0.1', {user = 'u'}) end\n"
		  "  end,\n"
		  "  on_handshake_response = function() end }\n");
	CallbackRun first(h.L);
	h.start(first, "on_connect");
	assert_finished(first);
	ck_assert(take_lua_action(first.thread(), -1, on_connect_rules).is_nil());

	CallbackRun second(h.L);
	h.start(second, "on_connect");
	assert_str_eq(take_error(second, on_connect_rules), "on_connect must return nil or client:err(), got a number");

	CallbackRun third(h.L);
	h.start(third, "on_connect");
	assert_str_eq(take_error(third, on_connect_rules),
		      "on_connect must return nil or client:err(), got client:connect()");
}
END_TEST

START_TEST(test_handshake_response_table)
{
	Harness h("return { on_handshake_response = function(client, hr)\n"
		  "  local keys = {}\n"
		  "  for k in pairs(hr.attributes) do keys[#keys + 1] = k end\n"
		  "  table.sort(keys)\n"
		  "  return client:err(table.concat({hr.user, hr.password, hr.database, hr.auth_plugin,\n"
		  "    table.concat(keys, ','), hr.attributes._os, tostring(hr.password_sha1)}, '|'))\n"
		  "end }\n");
	const auto block = attr_block({{"_os", "Linux"}, {"_client_name", "libmariadb"}, {"_os", "dup"}});
	CallbackRun run(h.L);
	h.start_handshake_response(run, sample_fields(block));
	LuaAction action = take_action(run, on_handshake_response_rules);
	assert_str_eq(std::get<ErrAction>(action).message,
		      "alice|secret|shop|mysql_clear_password|_client_name,_os|Linux|nil");

	/* Absent optional fields are nil. */
	Harness h2("return { on_handshake_response = function(client, hr)\n"
		   "  return client:err(string.format('%s %s %s %s', hr.password, hr.database, hr.auth_plugin,\n"
		   "    next(hr.attributes)))\n"
		   "end }\n");
	HandshakeResponseFields bare;
	bare.user = "bob";
	CallbackRun run2(h2.L);
	h2.start_handshake_response(run2, bare);
	assert_str_eq(std::get<ErrAction>(take_action(run2, on_handshake_response_rules)).message, "nil nil nil nil");
}
END_TEST

START_TEST(test_connect)
{
	Harness h("return { on_handshake_response = function(client, hr)\n"
		  "  hr.user = 'backend_' .. hr.user\n"
		  "  hr.database = nil\n"
		  "  hr.attributes.program_name = 'myproxy'\n"
		  "  return client:connect('127.0.0.1:3306', hr)\n"
		  "end }\n");
	const auto block = attr_block({{"_os", "Linux"}});
	CallbackRun run(h.L);
	h.start_handshake_response(run, sample_fields(block));
	LuaAction action = take_action(run, on_handshake_response_rules);
	const auto &connect = std::get<ConnectAction>(action);
	assert_str_eq(to_string(connect.address), "127.0.0.1:3306");
	assert_str_eq(connect.user, "backend_alice");
	ck_assert(connect.password.has_value());
	assert_str_eq(*connect.password, "secret");
	ck_assert(!connect.password_sha1.has_value());
	assert_str_eq(connect.database, "");
	ck_assert_uint_eq(connect.attributes.size(), 2);
	for (const auto &[key, value] : connect.attributes)
		ck_assert((key == "_os" && value == "Linux") || (key == "program_name" && value == "myproxy"));
}
END_TEST

START_TEST(test_connect_password_sha1)
{
	Harness h("return { on_handshake_response = function(client, hr)\n"
		  "  hr.password = nil\n"
		  "  hr.password_sha1 = string.rep('\\1', 19) .. '\\0'\n"
		  "  return client:connect(mysql_resolve('[::1]:3307'), hr, {})\n"
		  "end }\n");
	HandshakeResponseFields fields;
	fields.user = "u";
	CallbackRun run(h.L);
	h.start_handshake_response(run, fields);
	LuaAction action = take_action(run, on_handshake_response_rules);
	const auto &connect = std::get<ConnectAction>(action);
	assert_str_eq(to_string(connect.address), "[::1]:3307");
	ck_assert(!connect.password.has_value());
	ck_assert(connect.password_sha1.has_value());
	ck_assert_uint_eq((*connect.password_sha1)[0], 1);
	ck_assert_uint_eq((*connect.password_sha1)[18], 1);
	ck_assert_uint_eq((*connect.password_sha1)[19], 0);
	ck_assert(connect.attributes.empty());
}
END_TEST

/* client:connect(cluster, hr [, {read_only = true}]): the action names the cluster by index. */
START_TEST(test_connect_cluster)
{
	Harness h("local a = mysql_cluster({'127.0.0.1:3306'})\n"
		  "local b = mysql_cluster({'127.0.0.1:3307', '127.0.0.1:3308'})\n"
		  "return { on_handshake_response = function(client, hr)\n"
		  "  if hr.user == 'reader' then return client:connect(b, hr, {read_only = true}) end\n"
		  "  return client:connect(b, hr, {read_only = false})\n"
		  "end }\n");
	for (const char *user : {"writer", "reader"}) {
		CallbackRun run(h.L);
		HandshakeResponseFields fields;
		fields.user = user;
		h.start_handshake_response(run, fields);
		LuaAction action = take_action(run, on_handshake_response_rules);
		const auto &connect = std::get<ConnectAction>(action);
		ck_assert(connect.cluster.has_value());
		ck_assert_uint_eq(*connect.cluster, 1);
		ck_assert(!connect.address.defined());
		ck_assert(connect.read_only == (std::string(user) == "reader"));
		assert_str_eq(connect.user, user);
	}
}
END_TEST

/* The option reuse: true is the default count per login, a number is the count, false is none. */
START_TEST(test_connect_reuse)
{
	Harness h("return { on_handshake_response = function(client, hr)\n"
		  "  if hr.user == 'default' then return client:connect('127.0.0.1', hr, {reuse = true}) end\n"
		  "  if hr.user == 'counted' then return client:connect('127.0.0.1', hr, {reuse = 9}) end\n"
		  "  if hr.user == 'off' then return client:connect('127.0.0.1', hr, {reuse = false}) end\n"
		  "  return client:connect('127.0.0.1', hr)\n"
		  "end }\n");
	const struct {
		const char *user;
		unsigned per_key;
	} cases[] = {{"default", reuse_per_key_default}, {"counted", 9}, {"off", 0}, {"unset", 0}};
	for (const auto &c : cases) {
		CallbackRun run(h.L);
		HandshakeResponseFields fields;
		fields.user = c.user;
		h.start_handshake_response(run, fields);
		LuaAction action = take_action(run, on_handshake_response_rules);
		ck_assert_uint_eq(std::get<ConnectAction>(action).reuse_per_key, c.per_key);
	}
}
END_TEST

/* Each bad argument of client:connect() fails the callback with a message naming it. */
START_TEST(test_connect_errors)
{
	static const struct {
		const char *call;
		const char *message;
	} cases[] = {
		{"client:connect('127.0.0.1', {user = 'u', password_sha1 = string.rep('x', 19)})",
		 "config.lua:2: bad argument #2 to 'connect' (handshake_response.password_sha1 must be exactly 20 bytes, got 19)"},
		{"client:connect('127.0.0.1', {user = 'u', password_sha1 = 5})",
		 "bad argument #2 to 'connect' (handshake_response.password_sha1 must be nil or a string of 20 bytes)"},
		{"client:connect('127.0.0.1', {})",
		 "bad argument #2 to 'connect' (handshake_response.user must be a string)"},
		{"client:connect('127.0.0.1', {user = true})",
		 "bad argument #2 to 'connect' (handshake_response.user must be a string)"},
		{"client:connect('127.0.0.1', {user = 'a\\0b'})",
		 "bad argument #2 to 'connect' (handshake_response.user must not contain NUL bytes)"},
		{"client:connect('127.0.0.1', {user = 'u', password = {}})",
		 "bad argument #2 to 'connect' (handshake_response.password must be nil or a string)"},
		{"client:connect('127.0.0.1', {user = 'u', database = {}})",
		 "bad argument #2 to 'connect' (handshake_response.database must be nil or a string)"},
		{"client:connect('127.0.0.1', {user = 'u', attributes = 'x'})",
		 "bad argument #2 to 'connect' (handshake_response.attributes must be nil or a table, got string)"},
		{"client:connect('127.0.0.1', {user = 'u', attributes = {1}})",
		 "bad argument #2 to 'connect' (handshake_response.attributes keys must be strings, got a number key)"},
		{"client:connect('127.0.0.1', {user = 'u', attributes = {a = 1}})",
		 "bad argument #2 to 'connect' (handshake_response.attributes['a'] must be a string, got number)"},
		{"client:connect('127.0.0.1', 'hr')", "bad argument #2 to 'connect' (table expected, got string)"},
		{"client:connect('localhost', {user = 'u'})", "bad argument #1 to 'connect' (host name in 'localhost'"},
		{"client:connect({}, {user = 'u'})",
		 "bad argument #1 to 'connect' (address, mysql_resolve() result or mysql_cluster() expected, got table)"},
		{"client:connect('127.0.0.1', {user = 'u'}, {read_only = 1})",
		 "bad argument #3 to 'connect' (option read_only must be a boolean, got number)"},
		{"client:connect('127.0.0.1', {user = 'u'}, {reuse = 0})",
		 "bad argument #3 to 'connect' (option reuse must be a boolean or an integer from 1 to 1024)"},
		{"client:connect('127.0.0.1', {user = 'u'}, {reuse = 1025})",
		 "bad argument #3 to 'connect' (option reuse must be a boolean or an integer from 1 to 1024)"},
		{"client:connect('127.0.0.1', {user = 'u'}, {reuse = 'yes'})",
		 "bad argument #3 to 'connect' (option reuse must be a boolean or an integer from 1 to 1024)"},
		{"client:connect('127.0.0.1', {user = 'u'}, {bogus = true})",
		 "bad argument #3 to 'connect' (unknown option 'bogus')"},
		{"client:connect('127.0.0.1', {user = 'u'}, 1)", "bad argument #3 to 'connect' (table expected, got number)"},
		{"client.connect(42, '127.0.0.1', {user = 'u'})", "bad argument #1 to 'connect' (myproxy.client expected"},
		{"client:err()", "bad argument #1 to 'err' (string expected, got no value)"},
		{"client:init_db('')", "bad argument #1 to 'init_db' (database name must not be empty)"},
		{"client:init_db('a\\0')", "bad argument #1 to 'init_db' (database name must not contain NUL bytes)"},
	};
	for (const auto &c : cases) {
		const std::string script = std::string("return { on_handshake_response = function(client, hr)\n  return ") +
					   c.call + "\nend }\n";
		Harness h(script.c_str());
		CallbackRun run(h.L);
		HandshakeResponseFields fields;
		fields.user = "u";
		h.start_handshake_response(run, fields);
		assert_failed(run, c.message);
	}

	/* A table with more attributes than a packet may carry. */
	Harness h("return { on_handshake_response = function(client, hr)\n"
		  "  for i = 1, 65 do hr.attributes['k' .. i] = 'v' end\n"
		  "  return client:connect('127.0.0.1', hr)\n"
		  "end }\n");
	CallbackRun run(h.L);
	HandshakeResponseFields fields;
	fields.user = "u";
	h.start_handshake_response(run, fields);
	assert_failed(run, "handshake_response.attributes has more than 64 entries");
}
END_TEST

START_TEST(test_wrong_return_values)
{
	Harness h("local results = { function(c) return nil end, function(c) return 'yes' end,\n"
		  "  function(c) return c:init_db('x') end, function(c) return {} end, function(c) return c end }\n"
		  "local i = 0\n"
		  "return { on_handshake_response = function(client) i = i + 1 return results[i](client) end,\n"
		  "  on_command_phase = function(client) return client:init_db('x') end }\n");
	static const char *const got[] = {"nil", "a string", "client:init_db()", "a table", "a userdata"};
	for (const char *g : got) {
		CallbackRun run(h.L);
		HandshakeResponseFields fields;
		fields.user = "u";
		h.start_handshake_response(run, fields);
		assert_str_eq(take_error(run, on_handshake_response_rules),
			      std::string("on_handshake_response must return client:connect() or client:err(), got ") + g);
	}
	CallbackRun run(h.L);
	h.start(run, "on_command_phase");
	assert_str_eq(take_error(run, on_command_phase_rules),
		      "on_command_phase must return nil or client:err(), got client:init_db()");
	/* The same value is fine for another callback. */
	ActionResult result = take_lua_action(run.thread(), -1, on_init_db_rules);
	ck_assert(result.is_action());
	assert_str_eq(std::get<InitDbAction>(result.action()).database, "x");
}
END_TEST

START_TEST(test_on_init_db)
{
	Harness h("return { on_handshake_response = function() end,\n"
		  "  on_init_db = function(client, db)\n"
		  "    if db == 'forbidden' then return client:err('no access to ' .. db) end\n"
		  "    if db == 'same' then return nil end\n"
		  "    if db == 'bad' then return 1 end\n"
		  "    return client:init_db('tenant_' .. db)\n"
		  "  end }\n");
	CallbackRun renamed(h.L);
	h.start(renamed, "on_init_db", "shop");
	assert_str_eq(std::get<InitDbAction>(take_action(renamed, on_init_db_rules)).database, "tenant_shop");

	CallbackRun refused(h.L);
	h.start(refused, "on_init_db", "forbidden");
	assert_str_eq(std::get<ErrAction>(take_action(refused, on_init_db_rules)).message, "no access to forbidden");

	CallbackRun unchanged(h.L);
	h.start(unchanged, "on_init_db", "same");
	assert_finished(unchanged);
	ck_assert(take_lua_action(unchanged.thread(), -1, on_init_db_rules).is_nil());

	CallbackRun bad(h.L);
	h.start(bad, "on_init_db", "bad");
	assert_str_eq(take_error(bad, on_init_db_rules),
		      "on_init_db must return nil, client:init_db() or client:err(), got a number");
}
END_TEST

START_TEST(test_client_attributes)
{
	Harness h("return { on_handshake_response = function() end,\n"
		  "  on_connect = function(client)\n"
		  "    assert(client.account == nil or client.notes.seen == 1)\n"
		  "    client.account = 'acme'\n"
		  "    client.notes.seen = (client.notes.seen or 0) + 1\n"
		  "    assert(client.cgroup == client.cgroup)\n"
		  "    return client:err(string.format('%s %s %s %s %s %s %s %s %d %s', client.pid, client.uid,\n"
		  "      client.gid, client.account, client.cgroup.path, client.address, client.server_version,\n"
		  "      tostring(client.no_such_thing), client.notes.seen, tostring(client)))\n"
		  "  end }\n");
	CallbackRun run(h.L);
	h.start(run, "on_connect");
	assert_str_eq(std::get<ErrAction>(take_action(run, on_connect_rules)).message,
		      "4242 1000 100 acme /user.slice/user-1000.slice/session-1.scope /run/myproxy.sock "
		      "10.11.6-myproxy nil 1 client pid=4242 uid=1000");
	assert_str_eq(h.attributes.account, "acme");

	/* notes live as long as the connection: a second callback sees the first one's. */
	CallbackRun again(h.L);
	h.start(again, "on_connect");
	assert_contains(std::get<ErrAction>(take_action(again, on_connect_rules)).message, " 2 client");

	/* Without credentials (TCP), pid, uid, gid are nil; unknown cgroup and address too. */
	h.attributes.has_credentials = false;
	h.attributes.cgroup_path.clear();
	h.attributes.address.clear();
	Harness h2("return { on_handshake_response = function(client)\n"
		   "  client.account = nil\n"
		   "  return client:err(string.format('%s %s %s %s %s %s', client.pid, client.uid, client.gid,\n"
		   "    client.cgroup, client.address, client.account))\n"
		   "end }\n");
	h2.attributes = h.attributes;
	h2.attributes.account = "old";
	CallbackRun bare(h2.L);
	HandshakeResponseFields fields;
	h2.start_handshake_response(bare, fields);
	assert_str_eq(std::get<ErrAction>(take_action(bare, on_handshake_response_rules)).message,
		      "nil nil nil nil nil nil");
	assert_str_eq(h2.attributes.account, "");

	/* The master did not read the cgroup (no function named it): client.cgroup raises, so a key
	 * built at run time does not pass a skipped read off as "unknown". */
	h.attributes.cgroup_path = "/user.slice";
	h.attributes.cgroup_read = false;
	Harness h3("return { on_handshake_response = function(client)\n"
		   "  local ok, problem = pcall(function() return client['cg' .. 'roup'] end)\n"
		   "  return client:err(tostring(ok) .. ' ' .. tostring(problem))\n"
		   "end }\n");
	h3.attributes = h.attributes;
	CallbackRun unread(h3.L);
	h3.start_handshake_response(unread, fields);
	assert_contains(std::get<ErrAction>(take_action(unread, on_handshake_response_rules)).message,
			"false config.lua:2: client.cgroup was not read");
}
END_TEST

/* As upstream: numbers in hr are their decimal strings (LuaJIT's, so 10/2 is "5"), and read_only
 * with a plain address is accepted and changes nothing. */
START_TEST(test_upstream_connect_leniency)
{
	Harness h("return { on_handshake_response = function(client, hr)\n"
		  "  hr.user = client.uid\n"
		  "  hr.password = 10 / 2\n"
		  "  hr.database = 2.5\n"
		  "  return client:connect('127.0.0.1:3306', hr, {read_only = true})\n"
		  "end }\n");
	CallbackRun run(h.L);
	HandshakeResponseFields fields;
	fields.user = "u";
	h.start_handshake_response(run, fields);
	const LuaAction action = take_action(run, on_handshake_response_rules);
	const auto &connect = std::get<ConnectAction>(action);
	assert_str_eq(connect.user, "1000");
	ck_assert(connect.password.has_value());
	assert_str_eq(*connect.password, "5");
	assert_str_eq(connect.database, "2.5");
	ck_assert(!connect.read_only);
	ck_assert(!connect.cluster.has_value());
}
END_TEST

/* client.cgroup behaves as its path (the original manual's string), and xattr.NAME means
 * user.NAME (upstream); the full name keeps working. */
START_TEST(test_cgroup_as_string)
{
	Harness h("return { on_handshake_response = function() end,\n"
		  "  on_connect = function(client)\n"
		  "    local cg = client.cgroup\n"
		  "    assert(tostring(cg) == cg.path)\n"
		  "    assert(cg .. '!' == cg.path .. '!' and '<' .. cg == '<' .. cg.path)\n"
		  "    assert(#cg == #cg.path)\n"
		  "    assert(cg:find('user-1000', 1, true) == 13)\n"
		  "    assert(cg:match('session%-(%d+)') == '1')\n"
		  "    assert(cg:sub(1, 11) == '/user.slice' and cg:len() == #cg.path)\n"
		  "    assert(string.format('%s', cg) == cg.path)\n"
		  "    assert(cg.parent:gsub('%.slice', '') == '/user/user-1000')\n"
		  "    assert(cg.no_such_method == nil and cg.parent.parent.parent.parent == nil)\n"
		  "    assert(tostring(cg.parent.parent.parent) == '/')\n"
		  "    return client:err(string.format('%s|%s|%s|%s|%s', cg.xattr.tenant, cg.xattr['user.tenant'],\n"
		  "      tostring(cg.xattr['trusted.tier']), tostring(cg.xattr.tier), tostring(cg.parent.xattr.tenant)))\n"
		  "  end }\n");
	std::vector<std::uint8_t> blob;
	ck_assert(append_cgroup_xattr(blob, 0, "user.tenant", "acme"));
	ck_assert(append_cgroup_xattr(blob, 0, "trusted.tier", "gold"));
	ck_assert(append_cgroup_xattr(blob, 1, "user.tenant", "parent"));
	h.attributes.cgroup_xattrs.assign(blob.begin(), blob.end());
	CallbackRun run(h.L);
	h.start(run, "on_connect");
	assert_str_eq(std::get<ErrAction>(take_action(run, on_connect_rules)).message, "acme|acme|gold|nil|parent");
}
END_TEST

/* The Lua 5.1 aliases upstream scripts use. */
START_TEST(test_lua51_aliases)
{
	Harness h("return { on_handshake_response = function() end,\n"
		  "  on_connect = function(client)\n"
		  "    local a, b, c = unpack({1, 2, 3})\n"
		  "    assert(a == 1 and c == 3)\n"
		  "    assert(loadstring('return 7')() == 7)\n"
		  "    assert(table.getn({1, 2}) == 2)\n"
		  "    return client:err(tostring(math.pow(2, 3)))\n"
		  "  end }\n");
	CallbackRun run(h.L);
	h.start(run, "on_connect");
	assert_str_eq(std::get<ErrAction>(take_action(run, on_connect_rules)).message, "8.0");
}
END_TEST

START_TEST(test_client_assignment_errors)
{
	static const struct {
		const char *statement;
		const char *message;
	} cases[] = {
		{"client.pid = 1", "config.lua:2: client.pid is read-only"},
		{"client.notes = {}", "client.notes is read-only (store fields in it instead)"},
		{"client.acount = 'x'", "client has no attribute 'acount'"},
		{"client[1] = 'x'", "client attributes are named by strings, got a number"},
		{"client.account = 5", "client.account must be a string or nil, got number"},
		{"client.account = 'a\\nb'", "client.account must not contain control characters"},
		{"client.account = string.rep('a', 257)", "client.account is longer than 256 bytes"},
		{"client.server_version = '8.0'", "client.server_version can only be set in on_connect"},
	};
	for (const auto &c : cases) {
		const std::string script = std::string("return { on_handshake_response = function(client)\n  ") +
					   c.statement + "\nend }\n";
		Harness h(script.c_str());
		CallbackRun run(h.L);
		h.start(run, "on_handshake_response");
		assert_failed(run, c.message);
	}
}
END_TEST

START_TEST(test_server_version)
{
	Harness h("return { on_handshake_response = function() end,\n"
		  "  on_connect = function(client)\n"
		  "    assert(client.server_version == '10.11.6-myproxy' or client.notes.changed)\n"
		  "    client.notes.changed = true\n"
		  "    client.server_version = '8.0.36-myproxy'\n"
		  "  end }\n");
	h.attributes.server_version_settable = true;
	CallbackRun run(h.L);
	h.start(run, "on_connect");
	assert_finished(run);
	assert_str_eq(h.attributes.server_version, "8.0.36-myproxy");

	h.attributes.server_version_settable = false;
	CallbackRun late(h.L);
	h.start(late, "on_connect");
	assert_failed(late, "config.lua:5: client.server_version can only be set in on_connect");
	assert_str_eq(h.attributes.server_version, "8.0.36-myproxy");

	Harness empty("return { on_handshake_response = function() end,\n"
		      "  on_connect = function(client) client.server_version = '' end }\n");
	empty.attributes.server_version_settable = true;
	CallbackRun run2(empty.L);
	empty.start(run2, "on_connect");
	assert_failed(run2, "client.server_version must not be empty");
}
END_TEST

/* A script may keep the client object; once the connection is gone every use raises. */
START_TEST(test_detached_client)
{
	Harness h("local kept\n"
		  "return { on_handshake_response = function() end,\n"
		  "  on_connect = function(client) kept = client end,\n"
		  "  on_command_phase = function(client) return kept.pid end,\n"
		  "  on_init_db = function(client) return kept:err('x') end }\n");
	CallbackRun keep(h.L);
	h.start(keep, "on_connect");
	assert_finished(keep);

	const int old_ref = h.client_ref;
	detach_lua_client(h.L, old_ref);
	h.client_ref = create_lua_client(h.L, h.attributes);
	ck_assert_int_ne(h.client_ref, LUA_NOREF);

	CallbackRun read(h.L);
	h.start(read, "on_command_phase");
	assert_failed(read, "config.lua:4: client connection is closed");
	CallbackRun method(h.L);
	h.start(method, "on_init_db", "db");
	assert_failed(method, "client connection is closed");
}
END_TEST

START_TEST(test_action_objects)
{
	Harness h("local cached\n"
		  "return { on_handshake_response = function() end,\n"
		  "  on_connect = function(client)\n"
		  "    cached = cached or client:err('cached')\n"
		  "    assert(tostring(cached) == 'myproxy.action: client:err()')\n"
		  "    assert(getmetatable(cached) == false)\n"
		  "    return cached\n"
		  "  end }\n");
	for (int i = 0; i < 2; ++i) {
		CallbackRun run(h.L);
		h.start(run, "on_connect");
		assert_str_eq(std::get<ErrAction>(take_action(run, on_connect_rules)).message, "cached");
	}
	lua_gc(h.L, LUA_GCCOLLECT);
}
END_TEST

/* Every entry point the worker calls from C++ survives a full heap without raising. */
START_TEST(test_out_of_memory)
{
	Harness h("return { on_handshake_response = function() end }\n");
	const auto block = attr_block({{"_os", "Linux"}});
	const HandshakeResponseFields fields = sample_fields(block);
	const int top = lua_gettop(h.L);
	h.state.set_heap_limit(1);
	ck_assert(!push_handshake_response(h.L, fields));
	ck_assert_int_eq(lua_gettop(h.L), top);
	ClientAttributes attributes;
	ck_assert_int_eq(create_lua_client(h.L, attributes), LUA_NOREF);
	ck_assert(!push_lua_string(h.L, "a string Lua has not seen before"));
	ck_assert_int_eq(lua_gettop(h.L), top);
	/* Not even the coroutine fits: the callback fails before it runs, and its arguments are gone. */
	CallbackRun run(h.L);
	push_lua_client(h.L, h.client_ref);
	ck_assert(run.start(h.handler_ref, "on_handshake_response", 1));
	assert_failed(run, "not enough memory (Lua heap limit reached)");
	ck_assert_int_eq(lua_gettop(h.L), top);
	h.state.set_heap_limit(LuaState::default_heap_limit);
	ck_assert(push_handshake_response(h.L, fields));
	lua_pop(h.L, 1);
}
END_TEST

static Suite *lua_client_suite()
{
	Suite *s = suite_create("lua_client");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_on_connect_results);
	tcase_add_test(tc, test_handshake_response_table);
	tcase_add_test(tc, test_connect);
	tcase_add_test(tc, test_connect_password_sha1);
	tcase_add_test(tc, test_connect_cluster);
	tcase_add_test(tc, test_connect_reuse);
	tcase_add_test(tc, test_connect_errors);
	tcase_add_test(tc, test_wrong_return_values);
	tcase_add_test(tc, test_on_init_db);
	tcase_add_test(tc, test_client_attributes);
	tcase_add_test(tc, test_client_assignment_errors);
	tcase_add_test(tc, test_upstream_connect_leniency);
	tcase_add_test(tc, test_cgroup_as_string);
	tcase_add_test(tc, test_lua51_aliases);
	tcase_add_test(tc, test_server_version);
	tcase_add_test(tc, test_detached_client);
	tcase_add_test(tc, test_action_objects);
	tcase_add_test(tc, test_out_of_memory);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({lua_client_suite()});
}
