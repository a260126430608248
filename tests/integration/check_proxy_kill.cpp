// End to end, connection ids and KILL (issue 12, group 1): two MariaDB servers, two listeners (one
// per server) and two workers.  The id a driver reads from the greeting is the master's, increasing
// over all workers; KILL [QUERY] and COM_PROCESS_KILL (libmariadb, PyMySQL, PHP mysqli, Perl DBD::mysql) with that id
// kill the session it names, in the same worker or another one, exactly as the server would answer
// them directly (each driver script runs once against the server and once through myproxy, and the
// two outputs must match); across servers the users must match (ERR 1095) and the session ends; an
// id that is not myproxy's, or one whose session just ended, goes to the backend unchanged (1094).
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/check_main.hpp"

using namespace myproxy::test;

namespace {

// Leaked on purpose: forked test children must not destroy it.
ProxyProcess *proxy = nullptr;

std::string a_sock()
{
	return proxy->path("a.sock");
}
std::string b_sock()
{
	return proxy->path("b.sock");
}

std::string config_lua()
{
	return "worker_processes = 2\n"
	       "local a = mysql_resolve(" + lua_quote(shared_mariadb(0).socket_path()) + ")\n"
	       "local b = mysql_resolve(" + lua_quote(shared_mariadb(1).socket_path()) + ")\n"
	       "local function to(backend)\n"
	       "  return {on_handshake_response = function(client, hr)\n"
	       "    client.account = hr.user\n"
	       "    return client:connect(backend, hr)\n"
	       "  end}\n"
	       "end\n"
	       "mysql_listen(" + lua_quote(a_sock()) + ", to(a))\n"
	       "mysql_listen(" + lua_quote(b_sock()) + ", to(b))\n";
}

Endpoint at(const std::string &socket)
{
	return Endpoint::unix_socket(socket);
}

void connect(MysqlClient &c, const std::string &socket, const char *user = "u1", const char *password = "pw1")
{
	PROXY_ASSERT(c.connect(at(socket), user, password), "connect to %s as %s: %s", socket.c_str(), user,
		     c.error().c_str());
}

std::uint32_t id_of(MysqlClient &c)
{
	return std::uint32_t(mysql_thread_id(c.get()));
}

std::string backend_thread(MysqlClient &c)
{
	return c.text("SELECT CONNECTION_ID()");
}

// Whether backend thread @thread still exists on server @server (asked directly, as u1 sees its own).
bool thread_alive(std::size_t server, const std::string &thread)
{
	const SqlResult r = run_sql_via_libmariadb(Endpoint::unix_socket(shared_mariadb(server).socket_path()), "u1",
						   "pw1",
						   "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = " + thread);
	PROXY_ASSERT(r.ok, "processlist: %s", r.error.c_str());
	return r.text() != "0";
}

// Whether backend thread @thread on @server is gone, waiting for it (a killed thread leaves the
// process list a little after the KILL's answer; the wait is a safety net only).
bool thread_ends(std::size_t server, const std::string &thread)
{
	for (int i = 0; i < 1000 * int(timeout_multiplier()); ++i) {
		if (!thread_alive(server, thread))
			return true;
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	}
	return false;
}

// Waits (safety net only) until @thread on @server runs the sleeper's query.
void wait_until_sleeping(std::size_t server, const std::string &thread)
{
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20 * timeout_multiplier());
	while (std::chrono::steady_clock::now() < deadline) {
		const SqlResult r = run_sql_via_libmariadb(
			Endpoint::unix_socket(shared_mariadb(server).socket_path()), "u1", "pw1",
			"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = " + thread +
				" AND INFO LIKE 'SELECT SLEEP(10)%'");
		if (r.ok && r.text() == "1")
			return;
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	PROXY_ASSERT(false, "thread %s never started its SLEEP", thread.c_str());
}

// What a session gets for its SELECT SLEEP(10) after @kill ran while it slept: "ERROR n" or the
// value (SLEEP returns 1 when interrupted, 0 when it slept its time).
std::string interrupted_sleep(MysqlClient &sleeper, std::size_t server, const std::function<void()> &kill)
{
	const std::string thread = backend_thread(sleeper);
	const std::string sql = "SELECT SLEEP(10)";
	PROXY_ASSERT(mysql_send_query(sleeper.get(), sql.data(), sql.size()) == 0, "send: %s", sleeper.error().c_str());
	wait_until_sleeping(server, thread);
	kill();
	if (mysql_read_query_result(sleeper.get()) != 0)
		return "ERROR " + std::to_string(sleeper.error_code());
	// The server may send the column and then the ERR in place of the row.
	MYSQL_RES *result = mysql_store_result(sleeper.get());
	MYSQL_ROW row = result != nullptr ? mysql_fetch_row(result) : nullptr;
	std::string value = row != nullptr && row[0] != nullptr ? row[0] : "<no row>";
	if (result != nullptr)
		mysql_free_result(result);
	if (sleeper.error_code() != 0)
		value = "ERROR " + std::to_string(sleeper.error_code());
	return value;
}

// Whether the last KILL by connection @requester went through the master (another worker held
// the target): the worker says so in its log.
bool asked_master(std::uint32_t requester, std::uint32_t target)
{
	return contains(proxy->log(), "connection " + std::to_string(requester) + ": KILL QUERY " +
					      std::to_string(target) + " names no session of this worker");
}

// A connection of u1 to @socket that is (@other_worker) or is not in the same worker as @target: probed
// with a harmless KILL QUERY of the idle @target, whose log line tells the path it took.
std::unique_ptr<MysqlClient> killer_for(MysqlClient &target, const std::string &socket, bool other_worker,
					std::vector<std::unique_ptr<MysqlClient>> &spare)
{
	for (int attempt = 0; attempt < 8; ++attempt) {
		auto candidate = std::make_unique<MysqlClient>();
		connect(*candidate, socket);
		const SqlResult probe = candidate->query("KILL QUERY " + std::to_string(id_of(target)));
		PROXY_ASSERT(probe.ok, "probe: %s", probe.error.c_str());
		if (asked_master(id_of(*candidate), id_of(target)) == other_worker)
			return candidate;
		spare.push_back(std::move(candidate));
	}
	PROXY_ASSERT(false, "no connection landed in the %s worker", other_worker ? "other" : "same");
	return nullptr;
}

// Runs a driver script with (socket, user, password) arguments; its output.
std::string run_script(const std::vector<std::string> &command, const std::string &socket)
{
	std::vector<std::string> argv = command;
	argv.insert(argv.end(), {socket, "u1", "pw1"});
	const CommandOutput out = run_program(argv);
	PROXY_ASSERT(out.exit_code == 0, "%s: exit %d: %s", argv[0].c_str(), out.exit_code, out.output.c_str());
	return out.output;
}

// The script's output through myproxy equals its output directly against the server.
void expect_same_as_server(const std::vector<std::string> &command, std::initializer_list<const char *> expected)
{
	const std::string direct = run_script(command, shared_mariadb(0).socket_path());
	const std::string proxied = run_script(command, a_sock());
	PROXY_ASSERT(direct == proxied, "directly:\n%s\nthrough myproxy:\n%s", direct.c_str(), proxied.c_str());
	for (const char *lines : expected)
		PROXY_ASSERT(contains(proxied, lines), "expected '%s' in:\n%s", lines, proxied.c_str());
}

} // namespace

