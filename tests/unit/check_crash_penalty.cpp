// Unit tests for master/crash_penalty: refusal windows, repeats, turning it off, the size bound.
#include "master/crash_penalty.hpp"
#include "tests/check_main.hpp"

#include <signal.h>
#include <string.h>

using namespace myproxy;

START_TEST(test_window)
{
	CrashPenalties p(90'000'000);
	ck_assert_uint_eq(p.remaining(1000, 5), 0);
	p.penalize(1000, 1'000'000);
	ck_assert_uint_eq(p.remaining(1000, 1'000'000), 90'000'000);
	ck_assert_uint_eq(p.remaining(1000, 61'000'000), 30'000'000);
	/* Another uid is not affected. */
	ck_assert_uint_eq(p.remaining(1001, 2'000'000), 0);
	/* Expired: gone, and forgotten. */
	ck_assert_uint_eq(p.remaining(1000, 91'000'000), 0);
	ck_assert_uint_eq(p.size(), 0);
}
END_TEST

START_TEST(test_repeat_extends)
{
	CrashPenalties p(10);
	p.penalize(7, 100);
	p.penalize(7, 105);
	ck_assert_uint_eq(p.remaining(7, 110), 5);
	ck_assert_uint_eq(p.size(), 1);
}
END_TEST

START_TEST(test_off)
{
	CrashPenalties p(0);
	p.penalize(7, 100);
	ck_assert_uint_eq(p.remaining(7, 100), 0);
	ck_assert_uint_eq(p.size(), 0);
}
END_TEST

START_TEST(test_bounded)
{
	CrashPenalties p(1'000'000);
	for (std::uint32_t uid = 0; uid < CrashPenalties::max_entries; ++uid)
		p.penalize(uid, uid);
	ck_assert_uint_eq(p.size(), CrashPenalties::max_entries);
	/* Full: the entry expiring soonest (uid 0, penalized first) makes room. */
	p.penalize(900000, 2000);
	ck_assert_uint_eq(p.size(), CrashPenalties::max_entries);
	ck_assert_uint_eq(p.remaining(0, 2000), 0);
	ck_assert_uint_gt(p.remaining(900000, 2000), 0);
	/* Later on, expired entries go first: all of them here. */
	p.penalize(900001, 5'000'000);
	ck_assert_uint_eq(p.size(), 1);
	ck_assert_uint_gt(p.remaining(900001, 5'000'000), 0);
}
END_TEST

START_TEST(test_crash_signals)
{
	for (int sig : {SIGSEGV, SIGBUS, SIGSYS, SIGABRT, SIGILL, SIGFPE})
		ck_assert_msg(is_crash_signal(sig), "%s is a crash", sigabbrev_np(sig));
	for (int sig : {SIGKILL, SIGTERM, SIGHUP, SIGINT, SIGPIPE, SIGUSR1, 0})
		ck_assert_msg(!is_crash_signal(sig), "%d is no crash", sig);
}
END_TEST

START_TEST(test_refusal_log)
{
	RefusalLog log(1'000'000);
	/* The first refusal is logged, the next ones in the interval are counted. */
	ck_assert_uint_eq(log.note(1000, 0), 1);
	for (int i = 0; i < 500; ++i)
		ck_assert_uint_eq(log.note(1000, 1000 + i), 0);
	/* Another uid has its own interval. */
	ck_assert_uint_eq(log.note(1001, 2000), 1);
	/* After the interval: one line standing for the 500 unlogged ones and this one. */
	ck_assert_uint_eq(log.note(1000, 1'000'000), 501);
	ck_assert_uint_eq(log.note(1000, 1'000'001), 0);
	ck_assert_uint_eq(log.note(1000, 2'000'000), 2);
	ck_assert_uint_eq(log.size(), 2);
}
END_TEST

START_TEST(test_refusal_log_bounded)
{
	RefusalLog log(1'000'000);
	for (std::uint32_t uid = 0; uid < RefusalLog::max_entries + 10; ++uid)
		(void)log.note(uid, 5);
	ck_assert_uint_le(log.size(), RefusalLog::max_entries);
}
END_TEST

static Suite *crash_penalty_suite()
{
	Suite *s = suite_create("crash_penalty");
	TCase *tc = tcase_create("penalties");
	tcase_add_test(tc, test_window);
	tcase_add_test(tc, test_repeat_extends);
	tcase_add_test(tc, test_off);
	tcase_add_test(tc, test_bounded);
	tcase_add_test(tc, test_crash_signals);
	tcase_add_test(tc, test_refusal_log);
	tcase_add_test(tc, test_refusal_log_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({crash_penalty_suite()});
}
