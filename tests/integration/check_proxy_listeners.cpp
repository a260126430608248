// End to end, the daemon's outside: listeners on a path, an abstract name and TCP (each with its
// own handler, logins through all three), what the script learns about each kind of peer,
// socket files (mode, stale ones, ones in the way), busy ports, SIGTERM/SIGINT with and without
// open connections, and the command line (--check-config, --version, usage errors with their
// exit codes).  The real ./myproxy against a real mariadbd.
// First: common/ headers must come before <check.h>'s fail() macro.
#include "tests/integration/backend_offer_wait.hpp"
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

using namespace myproxy::test;

namespace {

ProxyProcess *proxy = nullptr; // leaked on purpose: forked test children must not destroy it
std::uint16_t tcp_port = 0;
std::string abstract_name;

std::string config_prologue()
{
	// mysql_resolve(): the master reads the backend's greeting, so listeners greet with its version.
	return "worker_processes = 1\nbackend = mysql_resolve(" + lua_quote(shared_mariadb().socket_path()) + ")\n";
}

std::string shared_config()
{
	return config_prologue() +
	       "mysql_listen(" + lua_quote(proxy->path("path.sock")) + ", " + whoami_handler("path") + ")\n" +
	       "mysql_listen(" + lua_quote(abstract_name) + ", " + whoami_handler("abstract") + ")\n" +
	       "mysql_listen('127.0.0.1:" + std::to_string(tcp_port) + "', " + whoami_handler("tcp") + ")\n";
}

std::string one_listener_config(const std::string &address)
{
	return config_prologue() + "mysql_listen(" + lua_quote(address) + ", " + whoami_handler("own") + ")\n";
}

bool path_exists(const std::string &path)
{
	struct stat st;
	return lstat(path.c_str(), &st) == 0;
}

// A socket file nobody listens on, as a crashed server leaves behind.
void make_stale_socket(const std::string &path)
{
	const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sockaddr_un address{};
	address.sun_family = AF_UNIX;
	path.copy(address.sun_path, sizeof(address.sun_path) - 1);
	PROXY_CHECK(bind(fd, reinterpret_cast<const sockaddr *>(&address), sizeof(address)) == 0);
	close(fd);
}

void expect_login(const Endpoint &endpoint)
{
	MysqlClient c;
	PROXY_ASSERT(c.connect(endpoint, "alice", "alice-pw"), "login via %s: %s", endpoint.describe().c_str(),
		     c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT CONCAT(CURRENT_USER(), ' ', 6 * 7)"), "alice@localhost 42");
}

} // namespace

// --- the shared daemon: three listeners --------------------------------------------------------

START_TEST(test_path_listener)
{
	const std::string path = proxy->path("path.sock");
	expect_login(Endpoint::unix_socket(path));
	struct stat st;
	PROXY_CHECK(lstat(path.c_str(), &st) == 0);
	PROXY_CHECK(S_ISSOCK(st.st_mode));
	PROXY_ASSERT((st.st_mode & 07777) == 0666, "mode %o", unsigned(st.st_mode & 07777));

	MysqlClient c;
	PROXY_CHECK(!c.connect(Endpoint::unix_socket(path), "whoami", "x"));
	PROXY_ASSERT_STR(c.message(), "listener=path pid=" + std::to_string(getpid()) + " address=nil");
}
END_TEST

START_TEST(test_tcp_listener)
{
	const Endpoint endpoint = Endpoint::tcp("127.0.0.1", tcp_port);
	expect_login(endpoint);
	MysqlClient c;
	PROXY_CHECK(!c.connect(endpoint, "whoami", "x"));
	PROXY_ASSERT(c.error_code() == 1045, "expected ERR 1045, got %s", c.error().c_str());
	// No credentials over TCP; the peer's address instead.
	PROXY_ASSERT(contains(c.message(), "listener=tcp pid=nil address=127.0.0.1:"), "%s", c.error().c_str());
}
END_TEST

START_TEST(test_abstract_listener)
{
	const RawQueryResult r = raw_login_and_query(abstract_name, "alice", "alice-pw", "SELECT CURRENT_USER()");
	PROXY_ASSERT(r.ok, "login via %s: %s", abstract_name.c_str(), r.error.c_str());
	PROXY_ASSERT_STR(r.value.value_or("NULL"), "alice@localhost");
	// The backend's version as its own greeting says it, once the master has read that greeting.
	const auto backend = read_greeting(shared_mariadb().socket_path());
	PROXY_ASSERT(backend.has_value(), "no greeting from mariadbd");
	PROXY_ASSERT_STR(wait_for_greeting_version(abstract_name, backend->server_version), backend->server_version);
	const RawQueryResult again = raw_login_and_query(abstract_name, "alice", "alice-pw", "SELECT 1");
	PROXY_ASSERT(again.ok, "login via %s: %s", abstract_name.c_str(), again.error.c_str());
	PROXY_ASSERT_STR(again.server_version, backend->server_version);

	const RawQueryResult who = raw_login_and_query(abstract_name, "whoami", "x", "SELECT 1");
	PROXY_CHECK(!who.ok);
	PROXY_ASSERT(who.error_code == 1045, "%s", who.error.c_str());
	PROXY_ASSERT(contains(who.error, "listener=abstract pid=" + std::to_string(getpid()) + " address=nil"), "%s",
		     who.error.c_str());
}
END_TEST

START_TEST(test_shared_daemon_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*proxy);
	PROXY_ASSERT(!path_exists(proxy->path("path.sock")), "the socket file is still there");
	bool refused = false;
	try {
		RawConnection c("127.0.0.1:" + std::to_string(tcp_port));
	} catch (const FixtureError &) {
		refused = true;
	}
	PROXY_ASSERT(refused, "the TCP port still accepts");
}
END_TEST