// --- ids ------------------------------------------------------------------------------------

START_TEST(test_ids_increase_over_all_workers)
{
	std::vector<std::unique_ptr<MysqlClient>> clients;
	std::uint32_t last = 0;
	for (int i = 0; i < 200; ++i) {
		clients.push_back(std::make_unique<MysqlClient>());
		connect(*clients.back(), i % 2 == 0 ? a_sock() : b_sock());
		const std::uint32_t id = id_of(*clients.back());
		PROXY_ASSERT(id > last, "connection %d got id %u after %u", i, id, last);
		last = id;
	}
	// Both workers hold sessions (the master hands each client to the least loaded): per-worker
	// counters would have given equal ids twice.
	std::ifstream children("/proc/" + std::to_string(proxy->pid()) + "/task/" + std::to_string(proxy->pid()) +
			       "/children");
	std::vector<std::string> workers;
	for (std::string pid; children >> pid;)
		workers.push_back(pid);
	PROXY_ASSERT(workers.size() == 2, "%zu workers", workers.size());
	for (const std::string &pid : workers) {
		std::size_t sockets = 0;
		DIR *fds = opendir(("/proc/" + pid + "/fd").c_str());
		PROXY_ASSERT(fds != nullptr, "cannot list the fds of worker %s", pid.c_str());
		while (const dirent *entry = readdir(fds)) {
			char target[64] = {};
			const std::string link = "/proc/" + pid + "/fd/" + entry->d_name;
			if (readlink(link.c_str(), target, sizeof(target) - 1) > 0 && std::string(target).rfind("socket:", 0) == 0)
				++sockets;
		}
		closedir(fds);
		PROXY_ASSERT(sockets >= 100, "worker %s has %zu sockets", pid.c_str(), sockets);
	}
}
END_TEST

