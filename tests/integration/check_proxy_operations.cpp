// End to end, the operator interfaces (issue 14): the real ./myproxy with prometheus_listen() and
// control_listen() on socket paths, a monitored two-node cluster of real mariadbd, clients through
// libmariadb.  Scrapes /metrics over HTTP and checks that counters move with logins, failed logins,
// Lua errors, queries, a killed worker and a node going dead; sends control datagrams with
// `myproxy --control` and by hand (malformed, oversized, from an unauthorised uid); sends hostile
// HTTP.  The tests share one daemon and run in order; the killed-worker test has its own daemon.
#include "tests/fixture/fixture.hpp"
#include "tests/integration/metrics_scrape.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace myproxy;
using namespace myproxy::test;

namespace {

// Leaked on purpose: forked test children must not run its destructor.
ProxyProcess *proxy = nullptr;
// The UDP port of the main daemon's second control listener (chosen free at setup).
unsigned control_udp_port = 0;

unsigned free_udp_port()
{
	const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sockaddr_in in{};
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t length = sizeof(in);
	if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&in), sizeof(in)) < 0 ||
	    getsockname(fd, reinterpret_cast<sockaddr *>(&in), &length) < 0)
		throw FixtureError("cannot find a free UDP port");
	close(fd);
	return ntohs(in.sin_port);
}

using Clock = std::chrono::steady_clock;

std::string node_name(std::size_t i)
{
	return "127.0.0.1:" + std::to_string(shared_mariadb(i).port());
}

std::string config_lua(const ProxyProcess &p, int workers)
{
	return "worker_processes = " + std::to_string(workers) + "\n"
	       "local c = mysql_cluster({" + lua_quote(node_name(0)) + ", " + lua_quote(node_name(1)) + "},\n"
	       "  {monitoring = true, user = 'monitor', password = 'monitor-pw', check_interval = 0.3, check_timeout = 0.5})\n"
	       "prometheus_listen(" + lua_quote(p.path("metrics.sock")) + ")\n"
	       "control_listen(" + lua_quote(p.path("control.sock")) + ")\n"
	       "control_listen('127.0.0.1:" + std::to_string(control_udp_port) + "')\n"
	       "mysql_listen(" + lua_quote(p.path("db.sock")) + ", {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    if hr.password == 'refuse' then return client:err('refused by the script') end\n"
	       "    if hr.password == 'explode' then error('boom') end\n"
	       "    client.account = hr.user\n"
	       "    hr.user = 'app'; hr.password = 'app-pw'\n"
	       "    return client:connect(c, hr)\n"
	       "  end,\n"
	       "})\n";
}

// One HTTP exchange over the exporter's socket: the raw response.
std::string http(const ProxyProcess &p, const std::string &request)
{
	return http_exchange(p.path("metrics.sock"), request);
}

std::string scrape(const ProxyProcess &p = *proxy)
{
	return scrape_metrics(p.path("metrics.sock"));
}

// The samples of a scrape without the comments, cut to what a failure message can hold.
std::string brief(const std::string &text)
{
	std::string out;
	std::size_t start = 0;
	while (start < text.size() && out.size() < 2500) {
		const std::size_t end = text.find('\n', start);
		const std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start + 1);
		if (!line.starts_with("#"))
			out += line;
		if (end == std::string::npos)
			break;
		start = end + 1;
	}
	return out.substr(0, 2500);
}

// Waits until a sample has @value (gauges follow a session's end a moment after the client's).
void wait_metric(const ProxyProcess &p, const std::string &series, double value);

// The sum of a server metric over both nodes.
double over_nodes(const std::string &text, const std::string &name)
{
	double sum = 0;
	for (std::size_t i = 0; i < 2; ++i)
		sum += metric(text, name + "{server=\"" + node_name(i) + "\"}");
	return sum;
}

