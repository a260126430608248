// Unit tests for worker/idle_backends, the pool's bookkeeping without I/O: only the same key takes a
// connection, the schema preference (and "no schema" never getting one with a schema), the bounds per
// key and per worker with the least recently parked going first, the age from the login, connections
// not yet reset never handed out, and dropping by node and by account.
#include "worker/idle_backends.hpp"
#include "tests/check_main.hpp"

using namespace myproxy;

static ReuseKey key(std::uint8_t n)
{
	ReuseKey k;
	k.digest.fill(n);
	return k;
}

static std::unique_ptr<ParkedBackend> connection(std::uint32_t id, std::string database = "app",
						 std::uint64_t born = 0)
{
	auto c = std::make_unique<ParkedBackend>();
	c->session.connection_id = id;
	c->database = std::move(database);
	c->born_usec = born;
	return c;
}

static std::uint32_t id_of(const std::unique_ptr<ParkedBackend> &c)
{
	return c ? c->session.connection_id : 0;
}

static constexpr std::uint64_t age = 10'000'000;

START_TEST(test_only_the_same_key)
{
	IdleBackends idle(8, age);
	idle.put(key(1), 4, "acct", connection(11), true, 0);
	ck_assert_ptr_null(idle.take(key(2), "app", 1).get());
	ck_assert_uint_eq(id_of(idle.take(key(1), "app", 1)), 11);
	ck_assert_uint_eq(idle.size(), 0);
	ck_assert_ptr_null(idle.take(key(1), "app", 1).get());
}
END_TEST

START_TEST(test_schema_preference)
{
	IdleBackends idle(8, age);
	idle.put(key(1), 4, "acct", connection(11, "other"), true, 0);
	idle.put(key(1), 4, "acct", connection(12, "app"), true, 0);
	idle.put(key(1), 4, "acct", connection(13, "third"), true, 0);
	/* The one with the schema, though not the newest. */
	ck_assert_uint_eq(id_of(idle.take(key(1), "app", 1)), 12);
	/* None has "wanted": the newest, for COM_INIT_DB. */
	ck_assert_uint_eq(id_of(idle.take(key(1), "wanted", 1)), 13);
	/* No schema is never made from one that has one. */
	ck_assert_ptr_null(idle.take(key(1), "", 1).get());
	idle.put(key(1), 4, "acct", connection(14, ""), true, 0);
	ck_assert_uint_eq(id_of(idle.take(key(1), "", 1)), 14);
}
END_TEST

START_TEST(test_per_key_bound_drops_least_recent)
{
	IdleBackends idle(8, age);
	for (std::uint32_t id = 1; id <= 3; ++id)
		idle.put(key(1), 2, "acct", connection(id), true, 0);
	idle.put(key(2), 2, "acct", connection(9), true, 0);
	ck_assert_uint_eq(idle.size(key(1)), 2);
	ck_assert_uint_eq(idle.size(), 3);
	ck_assert_uint_eq(id_of(idle.take(key(1), "app", 1)), 3);
	ck_assert_uint_eq(id_of(idle.take(key(1), "app", 1)), 2);
	ck_assert_ptr_null(idle.take(key(1), "app", 1).get());
}
END_TEST

START_TEST(test_worker_bound_is_lru)
{
	IdleBackends idle(3, age);
	idle.put(key(1), 4, "a", connection(1), true, 0);
	idle.put(key(2), 4, "b", connection(2), true, 0);
	idle.put(key(3), 4, "c", connection(3), true, 0);
	idle.put(key(4), 4, "d", connection(4), true, 0);
	ck_assert_uint_eq(idle.size(), 3);
	ck_assert_ptr_null(idle.take(key(1), "app", 1).get());
	ck_assert_uint_eq(id_of(idle.take(key(2), "app", 1)), 2);
	/* Taken and parked again: now the most recent. */
	idle.put(key(2), 4, "b", connection(2), true, 0);
	idle.put(key(5), 4, "e", connection(5), true, 0);
	ck_assert_ptr_null(idle.take(key(3), "app", 1).get());
	ck_assert_uint_eq(id_of(idle.take(key(2), "app", 1)), 2);
}
END_TEST