// --- the drivers' own kill ----------------------------------------------------------------------

START_TEST(test_libmariadb_kills_other_and_self)
{
	MysqlClient killer, victim;
	connect(killer, a_sock());
	connect(victim, a_sock());
	const std::string victim_thread = backend_thread(victim);
	// KILL as a statement, with the server's spelling freedoms.
	const SqlResult killed = killer.query("  kill /* the other */ CONNECTION " + std::to_string(id_of(victim)) + " ;");
	PROXY_ASSERT(killed.ok, "KILL: %s", killed.error.c_str());
	PROXY_ASSERT(thread_ends(0, victim_thread), "backend thread %s survived", victim_thread.c_str());
	PROXY_CHECK(!victim.query("SELECT 1").ok);

	// mysql_kill() of its own id, as directly: the server answers its own end.
	MysqlClient direct, self;
	PROXY_CHECK(direct.connect(Endpoint::unix_socket(shared_mariadb(0).socket_path()), "u1", "pw1"));
	const int direct_rc = mysql_kill(direct.get(), mysql_thread_id(direct.get()));
	const unsigned direct_error = direct.error_code();
	connect(self, a_sock());
	const std::string self_thread = backend_thread(self);
	const int proxied_rc = mysql_kill(self.get(), id_of(self));
	PROXY_ASSERT(proxied_rc == direct_rc && self.error_code() == direct_error,
		     "mysql_kill(self): directly %d/%u, through myproxy %d/%u (%s)", direct_rc, direct_error, proxied_rc,
		     self.error_code(), self.error().c_str());
	PROXY_ASSERT(thread_ends(0, self_thread), "backend thread %s survived", self_thread.c_str());
}
END_TEST

START_TEST(test_pymysql_kills_other_and_self)
{
	const char *script =
		"import sys, pymysql\n"
		"def conn():\n"
		"    return pymysql.connect(unix_socket=sys.argv[1], user=sys.argv[2], password=sys.argv[3],\n"
		"                           connect_timeout=10, read_timeout=30)\n"
		"a, b = conn(), conn()\n"
		"a.kill(b.thread_id())\n"
		"print('kill other ok')\n"
		"try:\n"
		"    b.cursor().execute('SELECT 1')\n"
		"    print('victim alive')\n"
		"except pymysql.err.MySQLError:\n"
		"    print('victim dead')\n"
		"c = conn()\n"
		"try:\n"
		"    c.kill(c.thread_id())\n"
		"    print('kill self ok')\n"
		"except pymysql.err.MySQLError as e:\n"
		"    print('kill self', e.args[0])\n"
		"try:\n"
		"    c.cursor().execute('SELECT 1')\n"
		"    print('self alive')\n"
		"except pymysql.err.MySQLError:\n"
		"    print('self dead')\n"
		"try:\n"
		"    a.kill(4000000000)\n"
		"except pymysql.err.MySQLError as e:\n"
		"    print('unknown', e.args[0])\n";
	expect_same_as_server({"/usr/bin/python3", "-c", script}, {"kill other ok\nvictim dead\n", "self dead\nunknown 1094\n"});
}
END_TEST