void wait_metric(const ProxyProcess &p, const std::string &series, double value)
{
	const Clock::time_point start = Clock::now();
	for (;;) {
		const std::string text = scrape(p);
		if (metric(text, series) == value)
			return;
		PROXY_ASSERT(Clock::now() - start < std::chrono::seconds(20), "%s never became %g:\n%s", series.c_str(), value,
			     brief(text).c_str());
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
}

Endpoint db(const ProxyProcess &p = *proxy)
{
	return Endpoint::unix_socket(p.path("db.sock"));
}

void wait_for_log(const ProxyProcess &p, const std::string &text, std::size_t count = 1)
{
	const Clock::time_point start = Clock::now();
	for (;;) {
		const std::string log = p.log();
		std::size_t found = 0;
		for (std::size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1))
			++found;
		if (found >= count)
			return;
		PROXY_ASSERT(Clock::now() - start < std::chrono::seconds(20), "'%s' (x%zu) not in the log", text.c_str(),
			     count);
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
}

std::size_t log_count(const ProxyProcess &p, const std::string &text)
{
	const std::string log = p.log();
	std::size_t found = 0;
	for (std::size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1))
		++found;
	return found;
}

// Sends raw bytes as one datagram to the control socket; false when sendto() failed.
bool send_datagram(const std::string &bytes)
{
	const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sockaddr_un un{};
	un.sun_family = AF_UNIX;
	std::strncpy(un.sun_path, proxy->path("control.sock").c_str(), sizeof(un.sun_path) - 1);
	const bool ok = fd >= 0 && sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr *>(&un),
					  sizeof(un)) == ssize_t(bytes.size());
	if (fd >= 0)
		close(fd);
	return ok;
}

std::string control_packet(std::uint16_t command, const std::string &payload)
{
	std::string out;
	out += char(payload.size() >> 8);
	out += char(payload.size() & 0xff);
	out += char(command >> 8);
	out += char(command & 0xff);
	out += payload;
	out.append((4 - payload.size() % 4) % 4, '\0');
	return out;
}

const std::string magic("\x63\x04\x61\x01", 4);

} // namespace

START_TEST(test_every_upstream_name)
{
	/* A node's server_state has a sample once the monitor's first check of it is done. */
	for (std::size_t i = 0; i < 2; ++i)
		wait_for_log(*proxy, "node " + node_name(i) + ": unknown -> ");
	const std::string text = scrape();
	for (const char *name :
	     {"myproxy_connections_accepted", "myproxy_connections_rejected", "myproxy_client_bytes_received",
	      "myproxy_client_packets_received", "myproxy_client_malformed_packets", "myproxy_client_handshake_responses",
	      "myproxy_client_auth_ok", "myproxy_client_auth_err", "myproxy_client_queries", "myproxy_lua_errors"}) {
		PROXY_ASSERT(contains(text, std::string("\n# TYPE ") + name + " counter\n"), "no %s in\n%s", name, brief(text).c_str());
		PROXY_ASSERT(metric(text, name) >= 0, "no sample of %s", name);
	}
	for (const char *name :
	     {"myproxy_server_state", "myproxy_server_connects", "myproxy_server_connect_errors",
	      "myproxy_server_bytes_received", "myproxy_server_packets_received", "myproxy_server_malformed_packets",
	      "myproxy_server_queries", "myproxy_server_query_errors", "myproxy_server_query_warnings",
	      "myproxy_server_no_good_index_queries", "myproxy_server_no_index_queries", "myproxy_server_slow_queries",
	      "myproxy_server_affected_rows", "myproxy_server_query_wait"})
		for (std::size_t i = 0; i < 2; ++i) {
			const std::string series = std::string(name) + "{server=\"" + node_name(i) + "\"}";
			PROXY_ASSERT(metric(text, series) >= 0, "no %s in\n%s", series.c_str(), brief(text).c_str());
		}
	for (const char *name : {"myproxy_workers_alive", "myproxy_worker_restarts", "myproxy_worker_crashes",
				 "myproxy_crash_penalty_refusals", "myproxy_logins_pending", "myproxy_sessions_open",
				 "myproxy_login_seconds_count", "myproxy_lua_callback_seconds_count", "myproxy_tls_handshakes",
				 "myproxy_tls_handshake_failures"})
		PROXY_ASSERT(metric(text, name) >= 0, "no %s in\n%s", name, brief(text).c_str());
	PROXY_ASSERT(metric(text, "myproxy_workers_alive") == 2, "workers_alive: %s", brief(text).c_str());
}
END_TEST

