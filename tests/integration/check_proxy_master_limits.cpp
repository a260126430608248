// End to end, the master's backstops: a worker that never finishes its drain is killed when
// drain_timeout (plus the grace) runs out; a second SIGINT during the drain kills the workers and
// exits at once; a worker that stopped answering heartbeats and comes back gets clients again; and
// when every worker is at its fd budget the master itself refuses new clients with ERR 1040.  Each
// test runs a daemon of its own (one worker), in front of the shared mariadbd.
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace myproxy::test;

namespace {

/* The listener main.sock, and 127.0.0.1:@tcp_port too when it is not 0. */
std::string config_lua(const ProxyProcess &p, const char *drain_timeout, std::uint16_t tcp_port)
{
	std::string text = std::string("worker_processes = 1\n") + "drain_timeout = " + drain_timeout + "\n" +
			   "local backend = mysql_resolve(" + lua_quote(shared_mariadb().socket_path()) + ")\n"
			   "local handler = {\n"
			   "  on_handshake_response = function(client, hr) return client:connect(backend, hr) end,\n"
			   "}\n"
			   "mysql_listen(" + lua_quote(p.path("main.sock")) + ", handler)\n";
	if (tcp_port != 0)
		text += "mysql_listen('127.0.0.1:" + std::to_string(tcp_port) + "', handler)\n";
	return text;
}

void start(ProxyProcess &p, const char *drain_timeout, std::uint16_t tcp_port = 0)
{
	/* Workers run as nobody in the production build: they must reach the socket. */
	ck_assert_int_eq(chmod(p.dir().c_str(), 0711), 0);
	p.start(config_lua(p, drain_timeout, tcp_port), {p.path("main.sock")});
}

Endpoint endpoint(const ProxyProcess &p)
{
	return Endpoint::unix_socket(p.path("main.sock"));
}

pid_t the_worker(const ProxyProcess &p)
{
	std::ifstream children("/proc/" + std::to_string(p.pid()) + "/task/" + std::to_string(p.pid()) + "/children");
	pid_t worker = 0;
	children >> worker;
	PROXY_ASSERT(worker > 0, "no worker under pid %d", int(p.pid()));
	return worker;
}

/* Waits for the daemon to exit by itself (signal 0 sends nothing) and returns its wait status. */
int wait_exit(ProxyProcess &p)
{
	return p.stop(0, std::chrono::seconds(30));
}

} // namespace

START_TEST(test_drain_backstop_kills_a_stuck_worker)
{
	ProxyProcess p;
	start(p, "1");
	MysqlClient c;
	PROXY_ASSERT(c.connect(endpoint(p), "alice", "alice-pw"), "%s", c.error().c_str());
	const pid_t worker = the_worker(p);
	/* The worker cannot take its DRAIN: only the master's timer can end it. */
	ck_assert_int_eq(kill(worker, SIGSTOP), 0);
	ck_assert_int_eq(kill(p.pid(), SIGTERM), 0);
	PROXY_ASSERT(wait_for_log(p, "drain timeout: killing 1 workers", std::chrono::seconds(30)),
		     "no drain backstop in the log");
	const int status = wait_exit(p);
	PROXY_ASSERT(exited_with(status, 0), "myproxy after the backstop: %s", describe_wait_status(status).c_str());
}
END_TEST

START_TEST(test_second_signal_exits_now)
{
	ProxyProcess p;
	start(p, "60");
	MysqlClient c;
	PROXY_ASSERT(c.connect(endpoint(p), "alice", "alice-pw"), "%s", c.error().c_str());
	const std::string query = "SELECT SLEEP(60)";
	ck_assert_int_eq(mysql_send_query(c.get(), query.data(), query.size()), 0);
	std::this_thread::sleep_for(std::chrono::milliseconds(300));
	ck_assert_int_eq(kill(p.pid(), SIGTERM), 0);
	PROXY_ASSERT(wait_for_log(p, "SIGTERM: draining 1 connections", std::chrono::seconds(10)), "no drain in the log");
	/* The running query would hold the drain for 60 s; Ctrl-C again ends it now. */
	ck_assert_int_eq(kill(p.pid(), SIGINT), 0);
	PROXY_ASSERT(wait_for_log(p, "second SIGINT: killing the workers and exiting now", std::chrono::seconds(10)),
		     "no second-signal line in the log");
	const int status = wait_exit(p);
	PROXY_ASSERT(exited_with(status, 0), "myproxy after the second signal: %s",
		     describe_wait_status(status).c_str());
	PROXY_CHECK(mysql_read_query_result(c.get()) != 0);
}
END_TEST

