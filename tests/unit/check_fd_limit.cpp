// Unit tests for common/fd_limit: the soft limit raised to the hard one, the reserve and the
// session capacity at systemd's default and at large limits, the near-limit test on fd numbers.
#include "common/fd_limit.hpp"
#include "tests/check_main.hpp"

#include <sys/resource.h>

using namespace myproxy;

START_TEST(test_raise)
{
	struct rlimit limit;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &limit), 0);
	/* Start from systemd's default soft limit under whatever hard limit we have. */
	const rlim_t hard = limit.rlim_max;
	limit.rlim_cur = hard < 1024 ? hard : 1024;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &limit), 0);
	const std::uint64_t raised = raise_fd_limit();
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &limit), 0);
	ck_assert_uint_eq(limit.rlim_cur, hard);
	if (hard != RLIM_INFINITY)
		ck_assert_uint_eq(raised, hard);
	/* Already raised: nothing changes. */
	ck_assert_uint_eq(raise_fd_limit(), raised);
}
END_TEST

START_TEST(test_budget)
{
	ck_assert_uint_eq(fd_reserve(1024), 64);
	ck_assert_uint_eq(fd_reserve(256), 32);
	ck_assert_uint_eq(fd_reserve(1U << 20), 1024);
	ck_assert_uint_eq(session_capacity(1024), (1024 - 2 * 64) / 2);
	ck_assert_uint_eq(session_capacity(524288), (524288 - 2 * 1024) / 2);
	/* The worker's own check (fd_near_limit) must not refuse before the master's cap is reached,
	   even with a reserve's worth of descriptors of its own open. */
	for (std::uint64_t limit : {std::uint64_t(256), std::uint64_t(1024), std::uint64_t(524288)})
		ck_assert(!fd_near_limit(int(fd_reserve(limit) - 1 + fds_per_session * session_capacity(limit) - 1),
					 limit));
	/* Absurdly low: one session, never 0 (the worker's own check refuses it if it must). */
	ck_assert_uint_eq(session_capacity(10), 1);
}
END_TEST

START_TEST(test_near_limit)
{
	ck_assert(!fd_near_limit(10, 1024));
	ck_assert(!fd_near_limit(959, 1024));
	ck_assert(fd_near_limit(960, 1024));
	ck_assert(fd_near_limit(1023, 1024));
	ck_assert(!fd_near_limit(-1, 1024));
}
END_TEST

static Suite *fd_limit_suite()
{
	Suite *s = suite_create("fd_limit");
	TCase *tc = tcase_create("budget");
	tcase_add_test(tc, test_raise);
	tcase_add_test(tc, test_budget);
	tcase_add_test(tc, test_near_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({fd_limit_suite()});
}
