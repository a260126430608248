// Unit tests for worker/relay_poller on a real sd-event loop and real sockets: every socket ready at
// one wake-up is served by one dispatch; a watch removed or destroyed by a handler while its batch
// is dispatched gets no event; the mask changes what wakes a watch and a hang-up always does; the
// policy steps aside when wake-ups find one socket ready and comes back, after its probe interval,
// only when they find several, and never engages for a lone session.
#include "worker/relay_poller.hpp"

#include <systemd/sd-event.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>
// Last: <check.h> must follow the standard headers.
#include "tests/check_main.hpp"

using namespace myproxy;

namespace {

struct Pair {
	int ours = -1, peer = -1;
	Pair()
	{
		int fds[2];
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
		ours = fds[0];
		peer = fds[1];
	}
	~Pair()
	{
		close(ours);
		if (peer >= 0)
			close(peer);
	}
	void poke() const { ck_assert_int_eq(write(peer, "x", 1), 1); }
};

/* What a handler saw, and what it does to the others. */
struct Target {
	Pair pair;
	RelayWatch watch;
	int calls = 0;
	std::uint32_t revents = 0;
	RelayPoller *poller = nullptr;
	Target *remove_other = nullptr;
	std::unique_ptr<RelayWatch> *destroy_other = nullptr;
};

int on_target(sd_event_source *source, int fd, std::uint32_t revents, void *userdata)
{
	auto *target = static_cast<Target *>(userdata);
	ck_assert(source == nullptr);
	ck_assert_int_eq(fd, target->pair.ours);
	++target->calls;
	target->revents = revents;
	char drain[64];
	while (read(fd, drain, sizeof(drain)) > 0) {
	}
	if (target->remove_other != nullptr)
		target->poller->remove(target->remove_other->watch);
	if (target->destroy_other != nullptr)
		target->destroy_other->reset();
	return 0;
}

struct Loop {
	sd_event *event = nullptr;
	RelayPoller poller;
	std::uint64_t now = 1'000'000;

	Loop()
	{
		ck_assert_int_ge(sd_event_new(&event), 0);
		ck_assert(poller.open(event));
		poller.set_clock([](void *self) { return static_cast<Loop *>(self)->now; }, this);
		/* Two sessions in the relay: the policy has something to decide. */
		poller.session_started();
		poller.session_started();
	}
	~Loop() { sd_event_unref(event); }

	void add(Target &target, std::uint32_t events = EPOLLIN)
	{
		target.poller = &poller;
		ck_assert(poller.add(target.watch, target.pair.ours, events, on_target, &target));
	}
	/* One loop iteration (sd_event_run dispatches one source: here, the poller). */
	int run_once(std::uint64_t timeout_usec = 0) { return sd_event_run(event, timeout_usec); }
};

} // namespace

START_TEST(test_one_dispatch_serves_every_ready_socket)
{
	Loop loop;
	std::array<Target, 3> targets;
	for (Target &target : targets)
		loop.add(target);
	for (Target &target : targets)
		target.pair.poke();
	ck_assert_int_gt(loop.run_once(1'000'000), 0);
	ck_assert_uint_eq(loop.poller.batches(), 1);
	ck_assert_uint_eq(loop.poller.events_dispatched(), 3);
	for (Target &target : targets) {
		ck_assert_int_eq(target.calls, 1);
		ck_assert(target.revents & EPOLLIN);
	}
	/* Drained: nothing more to dispatch. */
	ck_assert_int_eq(loop.run_once(), 0);
	ck_assert_uint_eq(loop.poller.batches(), 1);
}
END_TEST

/* Whichever of the two runs first removes the other: the other's event in the same batch is dropped. */
START_TEST(test_a_watch_removed_during_its_batch_gets_no_event)
{
	Loop loop;
	Target a, b;
	loop.add(a);
	loop.add(b);
	a.remove_other = &b;
	b.remove_other = &a;
	a.pair.poke();
	b.pair.poke();
	ck_assert_int_gt(loop.run_once(1'000'000), 0);
	ck_assert_int_eq(a.calls + b.calls, 1);
	Target &removed = a.calls == 0 ? a : b;
	ck_assert(!removed.watch.active());
	/* Still readable, but no longer watched. */
	ck_assert_int_eq(loop.run_once(), 0);
	ck_assert_int_eq(removed.calls, 0);
}
END_TEST

/* The same when the handler destroys the other's watch (a session closed and freed mid-batch). */
START_TEST(test_a_watch_destroyed_during_its_batch_gets_no_event)
{
	Loop loop;
	Target a;
	Pair other_pair;
	int other_calls = 0;
	auto other = std::make_unique<RelayWatch>();
	loop.add(a);
	ck_assert(loop.poller.add(
		*other, other_pair.ours, EPOLLIN,
		[](sd_event_source *, int, std::uint32_t, void *calls) {
			++*static_cast<int *>(calls);
			return 0;
		},
		&other_calls));
	a.destroy_other = &other;
	a.pair.poke();
	other_pair.poke();
	ck_assert_int_gt(loop.run_once(1'000'000), 0);
	/* In one batch: if the other came first it ran (and a destroyed nothing yet). */
	ck_assert_int_eq(a.calls, 1);
	ck_assert(other == nullptr);
	ck_assert_int_le(other_calls, 1);
	const int before = other_calls;
	ck_assert_int_eq(loop.run_once(), 0);
	ck_assert_int_eq(other_calls, before);
}
END_TEST