START_TEST(test_php_mysqli_kills_other_and_self)
{
	const char *script =
		"mysqli_report(MYSQLI_REPORT_OFF);\n"
		"function conn($argv) { return new mysqli('localhost', $argv[2], $argv[3], '', 0, $argv[1]); }\n"
		"$a = conn($argv); $b = conn($argv);\n"
		"echo mysqli_kill($a, mysqli_thread_id($b)) ? \"kill other ok\\n\" : 'kill other ' . $a->errno . \"\\n\";\n"
		"echo @$b->query('SELECT 1') ? \"victim alive\\n\" : \"victim dead\\n\";\n"
		"$c = conn($argv);\n"
		"echo @mysqli_kill($c, mysqli_thread_id($c)) ? \"kill self ok\\n\" : 'kill self ' . $c->errno . \"\\n\";\n"
		"echo @$c->query('SELECT 1') ? \"self alive\\n\" : \"self dead\\n\";\n"
		"echo @mysqli_kill($a, 4000000000) ? \"unknown ok\\n\" : 'unknown ' . $a->errno . \"\\n\";\n";
	expect_same_as_server({"/usr/bin/php", "-r", script, "--"}, {"kill other ok\nvictim dead\n", "self dead\nunknown 1094\n"});
}
END_TEST

START_TEST(test_perl_dbd_mysql_kills_other_and_self)
{
	const char *script =
		"use DBI;\n"
		"sub conn { DBI->connect(\"DBI:mysql:mysql_socket=$ARGV[0]\", $ARGV[1], $ARGV[2],\n"
		"                        {PrintError => 0, RaiseError => 0}) or die $DBI::errstr }\n"
		"my ($a, $b) = (conn(), conn());\n"
		"print $a->do('KILL ' . $b->{mysql_thread_id}) ? \"kill other ok\\n\" : 'kill other ' . $a->err . \"\\n\";\n"
		"print $b->do('SELECT 1') ? \"victim alive\\n\" : \"victim dead\\n\";\n"
		"my $c = conn();\n"
		"print $c->do('KILL ' . $c->{mysql_thread_id}) ? \"kill self ok\\n\" : 'kill self ' . $c->err . \"\\n\";\n"
		"print $c->do('SELECT 1') ? \"self alive\\n\" : \"self dead\\n\";\n"
		"print $a->do('KILL 4000000000') ? \"unknown ok\\n\" : 'unknown ' . $a->err . \"\\n\";\n";
	expect_same_as_server({"/usr/bin/perl", "-e", script}, {"kill other ok\nvictim dead\n", "self dead\nunknown 1094\n"});
}
END_TEST

// --- KILL QUERY ------------------------------------------------------------------------------------

// What the server itself gives a SLEEP that KILL QUERY interrupts.
static std::string direct_interrupted_sleep()
{
	MysqlClient sleeper, killer;
	const Endpoint server = Endpoint::unix_socket(shared_mariadb(0).socket_path());
	PROXY_CHECK(sleeper.connect(server, "u1", "pw1") && killer.connect(server, "u1", "pw1"));
	const std::string thread = backend_thread(sleeper);
	return interrupted_sleep(sleeper, 0, [&] { PROXY_CHECK(killer.query("KILL QUERY " + thread).ok); });
}

static void kill_query_interrupts(bool other_worker)
{
	const std::string expected = direct_interrupted_sleep();
	// MariaDB interrupts the SLEEP with ERR 1317 (Query execution was interrupted); 0 would mean
	// it slept its time.
	PROXY_ASSERT(expected == "ERROR 1317", "directly: %s", expected.c_str());
	MysqlClient sleeper;
	connect(sleeper, a_sock());
	std::vector<std::unique_ptr<MysqlClient>> spare;
	auto killer = killer_for(sleeper, a_sock(), other_worker, spare);
	const std::uint32_t target = id_of(sleeper);
	const std::string got = interrupted_sleep(sleeper, 0, [&] {
		const SqlResult r = killer->query("KILL QUERY " + std::to_string(target));
		PROXY_ASSERT(r.ok, "KILL QUERY: %s", r.error.c_str());
	});
	PROXY_ASSERT(got == expected, "the sleeper got %s, directly %s", got.c_str(), expected.c_str());
	// Only the query ended: the session goes on.
	PROXY_ASSERT(sleeper.text("SELECT 7") == "7", "after KILL QUERY: %s", sleeper.error().c_str());
	PROXY_CHECK(contains(proxy->log(), "connection " + std::to_string(id_of(*killer)) + ": KILL QUERY " +
						   std::to_string(target) + " is backend thread"));
}

