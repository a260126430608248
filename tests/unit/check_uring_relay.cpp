// Unit tests for the worker's relay ring (worker/uring_ring): its restrictions hold (an opcode it
// was not given, a raw descriptor, a register operation it was not given: -EACCES from the
// kernel); bytes go both ways through it under sd-event, a socket leaves it cleanly (the peer sees
// EOF once the session closed it), a send stuck at the end is cancelled; and a real Worker's plain
// sessions relay through it (its debug line), with queries and 100 KiB answers arriving whole.
// Needs io_uring in the kernel.
#include "tests/unit/worker_bench.hpp"

#include "common/log.hpp"
#include "worker/uring_ring.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <systemd/sd-event.h>

#include <cstring>

#include "tests/unit/syscall_faults.hpp" // last: its check.h defines a fail() macro

using namespace myproxy;
using namespace myproxy::test;

namespace {

/* One SQE through the ring, its result. */
int submit_one(io_uring &ring, void (*prepare)(io_uring_sqe *sqe, void *context), void *context)
{
	io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	ck_assert_ptr_nonnull(sqe);
	prepare(sqe, context);
	ck_assert_int_eq(io_uring_submit(&ring), 1);
	io_uring_cqe *cqe = nullptr;
	ck_assert_int_eq(io_uring_wait_cqe(&ring, &cqe), 0);
	const int result = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	return result;
}

struct Events {
	std::uint32_t seen[2] = {0, 0};
};

int on_client(sd_event_source *, int, std::uint32_t revents, void *userdata)
{
	static_cast<Events *>(userdata)->seen[0] |= revents;
	return 0;
}

int on_backend(sd_event_source *, int, std::uint32_t revents, void *userdata)
{
	static_cast<Events *>(userdata)->seen[1] |= revents;
	return 0;
}

void run_until(sd_event *loop, const std::uint32_t &seen, std::uint32_t wanted)
{
	for (int i = 0; i < 1000 && (seen & wanted) == 0; ++i)
		ck_assert_int_ge(sd_event_run(loop, 100'000), 0);
	ck_assert_msg((seen & wanted) != 0, "no event 0x%x", unsigned(wanted));
}

} // namespace

START_TEST(test_restrictions_refuse_what_the_relay_does_not_need)
{
	auto ring = UringRing::create();
	ck_assert_msg(ring != nullptr, "io_uring: %s", std::strerror(errno));
	io_uring &raw = ring->raw();

	/* An opcode outside the list, even on a fixed file. */
	ck_assert_int_eq(submit_one(raw,
				    [](io_uring_sqe *sqe, void *) {
					    io_uring_prep_openat(sqe, AT_FDCWD, "/etc/hostname", O_RDONLY, 0);
					    sqe->flags |= IOSQE_FIXED_FILE;
				    },
				    nullptr),
			 -EACCES);
	/* An allowed opcode on a raw descriptor (IOSQE_FIXED_FILE is required). */
	int pair[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
	ck_assert_int_eq(submit_one(raw,
				    [](io_uring_sqe *sqe, void *context) {
					    io_uring_prep_send(sqe, *static_cast<int *>(context), "x", 1, 0);
				    },
				    &pair[0]),
			 -EACCES);
	/* The allowed opcode on an empty fixed slot gets past the restrictions to the file lookup. */
	ck_assert_int_eq(submit_one(raw,
				    [](io_uring_sqe *sqe, void *) {
					    io_uring_prep_send(sqe, 5, "x", 1, 0);
					    sqe->flags |= IOSQE_FIXED_FILE;
				    },
				    nullptr),
			 -EBADF);
	/* Register operations beyond the file table: refused. */
	io_uring_probe probe[2]{};
	ck_assert_int_eq(io_uring_register(unsigned(raw.ring_fd), IORING_REGISTER_PROBE, probe, 1), -EACCES);
	int eventfd_number = pair[1];
	ck_assert_int_eq(io_uring_register(unsigned(raw.ring_fd), IORING_REGISTER_EVENTFD, &eventfd_number, 1), -EACCES);
	io_uring_restriction more{};
	more.opcode = IORING_RESTRICTION_SQE_OP;
	more.sqe_op = IORING_OP_OPENAT;
	ck_assert_int_lt(io_uring_register(unsigned(raw.ring_fd), IORING_REGISTER_RESTRICTIONS, &more, 1), 0);
	close(pair[0]);
	close(pair[1]);
}
END_TEST

START_TEST(test_bytes_both_ways_and_a_clean_leave)
{
	auto ring = UringRing::create();
	ck_assert_msg(ring != nullptr, "io_uring: %s", std::strerror(errno));
	sd_event *loop = nullptr;
	ck_assert_int_ge(sd_event_new(&loop), 0);
	ck_assert(ring->attach(loop));
	int client[2], backend[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, client), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, backend), 0);
	Events events;
	const int fds[2] = {client[1], backend[1]};
	const RelayWatch::Handler handlers[2] = {on_client, on_backend};
	const int slot = ring->join(fds, handlers, &events);
	ck_assert_int_ge(slot, 0);
	ck_assert_uint_eq(ring->sessions_joined(), 1);

	/* 100 KiB from the client side: more than one provided buffer, read in pieces. */
	const std::string big = std::string(100 * 1024, 'q');
	ck_assert(write_all(client[0], big));
	std::string received;
	while (received.size() < big.size()) {
		ring->want_input(slot);
		events.seen[0] = 0;
		run_until(loop, events.seen[0], EPOLLIN);
		char chunk[7000];
		ssize_t n;
		while ((n = ring->read(slot, chunk, sizeof(chunk))) > 0)
			received.append(chunk, std::size_t(n));
		ck_assert(n < 0 && errno == EAGAIN);
	}
	ck_assert(received == big);

	/* A write goes out on the next submission; a second one waits for the first one's completion. */
	ck_assert_int_eq(ring->write(slot + 1, "hello", 5), 5);
	ck_assert_int_eq(ring->write(slot + 1, "world", 5), -1);
	ck_assert_int_eq(errno, EAGAIN);
	events.seen[1] = 0;
	run_until(loop, events.seen[1], EPOLLOUT);
	ck_assert_int_eq(ring->write(slot + 1, "world", 5), 5);
	ck_assert_int_ge(sd_event_run(loop, 100'000), 0);
	char answer[10];
	ck_assert_int_eq(recv(backend[0], answer, 10, MSG_WAITALL), 10);
	ck_assert(std::memcmp(answer, "helloworld", 10) == 0);

	/* A send the peer never takes stays in flight; drain() at the end cancels it. */
	{
		int stuck[2];
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, stuck), 0);
		const int stuck_fds[2] = {stuck[1], stuck[1]};
		const int stuck_slot = ring->join(stuck_fds, handlers, &events);
		ck_assert_int_ge(stuck_slot, 0);
		const std::string block(32 * 1024, 'b');
		for (int i = 0; i < 64; ++i) {
			(void)ring->write(stuck_slot, block.data(), block.size());
			ck_assert_int_ge(sd_event_run(loop, 20'000), 0);
		}
		ck_assert_uint_ge(ring->operations_in_flight(), 1);
		ring->leave(stuck_slot);
		close(stuck[1]);
		ring->drain();
		ck_assert_uint_eq(ring->operations_in_flight(), 0);
		close(stuck[0]);
	}

	/* The peer's close: EOF. */
	ring->want_input(slot + 1);
	close(backend[0]);
	events.seen[1] = 0;
	run_until(loop, events.seen[1], EPOLLIN);
	ck_assert_int_eq(ring->read(slot + 1, answer, sizeof(answer)), 0);

	/* Leaving with a receive armed: once the session closes its socket, the client sees EOF (the
	 * ring let go of it). */
	ring->want_input(slot);
	ck_assert_int_ge(sd_event_run(loop, 0), 0);
	ring->leave(slot);
	close(client[1]);
	close(backend[1]);
	pollfd p{client[0], POLLIN, 0};
	ck_assert_int_eq(poll(&p, 1, 10'000), 1);
	ck_assert_int_eq(read(client[0], answer, sizeof(answer)), 0);
	close(client[0]);
	ring.reset();
	sd_event_unref(loop);
}
END_TEST

START_TEST(test_worker_sessions_relay_through_the_ring)
{
	log_set_debug(true);
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ck_assert(contains(bench.log(), "relay: io_uring for plain sessions"));
	ClientPair a;
	start_login(bench, a, 1);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	const std::string ok = a.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "login: %s", describe_err(ok).c_str());
	for (unsigned n = 0; n < 20; ++n) {
		const std::string sql = "SELECT " + std::to_string(n);
		ck_assert(write_all(a.client, framed(0, "\x03" + sql)));
		ck_assert(read_packet_payload(served) == "\x03" + sql);
		/* Every other answer is larger than one provided buffer and than the relay's window. */
		const std::string answer = std::string("\x00\x00\x00\x02\x00\x00\x00", 7) +
					   std::string(n % 2 ? 100 * 1024 : 3, char('a' + n));
		ck_assert(write_all(served, framed(1, answer)));
		ck_assert(a.read_payload() == answer);
	}
	ck_assert(contains(bench.log(), "relay: the session relays through the worker's io_uring"));
	close(a.client);
	a.client = -1;
	char byte;
	ck_assert_int_eq(read(served, &byte, 1), 0);
	close(served);
	log_set_debug(false);
}
END_TEST

/* A kernel or a container that refuses io_uring (kernel.io_uring_disabled, a runtime's seccomp
 * profile): the worker says so in one line and relays every session through epoll.  The control
 * run, unfiltered, gets its ring. */
START_TEST(test_refused_io_uring_falls_back_to_epoll)
{
	const auto prepare_and_take = [] {
		prepare_relay_ring(RelayIo::automatic);
		return std::string(take_prepared_relay_ring() ? "ring" : "epoll");
	};
	const FaultRun control = run_with_faults(no_faults(), prepare_and_take);
	ck_assert_msg(control.result == "ring", "unfiltered: %s\n%s", control.result.c_str(), control.log.c_str());
	for (const int errnum : {ENOSYS, EPERM}) {
		const FaultRun run = run_with_faults(
			[errnum](scmp_filter_ctx ctx) { return fail_call(ctx, SCMP_SYS(io_uring_setup), errnum); },
			prepare_and_take);
		ck_assert_msg(run.result == "epoll", "io_uring_setup failing with %s: %s", strerrorname_np(errnum),
			      run.result.c_str());
		ck_assert_msg(run.logged("relay: io_uring_setup(); plain sessions relay through epoll: ") &&
				      run.logged(strerrorname_np(errnum)),
			      "log:\n%s", run.log.c_str());
	}
}
END_TEST

int main()
{
	Suite *suite = suite_create("uring_relay");
	TCase *tc = tcase_create("uring_relay");
	tcase_set_timeout(tc, 60 * timeout_multiplier());
	tcase_add_test(tc, test_restrictions_refuse_what_the_relay_does_not_need);
	tcase_add_test(tc, test_bytes_both_ways_and_a_clean_leave);
	tcase_add_test(tc, test_worker_sessions_relay_through_the_ring);
	tcase_add_test(tc, test_refused_io_uring_falls_back_to_epoll);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