START_TEST(test_the_mask_decides_and_a_hang_up_always_wakes)
{
	Loop loop;
	Target target;
	loop.add(target, 0);
	/* Writable at once, but not asked for. */
	ck_assert_int_eq(loop.run_once(), 0);
	ck_assert(loop.poller.modify(target.watch, EPOLLOUT));
	ck_assert_int_gt(loop.run_once(), 0);
	ck_assert_int_eq(target.calls, 1);
	ck_assert(target.revents & EPOLLOUT);
	ck_assert(loop.poller.modify(target.watch, 0));
	ck_assert_int_eq(loop.run_once(), 0);
	close(target.pair.peer);
	target.pair.peer = -1;
	ck_assert_int_gt(loop.run_once(), 0);
	ck_assert_int_eq(target.calls, 2);
	ck_assert(target.revents & EPOLLHUP);
	loop.poller.remove(target.watch);
	ck_assert(!target.watch.active());
	ck_assert(!loop.poller.modify(target.watch, EPOLLIN));
}
END_TEST

namespace {

/* @count batches of @ready sockets each. */
void batches(Loop &loop, std::vector<Target> &targets, std::uint32_t count, std::size_t ready)
{
	for (std::uint32_t i = 0; i < count; ++i) {
		for (std::size_t t = 0; t < ready; ++t)
			targets[t].pair.poke();
		ck_assert_int_gt(loop.run_once(1'000'000), 0);
	}
}

} // namespace

START_TEST(test_the_policy_steps_aside_for_lone_events_and_probes_again)
{
	Loop loop;
	std::vector<Target> targets(3);
	for (Target &target : targets)
		loop.add(target);
	ck_assert(loop.poller.engaged());
	/* A window of wake-ups with one socket ready each: not worth a second epoll_wait. */
	batches(loop, targets, RelayPoller::window_batches - 1, 1);
	ck_assert(loop.poller.engaged());
	batches(loop, targets, 1, 1);
	ck_assert(!loop.poller.engaged());
	loop.now += RelayPoller::probe_interval_usec - 1;
	ck_assert(!loop.poller.engaged());
	/* The probe: three sockets per wake-up (after the settling batches) keep it. */
	loop.now += 1;
	ck_assert(loop.poller.engaged());
	batches(loop, targets, RelayPoller::probe_settle_batches + RelayPoller::window_batches, 3);
	ck_assert(loop.poller.engaged());
	/* Two per wake-up is the break-even: below the threshold, so it steps aside again. */
	batches(loop, targets, RelayPoller::window_batches, 2);
	ck_assert(!loop.poller.engaged());
	/* A probe that finds lone events again ends the same way. */
	loop.now += RelayPoller::probe_interval_usec;
	ck_assert(loop.poller.engaged());
	batches(loop, targets, RelayPoller::probe_settle_batches + RelayPoller::window_batches, 1);
	ck_assert(!loop.poller.engaged());
}
END_TEST

/* One session's two sockets can never make a wake-up worth it: aside from the start, no probes. */
START_TEST(test_a_lone_session_never_engages_it)
{
	Loop loop;
	loop.poller.session_ended();
	ck_assert(!loop.poller.engaged());
	loop.now += 10 * RelayPoller::probe_interval_usec;
	ck_assert(!loop.poller.engaged());
	loop.poller.session_started();
	ck_assert(loop.poller.engaged());
}
END_TEST

START_TEST(test_not_adaptive_stays_engaged)
{
	Loop loop;
	std::vector<Target> targets(1);
	loop.add(targets[0]);
	loop.poller.set_adaptive(false);
	batches(loop, targets, 2 * RelayPoller::window_batches, 1);
	ck_assert(loop.poller.engaged());
}
END_TEST

int main()
{
	Suite *suite = suite_create("relay_poller");
	TCase *tc = tcase_create("poller");
	tcase_add_test(tc, test_one_dispatch_serves_every_ready_socket);
	tcase_add_test(tc, test_a_watch_removed_during_its_batch_gets_no_event);
	tcase_add_test(tc, test_a_watch_destroyed_during_its_batch_gets_no_event);
	tcase_add_test(tc, test_the_mask_decides_and_a_hang_up_always_wakes);
	tcase_add_test(tc, test_the_policy_steps_aside_for_lone_events_and_probes_again);
	tcase_add_test(tc, test_a_lone_session_never_engages_it);
	tcase_add_test(tc, test_not_adaptive_stays_engaged);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