START_TEST(test_silent_worker_comes_back)
{
	ProxyProcess p;
	start(p, "5");
	const pid_t worker = the_worker(p);
	ck_assert_int_eq(kill(worker, SIGSTOP), 0);
	/* Silent for 2 s: no new clients; continued well before the 5 s that would get it killed. */
	const bool noticed = wait_for_log(p, "silent for", std::chrono::seconds(4));
	ck_assert_int_eq(kill(worker, SIGCONT), 0);
	PROXY_ASSERT(noticed, "the silence was not noticed");
	PROXY_ASSERT(wait_for_log(p, "answers again", std::chrono::seconds(10)), "the worker's return was not noticed");
	MysqlClient c;
	PROXY_ASSERT(c.connect(endpoint(p), "alice", "alice-pw"), "after its return: %s", c.error().c_str());
	PROXY_ASSERT(the_worker(p) == worker, "the worker was replaced");
	PROXY_ASSERT(!contains(p.log(), "missed its heartbeat"), "the worker was killed");
}
END_TEST

START_TEST(test_every_worker_full)
{
	ProxyProcess p;
	/* 256 descriptors: a reserve of 32, so the master hands the one worker (256 - 2 * 32) / 2 = 96
	 * sessions of two descriptors each.  The second reserve covers the worker's own descriptors, so
	 * the worker never runs into its own check first and the 97th client meets the master's refusal. */
	p.set_command_prefix({"/usr/bin/prlimit", "--nofile=256:256", "--"});
	const std::uint16_t port = pick_free_tcp_port();
	start(p, "5", port);
	const Endpoint tcp = Endpoint::tcp("127.0.0.1", port);
	std::vector<std::unique_ptr<MysqlClient>> sessions;
	unsigned refused = 0;
	for (int i = 0; i < 100 && refused == 0; ++i) {
		auto c = std::make_unique<MysqlClient>();
		if (c->connect(tcp, "alice", "alice-pw")) {
			sessions.push_back(std::move(c));
			continue;
		}
		PROXY_ASSERT(c->error_code() == 1040 &&
				     contains(c->message(), "Too many connections: every worker is at its fd limit"),
			     "session %d: %s", i, c->error().c_str());
		++refused;
	}
	PROXY_ASSERT(refused == 1 && sessions.size() == 96, "%zu sessions before the refusal", sessions.size());
	PROXY_CHECK(wait_for_log(p, "refused: every worker at its fd limit", std::chrono::seconds(5)));
	/* A session that ends makes room again. */
	sessions.pop_back();
	bool admitted = false;
	for (int attempt = 0; attempt < 100 && !admitted; ++attempt) {
		MysqlClient again;
		admitted = again.connect(tcp, "alice", "alice-pw");
		if (!admitted)
			std::this_thread::sleep_for(std::chrono::milliseconds(100));
	}
	PROXY_CHECK(admitted);
}
END_TEST

static Suite *master_limits_suite()
{
	Suite *s = suite_create("proxy_master_limits");
	TCase *tc = server_tcase("backstops", 120);
	tcase_add_test(tc, test_drain_backstop_kills_a_stuck_worker);
	tcase_add_test(tc, test_second_signal_exits_now);
	tcase_add_test(tc, test_silent_worker_comes_back);
	tcase_add_test(tc, test_every_worker_full);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	mysql_library_init(0, nullptr, nullptr);
	SharedServerSpec spec;
	const int rc = run_suites_with_servers(spec, {master_limits_suite()},
					       [] { shared_mariadb().create_user("alice", "alice-pw"); });
	mysql_library_end();
	return rc;
}
