// Unit tests for master/listener's failure paths that a healthy host never takes: each case opens a
// listener in a forked child where one system call fails for real (tests/unit/syscall_faults.hpp),
// and the error must name the call and the address with the right exit status, leave no socket
// file behind, and, for a host without IPv6, fall back to 0.0.0.0.  systemd's sockets that cannot
// be inspected or adjusted are refused the same way.
#include "common/exit_status.hpp"
#include "lua/config_loader.hpp"
#include "master/listener.hpp"
#include "master/listener_set.hpp"

#include <systemd/sd-event.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include "tests/unit/syscall_faults.hpp"

using namespace myproxy;
using namespace myproxy::test;

namespace {

std::string temp_dir;

void make_temp_dir()
{
	char pattern[] = "/tmp/check_listener_faults.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(pattern));
	temp_dir = pattern;
}

void remove_temp_dir()
{
	(void)std::system(("rm -rf '" + temp_dir + "'").c_str());
}

/* A path, or an IP address with port 0 (the kernel picks; the text form refuses 0). */
SocketAddress address_of(const std::string &text)
{
	const bool any_port = text.ends_with(":0");
	const auto r = parse_numeric_address(any_port ? text.substr(0, text.size() - 1) + "1" : text, 3306);
	ck_assert_msg(r.ok(), "%s", text.c_str());
	SocketAddress address = r.value();
	if (any_port && address.family() == AF_INET)
		reinterpret_cast<sockaddr_in *>(&address.storage)->sin_port = 0;
	else if (any_port)
		reinterpret_cast<sockaddr_in6 *>(&address.storage)->sin6_port = 0;
	return address;
}

/* "ok <description>" or "error <exit code> <message>". */
std::string describe(const std::optional<ListenerError> &error, const std::vector<Listener> &out)
{
	if (error)
		return "error " + std::to_string(error->exit_code) + " " + error->message;
	if (out.size() != 1)
		return "ok but " + std::to_string(out.size()) + " listeners";
	return "ok " + out[0].description;
}

FaultRun open_under(const std::string &address, const FaultRules &rules)
{
	const SocketAddress parsed = address_of(address);
	return run_with_faults(rules, [&] {
		std::vector<Listener> out;
		const auto error = open_address_listener(parsed, 0, out);
		return describe(error, out);
	});
}

int fail_sockopt(scmp_filter_ctx ctx, int level, int option, int errnum)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(std::uint32_t(errnum)), SCMP_SYS(setsockopt), 2,
				SCMP_A1(SCMP_CMP_EQ, scmp_datum_t(level)), SCMP_A2(SCMP_CMP_EQ, scmp_datum_t(option)));
}

/* stat() and lstat() are both newfstatat() here; the flags tell them apart. */
int fail_stat(scmp_filter_ctx ctx, int flags, int errnum)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(std::uint32_t(errnum)), SCMP_SYS(newfstatat), 1,
				SCMP_A3(SCMP_CMP_EQ, scmp_datum_t(flags)));
}

bool exists(const std::string &path)
{
	struct stat st;
	return lstat(path.c_str(), &st) == 0;
}

/* A socket file nobody listens on, as a crashed server leaves it. */
void make_stale_socket(const std::string &path)
{
	const SocketAddress address = address_of(path);
	UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ck_assert_int_eq(bind(fd.get(), address.get(), address.length), 0);
}

#define ck_assert_result(run, expected)                                                                      \
	ck_assert_msg((run).result == std::string(expected), "got \"%s\", not \"%s\":\n%s", (run).result.c_str(), \
		      std::string(expected).c_str(), (run).log.c_str())

} // namespace

/* No IPv6 in this kernel: "*" listens on 0.0.0.0 instead, and says so. */
START_TEST(test_no_ipv6_falls_back)
{
	const FaultRun run = open_under("[::]:0", [](scmp_filter_ctx ctx) {
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
					SCMP_A0(SCMP_CMP_EQ, AF_INET6));
	});
	ck_assert_msg(run.result.starts_with("ok 0.0.0.0:"), "%s\n%s", run.result.c_str(), run.log.c_str());
	ck_assert_logged(run, "[::]:0: no IPv6 here, listening on 0.0.0.0:0");
}
END_TEST