// --- daemons of a test's own ------------------------------------------------------------------

START_TEST(test_stale_socket_replaced)
{
	ProxyProcess own;
	const std::string path = own.path("stale.sock");
	make_stale_socket(path);
	PROXY_CHECK(path_exists(path));
	own.start(one_listener_config(path), {path});
	expect_login(Endpoint::unix_socket(path));
	PROXY_ASSERT(contains(own.log(), "removed stale socket"), "not logged");

	// A second daemon on the same, live path refuses to start (and leaves it alone).
	const std::string config = own.path("second.lua");
	write_file(config, one_listener_config(path));
	const CommandOutput out = run_myproxy({"--config", config}, std::chrono::seconds(15));
	PROXY_ASSERT(out.exit_code == 71, "exit %d: %s", out.exit_code, out.output.c_str());
	PROXY_ASSERT(contains(out.output, "a server is listening there"), "%s", out.output.c_str());
	expect_login(Endpoint::unix_socket(path));
	PROXY_ASSERT(exited_with(own.stop(), 0), "%s", own.log_tail().c_str());
}
END_TEST

START_TEST(test_regular_file_in_the_way)
{
	TempDir dir;
	const std::string path = dir.path() + "/not-a-socket";
	write_file(path, "precious data\n");
	const std::string config = dir.path() + "/config.lua";
	write_file(config, one_listener_config(path));
	const CommandOutput out = run_myproxy({"--config", config}, std::chrono::seconds(15));
	PROXY_ASSERT(out.exit_code == 78, "exit %d: %s", out.exit_code, out.output.c_str());
	PROXY_ASSERT(contains(out.output, "not a socket"), "%s", out.output.c_str());
	PROXY_ASSERT_STR(tail_file(path, 5), "precious data\n");
}
END_TEST

START_TEST(test_tcp_port_in_use)
{
	const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sockaddr_in address{};
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	PROXY_CHECK(bind(fd, reinterpret_cast<const sockaddr *>(&address), sizeof(address)) == 0);
	PROXY_CHECK(listen(fd, 1) == 0);
	socklen_t length = sizeof(address);
	PROXY_CHECK(getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length) == 0);
	const std::string port = std::to_string(ntohs(address.sin_port));

	TempDir dir;
	const std::string config = dir.path() + "/config.lua";
	write_file(config, one_listener_config("127.0.0.1:" + port));
	const CommandOutput out = run_myproxy({"--config", config}, std::chrono::seconds(15));
	close(fd);
	PROXY_ASSERT(out.exit_code == 71, "exit %d: %s", out.exit_code, out.output.c_str());
	PROXY_ASSERT(contains(out.output, "Address already in use") && contains(out.output, port), "%s",
		     out.output.c_str());
}
END_TEST

