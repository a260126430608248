// End to end, the worker sandbox and the master's supervision, in the real daemon with its test
// hooks (tests/myproxy-test, see test_hooks.hpp) between libmariadb and a real mariadbd.  Always with
// the sandbox on, also in sanitizer builds.  A worker that attempts execve or bind dies with SIGSYS,
// the master logs it with the pid, respawns it, penalizes the client's uid, and the connections on
// the other worker go on; open() fails with EACCES; /proc/PID/status shows the filter, NO_NEW_PRIVS
// and the dropped uid; a worker that cannot enter its sandbox never gets a client; SIGTERM drains
// within drain_timeout; sd_notify (reloads: check_proxy_reload).
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

using namespace myproxy::test;

namespace {

// Leaked on purpose: forked test children must not run its destructor.
ProxyProcess *proxy = nullptr;

// Users the crash tests log in as (any uid works; none needs a passwd entry).
constexpr uid_t tenant_execve = 23001;
constexpr uid_t tenant_bind = 23002;
constexpr uid_t tenant_innocent = 23003;

std::string config_lua(const std::string &socket)
{
	return "worker_processes = 2\n"
	       "drain_timeout = 2\n"
	       "local backend = " + lua_quote(shared_mariadb().socket_path()) + "\n"
	       "mysql_listen(" + lua_quote(socket) + ", {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    if hr.user ~= 'alice' then\n"
	       "      return client:err(hr.user .. '=' .. tostring(myproxy_test_syscall(hr.user)))\n"
	       "    end\n"
	       "    return client:connect(backend, hr)\n"
	       "  end,\n"
	       "})\n";
}

Endpoint main_listener()
{
	return Endpoint::unix_socket(proxy->path("main.sock"));
}

struct LoginOutcome {
	bool ok = false;
	unsigned code = 0;
	std::string message;
};

LoginOutcome login(const std::string &user)
{
	MysqlClient c;
	LoginOutcome outcome;
	outcome.ok = c.connect(main_listener(), user, user == "alice" ? "alice-pw" : "pw");
	outcome.code = c.error_code();
	outcome.message = c.message();
	return outcome;
}

// The same login from a child process running as @uid (SO_PEERCRED then names that uid).
LoginOutcome login_as(uid_t uid, const std::string &user)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	const pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		if (setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)
			_exit(2);
		const LoginOutcome o = login(user);
		const std::string line = std::string(o.ok ? "1" : "0") + "\t" + std::to_string(o.code) + "\t" + o.message;
		if (write(fds[1], line.data(), line.size()) < 0)
			_exit(3);
		_exit(0);
	}
	close(fds[1]);
	const std::string text = read_until_eof(fds[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	PROXY_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "login child as uid %u: %s", unsigned(uid),
		     describe_wait_status(status).c_str());
	LoginOutcome o;
	const auto tab1 = text.find('\t'), tab2 = text.find('\t', tab1 + 1);
	PROXY_ASSERT(tab1 != std::string::npos && tab2 != std::string::npos, "odd child output '%s'", text.c_str());
	o.ok = text[0] == '1';
	o.code = unsigned(std::stoul(text.substr(tab1 + 1, tab2 - tab1 - 1)));
	o.message = text.substr(tab2 + 1);
	return o;
}

std::string proc_status(long pid)
{
	std::ifstream in("/proc/" + std::to_string(pid) + "/status");
	std::ostringstream text;
	text << in.rdbuf();
	return text.str();
}

std::string status_field(const std::string &status, const std::string &name)
{
	const auto at = status.find("\n" + name + ":");
	if (at == std::string::npos)
		return "";
	auto begin = status.find_first_not_of(" \t", at + name.size() + 2);
	return status.substr(begin, status.find('\n', begin) - begin);
}

// The worker's pid as the hook reports it through the ERR message "pid=123".
long worker_pid()
{
	const LoginOutcome o = login("pid");
	PROXY_ASSERT(!o.ok && o.message.rfind("pid=", 0) == 0, "hook 'pid': %s", o.message.c_str());
	return std::stol(o.message.substr(4));
}

