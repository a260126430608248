// Unit tests for worker/syscall_allowlist and the filter worker/sandbox builds from it: every row has
// a heading, a name libseccomp knows and a reason, no (call, condition) repeats, the calls the
// sandbox exists to stop are not allowed, and the filter equals the reviewed golden file
// tests/unit/syscall_filter.x86_64.pfc.  Regenerate the golden file after changing the table:
//   PFC_UPDATE=1 ./tests/unit/check_syscall_allowlist      (from the build directory)
#include "worker/sandbox.hpp"
#include "worker/syscall_allowlist.hpp"

#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <tuple>

/* Last: Check's `fail` macro breaks <iostream> included after it. */
#include "tests/check_main.hpp"

using namespace myproxy;

START_TEST(test_rows_complete)
{
	for (const SyscallRule &rule : syscall_allowlist()) {
		ck_assert_msg(rule.group != nullptr && *rule.group != '\0', "a row without a group");
		ck_assert_msg(rule.name != nullptr && *rule.name != '\0', "a row without a name");
		ck_assert_msg(rule.reason != nullptr && std::strlen(rule.reason) >= 5, "%s: no reason", rule.name);
		ck_assert_msg(seccomp_syscall_resolve_name(rule.name) != __NR_SCMP_ERROR, "%s: unknown to libseccomp",
			      rule.name);
		if (rule.action == SyscallAction::fail)
			ck_assert_msg(rule.error_number > 0, "%s: fails without an errno", rule.name);
	}
}
END_TEST

START_TEST(test_no_repeats)
{
	std::set<std::tuple<std::string, bool, int, unsigned long long, unsigned long long>> seen;
	for (const SyscallRule &rule : syscall_allowlist()) {
		const auto key = std::make_tuple(std::string(rule.name), rule.has_argument, int(rule.argument.index),
						 (unsigned long long)rule.argument.mask,
						 (unsigned long long)rule.argument.value);
		ck_assert_msg(seen.insert(key).second, "%s repeats", rule.name);
	}
}
END_TEST

START_TEST(test_error_rows_first)
{
	bool allowed_seen = false;
	for (const SyscallRule &rule : syscall_allowlist()) {
		if (rule.action == SyscallAction::allow)
			allowed_seen = true;
		else
			ck_assert_msg(!allowed_seen, "%s: error rows come first", rule.name);
	}
}
END_TEST

/* What the issue says workers cannot do: none of these may have an allowing row. */
START_TEST(test_forbidden_never_allowed)
{
	static const char *const forbidden[] = {
		"execve", "execveat", "fork", "vfork", "ptrace", "mount", "umount2", "bind", "listen", "accept",
		"accept4", "unshare", "setns", "setuid", "setgid", "setresuid", "setresgid", "setgroups",
		"setreuid", "setregid", "capset", "init_module", "finit_module", "delete_module", "kexec_load",
		"kexec_file_load", "bpf", "chroot", "pivot_root", "mknod", "unlink", "unlinkat", "rename",
		"mkdir", "chmod", "chown", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "prctl",
		"seccomp", "perf_event_open", "userfaultfd", "io_uring_setup", "keyctl", "add_key",
		"memfd_create", "open_by_handle_at", "reboot", "swapon", "acct", "settimeofday",
	};
	for (const char *name : forbidden)
		for (const SyscallRule &rule : syscall_allowlist())
			ck_assert_msg(std::strcmp(rule.name, name) != 0 || rule.action != SyscallAction::allow,
				      "%s is allowed", name);
	/* The file calls fail softly, never run. */
	for (const SyscallRule &rule : syscall_allowlist())
		if (std::strcmp(rule.name, "openat") == 0 || std::strcmp(rule.name, "open") == 0)
			ck_assert(rule.action == SyscallAction::fail && rule.error_number == EACCES &&
				  !rule.has_argument);
}
END_TEST

static std::string read_all(int fd)
{
	std::string text;
	lseek(fd, 0, SEEK_SET);
	char buffer[4096];
	ssize_t n;
	while ((n = read(fd, buffer, sizeof(buffer))) > 0)
		text.append(buffer, std::size_t(n));
	return text;
}

/* The filter as libseccomp compiles it, for a fixed pid (kill/tgkill are limited to the worker). */
START_TEST(test_golden_pfc)
{
#if defined(__x86_64__)
	const int fd = memfd_create("pfc", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(export_syscall_filter_pfc(fd, 4242), 0);
	const std::string actual = read_all(fd);
	close(fd);
	ck_assert(actual.find("action KILL_PROCESS") != std::string::npos ||
		  actual.find("KILL_PROCESS") != std::string::npos);

	if (const char *update = std::getenv("PFC_UPDATE"); update != nullptr && *update == '1') {
		std::ofstream out(SYSCALL_FILTER_GOLDEN, std::ios::trunc);
		out << actual;
		ck_assert(out.good());
		std::fprintf(stderr, "wrote %s\n", SYSCALL_FILTER_GOLDEN);
		return;
	}
	std::ifstream in(SYSCALL_FILTER_GOLDEN);
	std::ostringstream golden;
	golden << in.rdbuf();
	ck_assert_msg(in.good() || in.eof(), "cannot read %s", SYSCALL_FILTER_GOLDEN);
	ck_assert_msg(golden.str() == actual,
		      "the filter differs from %s: review the change, then regenerate it with "
		      "PFC_UPDATE=1 ./tests/unit/check_syscall_allowlist",
		      SYSCALL_FILTER_GOLDEN);
#else
	ck_abort_msg("the golden file is for x86_64");
#endif
}
END_TEST

static Suite *allowlist_suite()
{
	Suite *s = suite_create("syscall_allowlist");
	TCase *tc = tcase_create("table");
	tcase_add_test(tc, test_rows_complete);
	tcase_add_test(tc, test_no_repeats);
	tcase_add_test(tc, test_error_rows_first);
	tcase_add_test(tc, test_forbidden_never_allowed);
	tcase_add_test(tc, test_golden_pfc);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({allowlist_suite()});
}
