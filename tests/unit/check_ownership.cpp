// Unit tests for the ownership types of common/: EventSource (an sd-event source is disabled and
// freed when its owner goes, moves hand it over, out() replaces), the secret types of
// common/secret.hpp (wiped on clear and when they go) and the names of common/exit_status.hpp.
#include "common/event_source.hpp"
#include "common/exit_status.hpp"
#include "common/secret.hpp"
#include "tests/check_main.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <set>
#include <string>

using namespace myproxy;

namespace {

struct Probe {
	int fired = 0;
	int freed = 0;
};

int on_defer(sd_event_source *, void *userdata)
{
	++static_cast<Probe *>(userdata)->fired;
	return 0;
}

void on_destroy(void *userdata)
{
	++static_cast<Probe *>(userdata)->freed;
}

/* A defer source that counts its runs and its release in @probe. */
void add_counted_defer(sd_event *event, EventSource &owner, Probe &probe)
{
	ck_assert_int_ge(sd_event_add_defer(event, owner.out(), on_defer, &probe), 0);
	ck_assert_int_ge(sd_event_source_set_destroy_callback(owner.get(), on_destroy), 0);
	ck_assert_int_ge(sd_event_source_set_enabled(owner.get(), SD_EVENT_ON), 0);
}

bool all_zero(const unsigned char *bytes, std::size_t size)
{
	return std::all_of(bytes, bytes + size, [](unsigned char c) { return c == 0; });
}

} // namespace

START_TEST(test_event_source_freed_when_owner_goes)
{
	sd_event *event = nullptr;
	ck_assert_int_ge(sd_event_new(&event), 0);
	Probe probe;
	{
		EventSource source;
		add_counted_defer(event, source, probe);
		ck_assert(bool(source));
	}
	ck_assert_int_eq(probe.freed, 1);
	ck_assert_int_ge(sd_event_run(event, 0), 0);
	ck_assert_int_eq(probe.fired, 0);
	sd_event_unref(event);
}
END_TEST

START_TEST(test_event_source_move_hands_over)
{
	sd_event *event = nullptr;
	ck_assert_int_ge(sd_event_new(&event), 0);
	Probe probe;
	EventSource first;
	add_counted_defer(event, first, probe);
	sd_event_source *raw = first.get();

	EventSource second(std::move(first));
	ck_assert(!first);
	ck_assert_ptr_eq(second.get(), raw);
	EventSource third;
	third = std::move(second);
	ck_assert(!second);
	ck_assert_int_eq(probe.freed, 0);

	/* Still armed after the moves: it fires once (a oneshot defer). */
	sd_event_source_set_enabled(third.get(), SD_EVENT_ONESHOT);
	ck_assert_int_ge(sd_event_run(event, 0), 0);
	ck_assert_int_eq(probe.fired, 1);

	third.reset();
	ck_assert_int_eq(probe.freed, 1);
	ck_assert(!third);
	sd_event_unref(event);
}
END_TEST

START_TEST(test_event_source_out_and_assignment_replace)
{
	sd_event *event = nullptr;
	ck_assert_int_ge(sd_event_new(&event), 0);
	Probe old_probe, new_probe, third_probe;
	EventSource source;
	add_counted_defer(event, source, old_probe);
	add_counted_defer(event, source, new_probe);
	ck_assert_int_eq(old_probe.freed, 1);
	ck_assert_int_eq(new_probe.freed, 0);

	EventSource other;
	add_counted_defer(event, other, third_probe);
	source = std::move(other);
	ck_assert_int_eq(new_probe.freed, 1);
	ck_assert_int_eq(third_probe.freed, 0);

	ck_assert_int_ge(sd_event_run(event, 0), 0);
	ck_assert_int_eq(old_probe.fired + new_probe.fired, 0);
	ck_assert_int_eq(third_probe.fired, 1);

	sd_event_source *raw = source.release();
	ck_assert(!source);
	ck_assert_int_eq(third_probe.freed, 0);
	sd_event_source_disable_unref(raw);
	ck_assert_int_eq(third_probe.freed, 1);
	sd_event_unref(event);
}
END_TEST

/* A source released from its own callback: disabled at once, freed when the dispatch ends. */
START_TEST(test_event_source_reset_inside_its_callback)
{
	sd_event *event = nullptr;
	ck_assert_int_ge(sd_event_new(&event), 0);
	struct Self {
		EventSource source;
		int fired = 0;
	} self;
	auto callback = [](sd_event_source *, void *userdata) {
		auto *s = static_cast<Self *>(userdata);
		++s->fired;
		s->source.reset();
		return 0;
	};
	ck_assert_int_ge(sd_event_add_defer(event, self.source.out(), callback, &self), 0);
	ck_assert_int_ge(sd_event_run(event, 0), 0);
	ck_assert_int_ge(sd_event_run(event, 0), 0);
	ck_assert_int_eq(self.fired, 1);
	ck_assert(!self.source);
	sd_event_unref(event);
}
END_TEST