unsigned count_in_log(ProxyProcess &p, const std::string &needle)
{
	const std::string log = p.log();
	unsigned n = 0;
	for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1))
		++n;
	return n;
}

void assert_query_works(MysqlClient &c)
{
	const SqlResult r = c.query("SELECT 6 * 7");
	PROXY_ASSERT(r.ok && r.text() == "42", "query failed: %s", r.error.c_str());
}

// Every worker killed so far has been replaced and is ready (the master logs each respawn).
void wait_workers_ready()
{
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
	while (count_in_log(*proxy, "ready (respawned)") < count_in_log(*proxy, "killed by signal")) {
		PROXY_ASSERT(std::chrono::steady_clock::now() < deadline, "a killed worker was not replaced");
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
	}
}

// A crash through the hook @what by @uid: the worker dies with SIGSYS, the master logs the signal
// and the pid and penalizes the uid; a connection established before (on the other worker) goes on;
// the uid is refused with ERR 1129 afterwards, other uids are not.
void crash_through(const char *what, uid_t uid)
{
	/* Both workers up: the bystander takes one (both idle: the first), the crash the other. */
	wait_workers_ready();
	MysqlClient bystander;
	PROXY_ASSERT(bystander.connect(main_listener(), "alice", "alice-pw"), "%s", bystander.error().c_str());
	assert_query_works(bystander);

	const unsigned sigsys_before = count_in_log(*proxy, "killed by signal 31 (SIGSYS)");
	const LoginOutcome crashed = login_as(uid, what);
	PROXY_ASSERT(!crashed.ok, "the %s login succeeded", what);
	PROXY_ASSERT(crashed.code == 2013 || crashed.code == 2026 || crashed.code == 2002,
		     "%s: expected a lost connection, got %u %s", what, crashed.code, crashed.message.c_str());
	const std::string penalty = "crash penalty: uid=" + std::to_string(uid) + " is refused";
	PROXY_ASSERT(wait_for_log(*proxy, penalty, std::chrono::seconds(10)), "no '%s' in the log", penalty.c_str());
	PROXY_ASSERT(count_in_log(*proxy, "killed by signal 31 (SIGSYS)") == sigsys_before + 1,
		     "the master did not log SIGSYS for %s", what);
	PROXY_ASSERT(contains(proxy->log(), "crashed while serving client"), "no suspect in the log");

	/* The other worker's connection is unaffected. */
	assert_query_works(bystander);

	/* The uid is refused with a clear ERR, by the master, before any worker sees it. */
	const LoginOutcome refused = login_as(uid, "alice");
	PROXY_ASSERT(!refused.ok && refused.code == 1129, "penalized uid: %u %s", refused.code,
		     refused.message.c_str());
	PROXY_ASSERT(contains(refused.message, "crashed a worker"), "unclear refusal '%s'", refused.message.c_str());

	/* Others are not, and the dead worker's slot serves again (respawned, both workers ready). */
	wait_workers_ready();
	for (int i = 0; i < 4; ++i) {
		const LoginOutcome innocent = login_as(tenant_innocent, "alice");
		PROXY_ASSERT(innocent.ok, "innocent uid refused: %u %s", innocent.code, innocent.message.c_str());
		MysqlClient c;
		PROXY_ASSERT(c.connect(main_listener(), "alice", "alice-pw"), "%s", c.error().c_str());
		assert_query_works(c);
	}
	assert_query_works(bystander);
}

} // namespace

