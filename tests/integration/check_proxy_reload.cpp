// End to end, SIGHUP: the master loads config.lua afresh (with file access, in its directory) and
// starts a new generation of workers, while libmariadb sessions on the old generation go on against
// a real mariadbd.  A reload that re-reads a data file under 50 running sessions (none dropped, new
// logins see the new data, the old workers exit once their sessions ended); a reload that fails to
// load keeps the old configuration and logs what --check-config says; reload() waits with sleep()
// as a coroutine and a failing one is logged; listeners that stay keep their socket, new ones open,
// removed ones close; cluster monitoring follows the new configuration.
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace myproxy::test;

namespace {

// The handler every test uses: user 'probe' gets ERR with what @expression gives (the state the
// configuration or reload() left), anyone else goes to the backend.
std::string handler_lua(const std::string &expression)
{
	return "local backend = " + lua_quote(shared_mariadb().socket_path()) + "\n"
	       "handler = {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    if hr.user == 'probe' then return client:err('probe=' .. tostring(" + expression + ")) end\n"
	       "    return client:connect(backend, hr)\n"
	       "  end,\n"
	       "}\n";
}

// The data-file configuration: reads data.txt next to itself (a relative path: config.lua loads in
// its own directory) at its top level.
std::string data_config(const std::string &socket)
{
	return "worker_processes = 2\n"
	       "local file = assert(io.open('data.txt'))\n"
	       "data = file:read('l')\n"
	       "file:close()\n" +
	       handler_lua("data") + "mysql_listen(" + lua_quote(socket) + ", handler)\n";
}

bool wait_for_log(ProxyProcess &p, const std::string &needle, std::chrono::milliseconds timeout)
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	while (std::chrono::steady_clock::now() < deadline) {
		if (contains(p.log(), needle))
			return true;
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
	}
	return false;
}

// The message of a 'probe' login: what the serving configuration says.
std::string probe(const std::string &socket)
{
	MysqlClient c;
	if (c.connect(Endpoint::unix_socket(socket), "probe", "x"))
		return "(login worked)";
	return c.message();
}

// Each of @times probe logins answers @expected (with 2 workers, several logins meet both).
void assert_probes(const std::string &socket, const std::string &expected, int times = 6)
{
	for (int i = 0; i < times; ++i) {
		const std::string got = probe(socket);
		PROXY_ASSERT(got == expected, "probe %d: '%s', expected '%s'", i, got.c_str(), expected.c_str());
	}
}

void reload_and_wait(ProxyProcess &p, unsigned generation)
{
	ck_assert_int_eq(kill(p.pid(), SIGHUP), 0);
	const std::string line = "reload: generation " + std::to_string(generation) + " serves";
	PROXY_ASSERT(wait_for_log(p, line, std::chrono::seconds(30)), "no '%s' in the log", line.c_str());
}

// The pids the log names for "worker[N] pid P" lines of generation 1 (workers 0 and 1).
std::vector<std::string> first_generation_exits(ProxyProcess &p)
{
	std::vector<std::string> found;
	for (const char *worker : {"worker[0] pid ", "worker[1] pid "}) {
		const std::string log = p.log();
		for (auto at = log.find(worker); at != std::string::npos; at = log.find(worker, at + 1)) {
			const auto end = log.find('\n', at);
			const std::string line = log.substr(at, end - at);
			if (contains(line, "exited with status 0"))
				found.push_back(line);
		}
	}
	return found;
}

} // namespace