START_TEST(test_counters_follow_events)
{
	const std::string before = scrape();
	{
		MysqlClient good;
		PROXY_ASSERT(good.connect(db(), "acct-a", "pw"), "login: %s", good.error().c_str());
		PROXY_ASSERT_STR(good.text("SELECT 1"), "1");
		PROXY_CHECK(good.query("CREATE DATABASE IF NOT EXISTS ops").ok);
		PROXY_CHECK(good.query("CREATE TEMPORARY TABLE ops.t (x INT)").ok);
		PROXY_CHECK(good.query("INSERT INTO ops.t VALUES (1), (2), (3)").ok);
		PROXY_CHECK(!good.query("SELECT * FROM no_such_table").ok);
		const std::string during = scrape();
		PROXY_ASSERT(metric(during, "myproxy_sessions_open") == metric(before, "myproxy_sessions_open") + 1,
			     "sessions_open: %s", brief(during).c_str());
	}
	MysqlClient refused, exploded;
	PROXY_CHECK(!refused.connect(db(), "acct-b", "refuse"));
	PROXY_CHECK(!exploded.connect(db(), "acct-c", "explode"));

	const std::string after = scrape();
	auto delta = [&](const std::string &name) { return metric(after, name) - metric(before, name); };
	auto node_delta = [&](const std::string &name) { return over_nodes(after, name) - over_nodes(before, name); };
	PROXY_ASSERT(delta("myproxy_connections_accepted") >= 3, "accepted +%g", delta("myproxy_connections_accepted"));
	PROXY_ASSERT(delta("myproxy_client_handshake_responses") >= 3, "handshake responses +%g",
		     delta("myproxy_client_handshake_responses"));
	PROXY_ASSERT(delta("myproxy_client_auth_ok") >= 1, "auth_ok +%g", delta("myproxy_client_auth_ok"));
	PROXY_ASSERT(delta("myproxy_client_auth_err") >= 2, "auth_err +%g", delta("myproxy_client_auth_err"));
	PROXY_ASSERT(delta("myproxy_lua_errors") >= 1, "lua_errors +%g", delta("myproxy_lua_errors"));
	PROXY_ASSERT(delta("myproxy_client_queries") >= 4, "queries +%g", delta("myproxy_client_queries"));
	PROXY_ASSERT(delta("myproxy_client_bytes_received") > 0, "client bytes +%g", delta("myproxy_client_bytes_received"));
	PROXY_ASSERT(delta("myproxy_login_seconds_count") >= 1, "login histogram +%g", delta("myproxy_login_seconds_count"));
	PROXY_ASSERT(delta("myproxy_lua_callback_seconds_count") >= 3, "Lua histogram +%g",
		     delta("myproxy_lua_callback_seconds_count"));
	PROXY_ASSERT(node_delta("myproxy_server_connects") >= 1, "server connects +%g", node_delta("myproxy_server_connects"));
	PROXY_ASSERT(node_delta("myproxy_server_queries") >= 4, "server queries +%g", node_delta("myproxy_server_queries"));
	PROXY_ASSERT(node_delta("myproxy_server_query_errors") >= 1, "query errors +%g",
		     node_delta("myproxy_server_query_errors"));
	PROXY_ASSERT(node_delta("myproxy_server_affected_rows") >= 3, "affected rows +%g",
		     node_delta("myproxy_server_affected_rows"));
	PROXY_ASSERT(node_delta("myproxy_server_bytes_received") > 0, "server bytes +%g",
		     node_delta("myproxy_server_bytes_received"));
	wait_metric(*proxy, "myproxy_sessions_open", metric(before, "myproxy_sessions_open"));
}
END_TEST

