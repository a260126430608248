// Unit tests for worker/sandbox: enter_sandbox() for real, on a thread of a forked child, so the
// child's unfiltered main thread can look at the result (/proc/self/task/TID/status) and a coverage
// build can still write its counters (a seccomp filter binds only the thread that loads it; the
// credentials change for the whole process).  Every failure step is made to fail for real by a
// filter of the test's own (on every thread) that answers one call with an errno, and must end in
// the documented exit status and log line: the sandbox fails closed.
#include "worker/sandbox.hpp"

#include "common/coverage_flush.hpp"
#include "common/exit_status.hpp"
#include "common/log.hpp"

#include <seccomp.h>

#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
// Last: <check.h> must follow the standard headers.
#include "tests/check_main.hpp"

using namespace myproxy;

namespace {

/* Rules a fault-injection filter adds (empty: none is loaded). */
using Faults = std::function<int(scmp_filter_ctx)>;

struct Outcome {
	int status = -1;         /* enter_sandbox()'s return value */
	int seccomp_mode = -1;   /* "Seccomp:" of the thread after it: 2 is a filter */
	int no_new_privs = -1;   /* "NoNewPrivs:" of the thread */
	uid_t uid = 0;           /* the process's, after */
	std::string log;
};

int status_field(pid_t tid, const char *name)
{
	char path[64];
	std::snprintf(path, sizeof(path), "/proc/self/task/%d/status", int(tid));
	FILE *f = std::fopen(path, "r");
	if (f == nullptr)
		return -2;
	char line[256];
	int value = -3;
	const std::size_t length = std::strlen(name);
	while (std::fgets(line, sizeof(line), f) != nullptr)
		if (std::strncmp(line, name, length) == 0 && line[length] == ':')
			value = std::atoi(line + length + 1);
	std::fclose(f);
	return value;
}

/* The child: a thread loads @faults (if any), enters the sandbox, reports, and blocks in read()
   (allowed by the filter) until the main thread ends the process.  The main thread writes the
   outcome as "status seccomp nnp uid" to @out. */
[[noreturn]] void run_child(const SandboxOptions &options, const Faults &faults, int out, int log_fd)
{
	dup2(log_fd, STDERR_FILENO);
	log_init("worker[0]");
	int report[2], hold[2];
	if (pipe(report) < 0 || pipe(hold) < 0)
		_exit(100);
	std::thread thread([&] {
		int result[2] = {-1, int(syscall(SYS_gettid))};
		if (faults) {
			scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
			/* Loaded with CAP_SYS_ADMIN, without NO_NEW_PRIVS: the sandbox sets that itself.
			   On every thread: glibc runs setresuid() and friends in all threads and aborts
			   when they disagree. */
			if (ctx == nullptr || seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0 ||
			    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) < 0 || faults(ctx) < 0 ||
			    seccomp_load(ctx) < 0)
				result[0] = -100;
			seccomp_release(ctx);
		}
		if (result[0] != -100)
			result[0] = enter_sandbox(options);
		(void)!write(report[1], result, sizeof(result));
		char c;
		(void)!read(hold[0], &c, 1);
	});
	thread.detach();
	int result[2] = {-1, 0};
	if (read(report[0], result, sizeof(result)) != ssize_t(sizeof(result)))
		_exit(101);
	char text[128];
	const int length = std::snprintf(text, sizeof(text), "%d %d %d %u", result[0],
					 status_field(result[1], "Seccomp"), status_field(result[1], "NoNewPrivs"),
					 unsigned(getuid()));
	(void)!write(out, text, std::size_t(length));
	/* The thread may hold the filter: no exit handlers (LeakSanitizer's tracer would trip on
	   it); the counters are written here, by this unfiltered thread. */
	flush_coverage_counters();
	_exit(0);
}

