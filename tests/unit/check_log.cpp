// Unit tests for common/log: the line format (role, subject, severity, "<N>" journal prefixes,
// errno suffix, truncation, control characters) through format_log_line(), then the real thing
// with stderr redirected to a pipe: journal detection, the debug switch, errno kept, fatal exits.
#include "common/exit_status.hpp"
#include "common/log.hpp"
#include "tests/check_main.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace myproxy;

static std::string format(bool journal, const char *role, LogLevel level, const char *subject,
			  int errnum, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static std::string format(bool journal, const char *role, LogLevel level, const char *subject,
			  int errnum, const char *fmt, ...)
{
	char buffer[log_line_max];
	va_list args;
	va_start(args, fmt);
	const std::size_t n = format_log_line(buffer, sizeof(buffer), journal, role, level, subject,
					      errnum, fmt, args);
	va_end(args);
	ck_assert_uint_eq(n, std::strlen(buffer));
	return std::string(buffer, n);
}

static std::size_t format_small(char *buffer, std::size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static std::size_t format_small(char *buffer, std::size_t size, const char *fmt, ...)
{
	va_list args;
	va_start(args, fmt);
	const std::size_t n = format_log_line(buffer, size, false, "master", LogLevel::warning, nullptr, 0,
					      fmt, args);
	va_end(args);
	return n;
}

/* ck_assert_str_eq would keep a pointer into the temporary std::string past its lifetime. */
static void assert_text(const std::string &got, const char *expected)
{
	ck_assert_str_eq(got.c_str(), expected);
}

START_TEST(test_plain_lines)
{
	assert_text(format(false, "worker[2]", LogLevel::warning, "acct=acme pid=123", 0, "hello %d", 42),
			 "worker[2] acct=acme pid=123: warning: hello 42\n");
	assert_text(format(false, "master", LogLevel::info, nullptr, 0, "started"),
			 "master: started\n");
	assert_text(format(false, "master", LogLevel::error, "", 0, "x"), "master: error: x\n");
	assert_text(format(false, "master", LogLevel::debug, nullptr, 0, "x"), "master: debug: x\n");
	assert_text(format(false, "master", LogLevel::fatal, nullptr, 0, "x"), "master: fatal: x\n");
	assert_text(format(false, nullptr, LogLevel::info, "pid=1", 0, "x"), "pid=1: x\n");
	assert_text(format(false, "", LogLevel::info, nullptr, 0, "bare"), "bare\n");
}
END_TEST

START_TEST(test_journal_prefixes)
{
	assert_text(format(true, "master", LogLevel::debug, nullptr, 0, "d"), "<7>master: d\n");
	assert_text(format(true, "master", LogLevel::info, nullptr, 0, "i"), "<6>master: i\n");
	assert_text(format(true, "master", LogLevel::warning, nullptr, 0, "w"), "<4>master: w\n");
	assert_text(format(true, "master", LogLevel::error, nullptr, 0, "e"), "<3>master: e\n");
	assert_text(format(true, "worker[1]", LogLevel::fatal, "acct=a", 0, "f"),
			 "<2>worker[1] acct=a: f\n");
}
END_TEST

START_TEST(test_errno_suffix)
{
	assert_text(format(false, "master", LogLevel::warning, "pid=123", ESRCH, "pidfd_open(%d)", 123),
			 "master pid=123: warning: pidfd_open(123): ESRCH (No such process)\n");
	assert_text(format(false, "master", LogLevel::error, nullptr, 99999, "call"),
			 "master: error: call: errno 99999\n");
}
END_TEST

START_TEST(test_control_characters_replaced)
{
	assert_text(format(false, "master", LogLevel::info, "acct=a\nb", 0, "user %s", "x\r\ny\x7f\tz"),
			 "master acct=a?b: user x??y?\tz\n");
	/* The journal prefix is ours and stays. */
	assert_text(format(true, "m", LogLevel::info, nullptr, 0, "\x1b[31m"), "<6>m: ?[31m\n");
}
END_TEST

START_TEST(test_truncation)
{
	const std::string long_text(5000, 'a');
	const std::string line = format(false, "master", LogLevel::info, nullptr, 0, "%s", long_text.c_str());
	ck_assert_uint_eq(line.size(), log_line_max - 1);
	assert_text(line.substr(line.size() - 4), "...\n");
	assert_text(line.substr(0, 9), "master: a");

	/* A long subject or errno suffix is cut the same way, never overruns. */
	const std::string line2 = format(true, long_text.c_str(), LogLevel::error, long_text.c_str(), EIO, "x");
	ck_assert_uint_eq(line2.size(), log_line_max - 1);
	assert_text(line2.substr(0, 4), "<3>a");

	char small[16];
	ck_assert_uint_eq(format_small(small, sizeof(small), "%s", "longer than sixteen bytes"), 15);
	ck_assert_str_eq(small, "master: war...\n");
}
END_TEST

/* Redirects stderr into a pipe for the rest of the (forked) test; returns the read end. */
static int capture_stderr()
{
	int fds[2];
	ck_assert_int_eq(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
	ck_assert_int_eq(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
	close(fds[1]);
	return fds[0];
}

static std::string drain(int fd)
{
	char buffer[8192];
	const ssize_t n = read(fd, buffer, sizeof(buffer));
	return n > 0 ? std::string(buffer, std::size_t(n)) : std::string();
}

START_TEST(test_plain_stderr)
{
	unsetenv("JOURNAL_STREAM");
	const int out = capture_stderr();
	log_init("master");
	ck_assert(!stderr_is_journal());
	log_info("listening on %s", "/run/x.sock");
	assert_text(drain(out), "master: listening on /run/x.sock\n");

	log_set_role("worker[%u]", 2u);
	errno = EBADF;
	log_errno(LogLevel::warning, ENOENT, "acct=acme", "open(%s)", "f");
	ck_assert_int_eq(errno, EBADF);
	assert_text(drain(out), "worker[2] acct=acme: warning: open(f): ENOENT (No such file or directory)\n");

	log_message(LogLevel::error, nullptr, "e");
	log_warning("w");
	log_error("e2");
	assert_text(drain(out), "worker[2]: error: e\nworker[2]: warning: w\nworker[2]: error: e2\n");
}
END_TEST

START_TEST(test_debug_switch)
{
	const int out = capture_stderr();
	log_init("master");
	ck_assert(!log_enabled(LogLevel::debug));
	ck_assert(log_enabled(LogLevel::info));
	log_debug("hidden");
	assert_text(drain(out), "");
	log_set_debug(true);
	ck_assert(log_enabled(LogLevel::debug));
	log_debug("shown %d", 1);
	assert_text(drain(out), "master: debug: shown 1\n");
	log_set_debug(false);
	log_message(LogLevel::debug, "s", "hidden again");
	assert_text(drain(out), "");
}
END_TEST

START_TEST(test_journal_detection)
{
	const int out = capture_stderr();
	struct stat st;
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	char value[64];
	std::snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long)st.st_dev,
		      (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", value, 1);
	ck_assert(stderr_is_journal());
	log_init("master");
	log_warning("careful");
	assert_text(drain(out), "<4>master: careful\n");

	std::snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long)st.st_dev,
		      (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", value, 1);
	ck_assert(!stderr_is_journal());
	for (const char *bad : {"", "garbage", "1", "1:", ":1", "1:2x"}) {
		setenv("JOURNAL_STREAM", bad, 1);
		ck_assert(!stderr_is_journal());
	}
}
END_TEST

START_TEST(test_fatal_exits)
{
	unsetenv("JOURNAL_STREAM");
	log_init("master");
	(void)capture_stderr();
	log_fatal("cannot continue");
}
END_TEST

START_TEST(test_fatal_level_exits)
{
	log_init("master");
	(void)capture_stderr();
	log_errno(LogLevel::fatal, EPERM, nullptr, "setresuid(%d)", 65534);
}
END_TEST

static Suite *log_suite()
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("format");
	tcase_add_test(tc, test_plain_lines);
	tcase_add_test(tc, test_journal_prefixes);
	tcase_add_test(tc, test_errno_suffix);
	tcase_add_test(tc, test_control_characters_replaced);
	tcase_add_test(tc, test_truncation);
	suite_add_tcase(s, tc);
	TCase *io = tcase_create("stderr");
	tcase_add_test(io, test_plain_stderr);
	tcase_add_test(io, test_debug_switch);
	tcase_add_test(io, test_journal_detection);
	tcase_add_exit_test(io, test_fatal_exits, exit_fatal);
	tcase_add_exit_test(io, test_fatal_level_exits, exit_fatal);
	suite_add_tcase(s, io);
	return s;
}

int main()
{
	return run_check_suites({log_suite()});
}