START_TEST(test_kill_query_same_worker)
{
	kill_query_interrupts(false);
}
END_TEST

START_TEST(test_kill_query_other_worker)
{
	kill_query_interrupts(true);
}
END_TEST

// --- users and servers -------------------------------------------------------------------------------

START_TEST(test_other_user_same_server_is_refused_by_the_server)
{
	MysqlClient target, intruder;
	connect(target, a_sock());
	connect(intruder, a_sock(), "u2", "pw2");
	const SqlResult r = intruder.query("KILL " + std::to_string(id_of(target)));
	PROXY_ASSERT(!r.ok && r.error_code == 1095, "KILL by u2: %s", r.error.c_str());
	// The server named its own thread id: the translation reached it.
	PROXY_ASSERT(contains(r.error, "thread " + backend_thread(target)), "%s", r.error.c_str());
	PROXY_ASSERT(target.text("SELECT 1") == "1", "the target: %s", target.error().c_str());
}
END_TEST

START_TEST(test_other_user_other_server_gets_1095)
{
	MysqlClient target, intruder;
	connect(target, a_sock());
	connect(intruder, b_sock(), "u2", "pw2");
	for (const std::string kill : {"KILL ", "KILL QUERY "}) {
		const SqlResult r = intruder.query(kill + std::to_string(id_of(target)));
		PROXY_ASSERT(!r.ok && r.error_code == 1095 && r.sqlstate == "HY000" &&
				     contains(r.error, "You are not owner of thread " + std::to_string(id_of(target))),
			     "%s by u2 on the other server: %s", kill.c_str(), r.error.c_str());
	}
	// COM_PROCESS_KILL too.
	PROXY_CHECK(mysql_kill(intruder.get(), id_of(target)) != 0 && intruder.error_code() == 1095);
	PROXY_ASSERT(target.text("SELECT 1") == "1", "the target: %s", target.error().c_str());
	PROXY_ASSERT(intruder.text("SELECT 2") == "2", "the intruder: %s", intruder.error().c_str());
}
END_TEST

START_TEST(test_same_user_other_server_closes_the_session)
{
	// KILL CONNECTION of an idle session: OK, the session ends, its backend thread too.
	MysqlClient idle, killer;
	connect(idle, a_sock());
	connect(killer, b_sock());
	const std::string idle_thread = backend_thread(idle);
	const SqlResult r = killer.query("KILL " + std::to_string(id_of(idle)));
	PROXY_ASSERT(r.ok, "KILL: %s", r.error.c_str());
	const SqlResult after = idle.query("SELECT 1");
	PROXY_ASSERT(!after.ok && after.error_code == 1927, "the killed session: %s", after.error.c_str());
	PROXY_ASSERT(thread_ends(0, idle_thread), "backend thread %s survived", idle_thread.c_str());

	// KILL QUERY across servers ends the session too (no connection of ours could interrupt only
	// the query): the sleeper reads ERR 1927 at once.
	MysqlClient sleeper;
	connect(sleeper, a_sock());
	const std::uint32_t target = id_of(sleeper);
	const std::string got = interrupted_sleep(sleeper, 0, [&] {
		const SqlResult q = killer.query("KILL QUERY " + std::to_string(target));
		PROXY_ASSERT(q.ok, "KILL QUERY: %s", q.error.c_str());
	});
	PROXY_ASSERT(got == "ERROR 1927", "the sleeper got %s", got.c_str());
	PROXY_CHECK(contains(proxy->log(), "KILL QUERY " + std::to_string(target) + " closed that session"));
}
END_TEST

// --- ids that are not myproxy's ---------------------------------------------------------------------