Outcome sandbox_on_a_thread(const SandboxOptions &options, const Faults &faults = {})
{
	char pattern[] = "/tmp/check_sandbox.XXXXXX";
	const int log_fd = mkstemp(pattern);
	ck_assert_int_ge(log_fd, 0);
	unlink(pattern);
	int out[2];
	ck_assert_int_eq(pipe(out), 0);
	const pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		close(out[0]);
		run_child(options, faults, out[1], log_fd);
	}
	close(out[1]);
	char text[128] = {};
	std::size_t got = 0;
	ssize_t n;
	while (got < sizeof(text) - 1 && (n = read(out[0], text + got, sizeof(text) - 1 - got)) > 0)
		got += std::size_t(n);
	close(out[0]);
	int status = 0;
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	Outcome outcome;
	char chunk[4096];
	while ((n = pread(log_fd, chunk, sizeof(chunk), off_t(outcome.log.size()))) > 0)
		outcome.log.append(chunk, std::size_t(n));
	close(log_fd);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x:\n%s", status,
		      outcome.log.c_str());
	unsigned uid = 0;
	ck_assert_msg(std::sscanf(text, "%d %d %d %u", &outcome.status, &outcome.seccomp_mode, &outcome.no_new_privs,
				  &uid) == 4, "child said \"%s\":\n%s", text, outcome.log.c_str());
	outcome.uid = uid;
	ck_assert_msg(outcome.status != -100, "the fault-injection filter did not load");
	return outcome;
}

SandboxOptions nobody()
{
	SandboxOptions options;
	options.user_name = "nobody";
	options.uid = 65534;
	options.gid = 65534;
	return options;
}

int fail_call(scmp_filter_ctx ctx, int syscall_number, int errnum)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(std::uint32_t(errnum)), syscall_number, 0);
}

bool logged(const Outcome &o, const std::string &needle)
{
	return o.log.find(needle) != std::string::npos;
}

#define ck_assert_logged(o, needle) \
	ck_assert_msg(logged(o, needle), "log lacks \"%s\":\n%s", std::string(needle).c_str(), (o).log.c_str())

} // namespace

/* As root: the worker becomes nobody, with NO_NEW_PRIVS and the filter, and cannot get root back. */
START_TEST(test_enters_the_sandbox)
{
	ck_assert_int_eq(geteuid(), 0);
	const Outcome o = sandbox_on_a_thread(nobody());
	ck_assert_msg(o.status == 0, "status %d:\n%s", o.status, o.log.c_str());
	ck_assert_int_eq(o.seccomp_mode, 2);
	ck_assert_int_eq(o.no_new_privs, 1);
	ck_assert_uint_eq(o.uid, 65534);
}
END_TEST

/* --no-sandbox: the credentials still drop and NO_NEW_PRIVS is still set; no filter. */
START_TEST(test_no_filter)
{
	SandboxOptions options = nobody();
	options.seccomp = false;
	const Outcome o = sandbox_on_a_thread(options);
	ck_assert_int_eq(o.status, 0);
	ck_assert_int_eq(o.seccomp_mode, 0);
	ck_assert_int_eq(o.no_new_privs, 1);
	ck_assert_uint_eq(o.uid, 65534);
}
END_TEST

/* worker_user root: refused before anything changes. */
START_TEST(test_refuses_root)
{
	SandboxOptions options;
	options.user_name = "root";
	options.uid = 0;
	options.gid = 0;
	const Outcome o = sandbox_on_a_thread(options);
	ck_assert_int_eq(o.status, exit_privilege_drop);
	ck_assert_int_eq(o.seccomp_mode, 0);
	ck_assert_logged(o, "worker_user root is root; refusing to run a worker as root");
}
END_TEST

START_TEST(test_setgroups_fails)
{
	const Outcome o = sandbox_on_a_thread(nobody(), [](scmp_filter_ctx ctx) {
		return fail_call(ctx, SCMP_SYS(setgroups), EPERM);
	});
	ck_assert_int_eq(o.status, exit_privilege_drop);
	ck_assert_uint_eq(o.uid, 0);
	ck_assert_logged(o, "setgroups(0)");
	ck_assert_logged(o, "EPERM");
}
END_TEST

