// Unit tests for master/crash_penalty: refusal windows, repeats, turning it off, the size bound.
#include "master/crash_penalty.hpp"
#include "tests/check_main.hpp"

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

static Suite *crash_penalty_suite()
{
	Suite *s = suite_create("crash_penalty");
	TCase *tc = tcase_create("penalties");
	tcase_add_test(tc, test_window);
	tcase_add_test(tc, test_repeat_extends);
	tcase_add_test(tc, test_off);
	tcase_add_test(tc, test_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({crash_penalty_suite()});
}