// 50 sessions query without pause while config.lua is reloaded with a new data file: none fails,
// every one still answers afterwards, new logins see the new data, and the old generation's workers
// exit only once the last of those sessions ended.
START_TEST(test_reload_rereads_data_under_load)
{
	ProxyProcess p;
	const std::string socket = p.path("main.sock");
	write_file(p.path("data.txt"), "first\n");
	p.start(data_config(socket), {socket});
	assert_probes(socket, "probe=first");

	constexpr int session_count = 50, thread_count = 5;
	std::vector<std::unique_ptr<MysqlClient>> sessions;
	for (int i = 0; i < session_count; ++i) {
		sessions.push_back(std::make_unique<MysqlClient>());
		PROXY_ASSERT(sessions.back()->connect(Endpoint::unix_socket(socket), "tenant", "tenant-pw"), "session %d: %s", i,
			     sessions.back()->error().c_str());
	}
	std::atomic<bool> stop{false};
	std::atomic<int> failures{0}, queries{0};
	std::vector<std::thread> threads;
	for (int t = 0; t < thread_count; ++t)
		threads.emplace_back([&, t] {
			while (!stop)
				for (int i = t; i < session_count; i += thread_count) {
					const SqlResult r = sessions[i]->query("SELECT 6 * 7");
					if (!r.ok || r.text() != "42")
						++failures;
					++queries;
				}
		});

	write_file(p.path("data.txt"), "second\n");
	const int before = queries.load();
	reload_and_wait(p, 2);
	assert_probes(socket, "probe=second");
	/* The load went on through the reload. */
	while (queries.load() < before + 2 * session_count)
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	stop = true;
	for (auto &thread : threads)
		thread.join();
	PROXY_ASSERT(failures.load() == 0, "%d of %d queries failed", failures.load(), queries.load());

	/* The old generation still serves its sessions: no session closed, no worker gone. */
	PROXY_ASSERT(!contains(p.log(), "generation 1 ended"), "generation 1 ended with 50 sessions open");
	PROXY_ASSERT(first_generation_exits(p).empty(), "a worker of generation 1 exited early");
	for (int i = 0; i < session_count; ++i) {
		const SqlResult r = sessions[i]->query("SELECT 6 * 7");
		PROXY_ASSERT(r.ok && r.text() == "42", "session %d after the reload: %s", i, r.error.c_str());
	}

	/* Their sessions end: the old workers exit on their own, cleanly. */
	sessions.clear();
	PROXY_ASSERT(wait_for_log(p, "generation 1 ended", std::chrono::seconds(30)), "generation 1 lives on");
	PROXY_ASSERT(first_generation_exits(p).size() == 2, "the old workers did not both exit with status 0");
	assert_probes(socket, "probe=second");
	PROXY_ASSERT_CLEAN_SHUTDOWN(p);
}
END_TEST

// A reload that does not load (a syntax error): logged with the file and line, as --check-config
// says it; the old configuration keeps serving (it read data.txt before the change), and a later
// good reload works.
START_TEST(test_failed_reload_keeps_configuration)
{
	ProxyProcess p;
	const std::string socket = p.path("main.sock");
	write_file(p.path("data.txt"), "old\n");
	p.start(data_config(socket), {socket});
	MysqlClient session;
	PROXY_ASSERT(session.connect(Endpoint::unix_socket(socket), "tenant", "tenant-pw"), "%s", session.error().c_str());

	write_file(p.path("data.txt"), "new\n");
	write_file(p.config_path(), data_config(socket) + "this is not Lua\n");
	const CommandOutput check = run_myproxy({"--check-config", "--config", p.config_path()});
	PROXY_ASSERT(check.exit_code == 78, "--check-config: %d %s", check.exit_code, check.output.c_str());
	const std::string check_error = check.output.substr(0, check.output.find('\n'));
	/* The line after data_config()'s last. */
	std::size_t line = 1;
	for (char ch : data_config(socket))
		line += ch == '\n';
	PROXY_ASSERT(contains(check_error, "config.lua:" + std::to_string(line) + ":"), "--check-config said '%s'",
		     check_error.c_str());

	ck_assert_int_eq(kill(p.pid(), SIGHUP), 0);
	PROXY_ASSERT(wait_for_log(p, "reload failed: generation 1 keeps serving", std::chrono::seconds(30)),
		     "no failed reload in the log");
	PROXY_ASSERT(contains(p.log(), check_error), "the log lacks --check-config's '%s'", check_error.c_str());
	assert_probes(socket, "probe=old");
	const SqlResult r = session.query("SELECT 6 * 7");
	PROXY_ASSERT(r.ok && r.text() == "42", "the session after the failed reload: %s", r.error.c_str());

	write_file(p.config_path(), data_config(socket));
	reload_and_wait(p, 2);
	assert_probes(socket, "probe=new");
	PROXY_ASSERT_CLEAN_SHUTDOWN(p);
}
END_TEST

// reload() runs as a coroutine in each new worker before it takes clients: it may sleep(), and
// what it sets is what every new login sees.  One that raises is logged, and the new generation
// serves anyway.
START_TEST(test_reload_function_waits)
{
	ProxyProcess p;
	const std::string socket = p.path("main.sock");
	write_file(p.path("mode.txt"), "sleep\n");
	const std::string config = "worker_processes = 2\n"
				   "local file = assert(io.open('mode.txt'))\n"
				   "local mode = file:read('l')\n"
				   "file:close()\n"
				   "function reload()\n"
				   "  if mode == 'raise' then error('reload boom') end\n"
				   "  sleep(0.3)\n"
				   "  reloaded = 'after sleep'\n"
				   "end\n" +
				   handler_lua("reloaded") + "mysql_listen(" + lua_quote(socket) + ", handler)\n";
	p.start(config, {socket});
	assert_probes(socket, "probe=nil");

	reload_and_wait(p, 2);
	assert_probes(socket, "probe=after sleep");

	write_file(p.path("mode.txt"), "raise\n");
	reload_and_wait(p, 3);
	PROXY_ASSERT(contains(p.log(), "reload() failed: ") && contains(p.log(), "reload boom"),
		     "the reload() error is not logged");
	assert_probes(socket, "probe=nil");
	MysqlClient c;
	PROXY_ASSERT(c.connect(Endpoint::unix_socket(socket), "tenant", "tenant-pw"), "%s", c.error().c_str());
	PROXY_ASSERT_CLEAN_SHUTDOWN(p);
}
END_TEST