START_TEST(test_unknown_id_goes_to_the_backend)
{
	MysqlClient c;
	connect(c, a_sock());
	for (const char *sql : {"KILL 4000000000", "KILL QUERY 4000000000", "KILL 99999999999"}) {
		const SqlResult r = c.query(sql);
		PROXY_ASSERT(!r.ok && r.error_code == 1094, "%s: %s", sql, r.error.c_str());
	}
	PROXY_CHECK(mysql_kill(c.get(), 4000000000u) != 0 && c.error_code() == 1094);
	PROXY_CHECK(c.text("SELECT 3") == "3");
}
END_TEST

START_TEST(test_kill_of_a_session_that_just_ended)
{
	// Ids of myproxy well above the thread ids of server 1, whose connections are few.
	for (int i = 0; i < 60; ++i) {
		MysqlClient burn;
		connect(burn, a_sock());
	}
	auto gone = std::make_unique<MysqlClient>();
	connect(*gone, a_sock());
	const std::uint32_t ended = id_of(*gone);
	gone.reset();

	MysqlClient probe;
	PROXY_CHECK(probe.connect(Endpoint::unix_socket(shared_mariadb(1).socket_path()), "u1", "pw1"));
	PROXY_ASSERT(std::stoul(backend_thread(probe)) < ended, "server 1 has thread ids up to %s, the id is %u",
		     backend_thread(probe).c_str(), ended);
	MysqlClient c;
	connect(c, b_sock());
	// Whether its CONNECTION_CLOSED reached the master yet or not, the KILL passes on unchanged.
	const SqlResult r = c.query("KILL " + std::to_string(ended));
	PROXY_ASSERT(!r.ok && r.error_code == 1094 && contains(r.error, std::to_string(ended)), "KILL: %s",
		     r.error.c_str());
	PROXY_CHECK(c.text("SELECT 4") == "4");
}
END_TEST

// Last: nothing above crashed a worker or tripped a sanitizer.
START_TEST(test_log_has_no_trouble)
{
	PROXY_ASSERT(proxy->trouble().empty(), "trouble in the log:\n%s", proxy->trouble().c_str());
}
END_TEST

static Suite *kill_suite()
{
	Suite *s = suite_create("proxy_kill");
	TCase *tc = server_tcase("ids", 180);
	tcase_add_test(tc, test_ids_increase_over_all_workers);
	suite_add_tcase(s, tc);
	tc = server_tcase("drivers", 180);
	tcase_add_test(tc, test_libmariadb_kills_other_and_self);
	tcase_add_test(tc, test_pymysql_kills_other_and_self);
	tcase_add_test(tc, test_php_mysqli_kills_other_and_self);
	tcase_add_test(tc, test_perl_dbd_mysql_kills_other_and_self);
	suite_add_tcase(s, tc);
	tc = server_tcase("kill_query", 180);
	tcase_add_test(tc, test_kill_query_same_worker);
	tcase_add_test(tc, test_kill_query_other_worker);
	suite_add_tcase(s, tc);
	tc = server_tcase("users_and_servers", 180);
	tcase_add_test(tc, test_other_user_same_server_is_refused_by_the_server);
	tcase_add_test(tc, test_other_user_other_server_gets_1095);
	tcase_add_test(tc, test_same_user_other_server_closes_the_session);
	suite_add_tcase(s, tc);
	tc = server_tcase("not_ours", 180);
	tcase_add_test(tc, test_unknown_id_goes_to_the_backend);
	tcase_add_test(tc, test_kill_of_a_session_that_just_ended);
	suite_add_tcase(s, tc);
	tc = server_tcase("log", 30);
	tcase_add_test(tc, test_log_has_no_trouble);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	mysql_library_init(0, nullptr, nullptr);
	SharedServerSpec spec;
	spec.mariadb_count = 2;
	const int rc = run_suites_with_servers(spec, {kill_suite()}, [] {
		for (std::size_t server = 0; server < 2; ++server) {
			shared_mariadb(server).create_user("u1", "pw1", "mysql_native_password", "SELECT ON *.*");
			shared_mariadb(server).create_user("u2", "pw2", "mysql_native_password", "SELECT ON *.*");
		}
		proxy = new ProxyProcess;
		proxy->start(config_lua(), {a_sock(), b_sock()});
	});
	mysql_library_end();
	return rc;
}