START_TEST(test_node_going_dead)
{
	constexpr std::size_t victim = 1;
	const std::string series = "myproxy_server_state{server=\"" + node_name(victim) + "\"}";
	wait_for_log(*proxy, "node " + node_name(victim) + ": unknown -> alive");
	PROXY_ASSERT(metric(scrape(), series) == 1, "not alive: %s", brief(scrape()).c_str());
	shared_mariadb(victim).stop();
	wait_for_log(*proxy, "node " + node_name(victim) + ": alive -> dead");
	PROXY_ASSERT(metric(scrape(), series) == 4, "not dead: %s", brief(scrape()).c_str());
	shared_mariadb(victim).start();
	wait_for_log(*proxy, "node " + node_name(victim) + ": dead -> alive");
	PROXY_ASSERT(metric(scrape(), series) == 1, "not alive again: %s", brief(scrape()).c_str());
}
END_TEST

// Three sessions of `doomed` (spread over both workers) and two of `spared`: the datagram closes
// exactly the three, each with ERR 1927 as the answer to its next command.
START_TEST(test_disconnect_database)
{
	std::vector<std::unique_ptr<MysqlClient>> doomed, spared;
	for (int i = 0; i < 3; ++i) {
		doomed.push_back(std::make_unique<MysqlClient>());
		PROXY_ASSERT(doomed.back()->connect(db(), "doomed", "x"), "%s", doomed.back()->error().c_str());
		spared.push_back(std::make_unique<MysqlClient>());
		PROXY_ASSERT(spared.back()->connect(db(), "spared", "x"), "%s", spared.back()->error().c_str());
	}
	const std::size_t earlier = log_count(*proxy, "DISCONNECT_ACCOUNT 'doomed'");
	const CommandOutput out =
		run_myproxy({"--control", proxy->path("control.sock"), "disconnect-database", "doomed"});
	PROXY_ASSERT(out.exit_code == 0, "myproxy --control: exit %d: %s", out.exit_code, out.output.c_str());
	/* Both workers got it, whatever sessions each holds. */
	wait_for_log(*proxy, "DISCONNECT_ACCOUNT 'doomed'", earlier + 2);
	wait_for_log(*proxy, "closing: the account was disconnected", 3);
	for (auto &client : doomed) {
		const SqlResult r = client->query("SELECT 1");
		PROXY_ASSERT(!r.ok && client->error_code() == 1927, "doomed session: %s", client->error().c_str());
	}
	for (auto &client : spared)
		PROXY_ASSERT_STR(client->text("SELECT 'still here'"), "still here");
	PROXY_ASSERT(metric(scrape(), "myproxy_sessions_disconnected") >= 3, "%s", brief(scrape()).c_str());
}
END_TEST

// The same over UDP from loopback, which is allowed without an `allow` option.
START_TEST(test_disconnect_over_udp)
{
	MysqlClient doomed, spared;
	PROXY_ASSERT(doomed.connect(db(), "udp-doomed", "x"), "%s", doomed.error().c_str());
	PROXY_ASSERT(spared.connect(db(), "udp-spared", "x"), "%s", spared.error().c_str());
	const CommandOutput out = run_myproxy(
		{"--control", "127.0.0.1:" + std::to_string(control_udp_port), "disconnect-database", "udp-doomed"});
	PROXY_ASSERT(out.exit_code == 0, "myproxy --control: exit %d: %s", out.exit_code, out.output.c_str());
	wait_for_log(*proxy, "DISCONNECT_ACCOUNT 'udp-doomed'", 2);
	const SqlResult r = doomed.query("SELECT 1");
	PROXY_ASSERT(!r.ok && doomed.error_code() == 1927, "doomed session: %s", doomed.error().c_str());
	PROXY_ASSERT_STR(spared.text("SELECT 'still here'"), "still here");
}
END_TEST