/* A specific IPv6 address without IPv6 is an error, not a silent fallback. */
START_TEST(test_no_ipv6_specific_address)
{
	const FaultRun run = open_under("[::1]:0", [](scmp_filter_ctx ctx) {
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
					SCMP_A0(SCMP_CMP_EQ, AF_INET6));
	});
	ck_assert_result(run, "error " + std::to_string(exit_os_error) +
				      " socket([::1]:0): Address family not supported by protocol");
}
END_TEST

START_TEST(test_socket_fails)
{
	const FaultRun run = open_under("127.0.0.1:0", [](scmp_filter_ctx ctx) {
		return fail_call(ctx, SCMP_SYS(socket), EMFILE);
	});
	ck_assert_result(run, "error " + std::to_string(exit_os_error) + " socket(127.0.0.1:0): Too many open files");
}
END_TEST

START_TEST(test_socket_options_fail)
{
	const std::string os = std::to_string(exit_os_error);
	const FaultRun reuse = open_under("127.0.0.1:0", [](scmp_filter_ctx ctx) {
		return fail_sockopt(ctx, SOL_SOCKET, SO_REUSEADDR, ENOPROTOOPT);
	});
	ck_assert_result(reuse, "error " + os + " setsockopt(SO_REUSEADDR)(127.0.0.1:0): Protocol not available");
	const FaultRun v6only = open_under("[::]:0", [](scmp_filter_ctx ctx) {
		return fail_sockopt(ctx, IPPROTO_IPV6, IPV6_V6ONLY, EINVAL);
	});
	ck_assert_result(v6only, "error " + os + " setsockopt(IPV6_V6ONLY)([::]:0): Invalid argument");
	const std::string path = temp_dir + "/passcred.sock";
	const FaultRun passcred = open_under(path, [](scmp_filter_ctx ctx) {
		return fail_sockopt(ctx, SOL_SOCKET, SO_PASSCRED, EPERM);
	});
	ck_assert_result(passcred, "error " + os + " setsockopt(SO_PASSCRED)(" + path + "): Operation not permitted");
	ck_assert(!exists(path));
}
END_TEST

START_TEST(test_bind_and_listen_fail)
{
	const std::string os = std::to_string(exit_os_error);
	const FaultRun bind_tcp = open_under("127.0.0.1:0", [](scmp_filter_ctx ctx) {
		return fail_call(ctx, SCMP_SYS(bind), EACCES);
	});
	ck_assert_result(bind_tcp, "error " + os + " bind(127.0.0.1:0): Permission denied");
	const std::string path = temp_dir + "/listen.sock";
	const FaultRun listen_path = open_under(path, [](scmp_filter_ctx ctx) {
		return fail_call(ctx, SCMP_SYS(listen), EADDRINUSE);
	});
	ck_assert_result(listen_path, "error " + os + " listen(" + path + "): Address already in use");
	/* The file it had bound is gone again. */
	ck_assert(!exists(path));
}
END_TEST

/* After bind(): the new file cannot be looked at or opened up to every client. */
START_TEST(test_path_setup_fails)
{
	const std::string os = std::to_string(exit_os_error);
	const std::string stat_path = temp_dir + "/stat.sock";
	const FaultRun stat_fails = open_under(stat_path, [](scmp_filter_ctx ctx) { return fail_stat(ctx, 0, EIO); });
	ck_assert_result(stat_fails, "error " + os + " stat(" + stat_path + "): Input/output error");
	const std::string chmod_path = temp_dir + "/chmod.sock";
	const FaultRun chmod_fails = open_under(chmod_path, [](scmp_filter_ctx ctx) {
		const int r = fail_call(ctx, SCMP_SYS(chmod), EROFS);
		return r < 0 ? r : fail_call(ctx, SCMP_SYS(fchmodat), EROFS);
	});
	ck_assert_result(chmod_fails, "error " + os + " chmod(" + chmod_path + "): Read-only file system");
	ck_assert(!exists(chmod_path));
}
END_TEST