START_TEST(test_worker_is_sandboxed)
{
	const long pid = worker_pid();
	PROXY_ASSERT(pid > 0 && pid != proxy->pid(), "pid %ld is not a worker", pid);
	const std::string status = proc_status(pid);
	PROXY_ASSERT_STR(status_field(status, "Seccomp"), "2");
	PROXY_ASSERT_STR(status_field(status, "NoNewPrivs"), "1");
	if (geteuid() == 0) {
		/* Started as root: every uid and gid is nobody's, no supplementary groups. */
		PROXY_ASSERT(status_field(status, "Uid").rfind("65534", 0) == 0 &&
				     status_field(status, "Uid") == "65534\t65534\t65534\t65534",
			     "Uid: %s", status_field(status, "Uid").c_str());
		PROXY_ASSERT(status_field(status, "Gid") == "65534\t65534\t65534\t65534", "Gid: %s",
			     status_field(status, "Gid").c_str());
		PROXY_ASSERT_STR(status_field(status, "Groups"), "");
		PROXY_ASSERT_STR(status_field(status, "CapEff"), "0000000000000000");
	}
	/* The master keeps its privileges and has no filter. */
	PROXY_ASSERT_STR(status_field(proc_status(proxy->pid()), "Seccomp"), "0");
}
END_TEST

// The pidfds the workers hold (none is ever handed to them since issue 13: a session costs a worker
// two descriptors).
static unsigned count_worker_pidfds()
{
	std::ifstream children("/proc/" + std::to_string(proxy->pid()) + "/task/" + std::to_string(proxy->pid()) +
			       "/children");
	unsigned count = 0;
	long worker;
	while (children >> worker) {
		const std::string fd_dir = "/proc/" + std::to_string(worker) + "/fd";
		for (int fd = 0; fd < 1024; ++fd) {
			char target[256];
			const std::string link = fd_dir + "/" + std::to_string(fd);
			const ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
			if (n > 0 && std::string_view(target, std::size_t(n)) == "anon_inode:[pidfd]")
				++count;
		}
	}
	return count;
}

/* A UNIX socket client costs its worker the client socket and the backend socket, and no pidfd:
   the master's pidfd only vouches for its cgroup read. */
START_TEST(test_no_pidfd_in_workers)
{
	MysqlClient c;
	PROXY_ASSERT(c.connect(main_listener(), "alice", "alice-pw"), "%s", c.error().c_str());
	assert_query_works(c);
	PROXY_ASSERT(count_worker_pidfds() == 0, "the workers hold %u pidfds", count_worker_pidfds());
}
END_TEST

START_TEST(test_open_fails_with_eacces)
{
	const long before = worker_pid();
	const LoginOutcome o = login("open");
	PROXY_ASSERT(!o.ok && o.message == "open=EACCES", "open: %u %s", o.code, o.message.c_str());
	/* The worker lives on: the error is what the table says, not a kill. */
	PROXY_ASSERT(proc_status(before).find("Seccomp:\t2") != std::string::npos, "worker %ld is gone", before);
	MysqlClient c;
	PROXY_ASSERT(c.connect(main_listener(), "alice", "alice-pw"), "%s", c.error().c_str());
	assert_query_works(c);
}
END_TEST

START_TEST(test_execve_kills_worker)
{
	crash_through("execve", tenant_execve);
}
END_TEST

START_TEST(test_bind_kills_worker)
{
	crash_through("bind", tenant_bind);
}
END_TEST

// A worker that cannot enter its sandbox exits with its named status before WORKER_READY, and the
// master never hands it a client: a connection waits in the backlog without a greeting.
static void check_fail_closed(const char *fault, int expected_status)
{
	ProxyProcess p;
	ck_assert_int_eq(chmod(p.dir().c_str(), 0711), 0);
	p.use_test_daemon();
	p.set_extra_env({std::string("MYPROXY_TEST_SANDBOX_FAULT=") + fault});
	p.start(config_lua(p.path("main.sock")), {p.path("main.sock")});
	const std::string exit_line = "exited with status " + std::to_string(expected_status);
	PROXY_ASSERT(wait_for_log(p, exit_line, std::chrono::seconds(10)), "no '%s' in the log", exit_line.c_str());
	RawConnection raw(p.path("main.sock"));
	const auto greeting = raw.read_packet(std::chrono::milliseconds(2500));
	PROXY_ASSERT(!greeting.has_value(), "a fail-closed worker greeted a client");
	PROXY_ASSERT(!contains(p.log(), "ready:"), "the master said ready");
	PROXY_ASSERT(contains(p.log(), "failing on purpose"), "the worker did not log its failure");
	const int status = p.stop(SIGTERM);
	PROXY_ASSERT(exited_with(status, 0), "myproxy after SIGTERM: %s", describe_wait_status(status).c_str());
	set_current_proxy(proxy);
}

