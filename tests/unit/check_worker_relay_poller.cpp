// Unit tests for the worker's RelayPoller under real sessions (tests/unit/worker_bench.hpp): two
// sessions relay through the poller, then, when its wake-ups keep finding one socket ready, move to
// their own sd-event sources at their next event; after the probe interval they move back into the
// poller and out again.  Every query and answer arrives whole, in order, on the right session,
// whichever set watches the sockets; the policy's debug lines say that each move happened.
#include "tests/unit/worker_bench.hpp"

#include "common/log.hpp"
#include "worker/relay_poller.hpp"

#include <chrono>

using namespace myproxy;
using namespace myproxy::test;

namespace {

/* The poller is the epoll relay's: plain sessions take the io_uring when the worker has one. */
const std::string epoll_relay = "relay_io = 'epoll'\n";

constexpr const char *stepped_aside = "relay poller: 1.00 sockets ready per wake-up: sessions use their own sd-event sources";

int logged_in(WorkerBench &bench, FakeBackend &backend, ClientPair &client, std::uint64_t id)
{
	start_login(bench, client, id);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	const std::string ok = client.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "login: %s", describe_err(ok).c_str());
	return served;
}

/* One query and its answer, each tagged with @n so a reply on the wrong session would show. */
void round_trip(ClientPair &client, int served, unsigned n)
{
	const std::string sql = "SELECT " + std::to_string(n);
	ck_assert(write_all(client.client, framed(0, "\x03" + sql)));
	ck_assert(read_packet_payload(served) == "\x03" + sql);
	const std::string answer = std::string("\x00\x00\x00\x02\x00\x00\x00", 7) + std::to_string(n);
	ck_assert(write_all(served, framed(1, answer)));
	ck_assert(client.read_payload() == answer);
}

std::size_t count(const std::string &text, const std::string &needle)
{
	std::size_t found = 0;
	for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
		++found;
	return found;
}

/* Alternating round trips on both sessions: every wake-up of the worker finds one socket ready. */
void round_trips(ClientPair &a, int served_a, ClientPair &b, int served_b, unsigned from, unsigned count)
{
	for (unsigned n = from; n < from + count; ++n) {
		round_trip(a, served_a, n);
		round_trip(b, served_b, n + 100000);
	}
}

} // namespace

constexpr const char *moved_in = "relay: the session's sockets move into the worker's poller";

/* Short sessions (a page view's few queries) never move in: the 4 epoll_ctl of a move would not
 * pay.  Once a session has relayed RelayPoller::join_after_commands commands, it does. */
START_TEST(test_short_sessions_stay_out_of_the_poller)
{
	log_set_debug(true);
	FakeBackend backend;
	WorkerBench bench(connect_config(backend) + epoll_relay);
	ClientPair a, b;
	const int served_a = logged_in(bench, backend, a, 1);
	const int served_b = logged_in(bench, backend, b, 2);
	const unsigned few = RelayPoller::join_after_commands - 1;
	round_trips(a, served_a, b, served_b, 0, few);
	ck_assert_uint_eq(count(bench.log(), moved_in), 0);
	round_trips(a, served_a, b, served_b, 100, 2);
	ck_assert_uint_ge(count(bench.log(), moved_in), 1);
	close(a.client);
	a.client = -1;
	close(b.client);
	b.client = -1;
	close(served_a);
	close(served_b);
	log_set_debug(false);
}
END_TEST

START_TEST(test_sessions_move_out_of_the_poller_and_back)
{
	log_set_debug(true);
	FakeBackend backend;
	WorkerBench bench(connect_config(backend) + epoll_relay);
	ClientPair a, b;
	const int served_a = logged_in(bench, backend, a, 1);
	const int served_b = logged_in(bench, backend, b, 2);

	/* Two events per round trip, one per wake-up: one window steps aside.  (On a slow machine a
	 * probe may come and go in between: the counts only grow.) */
	round_trips(a, served_a, b, served_b, 0, RelayPoller::window_batches / 2);
	const std::size_t first = count(bench.log(), stepped_aside);
	ck_assert_uint_ge(first, 1);
	/* Now in their own sources (they moved at their next event). */
	round_trips(a, served_a, b, served_b, 1000, 5);
	const std::size_t before_probe = count(bench.log(), stepped_aside);

	/* After the probe interval the next event engages the poller again: the sessions move back in,
	 * and the probe's window of lone events sends them out again. */
	std::this_thread::sleep_for(std::chrono::microseconds(RelayPoller::probe_interval_usec + 100'000));
	round_trips(a, served_a, b, served_b, 2000,
		    (RelayPoller::probe_settle_batches + RelayPoller::window_batches) / 4 + 8);
	ck_assert_uint_gt(count(bench.log(), stepped_aside), before_probe);
	round_trips(a, served_a, b, served_b, 3000, 5);

	/* A session that ends while outside the poller closes cleanly; the other goes on. */
	close(a.client);
	a.client = -1;
	char byte;
	ck_assert_int_eq(read(served_a, &byte, 1), 0);
	close(served_a);
	round_trip(b, served_b, 4000);
	close(served_b);
	log_set_debug(false);
}
END_TEST

int main()
{
	Suite *suite = suite_create("worker_relay_poller");
	TCase *tc = tcase_create("moves");
	tcase_set_timeout(tc, 60 * timeout_multiplier());
	tcase_add_test(tc, test_short_sessions_stay_out_of_the_poller);
	tcase_add_test(tc, test_sessions_move_out_of_the_poller_and_back);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