START_TEST(test_setresgid_fails)
{
	const Outcome o = sandbox_on_a_thread(nobody(), [](scmp_filter_ctx ctx) {
		return fail_call(ctx, SCMP_SYS(setresgid), EPERM);
	});
	ck_assert_int_eq(o.status, exit_privilege_drop);
	ck_assert_uint_eq(o.uid, 0);
	ck_assert_logged(o, "setresgid(65534)");
}
END_TEST

START_TEST(test_setresuid_fails)
{
	const Outcome o = sandbox_on_a_thread(nobody(), [](scmp_filter_ctx ctx) {
		return fail_call(ctx, SCMP_SYS(setresuid), EAGAIN);
	});
	ck_assert_int_eq(o.status, exit_privilege_drop);
	ck_assert_uint_eq(o.uid, 0);
	ck_assert_logged(o, "setresuid(65534)");
	ck_assert_logged(o, "EAGAIN");
}
END_TEST

/* The paranoia check: a kernel that let the worker become root again (here: setresuid(0, ...)
   "succeeds" without doing anything) is refused. */
START_TEST(test_root_regained_is_refused)
{
	const Outcome o = sandbox_on_a_thread(nobody(), [](scmp_filter_ctx ctx) {
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(0), SCMP_SYS(setresuid), 1, SCMP_A0(SCMP_CMP_EQ, 0));
	});
	ck_assert_int_eq(o.status, exit_privilege_drop);
	ck_assert_logged(o, "could regain root after dropping to nobody");
}
END_TEST

START_TEST(test_no_new_privs_fails)
{
	const Outcome o = sandbox_on_a_thread(nobody(), [](scmp_filter_ctx ctx) {
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EINVAL), SCMP_SYS(prctl), 1,
					SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS));
	});
	ck_assert_int_eq(o.status, exit_seccomp_filter);
	ck_assert_logged(o, "prctl(PR_SET_NO_NEW_PRIVS)");
	ck_assert_logged(o, "EINVAL");
}
END_TEST

/* The kernel refuses the filter: no worker runs without it. */
START_TEST(test_filter_load_fails)
{
	const Outcome o = sandbox_on_a_thread(nobody(), [](scmp_filter_ctx ctx) {
		const int r = fail_call(ctx, SCMP_SYS(seccomp), EPERM);
		return r < 0 ? r
			     : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prctl), 1,
						SCMP_A0(SCMP_CMP_EQ, PR_SET_SECCOMP));
	});
	ck_assert_int_eq(o.status, exit_seccomp_filter);
	ck_assert_logged(o, "seccomp_load()");
	ck_assert_int_eq(o.no_new_privs, 1);
}
END_TEST

/* The test binary's own fault injection (the integration tests' hook) fails closed the same way. */
START_TEST(test_fault_injection_hooks)
{
	SandboxOptions privileges = nobody();
	privileges.fault_injection = "privileges";
	const Outcome p = sandbox_on_a_thread(privileges);
	ck_assert_int_eq(p.status, exit_privilege_drop);
	ck_assert_uint_eq(p.uid, 0);
	ck_assert_logged(p, "setresuid(65534): failing on purpose (test fault injection)");

	SandboxOptions filter = nobody();
	filter.fault_injection = "filter";
	const Outcome f = sandbox_on_a_thread(filter);
	ck_assert_int_eq(f.status, exit_seccomp_filter);
	ck_assert_int_eq(f.seccomp_mode, 0);
	ck_assert_logged(f, "seccomp_load(): failing on purpose (test fault injection)");
}
END_TEST

int main()
{
	Suite *suite = suite_create("sandbox");
	TCase *tc = tcase_create("enter_sandbox");
	tcase_add_test(tc, test_enters_the_sandbox);
	tcase_add_test(tc, test_no_filter);
	tcase_add_test(tc, test_refuses_root);
	tcase_add_test(tc, test_setgroups_fails);
	tcase_add_test(tc, test_setresgid_fails);
	tcase_add_test(tc, test_setresuid_fails);
	tcase_add_test(tc, test_root_regained_is_refused);
	tcase_add_test(tc, test_no_new_privs_fails);
	tcase_add_test(tc, test_filter_load_fails);
	tcase_add_test(tc, test_fault_injection_hooks);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