// Listeners: one the new configuration names again keeps its socket (the same file, the same
// inode), a new one opens, a removed one closes and its file goes.
START_TEST(test_reload_listeners)
{
	ProxyProcess p;
	const std::string a = p.path("a.sock"), b = p.path("b.sock"), c = p.path("c.sock");
	write_file(p.path("listeners.txt"), "./b.sock\n");
	const std::string config = "local file = assert(io.open('listeners.txt'))\n"
				   "local other = file:read('l')\n"
				   "file:close()\n" +
				   handler_lua("'x'") +
				   "mysql_listen(" + lua_quote(a) + ", handler)\n"
				   "mysql_listen(other, handler)\n";
	p.start(config, {a, b});
	struct stat before;
	ck_assert_int_eq(stat(a.c_str(), &before), 0);

	write_file(p.path("listeners.txt"), "./c.sock\n");
	reload_and_wait(p, 2);
	struct stat after;
	ck_assert_int_eq(stat(a.c_str(), &after), 0);
	PROXY_ASSERT(after.st_ino == before.st_ino, "a.sock was bound again");
	PROXY_ASSERT(access(b.c_str(), F_OK) != 0, "b.sock is still there");
	assert_probes(a, "probe=x", 2);
	assert_probes(c, "probe=x", 2);
	MysqlClient gone;
	PROXY_ASSERT(!gone.connect(Endpoint::unix_socket(b), "probe", "x"), "b.sock still accepts");
	PROXY_ASSERT_CLEAN_SHUTDOWN(p);
}
END_TEST

// Cluster monitoring follows the reloaded configuration: the new generation's monitor checks the
// node its config.lua names now, and logins go there.
START_TEST(test_reload_cluster_monitoring)
{
	ProxyProcess p;
	const std::string socket = p.path("main.sock");
	const std::string dead = p.path("no-server.sock");
	write_file(p.path("node.txt"), shared_mariadb().socket_path() + "\n");
	const std::string config = "local file = assert(io.open('node.txt'))\n"
				   "local node = file:read('l')\n"
				   "file:close()\n"
				   "local cluster = mysql_cluster({node}, {monitoring = true})\n"
				   "mysql_listen(" + lua_quote(socket) + ", {\n"
				   "  on_handshake_response = function(client, hr) return client:connect(cluster, hr) end,\n"
				   "})\n";
	p.start(config, {socket});
	const std::string alive = "node " + shared_mariadb().socket_path() + ": unknown -> alive";
	PROXY_ASSERT(wait_for_log(p, alive, std::chrono::seconds(30)), "the first node is not checked");
	MysqlClient before;
	PROXY_ASSERT(before.connect(Endpoint::unix_socket(socket), "tenant", "tenant-pw"), "%s", before.error().c_str());

	write_file(p.path("node.txt"), dead + "\n");
	reload_and_wait(p, 2);
	PROXY_ASSERT(wait_for_log(p, "node " + dead + ": unknown -> dead", std::chrono::seconds(30)),
		     "the new node is not checked");
	MysqlClient after;
	PROXY_ASSERT(!after.connect(Endpoint::unix_socket(socket), "tenant", "tenant-pw"),
		     "a login reached the old cluster's node");
	/* The session on the old generation still reaches its node. */
	const SqlResult r = before.query("SELECT 6 * 7");
	PROXY_ASSERT(r.ok && r.text() == "42", "the old session: %s", r.error.c_str());
	PROXY_ASSERT_CLEAN_SHUTDOWN(p);
}
END_TEST

static Suite *reload_suite()
{
	Suite *s = suite_create("proxy_reload");
	TCase *tc = server_tcase("reload", 180);
	tcase_add_test(tc, test_reload_rereads_data_under_load);
	tcase_add_test(tc, test_failed_reload_keeps_configuration);
	tcase_add_test(tc, test_reload_function_waits);
	tcase_add_test(tc, test_reload_listeners);
	tcase_add_test(tc, test_reload_cluster_monitoring);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	mysql_library_init(0, nullptr, nullptr);
	SharedServerSpec spec;
	const int rc = run_suites_with_servers(spec, {reload_suite()},
					       [] { shared_mariadb().create_user("tenant", "tenant-pw"); });
	mysql_library_end();
	return rc;
}