START_TEST(test_fail_closed_filter)
{
	check_fail_closed("filter", 79);
}
END_TEST

START_TEST(test_fail_closed_privileges)
{
	check_fail_closed("privileges", 77);
}
END_TEST

// One SIGTERM (the only signal sent; the test then just waits): the listener goes; an idle session is
// closed at once, long before drain_timeout; a command running at the SIGTERM finishes and returns its
// result; one still running at drain_timeout gets ERR 1053 (server shutdown) as its answer; a login
// stalled before its HandshakeResponse gets ERR 1053 too; the daemon exits 0 as soon as the last
// session is gone.
START_TEST(test_drain)
{
	ProxyProcess p;
	ck_assert_int_eq(chmod(p.dir().c_str(), 0711), 0);
	p.use_test_daemon();
	p.start(config_lua(p.path("main.sock")), {p.path("main.sock")});
	const Endpoint endpoint = Endpoint::unix_socket(p.path("main.sock"));
	MysqlClient idle, finishing, running;
	for (MysqlClient *c : {&idle, &finishing, &running}) {
		PROXY_ASSERT(c->connect(endpoint, "alice", "alice-pw"), "%s", c->error().c_str());
		assert_query_works(*c);
	}
	RawConnection stalled(p.path("main.sock"));
	PROXY_ASSERT(stalled.read_packet(std::chrono::seconds(10)).has_value(), "no greeting");

	const std::string short_query = "SELECT SLEEP(1), 'finished'";
	const std::string long_query = "SELECT SLEEP(60)";
	ck_assert_int_eq(mysql_send_query(finishing.get(), short_query.data(), short_query.size()), 0);
	ck_assert_int_eq(mysql_send_query(running.get(), long_query.data(), long_query.size()), 0);
	/* Both commands reach the backend before the SIGTERM. */
	std::this_thread::sleep_for(std::chrono::milliseconds(300));

	ck_assert_int_eq(kill(p.pid(), SIGTERM), 0);
	PROXY_ASSERT(wait_for_log(p, "closing: idle at shutdown", std::chrono::seconds(5)),
		     "the idle session was not closed at once");
	MysqlClient late;
	PROXY_ASSERT(!late.connect(endpoint, "alice", "alice-pw"), "a new client got in while draining");

	/* The command running at the SIGTERM finishes with its result. */
	PROXY_ASSERT(mysql_read_query_result(finishing.get()) == 0, "the finishing query failed: %s",
		     mysql_error(finishing.get()));
	MYSQL_RES *result = mysql_store_result(finishing.get());
	ck_assert_ptr_nonnull(result);
	MYSQL_ROW row = mysql_fetch_row(result);
	ck_assert_ptr_nonnull(row);
	ck_assert_str_eq(row[1], "finished");
	mysql_free_result(result);
	PROXY_ASSERT(!contains(p.log(), "drain timeout"), "the short query outlived drain_timeout");

	/* The one still running at drain_timeout (2 s) gets an ERR it can read, not a bare close. */
	PROXY_ASSERT(mysql_read_query_result(running.get()) != 0, "SLEEP(60) finished during a 2 s drain");
	PROXY_ASSERT(mysql_errno(running.get()) == 1053, "the running session got %u (%s), not 1053",
		     mysql_errno(running.get()), mysql_error(running.get()));
	ck_assert_str_eq(mysql_sqlstate(running.get()), "08S01");
	PROXY_ASSERT(contains(p.log(), "drain timeout: closing"), "no drain timeout in the log");

	const auto stalled_answer = stalled.read_packet(std::chrono::seconds(10));
	PROXY_ASSERT(stalled_answer.has_value(), "the stalled login got no packet");
	const auto stalled_error = parse_raw_error(stalled_answer->payload);
	PROXY_ASSERT(stalled_error && stalled_error->code == 1053, "the stalled login got no ERR 1053");

	/* No second signal: signal 0 only waits for the exit. */
	const int status = p.stop(0, std::chrono::seconds(20));
	PROXY_ASSERT(exited_with(status, 0), "myproxy after the drain: %s", describe_wait_status(status).c_str());
	const std::string log = p.log();
	PROXY_ASSERT(log.find("closing: idle at shutdown") < log.find("drain timeout"),
		     "the idle session lasted until the drain timeout");
	set_current_proxy(proxy);
}
END_TEST

