// Unit tests for master/name_resolver: real lookups through getaddrinfo_a() on a real sd-event loop
// (localhost from /etc/hosts, a name under .invalid that no resolver knows), the per-worker bound and
// duplicate ids as protocol violations, and a forgotten worker hearing nothing.
#include "master/name_resolver.hpp"

#include <systemd/sd-event.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "tests/check_main.hpp"

using namespace myproxy;

namespace {

struct Reply {
	pid_t worker;
	std::uint64_t id;
	std::vector<std::uint8_t> address;
	std::string error;
};

struct Loop {
	sd_event *event = nullptr;
	Loop() { ck_assert_int_ge(sd_event_new(&event), 0); }
	~Loop() { sd_event_unref(event); }

	/* Runs until @done or 30 s passed (a safety net, not a measurement). */
	template <typename Done>
	void run_until(Done done)
	{
		const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
		while (!done() && std::chrono::steady_clock::now() < give_up)
			ck_assert_int_ge(sd_event_run(event, 100000), 0);
	}
};

ResolveReplySink collect(std::vector<Reply> &replies, pid_t worker)
{
	return [&replies, worker](const ResolveReplyMessage &m) {
		replies.push_back({worker, m.request_id, std::vector<std::uint8_t>(m.address.begin(), m.address.end()),
				   std::string(m.error)});
	};
}

START_TEST(test_localhost_and_unknown_name)
{
	Loop loop;
	NameResolver resolver(loop.event);
	ck_assert_int_ge(resolver.start(), 0);
	std::vector<Reply> replies;
	ck_assert_ptr_null(resolver.resolve(100, ResolveRequestMessage{1, "localhost"}, collect(replies, 100)));
	ck_assert_ptr_null(resolver.resolve(100, ResolveRequestMessage{2, "nosuch.invalid"}, collect(replies, 100)));
	ck_assert_uint_eq(resolver.pending(), 2);
	loop.run_until([&] { return replies.size() == 2; });
	ck_assert_uint_eq(replies.size(), 2);
	ck_assert_uint_eq(resolver.pending(), 0);
	for (const Reply &r : replies) {
		if (r.id == 1) {
			ck_assert_msg(r.error.empty(), "localhost: %s", r.error.c_str());
			/* /etc/hosts: 127.0.0.1 (or ::1 where that comes first) */
			const std::vector<std::uint8_t> v4 = {127, 0, 0, 1};
			std::vector<std::uint8_t> v6(16, 0);
			v6[15] = 1;
			ck_assert(r.address == v4 || r.address == v6);
		} else {
			ck_assert_uint_eq(r.id, 2);
			ck_assert(r.address.empty());
			ck_assert_msg(r.error.rfind("cannot resolve 'nosuch.invalid': ", 0) == 0, "%s", r.error.c_str());
		}
	}
}
END_TEST

START_TEST(test_bound_and_duplicate_ids)
{
	Loop loop;
	NameResolver resolver(loop.event);
	ck_assert_int_ge(resolver.start(), 0);
	std::vector<Reply> replies;
	for (std::uint64_t id = 1; id <= channel_max_resolves_per_worker; ++id)
		ck_assert_ptr_null(resolver.resolve(7, ResolveRequestMessage{id, "localhost"}, collect(replies, 7)));
	ck_assert_str_eq(resolver.resolve(7, ResolveRequestMessage{1000, "localhost"}, collect(replies, 7)),
			 "sent more RESOLVE_REQUESTs than channel_max_resolves_per_worker");
	/* Another worker has a bound of its own, and may reuse an id of worker 7's. */
	ck_assert_ptr_null(resolver.resolve(8, ResolveRequestMessage{1, "localhost"}, collect(replies, 8)));
	ck_assert_str_eq(resolver.resolve(8, ResolveRequestMessage{1, "localhost"}, collect(replies, 8)),
			 "sent RESOLVE_REQUEST with the id of an unanswered one");
	loop.run_until([&] { return replies.size() == channel_max_resolves_per_worker + 1; });
	ck_assert_uint_eq(replies.size(), channel_max_resolves_per_worker + 1);
	/* Answered lookups free their places: worker 7 may ask again, with an old id too. */
	ck_assert_ptr_null(resolver.resolve(7, ResolveRequestMessage{1, "localhost"}, collect(replies, 7)));
	loop.run_until([&] { return replies.size() == channel_max_resolves_per_worker + 2; });
	ck_assert_uint_eq(resolver.pending(), 0);
}
END_TEST

START_TEST(test_forgotten_worker_hears_nothing)
{
	Loop loop;
	NameResolver resolver(loop.event);
	ck_assert_int_ge(resolver.start(), 0);
	std::vector<Reply> replies;
	for (std::uint64_t id = 1; id <= 5; ++id)
		ck_assert_ptr_null(resolver.resolve(30, ResolveRequestMessage{id, "localhost"}, collect(replies, 30)));
	ck_assert_ptr_null(resolver.resolve(31, ResolveRequestMessage{1, "localhost"}, collect(replies, 31)));
	resolver.forget(30);
	loop.run_until([&] { return resolver.pending() == 0; });
	ck_assert_uint_eq(resolver.pending(), 0);
	ck_assert_uint_eq(replies.size(), 1);
	ck_assert_int_eq(replies[0].worker, 31);
	/* A new process with the forgotten pid starts with a clean slate. */
	for (std::uint64_t id = 1; id <= channel_max_resolves_per_worker; ++id)
		ck_assert_ptr_null(resolver.resolve(30, ResolveRequestMessage{id, "localhost"}, collect(replies, 30)));
	loop.run_until([&] { return resolver.pending() == 0; });
	ck_assert_uint_eq(replies.size(), 1 + channel_max_resolves_per_worker);
}
END_TEST

Suite *name_resolver_suite()
{
	Suite *s = suite_create("name_resolver");
	TCase *tc = tcase_create("lookups");
	tcase_set_timeout(tc, 60 * timeout_multiplier());
	tcase_add_test(tc, test_localhost_and_unknown_name);
	tcase_add_test(tc, test_bound_and_duplicate_ids);
	tcase_add_test(tc, test_forgotten_worker_hears_nothing);
	suite_add_tcase(s, tc);
	return s;
}

} // namespace

int main()
{
	return run_check_suites({name_resolver_suite()});
}