// A datagram from another uid (nobody) on the local socket is refused and changes nothing.
START_TEST(test_unauthorised_sender)
{
	PROXY_ASSERT(geteuid() == 0, "this test needs root, to send as another uid");
	MysqlClient victim;
	PROXY_ASSERT(victim.connect(db(), "victim", "x"), "%s", victim.error().c_str());
	PROXY_CHECK(chmod(proxy->dir().c_str(), 0755) == 0);
	const double dropped = metric(scrape(), "myproxy_control_datagrams_dropped");
	const std::string datagram = magic + control_packet(20, "victim");
	const pid_t child = fork();
	if (child == 0) {
		if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
			_exit(2);
		_exit(send_datagram(datagram) ? 0 : 3);
	}
	int status = 0;
	PROXY_CHECK(waitpid(child, &status, 0) == child);
	PROXY_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sender as nobody: %s",
		     describe_wait_status(status).c_str());
	wait_for_log(*proxy, "uid=65534 refused: not an allowed sender");
	PROXY_ASSERT(metric(scrape(), "myproxy_control_datagrams_dropped") == dropped + 1, "%s", brief(scrape()).c_str());
	/* The same datagram from root would have closed it: the session is untouched. */
	PROXY_ASSERT_STR(victim.text("SELECT 'untouched'"), "untouched");
	PROXY_ASSERT(!contains(proxy->log(), "DISCONNECT_ACCOUNT 'victim'"), "the datagram was obeyed");
}
END_TEST