// Without any running session, SIGTERM ends the daemon at once: idle sessions do not hold it for
// drain_timeout (set to 60 s here; the safety net of the wait is 20 s).
START_TEST(test_drain_idle_exits_at_once)
{
	ProxyProcess p;
	ck_assert_int_eq(chmod(p.dir().c_str(), 0711), 0);
	p.use_test_daemon();
	std::string config = config_lua(p.path("main.sock"));
	config.replace(config.find("drain_timeout = 2"), std::strlen("drain_timeout = 2"), "drain_timeout = 60");
	p.start(config, {p.path("main.sock")});
	MysqlClient a, b;
	for (MysqlClient *c : {&a, &b}) {
		PROXY_ASSERT(c->connect(Endpoint::unix_socket(p.path("main.sock")), "alice", "alice-pw"), "%s",
			     c->error().c_str());
		assert_query_works(*c);
	}
	ck_assert_int_eq(kill(p.pid(), SIGTERM), 0);
	const int status = p.stop(0, std::chrono::seconds(20));
	PROXY_ASSERT(exited_with(status, 0), "myproxy: %s", describe_wait_status(status).c_str());
	PROXY_ASSERT(!contains(p.log(), "drain timeout"), "idle sessions held the drain until its timeout");
	PROXY_ASSERT(contains(p.log(), "closing: idle at shutdown"), "no idle session closed");
	/* The idle client reads the shutdown ERR as the answer to its next command. */
	const SqlResult after = a.query("SELECT 1");
	PROXY_ASSERT(!after.ok, "a query worked after the shutdown");
	set_current_proxy(proxy);
}
END_TEST

