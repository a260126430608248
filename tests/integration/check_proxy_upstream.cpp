// End to end, upstream compatibility (issue 15): every snippet of the original CM4all myproxy manual
// (/work/shared/upstream-manual.txt, with a reachable address in place of the example IPs and a
// scratch socket path) passes --check-config; a daemon running the manual's examples serves logins
// through them at runtime, including a cluster monitored without a login (the monitor logs the node
// alive from its greeting alone), client.cgroup used as a string, hr fields given as numbers,
// read_only on a plain address, the Lua 5.1 aliases, json, jwt, sleep and socket in a callback, and
// config.lua's own directory for dofile().
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace myproxy::test;

namespace {

// Leaked on purpose: forked test children must not run its destructor.
ProxyProcess *proxy = nullptr;
// The abstract datagram socket the 'notify' probe sends to: named once, before the test children fork.
const std::string notify_name = "myproxy-upstream-test-" + std::to_string(getpid());

std::string backend()
{
	return shared_mariadb().host() + ":" + std::to_string(shared_mariadb().port());
}

// The manual's first handler (with client: where the manual has the m: typo) and a listener.
std::string manual_handler(const std::string &socket)
{
	return "handler = {}\n"
	       "function handler.on_connect(client)\n"
	       "end\n"
	       "function handler.on_handshake_response(client, handshake_response)\n"
	       "  return client:connect(" + lua_quote(backend()) + ", handshake_response)\n"
	       "end\n"
	       "mysql_listen(" + lua_quote(socket) + ", handler)\n";
}

// The manual's snippets, each a complete config.lua.
std::vector<std::pair<std::string, std::string>> manual_snippets(const std::string &socket)
{
	const std::string addr = lua_quote(backend());
	return {
		{"configuration", manual_handler(socket)},
		{"systemd", "handler = { on_handshake_response = function(client, hr) end }\n"
			    "mysql_listen(systemd, handler)\n"},
		{"handler_details",
		 "handler = {}\n"
		 "function handler.on_connect(client)\n"
		 "  client.notes.foo = 'bar'\n"
		 "  client.server_version = '5.7.30'\n"
		 "  if client.uid == 4242 then return client:err('error message') end\n"
		 "end\n"
		 "function handler.on_handshake_response(client, handshake_response)\n"
		 "  return client:connect(" + addr + ", handshake_response)\n"
		 "end\n"
		 "function handler.on_command_phase(client)\n"
		 "end\n"
		 "mysql_listen(" + lua_quote(socket) + ", handler)\n"},
		{"inspecting", manual_handler(socket) +
				       "function handler.on_connect(client)\n"
				       "  print(client.pid, client.uid, client.gid, client.cgroup, client.server_version,\n"
				       "        client.account, client.notes)\n"
				       "  if client.cgroup and client.cgroup:find('forbidden.slice', 1, true) then\n"
				       "    return client:err('no')\n"
				       "  end\n"
				       "end\n"},
		{"actions", manual_handler(socket) +
				    "function handler.on_handshake_response(client, handshake_response)\n"
				    "  if handshake_response.user == 'nobody' then return client:err('Error message') end\n"
				    "  return client:connect(mysql_resolve(" + addr + "), {\n"
				    "    user = 'foo', password_sha1 = string.rep('x', 20), database = 'bar',\n"
				    "  })\n"
				    "end\n"},
		{"addresses", manual_handler(socket) + "local a = mysql_resolve('localhost:1234')\n"
						       "local b = mysql_resolve('[::1]:4321')\n"
						       "local c = mysql_resolve('/run/server5.sock')\n"
						       "local d = mysql_resolve('@server4')\n"
						       "local e = mysql_resolve(" + addr + ")\n"},
		{"cluster", manual_handler(socket) + "local cluster = mysql_cluster({" + addr + ", '127.0.0.2', "
						     "mysql_resolve('localhost:1234')})\n"},
		{"cluster_monitoring_only", manual_handler(socket) + "local c = mysql_cluster({" + addr + "}, "
								     "{monitoring = true})\n"},
		{"cluster_monitoring_login", manual_handler(socket) +
						     "local c = mysql_cluster({" + addr + "}, {monitoring = true, "
						     "user = 'foo', password = 'bar', no_read_only = true})\n"},
		{"cluster_monitoring_user_only", manual_handler(socket) + "local c = mysql_cluster({" + addr + "}, "
									  "{monitoring = true, user = 'foo'})\n"},
		{"sodium", manual_handler(socket) +
				   "local pk, sk = sodium.crypto_box_keypair()\n"
				   "local ciphertext = sodium.crypto_box_seal('hello world', pk)\n"
				   "assert(sodium.crypto_box_seal_open(ciphertext, pk, sk) == 'hello world')\n"},
		{"pg_arrays", manual_handler(socket) + "print(pg:encode_array({'a', 'b c', '\"'}))\n"
						       "for i, v in ipairs(pg:decode_array('{a,\"b c\"}')) do print(i, v) end\n"},
		{"pg", manual_handler(socket) + "db = pg:new('dbname=foo', 'schemaname')\n"},
	};
}

START_TEST(test_manual_snippets_check_config)
{
	for (const auto &[name, script] : manual_snippets(proxy->path("check.sock"))) {
		const std::string path = proxy->path("snippet_" + name + ".lua");
		write_file(path, script);
		const CommandOutput out = run_myproxy({"--check-config", "--config", path});
		PROXY_ASSERT(out.exit_code == 0, "snippet %s: exit %d: %s", name.c_str(), out.exit_code, out.output.c_str());
	}
}
END_TEST

bool wait_for_log(const std::string &needle, std::chrono::seconds timeout)
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	while (std::chrono::steady_clock::now() < deadline) {
		if (contains(proxy->log(), needle))
			return true;
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
	}
	return false;
}

