// Unit tests for worker/backend_watch: read_timeout counts only while the client waits and the
// counters stand still; any byte restarts it; sessions without the option or gone are forgotten.
#include "worker/backend_watch.hpp"
#include "tests/check_main.hpp"

using namespace myproxy;

static ClientConnection *const a = reinterpret_cast<ClientConnection *>(0x1000);
static ClientConnection *const b = reinterpret_cast<ClientConnection *>(0x2000);

START_TEST(test_times_out_while_waiting)
{
	BackendWatch watch;
	const std::uint64_t timeout = 1'000'000;
	ck_assert(watch.sweep({{a, timeout, true, 10, 100}}, 0).empty());
	ck_assert(watch.sweep({{a, timeout, true, 10, 100}}, 999'999).empty());
	const auto expired = watch.sweep({{a, timeout, true, 10, 100}}, 1'000'000);
	ck_assert_uint_eq(expired.size(), 1);
	ck_assert_ptr_eq(expired[0], a);
	ck_assert_uint_eq(watch.size(), 0);
}
END_TEST

START_TEST(test_bytes_restart_the_wait)
{
	BackendWatch watch;
	const std::uint64_t timeout = 1'000'000;
	(void)watch.sweep({{a, timeout, true, 10, 100}}, 0);
	/* The backend sent something (a slow result set still counts as an answer). */
	ck_assert(watch.sweep({{a, timeout, true, 10, 150}}, 900'000).empty());
	ck_assert(watch.sweep({{a, timeout, true, 10, 150}}, 1'800'000).empty());
	ck_assert_uint_eq(watch.sweep({{a, timeout, true, 10, 150}}, 1'900'000).size(), 1);
}
END_TEST

START_TEST(test_idle_and_unset_never_expire)
{
	BackendWatch watch;
	/* The backend spoke last: nobody waits, however long it stays quiet. */
	for (std::uint64_t t = 0; t < 10'000'000; t += 500'000)
		ck_assert(watch.sweep({{a, 1'000'000, false, 10, 100}, {b, 0, true, 5, 5}}, t).empty());
	ck_assert_uint_eq(watch.size(), 0);
}
END_TEST

START_TEST(test_gone_sessions_forgotten)
{
	BackendWatch watch;
	(void)watch.sweep({{a, 1'000'000, true, 1, 1}, {b, 1'000'000, true, 1, 1}}, 0);
	ck_assert_uint_eq(watch.size(), 2);
	(void)watch.sweep({{b, 1'000'000, true, 1, 1}}, 100);
	ck_assert_uint_eq(watch.size(), 1);
	/* a comes back as a new session (same address): its wait starts afresh. */
	ck_assert(watch.sweep({{a, 1'000'000, true, 1, 1}}, 1'500'000).empty());
}
END_TEST

static Suite *backend_watch_suite()
{
	Suite *s = suite_create("backend_watch");
	TCase *tc = tcase_create("sweep");
	tcase_add_test(tc, test_times_out_while_waiting);
	tcase_add_test(tc, test_bytes_restart_the_wait);
	tcase_add_test(tc, test_idle_and_unset_never_expire);
	tcase_add_test(tc, test_gone_sessions_forgotten);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({backend_watch_suite()});
}