// sd_notify: READY=1, STATUS= with counts, RELOADING=1 then READY=1 around SIGHUP, WATCHDOG=1 pings
// when WATCHDOG_USEC is set, STOPPING=1 on SIGTERM; read from a NOTIFY_SOCKET of our own.
START_TEST(test_sd_notify)
{
	ProxyProcess p;
	ck_assert_int_eq(chmod(p.dir().c_str(), 0711), 0);
	const std::string notify_path = p.path("notify.sock");
	const int notify = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(notify, 0);
	struct sockaddr_un address {};
	address.sun_family = AF_UNIX;
	std::strncpy(address.sun_path, notify_path.c_str(), sizeof(address.sun_path) - 1);
	ck_assert_int_eq(bind(notify, reinterpret_cast<const sockaddr *>(&address), sizeof(address)), 0);
	p.use_test_daemon();
	p.set_extra_env({"NOTIFY_SOCKET=" + notify_path, "WATCHDOG_USEC=400000"});
	p.start(config_lua(p.path("main.sock")), {p.path("main.sock")});

	std::string received;
	const auto collect_until = [&](const std::string &needle, std::chrono::milliseconds timeout) {
		const auto deadline = std::chrono::steady_clock::now() + timeout;
		while (!contains(received, needle) && std::chrono::steady_clock::now() < deadline) {
			struct pollfd pfd = {notify, POLLIN, 0};
			if (poll(&pfd, 1, 100) <= 0)
				continue;
			char buffer[4096];
			const ssize_t n = recv(notify, buffer, sizeof(buffer), 0);
			if (n > 0)
				received.append(buffer, std::size_t(n)).append("\n");
		}
		return contains(received, needle);
	};
	PROXY_ASSERT(collect_until("READY=1", std::chrono::seconds(10)), "no READY=1: '%s'", received.c_str());
	PROXY_ASSERT(collect_until("STATUS=2/2 workers ready", std::chrono::seconds(10)), "no STATUS=: '%s'",
		     received.c_str());
	PROXY_ASSERT(collect_until("WATCHDOG=1", std::chrono::seconds(5)), "no watchdog ping: '%s'", received.c_str());
	received.clear();
	ck_assert_int_eq(kill(p.pid(), SIGHUP), 0);
	PROXY_ASSERT(collect_until("RELOADING=1", std::chrono::seconds(5)), "no RELOADING=1: '%s'", received.c_str());
	PROXY_ASSERT(contains(received, "MONOTONIC_USEC="), "RELOADING=1 without MONOTONIC_USEC: '%s'", received.c_str());
	PROXY_ASSERT(collect_until("READY=1", std::chrono::seconds(5)), "no READY=1 after the reload: '%s'",
		     received.c_str());
	MysqlClient c;
	PROXY_ASSERT(c.connect(Endpoint::unix_socket(p.path("main.sock")), "alice", "alice-pw"), "%s",
		     c.error().c_str());
	ck_assert_int_eq(kill(p.pid(), SIGTERM), 0);
	PROXY_ASSERT(collect_until("STOPPING=1", std::chrono::seconds(5)), "no STOPPING=1: '%s'", received.c_str());
	PROXY_ASSERT(collect_until("STATUS=draining; ", std::chrono::seconds(5)), "no draining STATUS=: '%s'",
		     received.c_str());
	PROXY_ASSERT(contains(received, "1 connections"), "the connection is not counted: '%s'", received.c_str());
	close(notify);
	const int status = p.stop(SIGTERM);
	PROXY_ASSERT(exited_with(status, 0), "myproxy after SIGTERM: %s", describe_wait_status(status).c_str());
	set_current_proxy(proxy);
}
END_TEST

// The worker user is looked up at startup: unknown (or root) is a usage error with --user (64) and
// a configuration error with worker_user (78).  Only root changes users, so only root checks.
START_TEST(test_worker_user_checked)
{
	ProxyProcess p;
	const std::string config = p.path("user.lua");
	const std::string script = "mysql_listen('/run/x.sock', { on_handshake_response = function() end })\n";
	write_file(config, script + "worker_user = 'no-such-user-myproxy'\n");
	const CommandOutput bad_config = run_myproxy({"--check-config", "--config", config});
	const CommandOutput bad_option = run_myproxy({"--check-config", "--config", config, "--user", "no-such-user-2"});
	write_file(p.path("root.lua"), script + "worker_user = 'root'\n");
	const CommandOutput root = run_myproxy({"--check-config", "--config", p.path("root.lua")});
	const CommandOutput good = run_myproxy({"--check-config", "--config", config, "--user", "nobody"});
	PROXY_ASSERT(good.exit_code == 0, "--user nobody: exit %d: %s", good.exit_code, good.output.c_str());
	if (geteuid() != 0) {
		PROXY_ASSERT(bad_config.exit_code == 0 && bad_option.exit_code == 0, "not root, yet the user was checked");
		return;
	}
	PROXY_ASSERT(bad_config.exit_code == 78 && contains(bad_config.output, "worker_user 'no-such-user-myproxy': no such user"),
		     "exit %d: %s", bad_config.exit_code, bad_config.output.c_str());
	PROXY_ASSERT(bad_option.exit_code == 64 && contains(bad_option.output, "--user 'no-such-user-2': no such user"),
		     "exit %d: %s", bad_option.exit_code, bad_option.output.c_str());
	PROXY_ASSERT(root.exit_code == 78 && contains(root.output, "workers never run as root"), "exit %d: %s",
		     root.exit_code, root.output.c_str());
}
END_TEST