// The running daemon's config (see main()): the manual's handler, a cluster monitored without a
// login, and probes reported through client:err().
std::string runtime_config()
{
	return "worker_processes = 1\n"
	       "local tenants = dofile('tenants.lua')\n"
	       "local jwt_public, jwt_key = sodium.crypto_sign_keypair()\n"
	       "local monitored = mysql_cluster({" + lua_quote(backend()) + "}, {monitoring = true,\n"
	       "  no_read_only = true, disconnect_unavailable = true, check_interval = 0.3})\n"
	       "handler = {}\n"
	       "function handler.on_connect(client)\n"
	       "  client.notes.greeted = true\n"
	       "end\n"
	       "function handler.on_handshake_response(client, hr)\n"
	       "  if hr.user == 'cgroup' then\n"
	       "    local cg = client.cgroup\n"
	       "    return client:err(type(cg) .. ' ' .. tostring(cg:find('/', 1, true)) .. ' ' .. (cg .. '|')\n"
	       "      .. tostring(cg == nil))\n"
	       "  end\n"
	       "  if hr.user == 'sleepy' then\n"
	       "    sleep(4)\n"
	       "    sleep(0)\n"
	       "    return client:err('slept')\n"
	       "  end\n"
	       "  if hr.user == 'notify' then\n"
	       "    local sock, err = socket:connect('@" + notify_name + "', {type = 'dgram'})\n"
	       "    if not sock then return client:err('connect: ' .. err) end\n"
	       "    local n, e = sock:send('hello from ' .. hr.user)\n"
	       "    sock:close()\n"
	       "    return client:err('sent ' .. tostring(n or e))\n"
	       "  end\n"
	       "  if hr.user == 'compat' then\n"
	       "    local a, b = unpack({tenants.alice, 2})\n"
	       "    return client:err(a .. ' ' .. table.getn({1, 2, 3}) .. ' ' .. loadstring('return 6')() .. ' '\n"
	       "      .. math.pow(2, 3) .. ' ' .. json.dump(json.parse('{\"a\": [1, \"x\"]}')) .. ' '\n"
	       "      .. tostring(jwt.sign(jwt_key, {alg = 'EdDSA'}, {sub = a}):match('^[%w_-]+%.[%w_-]+%.[%w_-]+$') ~= nil))\n"
	       "  end\n"
	       "  client.account = hr.user\n"
	       "  if hr.user == 'viacluster' then\n"
	       "    hr.user = 'alice'\n"
	       "    return client:connect(monitored, hr)\n"
	       "  end\n"
	       "  if hr.user == 'numeric' then\n"
	       "    hr.user = 4711\n"
	       "    hr.password = 10 / 2\n"
	       "  end\n"
	       "  return client:connect(mysql_resolve(" + lua_quote(backend()) + "), hr, {read_only = true})\n"
	       "end\n"
	       "mysql_listen('run/main.sock', handler)\n";
}

Endpoint main_listener()
{
	return Endpoint::unix_socket(proxy->path("run/main.sock"));
}

