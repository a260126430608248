// End-to-end tests of socket activation: mysql_listen(systemd, ...) with the sockets handed over
// by systemd-socket-activate (the same LISTEN_FDS/LISTEN_PID protocol as a .socket unit, without a
// running systemd), and the refusals when no usable sockets were passed.  The real ./myproxy
// against a real mariadbd.  Never assumes myproxy runs before its first client: that is the point.
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

using namespace myproxy::test;

namespace {

const char socket_activate_path[] = "/usr/bin/systemd-socket-activate";

std::string systemd_config()
{
	return "worker_processes = 1\nbackend = " + lua_quote(shared_mariadb().socket_path()) + "\n" +
	       "mysql_listen(systemd, " + whoami_handler("systemd") + ")\n";
}

// systemd-socket-activate listening on @addresses (fds 3, 4, ... in this order), then exec'ing
// myproxy in its own process.  It hands the child only TERM, PATH, USER and HOME of its
// environment: the sanitizer options ProxyProcess sets must be named with -E to get through.
std::vector<std::string> socket_activate(const std::vector<std::string> &addresses, bool datagram = false)
{
	std::vector<std::string> argv = {socket_activate_path, "-E", "ASAN_OPTIONS", "-E", "UBSAN_OPTIONS"};
	if (datagram)
		argv.push_back("--datagram");
	for (const std::string &address : addresses)
		argv.insert(argv.end(), {"-l", address});
	return argv;
}

bool path_exists(const std::string &path)
{
	struct stat st;
	return lstat(path.c_str(), &st) == 0;
}

// Polls the log (the wrapper's lines and myproxy's share it) until @text shows up; false when the
// process ended first or 30 s passed.
bool wait_for_log(const ProxyProcess &proxy, const std::string &text)
{
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
	while (!contains(proxy.log(), text)) {
		if (!proxy.running() || std::chrono::steady_clock::now() > deadline)
			return contains(proxy.log(), text);
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	}
	return true;
}

bool wait_exited(const ProxyProcess &proxy)
{
	for (int i = 0; i < 3000 && proxy.running(); ++i)
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	return !proxy.running();
}

void expect_login(const Endpoint &endpoint)
{
	MysqlClient c;
	PROXY_ASSERT(c.connect(endpoint, "alice", "alice-pw"), "login via %s: %s", endpoint.describe().c_str(),
		     c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT CONCAT(CURRENT_USER(), ' ', 6 * 7)"), "alice@localhost 42");
}

std::string whoami(const Endpoint &endpoint)
{
	MysqlClient c;
	PROXY_ASSERT(!c.connect(endpoint, "whoami", "x"), "whoami logged in via %s", endpoint.describe().c_str());
	PROXY_ASSERT(c.error_code() == 1045, "expected ERR 1045, got %s", c.error().c_str());
	return c.message();
}

} // namespace

// --- activated daemons --------------------------------------------------------------------------

// As under a .socket unit: nothing runs until a client connects, and that very client is served
// once myproxy has started (its connection waits in the passed socket's backlog).
START_TEST(test_first_connection_starts_myproxy)
{
	ProxyProcess own;
	const std::string path = own.path("activated.sock");
	own.set_command_prefix(socket_activate({path}));
	own.start(systemd_config(), {});
	// systemd-socket-activate logs this after listen(): from here on a connect is queued.
	PROXY_ASSERT(wait_for_log(own, "Listening on " + path), "systemd-socket-activate did not listen");
	PROXY_ASSERT(!contains(own.log(), "workers; listening on"), "myproxy started before any client connected");

	expect_login(Endpoint::unix_socket(path));
	PROXY_ASSERT(contains(own.log(), "workers; listening on 1 sockets"), "no start-up line of myproxy");
	// Credentials work on the passed UNIX socket as on one myproxy bound itself.
	PROXY_ASSERT_STR(whoami(Endpoint::unix_socket(path)),
			 "listener=systemd pid=" + std::to_string(getpid()) + " address=nil");
	expect_login(Endpoint::unix_socket(path));

	PROXY_ASSERT_CLEAN_SHUTDOWN(own);
	// The socket file is systemd's: myproxy only ever removes the files it bound itself.
	PROXY_ASSERT(path_exists(path), "myproxy removed systemd's socket file");
}
END_TEST

// A .socket unit with two ListenStream= lines: both sockets go to the one mysql_listen(systemd),
// next to a listener myproxy binds itself.
START_TEST(test_two_passed_sockets)
{
	ProxyProcess own;
	const std::string path = own.path("activated.sock");
	const std::string own_path = own.path("own.sock");
	const std::string config =
		systemd_config() + "mysql_listen(" + lua_quote(own_path) + ", " + whoami_handler("own") + ")\n";
	std::uint16_t port = 0;
	// pick_free_tcp_port() only says the port was free a moment ago: retry if it was taken.
	for (int attempt = 1;; ++attempt) {
		port = pick_free_tcp_port();
		const std::string tcp = "127.0.0.1:" + std::to_string(port);
		own.set_command_prefix(socket_activate({path, tcp}));
		try {
			own.start(config, {path, tcp, own_path});
			break;
		} catch (const FixtureError &e) {
			PROXY_ASSERT(attempt < 3 && !own.running() && contains(own.log(), "Address already in use"),
				     "%s", e.what());
			unlink(path.c_str());
		}
	}
	const Endpoint tcp = Endpoint::tcp("127.0.0.1", port);

	expect_login(Endpoint::unix_socket(path));
	expect_login(tcp);
	expect_login(Endpoint::unix_socket(own_path));
	PROXY_ASSERT(contains(own.log(), "listening on 3 sockets"), "myproxy does not count 3 sockets");

	PROXY_ASSERT_STR(whoami(Endpoint::unix_socket(path)),
			 "listener=systemd pid=" + std::to_string(getpid()) + " address=nil");
	// A passed TCP socket is known as one: no credentials, the peer's address instead.
	const std::string over_tcp = whoami(tcp);
	PROXY_ASSERT(contains(over_tcp, "listener=systemd pid=nil address=127.0.0.1:"), "%s", over_tcp.c_str());
	PROXY_ASSERT_STR(whoami(Endpoint::unix_socket(own_path)),
			 "listener=own pid=" + std::to_string(getpid()) + " address=nil");

	PROXY_ASSERT_CLEAN_SHUTDOWN(own);
	PROXY_ASSERT(path_exists(path), "myproxy removed systemd's socket file");
	PROXY_ASSERT(!path_exists(own_path), "myproxy left its own socket file behind");
}
END_TEST

// A .socket unit with ListenDatagram=: myproxy refuses the socket instead of serving nobody.
START_TEST(test_passed_datagram_socket)
{
	ProxyProcess own;
	const std::string path = own.path("datagram.sock");
	own.set_command_prefix(socket_activate({path}, true));
	own.start(systemd_config(), {});
	PROXY_ASSERT(wait_for_log(own, "Listening on " + path), "systemd-socket-activate did not listen");

	// A datagram is the "first connection" that makes systemd-socket-activate exec myproxy.
	const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	PROXY_CHECK(fd >= 0);
	sockaddr_un address{};
	address.sun_family = AF_UNIX;
	path.copy(address.sun_path, sizeof(address.sun_path) - 1);
	PROXY_CHECK(sendto(fd, "x", 1, 0, reinterpret_cast<const sockaddr *>(&address), sizeof(address)) == 1);
	close(fd);

	PROXY_ASSERT(wait_exited(own), "myproxy still runs on a datagram socket");
	const int status = own.stop();
	PROXY_ASSERT(exited_with(status, 78), "%s", describe_wait_status(status).c_str());
	PROXY_ASSERT(contains(own.log(), "mysql_listen(systemd): systemd fd 3 is not a listening stream socket"),
		     "no clear message");
	PROXY_ASSERT(own.trouble().empty(), "trouble in the log:\n%s", own.trouble().c_str());
}
END_TEST

// --- no socket activation ------------------------------------------------------------------------

START_TEST(test_started_without_sockets)
{
	TempDir dir;
	const std::string config = dir.path() + "/config.lua";
	write_file(config, systemd_config());

	// Binding nothing, --check-config cannot tell and does not mind.
	const CommandOutput check = run_myproxy({"--check-config", "--config", config});
	PROXY_ASSERT(check.exit_code == 0, "exit %d: %s", check.exit_code, check.output.c_str());

	const std::string message = "mysql_listen(systemd): systemd passed no sockets";
	const CommandOutput out = run_myproxy({"--config", config}, std::chrono::seconds(15));
	PROXY_ASSERT(out.exit_code == 78, "exit %d: %s", out.exit_code, out.output.c_str());
	PROXY_ASSERT(contains(out.output, message), "%s", out.output.c_str());
	PROXY_ASSERT(contains(out.output, "(mysql_listen at " + config + ":3)"), "%s", out.output.c_str());

	// LISTEN_FDS inherited from some other process (LISTEN_PID is not ours) passes nothing either.
	const CommandOutput stray = run_program({"env", "LISTEN_FDS=1", "LISTEN_PID=1", myproxy_path(), "--config",
						 config},
						std::chrono::seconds(15));
	PROXY_ASSERT(stray.exit_code == 78, "exit %d: %s", stray.exit_code, stray.output.c_str());
	PROXY_ASSERT(contains(stray.output, message), "%s", stray.output.c_str());

	// Addressed to us, but fd 3 is no socket at all.
	const std::string script = "export LISTEN_PID=$$ LISTEN_FDS=1; exec 3</dev/null; exec \"$0\" --config \"$1\"";
	const CommandOutput not_socket = run_program({"sh", "-c", script, myproxy_path(), config},
						     std::chrono::seconds(15));
	PROXY_ASSERT(not_socket.exit_code == 78, "exit %d: %s", not_socket.exit_code, not_socket.output.c_str());
	PROXY_ASSERT(contains(not_socket.output, "systemd fd 3 is not a listening stream socket"), "%s",
		     not_socket.output.c_str());
}
END_TEST

static Suite *systemd_suite()
{
	Suite *s = suite_create("proxy_systemd");
	TCase *tc = server_tcase("activated", 90);
	tcase_add_test(tc, test_first_connection_starts_myproxy);
	tcase_add_test(tc, test_two_passed_sockets);
	tcase_add_test(tc, test_passed_datagram_socket);
	suite_add_tcase(s, tc);

	tc = server_tcase("not_activated", 60);
	tcase_add_test(tc, test_started_without_sockets);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	if (access(socket_activate_path, X_OK) != 0) {
		// Not a skip: scripts/install-deps.sh installs it with the systemd package.
		std::fprintf(stderr, "%s is missing (Debian package systemd)\n", socket_activate_path);
		return EXIT_FAILURE;
	}
	mysql_library_init(0, nullptr, nullptr);
	SharedServerSpec spec;
	const int rc = run_suites_with_servers(spec, {systemd_suite()},
					       [] { shared_mariadb().create_user("alice", "alice-pw"); });
	mysql_library_end();
	return rc;
}