// --no-sandbox: the workers run without their filter, and the log says so.
START_TEST(test_no_sandbox_is_loud)
{
	ProxyProcess p;
	ck_assert_int_eq(chmod(p.dir().c_str(), 0711), 0);
	p.use_test_daemon();
	p.set_extra_args({"--no-sandbox"});
	p.start(config_lua(p.path("main.sock")), {p.path("main.sock")});
	PROXY_ASSERT(contains(p.log(), "--no-sandbox: workers run WITHOUT their seccomp filter"), "no warning");
	MysqlClient c;
	PROXY_ASSERT(!c.connect(Endpoint::unix_socket(p.path("main.sock")), "pid", "pw"), "hook 'pid' logged in");
	const std::string status = proc_status(std::stol(c.message().substr(4)));
	PROXY_ASSERT_STR(status_field(status, "Seccomp"), "0");
	/* Privileges are still dropped and NO_NEW_PRIVS still set. */
	PROXY_ASSERT_STR(status_field(status, "NoNewPrivs"), "1");
	if (geteuid() == 0)
		PROXY_ASSERT(status_field(status, "Uid").rfind("65534", 0) == 0, "Uid: %s", status_field(status, "Uid").c_str());
	const int exit_status = p.stop(SIGTERM);
	PROXY_ASSERT(exited_with(exit_status, 0), "myproxy after SIGTERM: %s", describe_wait_status(exit_status).c_str());
	set_current_proxy(proxy);
}
END_TEST

START_TEST(test_clean_shutdown)
{
	/* The crash tests killed workers on purpose; everything else must be clean. */
	PROXY_ASSERT(proxy->running(), "myproxy is no longer running");
	const int status = proxy->stop(SIGTERM);
	PROXY_ASSERT(exited_with(status, 0), "myproxy after SIGTERM: %s", describe_wait_status(status).c_str());
	const std::string log = proxy->log();
	PROXY_ASSERT(!contains(log, "ERROR: AddressSanitizer") && !contains(log, "runtime error:"), "sanitizer report");
	PROXY_ASSERT(!contains(log, "SIGSEGV") && !contains(log, "SIGABRT"), "an unexpected crash");
	PROXY_ASSERT(count_in_log(*proxy, "killed by signal 31 (SIGSYS)") == 2, "unexpected SIGSYS in the log");
}
END_TEST

static Suite *sandbox_suite()
{
	Suite *s = suite_create("proxy_sandbox");
	TCase *tc = server_tcase("sandbox", 120);
	tcase_add_test(tc, test_worker_is_sandboxed);
	tcase_add_test(tc, test_no_pidfd_in_workers);
	tcase_add_test(tc, test_open_fails_with_eacces);
	tcase_add_test(tc, test_execve_kills_worker);
	tcase_add_test(tc, test_bind_kills_worker);
	suite_add_tcase(s, tc);

	tc = server_tcase("fail_closed", 60);
	tcase_add_test(tc, test_fail_closed_filter);
	tcase_add_test(tc, test_fail_closed_privileges);
	suite_add_tcase(s, tc);

	tc = server_tcase("options", 60);
	tcase_add_test(tc, test_worker_user_checked);
	tcase_add_test(tc, test_no_sandbox_is_loud);
	suite_add_tcase(s, tc);

	tc = server_tcase("drain", 60);
	tcase_add_test(tc, test_drain);
	tcase_add_test(tc, test_drain_idle_exits_at_once);
	tcase_add_test(tc, test_sd_notify);
	suite_add_tcase(s, tc);

	tc = server_tcase("shutdown", 60);
	tcase_add_test(tc, test_clean_shutdown);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	mysql_library_init(0, nullptr, nullptr);
	SharedServerSpec spec;
	const int rc = run_suites_with_servers(spec, {sandbox_suite()}, [] {
		shared_mariadb().create_user("alice", "alice-pw");
		proxy = new ProxyProcess;
		/* Clients of other uids must reach the socket in the daemon's directory. */
		chmod(proxy->dir().c_str(), 0711);
		proxy->use_test_daemon();
		proxy->start(config_lua(proxy->path("main.sock")), {proxy->path("main.sock")});
	});
	mysql_library_end();
	return rc;
}