// The manual's monitoring without a login: the master sees the node's greeting and calls it alive,
// and logins through the cluster work.
START_TEST(test_monitoring_without_login)
{
	PROXY_ASSERT(wait_for_log("greeting received (no user: read_only unknown)", std::chrono::seconds(20)),
		     "the monitor never reported the greeting");
	PROXY_ASSERT(contains(proxy->log(), "unknown -> alive"), "the node never became alive");
	MysqlClient c;
	PROXY_ASSERT(c.connect(main_listener(), "viacluster", "alice-pw"), "%s", c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT CURRENT_USER()"), "alice@%");
}
END_TEST

// client.cgroup is a table that behaves as its path; the Lua 5.1 aliases, json and jwt work in callbacks;
// dofile('tenants.lua') found the file next to config.lua.
START_TEST(test_callback_compat)
{
	MysqlClient c;
	PROXY_ASSERT(!c.connect(main_listener(), "cgroup", "x"), "the probe logged in");
	const std::string cgroup = c.message();
	PROXY_ASSERT(cgroup.rfind("table 1 /", 0) == 0, "cgroup probe: '%s'", cgroup.c_str());
	PROXY_ASSERT(cgroup.size() > 6 && cgroup.substr(cgroup.size() - 6) == "|false", "cgroup probe: '%s'",
		     cgroup.c_str());

	MysqlClient d;
	PROXY_ASSERT(!d.connect(main_listener(), "compat", "x"), "the probe logged in");
	PROXY_ASSERT_STR(d.message(), "from-tenants-file 3 6 8.0 {\"a\":[1,\"x\"]} true");
}
END_TEST

// sleep() suspends only the callback: with one worker, a login completes while another one sleeps,
// and the sleeper then finishes its callback.  At the top level, sleep() is a configuration error.
START_TEST(test_sleep_suspends_only_the_callback)
{
	std::string sleeper_message;
	std::atomic<bool> sleeper_done{false};
	std::thread sleeper([&] {
		MysqlClient c;
		if (!c.connect(main_listener(), "sleepy", "x"))
			sleeper_message = c.message();
		sleeper_done = true;
	});
	/* A head start so the sleeper is in sleep(4) when the other login arrives. */
	std::this_thread::sleep_for(std::chrono::seconds(1));
	MysqlClient d;
	PROXY_ASSERT(!d.connect(main_listener(), "compat", "x"), "the probe logged in");
	const bool sleeper_was_done = sleeper_done;
	sleeper.join();
	PROXY_ASSERT(!sleeper_was_done, "the sleeping login ended before the other one was served");
	PROXY_ASSERT_STR(sleeper_message, "slept");
	PROXY_ASSERT(contains(d.message(), "from-tenants-file"), "probe: '%s'", d.message().c_str());

	const std::string path = proxy->path("sleep_top.lua");
	write_file(path, manual_handler(proxy->path("check.sock")) + "sleep(1)\n");
	const CommandOutput out = run_myproxy({"--check-config", "--config", path});
	PROXY_ASSERT(out.exit_code == 78 && contains(out.output, "sleep() works only in a callback"), "exit %d: %s",
		     out.exit_code, out.output.c_str());
}
END_TEST

// socket:connect() and send() from a callback, through the worker's sandbox, to an abstract
// datagram socket of the test.
START_TEST(test_socket_from_callback)
{
	const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	const std::string &name = notify_name;
	sockaddr_un address{};
	address.sun_family = AF_UNIX;
	std::memcpy(address.sun_path + 1, name.data(), name.size());
	ck_assert_int_eq(bind(fd, reinterpret_cast<const sockaddr *>(&address),
			      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())),
			 0);
	MysqlClient c;
	PROXY_ASSERT(!c.connect(main_listener(), "notify", "x"), "the probe logged in");
	PROXY_ASSERT_STR(c.message(), "sent 17");
	char buffer[64];
	const ssize_t n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
	PROXY_ASSERT(n == 17, "received %zd bytes", n);
	PROXY_ASSERT_STR(std::string(buffer, std::size_t(n)), "hello from notify");
	close(fd);
}
END_TEST

// hr fields given as numbers are their decimal strings; read_only on a plain address has no effect.
START_TEST(test_numeric_handshake_fields)
{
	MysqlClient c;
	PROXY_ASSERT(c.connect(main_listener(), "numeric", "ignored"), "%s", c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT CURRENT_USER()"), "4711@%");
	MysqlClient d;
	PROXY_ASSERT(d.connect(main_listener(), "alice", "alice-pw"), "%s", d.error().c_str());
	PROXY_ASSERT_STR(d.text("SELECT 1"), "1");
}
END_TEST

Suite *upstream_suite()
{
	Suite *s = suite_create("upstream");
	TCase *tc = server_tcase("manual", 120);
	tcase_add_test(tc, test_manual_snippets_check_config);
	tcase_add_test(tc, test_monitoring_without_login);
	tcase_add_test(tc, test_callback_compat);
	tcase_add_test(tc, test_numeric_handshake_fields);
	tcase_add_test(tc, test_socket_from_callback);
	tcase_add_test(tc, test_sleep_suspends_only_the_callback);
	suite_add_tcase(s, tc);
	return s;
}

} // namespace

int main()
{
	mysql_library_init(0, nullptr, nullptr);
	SharedServerSpec spec;
	const int rc = run_suites_with_servers(spec, {upstream_suite()}, [] {
		shared_mariadb().create_user("alice", "alice-pw");
		shared_mariadb().create_user("4711", "5");
		proxy = new ProxyProcess;
		/* Workers (nobody when the tests run as root) must reach the socket in run/. */
		chmod(proxy->dir().c_str(), 0711);
		mkdir(proxy->path("run").c_str(), 0755);
		write_file(proxy->path("tenants.lua"), "return { alice = 'from-tenants-file' }\n");
		proxy->start(runtime_config(), {proxy->path("run/main.sock")});
	});
	mysql_library_end();
	return rc;
}
