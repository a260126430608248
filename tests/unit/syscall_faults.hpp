// Shared by the unit tests that make one system call fail for real (check_peer_info_kernels,
// check_listener_faults): the code under test runs in a forked child under a seccomp filter of the
// test's own that allows everything but the rules given, which answer a call (where its arguments
// match) with an errno, as an older kernel, a full fd table or a failing file system would.  Test
// code only; include it before <check.h>'s users (it includes tests/check_main.hpp).
#pragma once

#include "common/log.hpp"

#include <seccomp.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
// Last: <check.h> must follow the standard headers.
#include "tests/check_main.hpp"

namespace myproxy::test {

/* Adds the rules to the child's filter; a negative return fails the test. */
using FaultRules = std::function<int(scmp_filter_ctx)>;

struct FaultRun {
	/* What the body returned. */
	std::string result;
	/* The child's log lines (debug included). */
	std::string log;

	bool logged(const std::string &needle) const { return log.find(needle) != std::string::npos; }
};

inline FaultRules no_faults()
{
	return [](scmp_filter_ctx) { return 0; };
}

/* @syscall_number fails with @errnum, whatever its arguments. */
inline int fail_call(scmp_filter_ctx ctx, int syscall_number, int errnum)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(std::uint32_t(errnum)), syscall_number, 0);
}

/* Runs @body in a forked child: @prepare first (unfiltered; false fails the test), then the
   filter, then @body, whose string comes back.  The child leaves with exit(), so that a coverage
   build writes its counters (the filter allows that: its rules are narrow). */
inline FaultRun run_with_faults(const FaultRules &rules, const std::function<std::string()> &body,
				const std::function<bool()> &prepare = {})
{
	char pattern[] = "/tmp/check_syscall_faults.XXXXXX";
	const int log_fd = mkstemp(pattern);
	ck_assert_int_ge(log_fd, 0);
	unlink(pattern);
	int out[2];
	ck_assert_int_eq(pipe(out), 0);
	std::fflush(nullptr);
	const pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		close(out[0]);
		dup2(log_fd, STDERR_FILENO);
		log_init("check");
		log_set_debug(true);
		if (prepare && !prepare())
			_exit(100);
		scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
		if (ctx == nullptr || rules(ctx) < 0 || seccomp_load(ctx) < 0)
			_exit(101);
		seccomp_release(ctx);
		const std::string result = body();
		(void)!write(out[1], result.data(), result.size());
		std::exit(0);
	}
	close(out[1]);
	FaultRun run;
	char chunk[4096];
	ssize_t n;
	while ((n = read(out[0], chunk, sizeof(chunk))) > 0)
		run.result.append(chunk, std::size_t(n));
	close(out[0]);
	int status = 0;
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	while ((n = pread(log_fd, chunk, sizeof(chunk), off_t(run.log.size()))) > 0)
		run.log.append(chunk, std::size_t(n));
	close(log_fd);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child status 0x%x (100: preparation, 101: filter):\n%s", status, run.log.c_str());
	return run;
}

} // namespace myproxy::test

#define ck_assert_logged(run, needle)                                                                   \
	ck_assert_msg((run).logged(needle), "log lacks \"%s\":\n%s", std::string(needle).c_str(), \
		      (run).log.c_str())