START_TEST(test_zero_bounds_keep_nothing)
{
	IdleBackends none(0, age);
	none.put(key(1), 4, "a", connection(1), true, 0);
	ck_assert_uint_eq(none.size(), 0);
	IdleBackends some(4, age);
	some.put(key(1), 0, "a", connection(1), true, 0);
	ck_assert_uint_eq(some.size(), 0);
}
END_TEST

START_TEST(test_age_from_login)
{
	IdleBackends idle(8, age);
	/* Logged in long ago: too old to park at all. */
	idle.put(key(1), 4, "a", connection(1, "app", 0), true, age);
	ck_assert_uint_eq(idle.size(), 0);
	idle.put(key(1), 4, "a", connection(2, "app", 1'000'000), true, 2'000'000);
	idle.put(key(1), 4, "a", connection(3, "app", 5'000'000), true, 6'000'000);
	ck_assert_uint_eq(*idle.next_expiry(), 1'000'000 + age);
	/* Past its age, never handed out, even before the timer closes it. */
	ck_assert_uint_eq(id_of(idle.take(key(1), "app", 14'000'000)), 3);
	idle.put(key(1), 4, "a", connection(3, "app", 5'000'000), true, 14'000'000);
	const auto next = idle.expire(12'000'000);
	ck_assert_uint_eq(idle.size(), 1);
	ck_assert_uint_eq(*next, 5'000'000 + age);
	ck_assert(!idle.expire(15'000'000).has_value());
	ck_assert_uint_eq(idle.size(), 0);
}
END_TEST

START_TEST(test_not_ready_is_not_handed_out)
{
	IdleBackends idle(8, age);
	auto c = connection(1);
	const ParkedBackend &parked = *c;
	idle.put(key(1), 4, "a", std::move(c), false, 0);
	ck_assert_ptr_null(idle.take(key(1), "app", 1).get());
	idle.mark_ready(parked, true);
	ck_assert_uint_eq(id_of(idle.take(key(1), "app", 1)), 1);

	auto d = connection(2);
	const ParkedBackend &failed = *d;
	idle.put(key(1), 4, "a", std::move(d), false, 0);
	idle.mark_ready(failed, false);
	ck_assert_uint_eq(idle.size(), 0);
}
END_TEST

START_TEST(test_drop_by_node_account_and_connection)
{
	IdleBackends idle(8, age);
	auto on_node = connection(1);
	on_node->cluster = 0;
	on_node->node = 1;
	idle.put(key(1), 4, "a", std::move(on_node), true, 0);
	auto other_node = connection(2);
	other_node->cluster = 0;
	other_node->node = 2;
	idle.put(key(1), 4, "a", std::move(other_node), true, 0);
	idle.put(key(2), 4, "b", connection(3), true, 0);
	ck_assert_uint_eq(idle.drop_node(0, 1), 1);
	ck_assert_uint_eq(idle.size(), 2);
	ck_assert_uint_eq(idle.drop_account("b"), 1);
	ck_assert_uint_eq(idle.size(), 1);
	auto last = connection(4);
	const ParkedBackend &dropped = *last;
	idle.put(key(3), 4, "c", std::move(last), true, 0);
	idle.drop(dropped);
	ck_assert_uint_eq(idle.size(), 1);
	ck_assert_uint_eq(id_of(idle.take(key(1), "app", 1)), 2);
	idle.put(key(3), 4, "c", connection(5), true, 0);
	idle.clear();
	ck_assert_uint_eq(idle.size(), 0);
	ck_assert_uint_eq(idle.size(key(3)), 0);
}
END_TEST

static Suite *idle_backends_suite()
{
	Suite *s = suite_create("idle_backends");
	TCase *tc = tcase_create("pool");
	tcase_add_test(tc, test_only_the_same_key);
	tcase_add_test(tc, test_schema_preference);
	tcase_add_test(tc, test_per_key_bound_drops_least_recent);
	tcase_add_test(tc, test_worker_bound_is_lru);
	tcase_add_test(tc, test_zero_bounds_keep_nothing);
	tcase_add_test(tc, test_age_from_login);
	tcase_add_test(tc, test_not_ready_is_not_handed_out);
	tcase_add_test(tc, test_drop_by_node_account_and_connection);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({idle_backends_suite()});
}