START_TEST(test_wipe_secret_zeroes)
{
	unsigned char bytes[32];
	std::memset(bytes, 0xA5, sizeof(bytes));
	wipe_secret(bytes + 4, 24);
	ck_assert_int_eq(bytes[3], 0xA5);
	ck_assert(all_zero(bytes + 4, 24));
	ck_assert_int_eq(bytes[28], 0xA5);
	wipe_secret(nullptr, 0);
}
END_TEST

START_TEST(test_secret_array_wiped_when_it_goes)
{
	alignas(SecretArray<20>) unsigned char storage[sizeof(SecretArray<20>)];
	auto *secret = new (storage) SecretArray<20>;
	ck_assert(all_zero(secret->data(), 20));
	std::memset(secret->data(), 0x5A, 20);
	secret->~SecretArray<20>();
	ck_assert(all_zero(storage, sizeof(storage)));
}
END_TEST

START_TEST(test_secret_string_short_wiped_when_it_goes)
{
	alignas(SecretString) unsigned char storage[sizeof(SecretString)];
	auto *secret = new (storage) SecretString("hunter2");
	ck_assert(secret->view() == "hunter2");
	secret->~SecretString();
	const std::string_view bytes(reinterpret_cast<const char *>(storage), sizeof(storage));
	ck_assert(bytes.find("hunter") == std::string_view::npos);
}
END_TEST

START_TEST(test_secret_string_clear_wipes_whole_buffer)
{
	const std::string long_password(100, 'p');
	SecretString secret(long_password);
	/* clear() keeps the allocation, so its bytes can be read after. */
	const char *buffer = secret.c_str();
	secret = std::string_view("short");
	ck_assert(secret.view() == "short");
	secret.clear();
	ck_assert(secret.empty());
	ck_assert(all_zero(reinterpret_cast<const unsigned char *>(buffer), 100));
}
END_TEST

START_TEST(test_secret_string_move_leaves_source_empty)
{
	SecretString a("correct horse");
	SecretString b(std::move(a));
	ck_assert(a.empty());
	ck_assert(b.view() == "correct horse");
	SecretString c;
	c = std::move(b);
	ck_assert(b.empty());
	ck_assert(c.view() == "correct horse");
	SecretString d(c);
	ck_assert(d.view() == c.view());
}
END_TEST

START_TEST(test_wipe_secret_bytes_releases)
{
	SecretBytes bytes(64, 0x77);
	wipe(bytes);
	ck_assert(bytes.empty());
	ck_assert_uint_eq(bytes.capacity(), 0);

	std::uint8_t raw[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	wipe(std::span<std::uint8_t>(raw));
	ck_assert(all_zero(raw, sizeof(raw)));
}
END_TEST

START_TEST(test_exit_status_names)
{
	ck_assert(exit_status_name(exit_privilege_drop) == "EXIT_PRIVILEGE_DROP");
	ck_assert(exit_status_name(77) == "EXIT_PRIVILEGE_DROP");
	ck_assert(exit_status_name(exit_ok) == "EXIT_OK");
	ck_assert(exit_status_name(exit_config) == "EXIT_CONFIG");
	ck_assert(exit_status_name(3).empty());
	ck_assert(exit_status_name(-1).empty());
	/* The values man/myproxy.8 documents. */
	ck_assert_int_eq(exit_usage, 64);
	ck_assert_int_eq(exit_os_error, 71);
	ck_assert_int_eq(exit_config, 78);
	ck_assert_int_eq(exit_seccomp_filter, 79);
}
END_TEST

/* One meaning each: no value and no name twice. */
START_TEST(test_exit_status_unique)
{
	std::set<int> values;
	std::set<std::string_view> names;
	for (const ExitStatusName &entry : exit_status_names) {
		ck_assert_msg(values.insert(entry.status).second, "status %d twice", entry.status);
		ck_assert_msg(names.insert(entry.name).second, "name %.*s twice", int(entry.name.size()),
			      entry.name.data());
		ck_assert(entry.name.starts_with("EXIT_"));
		ck_assert(entry.status >= 0 && entry.status <= 125);
	}
}
END_TEST

static Suite *ownership_suite()
{
	Suite *s = suite_create("ownership");
	TCase *events = tcase_create("event_source");
	tcase_add_test(events, test_event_source_freed_when_owner_goes);
	tcase_add_test(events, test_event_source_move_hands_over);
	tcase_add_test(events, test_event_source_out_and_assignment_replace);
	tcase_add_test(events, test_event_source_reset_inside_its_callback);
	suite_add_tcase(s, events);
	TCase *secrets = tcase_create("secret");
	tcase_add_test(secrets, test_wipe_secret_zeroes);
	tcase_add_test(secrets, test_secret_array_wiped_when_it_goes);
	tcase_add_test(secrets, test_secret_string_short_wiped_when_it_goes);
	tcase_add_test(secrets, test_secret_string_clear_wipes_whole_buffer);
	tcase_add_test(secrets, test_secret_string_move_leaves_source_empty);
	tcase_add_test(secrets, test_wipe_secret_bytes_releases);
	suite_add_tcase(s, secrets);
	TCase *exits = tcase_create("exit_status");
	tcase_add_test(exits, test_exit_status_names);
	tcase_add_test(exits, test_exit_status_unique);
	suite_add_tcase(s, exits);
	return s;
}

int main()
{
	return run_check_suites({ownership_suite()});
}