/* A file in the way whose state cannot be learned is left alone, and the error says which calls. */
START_TEST(test_stale_socket_checks_fail)
{
	const std::string os = std::to_string(exit_os_error);
	const std::string lstat_path = temp_dir + "/lstat.sock";
	make_stale_socket(lstat_path);
	const FaultRun lstat_fails = open_under(lstat_path, [](scmp_filter_ctx ctx) {
		return fail_stat(ctx, AT_SYMLINK_NOFOLLOW, EACCES);
	});
	ck_assert_result(lstat_fails, "error " + os + " lstat/connect/unlink(" + lstat_path + "): Permission denied");
	ck_assert(exists(lstat_path));

	const std::string connect_path = temp_dir + "/connect.sock";
	make_stale_socket(connect_path);
	const FaultRun connect_fails = open_under(connect_path, [](scmp_filter_ctx ctx) {
		return fail_call(ctx, SCMP_SYS(connect), EACCES);
	});
	ck_assert_result(connect_fails, "error " + os + " lstat/connect/unlink(" + connect_path + "): Permission denied");
	ck_assert(exists(connect_path));

	const std::string unlink_path = temp_dir + "/unlink.sock";
	make_stale_socket(unlink_path);
	const FaultRun unlink_fails = open_under(unlink_path, [](scmp_filter_ctx ctx) {
		const int r = fail_call(ctx, SCMP_SYS(unlink), EBUSY);
		return r < 0 ? r : fail_call(ctx, SCMP_SYS(unlinkat), EBUSY);
	});
	ck_assert_result(unlink_fails, "error " + os + " lstat/connect/unlink(" + unlink_path + "): Device or resource busy");
	ck_assert(exists(unlink_path));
}
END_TEST

/* systemd's socket on fd 3 in the child, then take_systemd_listeners() under @rules. */
static FaultRun take_systemd_under(const std::string &listen_pid, bool with_socket, const FaultRules &rules)
{
	const std::string path = temp_dir + "/systemd.sock";
	return run_with_faults(
		rules,
		[] {
			std::vector<Listener> out;
			const auto error = take_systemd_listeners(0, out);
			if (error)
				return "error " + std::to_string(error->exit_code) + " " + error->message;
			return "ok " + std::to_string(out.size());
		},
		[&] {
			if (with_socket) {
				unlink(path.c_str());
				const SocketAddress address = address_of(path);
				const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
				if (fd < 0 || bind(fd, address.get(), address.length) < 0 || listen(fd, 8) < 0 ||
				    dup2(fd, 3) != 3)
					return false;
				if (fd != 3)
					close(fd);
			} else {
				close(3);
			}
			setenv("LISTEN_FDS", "1", 1);
			setenv("LISTEN_PID", listen_pid == "self" ? std::to_string(getpid()).c_str() : listen_pid.c_str(), 1);
			return true;
		});
}

START_TEST(test_systemd_sockets_refused)
{
	const std::string os = std::to_string(exit_os_error);
	const FaultRun garbage_pid = take_systemd_under("not-a-pid", true, no_faults());
	ck_assert_msg(garbage_pid.result.starts_with("error " + os + " sd_listen_fds(systemd): "), "%s",
		      garbage_pid.result.c_str());

	const FaultRun closed = take_systemd_under("self", false, no_faults());
	ck_assert_result(closed, "error " + os + " sd_listen_fds(systemd): Bad file descriptor");

	const FaultRun unknown = take_systemd_under("self", true, [](scmp_filter_ctx ctx) {
		const int r = fail_call(ctx, SCMP_SYS(fstat), EIO);
		return r < 0 ? r : fail_stat(ctx, AT_EMPTY_PATH, EIO);
	});
	ck_assert_result(unknown, "error " + os + " sd_is_socket(systemd fd 3): Input/output error");

	const FaultRun name = take_systemd_under("self", true, [](scmp_filter_ctx ctx) {
		return fail_call(ctx, SCMP_SYS(getsockname), ENOBUFS);
	});
	ck_assert_result(name, "error " + os + " getsockname(systemd fd 3): No buffer space available");

	const FaultRun flags = take_systemd_under("self", true, [](scmp_filter_ctx ctx) {
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EBADF), SCMP_SYS(fcntl), 1, SCMP_A1(SCMP_CMP_EQ, F_SETFL));
	});
	ck_assert_result(flags, "error " + os + " fcntl(systemd fd 3): Bad file descriptor");

	const FaultRun passcred = take_systemd_under("self", true, [](scmp_filter_ctx ctx) {
		return fail_sockopt(ctx, SOL_SOCKET, SO_PASSCRED, EPERM);
	});
	ck_assert_result(passcred, "error " + os + " setsockopt(SO_PASSCRED)(systemd fd 3): Operation not permitted");

	const FaultRun fine = take_systemd_under("self", true, no_faults());
	ck_assert_result(fine, "ok 1");
}
END_TEST