START_TEST(test_malformed_datagrams)
{
	const double dropped = metric(scrape(), "myproxy_control_datagrams_dropped");
	const std::vector<std::string> bad = {
		"\x63\x04",
		std::string("\x63\x04\x61\x02", 4) + control_packet(0, ""),
		magic + std::string("\x00\x08\x00\x14" "ab", 6),
		magic + std::string("\x00\x01\x00\x07\x03\x00\x01\x00", 8),
		magic + std::string(8000, 'x'),
		magic + std::string("\xff\xff\x00\x14", 4),
	};
	for (const std::string &datagram : bad)
		PROXY_CHECK(send_datagram(datagram));
	/* An unknown command is logged once, however often it comes; NOP and VERBOSE 2 are fine. */
	PROXY_CHECK(send_datagram(magic + control_packet(999, "?") + control_packet(0, "")));
	PROXY_CHECK(send_datagram(magic + control_packet(999, "?") + control_packet(7, std::string(1, '\2'))));
	wait_for_log(*proxy, "VERBOSE 2 from");
	PROXY_ASSERT(log_count(*proxy, "command 999 from") == 1, "unknown command logged %zu times",
		     log_count(*proxy, "command 999 from"));
	const std::string text = scrape();
	PROXY_ASSERT(metric(text, "myproxy_control_datagrams_dropped") == dropped + double(bad.size()), "%s", brief(text).c_str());
	wait_for_log(*proxy, "more than 4096");
	wait_for_log(*proxy, "padding is not zero");
	MysqlClient c;
	PROXY_ASSERT(c.connect(db(), "after-junk", "x"), "%s", c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT 2"), "2");
}
END_TEST

START_TEST(test_hostile_http)
{
	PROXY_ASSERT(http(*proxy, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "), "POST");
	PROXY_ASSERT(http(*proxy, "GET /other HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "), "404");
	PROXY_ASSERT(http(*proxy, std::string("\x00\x01\x02\r\n\r\n", 7)).starts_with("HTTP/1.1 400 "), "garbage");
	PROXY_ASSERT(http(*proxy, "GET /metrics HTTP/9.9\r\n\r\n").starts_with("HTTP/1.1 400 "), "version");
	const std::string head_only = http(*proxy, "HEAD /metrics HTTP/1.0\r\n\r\n");
	PROXY_ASSERT(head_only.starts_with("HTTP/1.1 200 ") && head_only.ends_with("\r\n\r\n"), "HEAD: %s",
		     head_only.c_str());
	PROXY_ASSERT(http(*proxy, "GET /metrics HTTP/1.1\r\nX: " + std::string(8000, 'a')).starts_with("HTTP/1.1 431 "),
		     "oversized head");

	/* Silent clients take every slot: the next one is closed at once, the master serves MySQL on;
	   each silent one is closed by its deadline. */
	std::vector<int> silent;
	for (int i = 0; i < 16; ++i) {
		silent.push_back(connect_unix(proxy->path("metrics.sock"), SOCK_STREAM));
		PROXY_CHECK(silent.back() >= 0);
	}
	std::this_thread::sleep_for(std::chrono::milliseconds(200));
	const int extra = connect_unix(proxy->path("metrics.sock"), SOCK_STREAM);
	PROXY_CHECK(extra >= 0);
	PROXY_ASSERT(read_to_eof(extra).empty(), "the 17th connection was served");
	close(extra);
	MysqlClient c;
	PROXY_ASSERT(c.connect(db(), "while-http-is-full", "x"), "%s", c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT 3"), "3");
	for (int fd : silent) {
		PROXY_ASSERT(read_to_eof(fd).empty(), "a silent client got an answer or was never closed");
		close(fd);
	}
	PROXY_ASSERT(scrape().size() > 1000, "no metrics after the silent clients");
}
END_TEST

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*proxy);
	PROXY_ASSERT(access(proxy->path("control.sock").c_str(), F_OK) != 0, "control.sock left behind");
	PROXY_ASSERT(access(proxy->path("metrics.sock").c_str(), F_OK) != 0, "metrics.sock left behind");
}
END_TEST

// A worker that crashes (SIGABRT) counts as a crash and a restart; one killed from outside
// (SIGKILL: an operator, the OOM killer) only as a restart.  What it counted stays in the totals
// (counters never go backwards).
START_TEST(test_killed_worker)
{
	ProxyProcess second;
	second.start(config_lua(second, 1), {second.path("db.sock")});
	{
		MysqlClient c;
		PROXY_ASSERT(c.connect(db(second), "acct-k", "x"), "%s", c.error().c_str());
		PROXY_ASSERT_STR(c.text("SELECT 1"), "1");
	}
	const std::string before = scrape(second);
	PROXY_ASSERT(metric(before, "myproxy_client_auth_ok") >= 1, "%s", brief(before).c_str());
	std::ifstream children("/proc/" + std::to_string(second.pid()) + "/task/" + std::to_string(second.pid()) +
			       "/children");
	pid_t worker = 0;
	children >> worker;
	PROXY_ASSERT(worker > 0, "no worker process found");
	/* SIGABRT: a crash signal that ASan leaves alone (it turns SIGSEGV into an exit status). */
	PROXY_CHECK(kill(worker, SIGABRT) == 0);
	wait_for_log(second, "killed by signal 6");
	wait_for_log(second, "ready (respawned)");
	const std::string after = scrape(second);
	PROXY_ASSERT(metric(after, "myproxy_worker_restarts") == metric(before, "myproxy_worker_restarts") + 1, "%s",
		     brief(after).c_str());
	PROXY_ASSERT(metric(after, "myproxy_worker_crashes") == metric(before, "myproxy_worker_crashes") + 1, "%s",
		     brief(after).c_str());
	for (const char *name : {"myproxy_client_auth_ok", "myproxy_client_queries", "myproxy_client_bytes_received",
				 "myproxy_connections_accepted"})
		PROXY_ASSERT(metric(after, name) >= metric(before, name), "%s went backwards: %g -> %g", name,
			     metric(before, name), metric(after, name));
	PROXY_ASSERT(over_nodes(after, "myproxy_server_connects") >= over_nodes(before, "myproxy_server_connects"),
		     "server connects went backwards");
	wait_metric(second, "myproxy_sessions_open", 0);

	/* A second daemon on the same control socket does not take it over: exit 71. */
	TempDir dir;
	const std::string config = dir.path() + "/config.lua";
	write_file(config, "mysql_listen(" + lua_quote(dir.path() + "/x.sock") +
				   ", { on_handshake_response = function(c, hr) return c:err('x') end })\n"
				   "control_listen(" + lua_quote(second.path("control.sock")) + ")\n");
	const CommandOutput out = run_myproxy({"--config", config});
	PROXY_ASSERT(out.exit_code == 71 && contains(out.output, "in use by another process"), "exit %d: %s",
		     out.exit_code, out.output.c_str());
	PROXY_ASSERT(access(second.path("control.sock").c_str(), F_OK) == 0, "the running daemon's socket was removed");
	second.stop();
}
END_TEST

// An upstream config.lua with control_listen() and prometheus_listen() loads; bad arguments are
// configuration errors.
START_TEST(test_config_errors)
{
	TempDir dir;
	const std::string config = dir.path() + "/config.lua";
	const std::string listen = "mysql_listen(" + lua_quote(dir.path() + "/x.sock") +
				   ", { on_handshake_response = function(c, hr) return c:err('x') end })\n";
	write_file(config, listen + "control_listen('@myproxy-control-x')\ncontrol_listen('127.0.0.1:1234')\n"
				    "control_listen('*', {allow = {'10.0.0.0/8'}})\nprometheus_listen('*:8022')\n");
	CommandOutput out = run_myproxy({"--config", config, "--check-config"});
	PROXY_ASSERT(out.exit_code == 0, "exit %d: %s", out.exit_code, out.output.c_str());
	const std::pair<const char *, const char *> bad[] = {
		{"control_listen('*', {allow = {'10.0.0.1/8'}})\n", "allow[1] is not a network"},
		{"control_listen('*', {color = 'red'})\n", "unknown option 'color'"},
		{"prometheus_listen({})\n", "bad argument #1 to 'prometheus_listen'"},
		{"control_listen('/x', {multicast_group = '224.0.0.42'})\n", "multicast_group needs a UDP address"},
	};
	for (const auto &[line, expected] : bad) {
		write_file(config, listen + line);
		out = run_myproxy({"--config", config, "--check-config"});
		PROXY_ASSERT(out.exit_code == 78 && contains(out.output, expected), "%s: exit %d: %s", line, out.exit_code,
			     out.output.c_str());
	}
	out = run_myproxy({"--control", "@nobody-listens-here", "disconnect-database", "x"});
	PROXY_ASSERT(out.exit_code == 69, "send to nowhere: exit %d: %s", out.exit_code, out.output.c_str());
	out = run_myproxy({"--control", "@x", "explode"});
	PROXY_ASSERT(out.exit_code == 64, "unknown command: exit %d: %s", out.exit_code, out.output.c_str());
}
END_TEST

static Suite *operations_suite()
{
	Suite *s = suite_create("proxy_operations");
	TCase *tc = server_tcase("operations", 180);
	tcase_add_test(tc, test_every_upstream_name);
	tcase_add_test(tc, test_counters_follow_events);
	tcase_add_test(tc, test_node_going_dead);
	tcase_add_test(tc, test_disconnect_database);
	tcase_add_test(tc, test_disconnect_over_udp);
	tcase_add_test(tc, test_unauthorised_sender);
	tcase_add_test(tc, test_malformed_datagrams);
	tcase_add_test(tc, test_hostile_http);
	tcase_add_test(tc, test_clean_shutdown);
	suite_add_tcase(s, tc);
	tc = server_tcase("respawn", 120);
	tcase_add_test(tc, test_killed_worker);
	tcase_add_test(tc, test_config_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	mysql_library_init(0, nullptr, nullptr);
	SharedServerSpec spec;
	spec.mariadb_count = 2;
	const int rc = run_suites_with_servers(spec, {operations_suite()}, [] {
		for (std::size_t i = 0; i < 2; ++i) {
			shared_mariadb(i).create_user("app", "app-pw");
			shared_mariadb(i).create_user("monitor", "monitor-pw", "mysql_native_password", "");
		}
		control_udp_port = free_udp_port();
		proxy = new ProxyProcess;
		proxy->start(config_lua(*proxy, 2), {proxy->path("db.sock")});
	});
	mysql_library_end();
	return rc;
}