START_TEST(test_sigint)
{
	ProxyProcess own;
	const std::string path = own.path("own.sock");
	own.start(one_listener_config(path), {path});
	expect_login(Endpoint::unix_socket(path));
	const int status = own.stop(SIGINT);
	PROXY_ASSERT(exited_with(status, 0), "after SIGINT: %s\n%s", describe_wait_status(status).c_str(),
		     own.log_tail().c_str());
	PROXY_ASSERT(own.trouble().empty(), "trouble in the log:\n%s", own.trouble().c_str());
}
END_TEST

// SIGTERM drains: the listener goes at once, and an idle connection is closed at once (a running
// command would be let finish: check_proxy_sandbox's drain tests), so the daemon does not wait for
// the client to quit.
START_TEST(test_drain_closes_idle_connections)
{
	ProxyProcess own;
	const std::string path = own.path("own.sock");
	own.start(one_listener_config(path), {path});
	auto c = std::make_unique<MysqlClient>();
	PROXY_ASSERT(c->connect(Endpoint::unix_socket(path), "alice", "alice-pw"), "login: %s", c->error().c_str());

	PROXY_CHECK(kill(own.pid(), SIGTERM) == 0);
	for (int i = 0; i < 200 && path_exists(path); ++i)
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	PROXY_ASSERT(!path_exists(path), "the socket file is still there after SIGTERM");
	MysqlClient late;
	PROXY_CHECK(!late.connect(Endpoint::unix_socket(path), "alice", "alice-pw"));

	for (int i = 0; i < 500 && own.running(); ++i)
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	PROXY_ASSERT(!own.running(), "myproxy still runs 5 s after SIGTERM with only an idle connection");
	const std::string answer = c->text("SELECT 'still served'");
	PROXY_ASSERT(answer.rfind("<ERROR ", 0) == 0, "an idle session was served after the drain: %s", answer.c_str());
	PROXY_ASSERT(own.log_tail().find("idle at shutdown") != std::string::npos, "no log line for the idle close:\n%s",
		     own.log_tail().c_str());
	const int status = own.stop(SIGTERM); // only collects the status now
	PROXY_ASSERT(exited_with(status, 0), "%s", describe_wait_status(status).c_str());
	PROXY_ASSERT(own.trouble().empty(), "trouble in the log:\n%s", own.trouble().c_str());
}
END_TEST

// --- the command line ---------------------------------------------------------------------------

START_TEST(test_check_config_good)
{
	TempDir dir;
	const std::string config = dir.path() + "/config.lua";
	// --check-config binds nothing: the socket directory need not exist.
	write_file(config, one_listener_config(dir.path() + "/no/such/dir/x.sock"));
	const CommandOutput out = run_myproxy({"--check-config", "--config", config});
	PROXY_ASSERT(out.exit_code == 0, "exit %d: %s", out.exit_code, out.output.c_str());
	PROXY_ASSERT_STR(out.output, config + ": ok\n");
	PROXY_CHECK(!path_exists(dir.path() + "/no"));
}
END_TEST

START_TEST(test_check_config_errors)
{
	TempDir dir;
	const std::string config = dir.path() + "/config.lua";
	const std::string listen = "mysql_listen(" + lua_quote(dir.path() + "/x.sock") +
				   ", { on_handshake_response = function(c, hr) return c:err('x') end })\n";
	struct Case {
		std::string script;
		std::string expected; // in the output; "FILE" stands for the path
	};
	const Case cases[] = {
		{"-- comment\n" + listen + "error('broken on purpose')\n", "FILE:3: broken on purpose"},
		{"local x = 1\nlocal y = = 2\n" + listen, "FILE:2:"},
		{"worker_processes = 1\n", "FILE: no mysql_listen() in config.lua"},
		{"\n\nmysql_listen('/tmp/x.sock', { on_connect = function() end })\n", "FILE:3:"},
		{"mysql_listen('/tmp/x.sock', { on_handshake_response = print, bogus = 1 })\n", "FILE:1:"},
		{listen + "worker_processes = 0\n", "worker_processes must be an integer"},
	};
	for (const Case &c : cases) {
		write_file(config, c.script);
		std::string expected = c.expected;
		if (expected.starts_with("FILE"))
			expected.replace(0, 4, config);
		const CommandOutput out = run_myproxy({"--config=" + config, "--check-config"});
		PROXY_ASSERT(out.exit_code == 78, "exit %d for\n%s\n%s", out.exit_code, c.script.c_str(),
			     out.output.c_str());
		PROXY_ASSERT(contains(out.output, expected), "'%s' not in\n%s", expected.c_str(), out.output.c_str());
		// A failed start says the same.
		const CommandOutput start = run_myproxy({"--config", config});
		PROXY_ASSERT(start.exit_code == 78 && contains(start.output, expected), "exit %d: %s", start.exit_code,
			     start.output.c_str());
	}
	const CommandOutput missing = run_myproxy({"--check-config", "--config", dir.path() + "/missing.lua"});
	PROXY_ASSERT(missing.exit_code == 78, "exit %d: %s", missing.exit_code, missing.output.c_str());
	PROXY_ASSERT(contains(missing.output, "cannot open " + dir.path() + "/missing.lua"), "%s",
		     missing.output.c_str());
}
END_TEST