/* ---- master/listener_set: accept() failing, and reloads it cannot do ---- */

/* A TCP listener on 127.0.0.1 in a ListenerSet that accepts (in the child; no Check calls). */
struct AcceptingSet {
	sd_event *event = nullptr;
	EventSource warm_timer;
	std::unique_ptr<ListenerSet> set;
	unsigned accepted = 0;

	AcceptingSet()
	{
		if (sd_event_new(&event) < 0)
			std::abort();
		/* The loop's CLOCK_MONOTONIC timerfd exists before any fd runs out. */
		sd_event_add_time_relative(event, warm_timer.out(), CLOCK_MONOTONIC, 3600ull * 1000000, 0,
					   nullptr, nullptr);
		set = std::make_unique<ListenerSet>(event, 1000, [this](const Listener &, UniqueFd, const SocketAddress &) {
			++accepted;
		});
		std::vector<Listener> listeners;
		if (open_address_listener(address_of("127.0.0.1:0"), 0, listeners) || set->adopt(std::move(listeners)) != 0)
			std::abort();
		set->set_accepting(true);
	}
	~AcceptingSet()
	{
		set.reset();
		warm_timer.reset();
		sd_event_unref(event);
	}
	/* Runs the loop until @done; false after the safety net. */
	bool run_until(const std::function<bool()> &done)
	{
		for (unsigned i = 0; i < 2000 * timeout_multiplier() && !done(); ++i)
			if (sd_event_run(event, 10000) < 0)
				return false;
		return done();
	}
};

/* The port of the listening TCP socket among this process's fds. */
static std::uint16_t listening_port(int lowest_candidate)
{
	for (int fd = lowest_candidate; fd < 64; ++fd) {
		sockaddr_in address{};
		socklen_t length = sizeof(address);
		int listening = 0;
		socklen_t option_length = sizeof(listening);
		if (getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length) == 0 && address.sin_family == AF_INET &&
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &option_length) == 0 && listening)
			return ntohs(address.sin_port);
	}
	return 0;
}

static UniqueFd connect_to_port(std::uint16_t port)
{
	UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	sockaddr_in address{};
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	address.sin_port = htons(port);
	if (connect(fd.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)) < 0)
		return {};
	return fd;
}

/* The fd table is full (clients flooding the master): the listener pauses, warned about, tries
   again after the pause (and pauses again while nothing changed), and accepts once fds are free. */
