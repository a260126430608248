// End to end, clusters: the real ./myproxy with mysql_cluster() over three real mariadbd on loopback
// TCP, clients through libmariadb.  The script takes the client's user name as the account and logs
// in to the nodes as `app`, so `SELECT @@port` tells which node an account landed on; the expected
// node is computed with the same rendezvous ranking (common/node_choice), so a test fails when an
// account lands anywhere else.  The tests run in order and share the servers: each one puts back
// what it changed (a stopped node is started again, read_only reset).
#include "common/node_choice.hpp"
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
// Last: <check.h> (through it) must follow the standard headers.
#include "tests/check_main.hpp"

using namespace myproxy;
using namespace myproxy::test;

namespace {

// Leaked on purpose: forked test children must not run its destructor.
ProxyProcess *proxy = nullptr;

using Clock = std::chrono::steady_clock;

constexpr std::size_t node_count = 3;
// Short, so the tests need not wait long; the log shows what the monitor saw.
constexpr double check_interval = 0.3;
constexpr int account_count = 24;

std::string node_name(std::size_t i)
{
	return shared_mariadb(i).host() + ":" + std::to_string(shared_mariadb(i).port());
}

std::string account(int i)
{
	return "acct" + std::to_string(i);
}

// cluster 0 `plain`: no monitoring; cluster 1 `monitored`: no_read_only, disconnect_unavailable;
// cluster 2 `badauth`: monitoring with a wrong password.
std::string config_lua()
{
	std::string nodes = "{";
	for (std::size_t i = 0; i < node_count; ++i)
		nodes += lua_quote(node_name(i)) + ", ";
	nodes += "}";
	const std::string interval = std::to_string(check_interval);
	auto listen = [](const std::string &name, const std::string &target) {
		return "mysql_listen(" + lua_quote(proxy->path(name)) + ", {\n"
		       "  on_handshake_response = function(client, hr)\n"
		       "    client.account = hr.user\n"
		       "    hr.user = 'app'\n"
		       "    hr.password = 'app-pw'\n"
		       "    return client:connect(" + target + ")\n"
		       "  end,\n"
		       "})\n";
	};
	const std::string noacct = "mysql_listen(" + lua_quote(proxy->path("noacct.sock")) + ", {\n"
				   "  on_handshake_response = function(client, hr) return client:connect(monitored, hr) end,\n"
				   "})\n";
	return "worker_processes = 2\n"
	       "local nodes = " + nodes + "\n"
	       "local plain = mysql_cluster(nodes)\n"
	       "local monitored = mysql_cluster(nodes, {monitoring = true, user = 'monitor', password = 'monitor-pw',\n"
	       "  no_read_only = true, disconnect_unavailable = true, check_interval = " + interval + ",\n"
	       "  check_timeout = 0.5})\n"
	       "local badauth = mysql_cluster(nodes, {monitoring = true, user = 'monitor', password = 'wrong',\n"
	       "  check_interval = " + interval + "})\n" +
	       listen("plain.sock", "plain, hr") + listen("monitored.sock", "monitored, hr") +
	       listen("ro.sock", "monitored, hr, {read_only = true}") + listen("badauth.sock", "badauth, hr") + noacct +
	       // User nodeN goes straight to node N, no cluster.
	       "mysql_listen(" + lua_quote(proxy->path("direct.sock")) + ", {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    local n = tonumber(hr.user:match('^node(%d)$')) or 0\n"
	       "    hr.user = 'app'\n"
	       "    hr.password = 'app-pw'\n"
	       "    return client:connect(nodes[n + 1], hr)\n"
	       "  end,\n"
	       "})\n";
}

Endpoint listener(const char *name)
{
	return Endpoint::unix_socket(proxy->path(name));
}

// The port of the node the rendezvous ranking picks for @acct with these node states.
unsigned expected_port(const std::string &acct, NodePreference preference, const std::vector<NodeState> &states)
{
	std::vector<std::string> keys;
	for (std::size_t i = 0; i < node_count; ++i)
		keys.push_back(node_hash_key(parse_numeric_address(node_name(i), mysql_default_port).value()));
	std::vector<NodeCandidate> candidates;
	for (std::size_t i = 0; i < node_count; ++i)
		candidates.push_back({keys[i], states[i]});
	std::vector<std::uint32_t> order;
	rank_nodes(candidates, preference, acct, order);
	return shared_mariadb(order.front()).port();
}

const std::vector<NodeState> all_alive(node_count, NodeState::alive);

std::vector<NodeState> with(std::size_t node, NodeState state)
{
	std::vector<NodeState> states = all_alive;
	states[node] = state;
	return states;
}

// The @@port an account's login through @socket reaches, or the error as text.
std::string port_via(const char *socket, const std::string &acct)
{
	MysqlClient c;
	if (!c.connect(listener(socket), acct, "any"))
		return "<login: " + c.error() + ">";
	return c.text("SELECT @@port");
}

// Every account lands where @expected says, within @timeout (the workers learn node states a
// moment after the master logs them).
template <typename Expected>
void expect_placement(const char *socket, Expected expected, std::chrono::milliseconds timeout = std::chrono::seconds(5))
{
	const Clock::time_point deadline = Clock::now() + timeout;
	for (int i = 0; i < account_count; ++i) {
		const std::string acct = account(i);
		const std::string want = std::to_string(expected(acct));
		std::string got = port_via(socket, acct);
		while (got != want && Clock::now() < deadline) {
			std::this_thread::sleep_for(std::chrono::milliseconds(50));
			got = port_via(socket, acct);
		}
		PROXY_ASSERT(got == want, "%s via %s: port %s, expected %s", acct.c_str(), socket, got.c_str(),
			     want.c_str());
	}
}

// Waits for a line of the proxy's log containing @text; returns the seconds it took.
double wait_log(const std::string &text, double timeout_seconds = 10)
{
	timeout_seconds *= timeout_multiplier();
	const Clock::time_point start = Clock::now();
	while (!contains(proxy->log(), text)) {
		PROXY_ASSERT(Clock::now() - start < std::chrono::duration<double>(timeout_seconds),
			     "'%s' not logged within %.0f s", text.c_str(), timeout_seconds);
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	return std::chrono::duration<double>(Clock::now() - start).count();
}

// The monitor's line for a change: "cluster 1 (FILE:LINE) node 127.0.0.1:P: alive -> dead (...)".
bool logged_change(std::size_t cluster, std::size_t node, const char *from, const char *to)
{
	std::istringstream log(proxy->log());
	const std::string head = "cluster " + std::to_string(cluster) + " (";
	const std::string tail = ") node " + node_name(node) + ": " + from + " -> " + to + " (";
	for (std::string line; std::getline(log, line);)
		if (contains(line, head) && contains(line, tail))
			return true;
	return false;
}

// The cause in parentheses at the end of the first such line, "" if none.
std::string change_reason(std::size_t cluster, std::size_t node, const char *from, const char *to)
{
	std::istringstream log(proxy->log());
	const std::string head = "cluster " + std::to_string(cluster) + " (";
	const std::string tail = ") node " + node_name(node) + ": " + from + " -> " + to + " (";
	for (std::string line; std::getline(log, line);) {
		const std::size_t at = line.find(tail);
		if (contains(line, head) && at != std::string::npos && line.ends_with(")"))
			return line.substr(at + tail.size(), line.size() - at - tail.size() - 1);
	}
	return "";
}

double wait_change(std::size_t cluster, std::size_t node, const char *from, const char *to, double timeout_seconds = 10)
{
	timeout_seconds *= timeout_multiplier();
	const Clock::time_point start = Clock::now();
	while (!logged_change(cluster, node, from, to)) {
		PROXY_ASSERT(Clock::now() - start < std::chrono::duration<double>(timeout_seconds),
			     "cluster %zu node %s: %s -> %s not logged within %.0f s", cluster, node_name(node).c_str(),
			     from, to, timeout_seconds);
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	}
	return std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace

// The first checks: every node of the monitored cluster is alive, every node of the badly
// configured one auth_failed (wrong monitoring credentials).
START_TEST(test_first_checks)
{
	for (std::size_t node = 0; node < node_count; ++node) {
		wait_change(1, node, "unknown", "alive");
		wait_change(2, node, "unknown", "auth_failed");
	}
}
END_TEST

// The same account always reaches the same node, the one the hash ranks first; accounts spread
// over every node; with and without monitoring alike while every node is writable.
START_TEST(test_same_account_same_node)
{
	std::vector<int> per_node(node_count, 0);
	for (int i = 0; i < account_count; ++i) {
		const unsigned want = expected_port(account(i), NodePreference::any, all_alive);
		for (std::size_t n = 0; n < node_count; ++n)
			per_node[n] += shared_mariadb(n).port() == want;
	}
	for (std::size_t n = 0; n < node_count; ++n)
		PROXY_ASSERT(per_node[n] > 0, "no account of %d on node %zu", account_count, n);

	for (int round = 0; round < 2; ++round) {
		expect_placement("plain.sock", [](const std::string &a) { return expected_port(a, NodePreference::any, all_alive); },
				 std::chrono::milliseconds(0));
		expect_placement("monitored.sock",
				 [](const std::string &a) { return expected_port(a, NodePreference::writable, all_alive); },
				 std::chrono::milliseconds(0));
	}
}
END_TEST

// Without client.account every user lands on the node of the empty account, as upstream.
START_TEST(test_no_account_hashes_empty)
{
	for (int i = 0; i < 6; ++i) {
		const std::string user = "u" + std::to_string(i);
		MysqlClient c;
		PROXY_ASSERT(c.connect(listener("noacct.sock"), user, "u-pw"), "%s: %s", user.c_str(), c.error().c_str());
		PROXY_ASSERT_STR(c.text("SELECT CURRENT_USER()"), user + "@%");
		PROXY_ASSERT_STR(c.text("SELECT @@port"),
				 std::to_string(expected_port("", NodePreference::writable, all_alive)));
	}
}
END_TEST

// COM_CHANGE_USER into the same cluster stays on the connection's node, whatever the new account
// would hash to.
START_TEST(test_change_user_stays_on_node)
{
	MysqlClient c;
	PROXY_ASSERT(c.connect(listener("monitored.sock"), account(0), "x"), "login: %s", c.error().c_str());
	const std::string port = c.text("SELECT @@port");
	PROXY_ASSERT_STR(port, std::to_string(expected_port(account(0), NodePreference::writable, all_alive)));
	for (int i = 1; i < 6; ++i) {
		PROXY_ASSERT(mysql_change_user(c.get(), account(i).c_str(), "x", nullptr) == 0, "change_user: %s",
			     c.error().c_str());
		PROXY_ASSERT_STR(c.text("SELECT @@port"), port);
	}
}
END_TEST

// COM_CHANGE_USER whose script names another server than the connection's is refused with 1045
// (documented: a change of server is not supported) and logged; one to the same server goes on.
START_TEST(test_change_user_to_another_server_refused)
{
	MysqlClient c;
	PROXY_ASSERT(c.connect(listener("direct.sock"), "node0", "x"), "login: %s", c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT @@port"), std::to_string(shared_mariadb(0).port()));
	PROXY_CHECK(mysql_change_user(c.get(), "node1", "x", nullptr) != 0);
	PROXY_ASSERT(c.error_code() == 1045, "expected ERR 1045, got %s", c.error().c_str());
	PROXY_ASSERT(contains(c.error(), "COM_CHANGE_USER to another server is not supported"), "%s", c.error().c_str());
	PROXY_ASSERT(contains(proxy->log(), "COM_CHANGE_USER to another backend refused"), "the refusal is not logged");
	MysqlClient d;
	PROXY_ASSERT(d.connect(listener("direct.sock"), "node0", "x"), "login: %s", d.error().c_str());
	PROXY_ASSERT(mysql_change_user(d.get(), "node0", "x", nullptr) == 0, "change_user: %s", d.error().c_str());
	PROXY_ASSERT_STR(d.text("SELECT @@port"), std::to_string(shared_mariadb(0).port()));
}
END_TEST

// Wrong monitoring credentials make every node auth_failed; logins still go somewhere (the last
// resort tier), to the node the hash ranks first.
START_TEST(test_auth_failed_cluster_still_serves)
{
	PROXY_ASSERT(contains(proxy->log(), "auth_failed (login refused: 1045"), "no auth_failed with 1045 in the log");
	expect_placement("badauth.sock", [](const std::string &a) { return expected_port(a, NodePreference::any, all_alive); },
			 std::chrono::milliseconds(0));
}
END_TEST

// Stop a node: the monitor marks it dead for what it saw (the refused or broken connection, not a
// check timing out), its accounts move to their second choice, the others stay; an unmonitored cluster gets
// there by trying the next node.  Start it again: everything is back.
START_TEST(test_stopped_node_moves_its_accounts)
{
	constexpr std::size_t victim = 1;
	shared_mariadb(victim).stop();
	const double seconds = wait_change(1, victim, "alive", "dead");
	std::printf("cluster node marked dead %.3f s after the server stopped (check_interval %.1f s)\n", seconds,
		    check_interval);
	const std::string reason = change_reason(1, victim, "alive", "dead");
	PROXY_ASSERT(!reason.empty(), "the dead line names no cause");
	PROXY_ASSERT(!contains(reason, "timed out") && !contains(reason, "in time"),
		     "marked dead by a timeout (%s), not by the stopped server", reason.c_str());

	const std::vector<NodeState> down = with(victim, NodeState::dead);
	expect_placement("monitored.sock", [&](const std::string &a) { return expected_port(a, NodePreference::writable, down); });
	expect_placement("plain.sock", [&](const std::string &a) { return expected_port(a, NodePreference::any, down); },
			 std::chrono::milliseconds(0));
	PROXY_ASSERT(contains(proxy->log(), "; trying node "), "the unmonitored cluster did not try a next node");

	shared_mariadb(victim).start();
	wait_change(1, victim, "dead", "alive");
	expect_placement("monitored.sock", [](const std::string &a) { return expected_port(a, NodePreference::writable, all_alive); });
	expect_placement("plain.sock", [](const std::string &a) { return expected_port(a, NodePreference::any, all_alive); },
			 std::chrono::milliseconds(0));
}
END_TEST

// SET GLOBAL read_only=1 on a node: with no_read_only its writers move to the writable nodes;
// read_only=true connections all land on it, the only replica.
START_TEST(test_read_only_node)
{
	constexpr std::size_t replica = 0;
	shared_mariadb(replica).execute("SET GLOBAL read_only = 1");
	wait_change(1, replica, "alive", "read_only");

	const std::vector<NodeState> states = with(replica, NodeState::read_only);
	expect_placement("monitored.sock", [&](const std::string &a) { return expected_port(a, NodePreference::writable, states); });
	const unsigned replica_port = shared_mariadb(replica).port();
	expect_placement("ro.sock", [&](const std::string &) { return replica_port; });

	shared_mariadb(replica).execute("SET GLOBAL read_only = 0");
	wait_change(1, replica, "read_only", "alive");
	expect_placement("monitored.sock", [](const std::string &a) { return expected_port(a, NodePreference::writable, all_alive); });
}
END_TEST

// disconnect_unavailable: a node that stops answering (SIGSTOP: its connections stay open, so only
// myproxy can end them) is marked dead after check_timeout; the writer relayed to it gets ERR 1927
// and is closed, the read_only connection to it stays.
START_TEST(test_disconnect_unavailable)
{
	constexpr std::size_t victim = 2;
	const unsigned victim_port = shared_mariadb(victim).port();
	std::string acct;
	for (int i = 0; i < 1000 && acct.empty(); ++i)
		if (expected_port(account(i), NodePreference::writable, all_alive) == victim_port)
			acct = account(i);
	PROXY_ASSERT(!acct.empty(), "no account for node %zu", victim);

	MysqlClient writer, reader;
	ClientOptions options;
	options.read_timeout = 20;
	PROXY_ASSERT(writer.connect(listener("monitored.sock"), acct, "x", options), "writer: %s",
		     writer.error().c_str());
	PROXY_ASSERT(reader.connect(listener("ro.sock"), acct, "x", options), "reader: %s",
		     reader.error().c_str());
	PROXY_ASSERT_STR(writer.text("SELECT @@port"), std::to_string(victim_port));
	// No replica exists, so the read_only connection falls back to the same hash choice.
	PROXY_ASSERT_STR(reader.text("SELECT @@port"), std::to_string(victim_port));

	const pid_t pid = shared_mariadb(victim).pid();
	PROXY_CHECK(kill(pid, SIGSTOP) == 0);
	wait_change(1, victim, "alive", "dead");
	wait_log("(disconnect_unavailable)");
	PROXY_ASSERT(contains(proxy->log(), "closing 1 connections to it"), "not exactly one connection closed");

	const SqlResult r = writer.query("SELECT 1");
	PROXY_ASSERT(!r.ok, "the writer still works");
	PROXY_ASSERT(r.error_code == 1927, "writer: %s", r.error.c_str());
	PROXY_ASSERT(contains(r.error, "is dead; connection closed"), "writer: %s", r.error.c_str());

	PROXY_CHECK(kill(pid, SIGCONT) == 0);
	wait_change(1, victim, "dead", "alive");
	PROXY_ASSERT_STR(reader.text("SELECT @@port"), std::to_string(victim_port));
}
END_TEST

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*proxy);
}
END_TEST

// A respawned worker first gets the full state: with a node dead before it starts, its first
// login of an account of that node goes to the second choice (monitoring never retries another
// node, so without the state the login would fail on the dead node).
START_TEST(test_respawned_worker_gets_state)
{
	ProxyProcess second;
	const std::string nodes = "{" + lua_quote(node_name(0)) + ", " + lua_quote(node_name(1)) + ", " +
				  lua_quote(node_name(2)) + "}";
	second.start("worker_processes = 1\n"
		     "local c = mysql_cluster(" + nodes + ", {monitoring = true, user = 'monitor',\n"
		     "  password = 'monitor-pw', no_read_only = true, check_interval = 0.3})\n"
		     "mysql_listen(" + lua_quote(second.path("c.sock")) + ", {\n"
		     "  on_handshake_response = function(client, hr)\n"
		     "    client.account = hr.user; hr.user = 'app'; hr.password = 'app-pw'\n"
		     "    return client:connect(c, hr)\n"
		     "  end,\n"
		     "})\n",
		     {second.path("c.sock")});
	constexpr std::size_t victim = 0;
	Clock::time_point start = Clock::now();
	while (!contains(second.log(), "node " + node_name(victim) + ": unknown -> alive")) {
		PROXY_ASSERT(Clock::now() - start < std::chrono::seconds(10), "no first check:\n%s", second.log_tail().c_str());
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	shared_mariadb(victim).stop();
	start = Clock::now();
	while (!contains(second.log(), "node " + node_name(victim) + ": alive -> dead")) {
		PROXY_ASSERT(Clock::now() - start < std::chrono::seconds(10), "node not marked dead:\n%s",
			     second.log_tail().c_str());
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}

	// The worker: the master's only child.
	std::ifstream children("/proc/" + std::to_string(second.pid()) + "/task/" + std::to_string(second.pid()) +
			       "/children");
	pid_t worker = 0;
	children >> worker;
	PROXY_ASSERT(worker > 0, "no worker process found");
	PROXY_CHECK(kill(worker, SIGKILL) == 0);
	const Clock::time_point killed = Clock::now();
	while (!contains(second.log(), "killed by signal 9")) {
		PROXY_ASSERT(Clock::now() - killed < std::chrono::seconds(10), "worker death not logged");
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}

	const std::vector<NodeState> down = with(victim, NodeState::dead);
	for (int i = 0; i < account_count; ++i) {
		MysqlClient c;
		PROXY_ASSERT(c.connect(Endpoint::unix_socket(second.path("c.sock")), account(i), "x"), "%s: %s\n%s",
			     account(i).c_str(), c.error().c_str(), second.log_tail().c_str());
		const std::string want = std::to_string(expected_port(account(i), NodePreference::writable, down));
		PROXY_ASSERT(c.text("SELECT @@port") == want, "%s not on %s:\n%s", account(i).c_str(), want.c_str(),
			     second.log_tail().c_str());
	}
	shared_mariadb(victim).start();
	second.stop();
}
END_TEST

// A mistake in mysql_cluster() stops the start: exit 78, "FILE:LINE: problem".
START_TEST(test_bad_cluster_exit_code)
{
	TempDir dir;
	const std::string config = dir.path() + "/config.lua";
	write_file(config, "mysql_listen(" + lua_quote(dir.path() + "/x.sock") +
				   ", { on_handshake_response = function(c, hr) return c:err('x') end })\n"
				   "local c = mysql_cluster({'127.0.0.1:3306'}, {monitoring = true, user = 'm',\n"
				   "  check_interval = 'often'})\n");
	const std::string expected = config + ":2: bad argument #2 to 'mysql_cluster' (option check_interval must be";
	for (const bool check_only : {true, false}) {
		const CommandOutput out = check_only ? run_myproxy({"--config=" + config, "--check-config"})
						     : run_myproxy({"--config", config});
		PROXY_ASSERT(out.exit_code == 78, "exit %d: %s", out.exit_code, out.output.c_str());
		PROXY_ASSERT(contains(out.output, expected), "'%s' not in\n%s", expected.c_str(), out.output.c_str());
	}
}
END_TEST

static Suite *cluster_suite()
{
	Suite *s = suite_create("proxy_cluster");
	TCase *tc = server_tcase("cluster", 120);
	tcase_add_test(tc, test_first_checks);
	tcase_add_test(tc, test_same_account_same_node);
	tcase_add_test(tc, test_no_account_hashes_empty);
	tcase_add_test(tc, test_change_user_stays_on_node);
	tcase_add_test(tc, test_change_user_to_another_server_refused);
	tcase_add_test(tc, test_auth_failed_cluster_still_serves);
	tcase_add_test(tc, test_stopped_node_moves_its_accounts);
	tcase_add_test(tc, test_read_only_node);
	tcase_add_test(tc, test_disconnect_unavailable);
	tcase_add_test(tc, test_clean_shutdown);
	suite_add_tcase(s, tc);

	tc = server_tcase("config", 60);
	tcase_add_test(tc, test_bad_cluster_exit_code);
	suite_add_tcase(s, tc);

	tc = server_tcase("respawn", 120);
	tcase_add_test(tc, test_respawned_worker_gets_state);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	mysql_library_init(0, nullptr, nullptr);
	SharedServerSpec spec;
	spec.mariadb_count = node_count;
	spec.mariadb_distinct_hosts = true;
	const int rc = run_suites_with_servers(spec, {cluster_suite()}, [] {
		for (std::size_t i = 0; i < node_count; ++i) {
			shared_mariadb(i).create_user("app", "app-pw");
			shared_mariadb(i).create_user("monitor", "monitor-pw", "mysql_native_password", "");
			for (int u = 0; u < 6; ++u)
				shared_mariadb(i).create_user("u" + std::to_string(u), "u-pw");
		}
		proxy = new ProxyProcess;
		proxy->start(config_lua(), {proxy->path("plain.sock")});
	});
	mysql_library_end();
	return rc;
}