START_TEST(test_bad_command_line)
{
	const std::vector<std::vector<std::string>> cases = {
		{"--bogus"}, {"--config"}, {"--config="}, {"stray"}, {"--check-config", "--check-config"},
		{"--version=1"}, {"-x"},
	};
	for (const auto &args : cases) {
		const CommandOutput out = run_myproxy(args);
		PROXY_ASSERT(out.exit_code == 64, "%s: exit %d: %s", args[0].c_str(), out.exit_code, out.output.c_str());
		PROXY_ASSERT(contains(out.output, "myproxy: ") && contains(out.output, "Usage:"), "%s: %s",
			     args[0].c_str(), out.output.c_str());
	}
	const CommandOutput out = run_myproxy({"--bogus"});
	PROXY_ASSERT(contains(out.output, "unknown option '--bogus'"), "%s", out.output.c_str());
}
END_TEST

START_TEST(test_version_and_help)
{
	const CommandOutput version = run_myproxy({"--version"});
	PROXY_ASSERT(version.exit_code == 0, "exit %d: %s", version.exit_code, version.output.c_str());
	PROXY_ASSERT(version.output.starts_with("myproxy ") && version.output.find_first_of("0123456789") != std::string::npos,
		     "%s", version.output.c_str());
	const CommandOutput help = run_myproxy({"--help"});
	PROXY_ASSERT(help.exit_code == 0 && contains(help.output, "--check-config"), "exit %d: %s", help.exit_code,
		     help.output.c_str());
	const CommandOutput h = run_myproxy({"-h"});
	PROXY_ASSERT_STR(h.output, help.output);
}
END_TEST

static Suite *listeners_suite()
{
	Suite *s = suite_create("proxy_listeners");
	TCase *tc = server_tcase("shared_daemon", 60);
	tcase_add_test(tc, test_path_listener);
	tcase_add_test(tc, test_tcp_listener);
	tcase_add_test(tc, test_abstract_listener);
	tcase_add_test(tc, test_shared_daemon_shutdown);
	suite_add_tcase(s, tc);

	tc = server_tcase("own_daemons", 90);
	tcase_add_test(tc, test_stale_socket_replaced);
	tcase_add_test(tc, test_regular_file_in_the_way);
	tcase_add_test(tc, test_tcp_port_in_use);
	tcase_add_test(tc, test_sigint);
	tcase_add_test(tc, test_drain_closes_idle_connections);
	suite_add_tcase(s, tc);

	tc = server_tcase("command_line", 60);
	tcase_add_test(tc, test_check_config_good);
	tcase_add_test(tc, test_check_config_errors);
	tcase_add_test(tc, test_bad_command_line);
	tcase_add_test(tc, test_version_and_help);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	mysql_library_init(0, nullptr, nullptr);
	SharedServerSpec spec;
	const int rc = run_suites_with_servers(spec, {listeners_suite()}, [] {
		shared_mariadb().create_user("alice", "alice-pw");
		proxy = new ProxyProcess;
		tcp_port = pick_free_tcp_port();
		abstract_name = "@myproxy-test-" + std::to_string(getpid()) + "-" + proxy->dir().substr(proxy->dir().size() - 6);
		proxy->start(shared_config(),
			     {proxy->path("path.sock"), abstract_name, "127.0.0.1:" + std::to_string(tcp_port)});
	});
	mysql_library_end();
	return rc;
}