START_TEST(test_accept_out_of_fds_pauses)
{
	const FaultRun run = run_with_faults(no_faults(), [] {
		AcceptingSet accepting;
		const std::uint16_t port = listening_port(3);
		UniqueFd first = connect_to_port(port), second = connect_to_port(port);
		if (!first || !second)
			return std::string("cannot connect");
		rlimit saved{};
		getrlimit(RLIMIT_NOFILE, &saved);
		const int lowest_free = open("/dev/null", O_RDONLY | O_CLOEXEC);
		close(lowest_free);
		rlimit full = saved;
		full.rlim_cur = rlim_t(lowest_free);
		setrlimit(RLIMIT_NOFILE, &full);
		/* Several pauses of 1 ms: the later ones reuse the pause timer. */
		unsigned rounds = 0;
		accepting.run_until([&] { return ++rounds > 400; });
		setrlimit(RLIMIT_NOFILE, &saved);
		if (!accepting.run_until([&] { return accepting.accepted == 2; }))
			return "accepted " + std::to_string(accepting.accepted);
		return std::string("accepted 2");
	});
	ck_assert_result(run, "accepted 2");
	ck_assert_logged(run, "accept4(127.0.0.1:");
	ck_assert_logged(run, "Too many open files");
	std::size_t pauses = 0;
	for (std::size_t at = run.log.find("pausing it"); at != std::string::npos; at = run.log.find("pausing it", at + 1))
		++pauses;
	ck_assert_msg(pauses >= 2, "%zu pauses:\n%s", pauses, run.log.c_str());
}
END_TEST

/* accept() failing for a reason that is not the fd table: logged as an error, paused the same. */
START_TEST(test_accept_fails_otherwise)
{
	const FaultRun run = run_with_faults(
		[](scmp_filter_ctx ctx) { return fail_call(ctx, SCMP_SYS(accept4), EINVAL); },
		[] {
			AcceptingSet accepting;
			UniqueFd client = connect_to_port(listening_port(3));
			if (!client)
				return std::string("cannot connect");
			unsigned rounds = 0;
			accepting.run_until([&] { return ++rounds > 50; });
			return "accepted " + std::to_string(accepting.accepted);
		});
	ck_assert_result(run, "accepted 0");
	ck_assert_logged(run, "error: accept4(127.0.0.1:");
	ck_assert_logged(run, "Invalid argument");
}
END_TEST

/* A reload may not ask for systemd's sockets anew, and a reload that fails removes the files it
   had bound for the new set, leaving the serving set alone. */
START_TEST(test_reload_prepare_refusals)
{
	sd_event *event = nullptr;
	ck_assert_int_ge(sd_event_new(&event), 0);
	{
		ListenerSet set(event, 1000, [](const Listener &, UniqueFd, const SocketAddress &) {});
		std::vector<ListenerConfig> configs(2);
		configs[0].address = address_of(temp_dir + "/new.sock");
		configs[0].origin = "config.lua:1";
		configs[1].systemd = true;
		configs[1].origin = "config.lua:2";
		const auto error = set.prepare(configs);
		ck_assert(error.has_value());
		ck_assert_str_eq(error->message.c_str(), "mysql_listen(systemd): a reload cannot add systemd's sockets "
							 "(restart myproxy) (mysql_listen at config.lua:2)");
		ck_assert_int_eq(error->exit_code, exit_config);
		ck_assert(!exists(temp_dir + "/new.sock"));
		ck_assert_uint_eq(set.size(), 0);

		configs.resize(1);
		ck_assert(!set.prepare(configs));
		ck_assert(exists(temp_dir + "/new.sock"));
		set.abandon();
		ck_assert(!exists(temp_dir + "/new.sock"));
	}
	sd_event_unref(event);
}
END_TEST

int main()
{
	Suite *suite = suite_create("listener_faults");
	TCase *tc = tcase_create("faults");
	tcase_add_checked_fixture(tc, make_temp_dir, remove_temp_dir);
	tcase_add_test(tc, test_no_ipv6_falls_back);
	tcase_add_test(tc, test_no_ipv6_specific_address);
	tcase_add_test(tc, test_socket_fails);
	tcase_add_test(tc, test_socket_options_fail);
	tcase_add_test(tc, test_bind_and_listen_fail);
	tcase_add_test(tc, test_path_setup_fails);
	tcase_add_test(tc, test_stale_socket_checks_fail);
	tcase_add_test(tc, test_systemd_sockets_refused);
	tcase_add_test(tc, test_accept_out_of_fds_pauses);
	tcase_add_test(tc, test_accept_fails_otherwise);
	tcase_add_test(tc, test_reload_prepare_refusals);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
