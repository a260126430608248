// The worker's io_uring for the relay of plain sessions (worker side; doc/performance.md).  Its fd
// is one sd-event io source: a wake-up reaps every completion, the sessions answer, and one
// io_uring_enter submits every send and re-armed receive the wake-up produced.  Receives take
// kernel-chosen buffers from a provided-buffer ring, so an idle session pins no buffer; a send
// copies into a buffer the ring owns until its completion, so no buffer handed to the kernel dies
// with a session.  Created before the seccomp filter (worker/uring_setup.cpp), which it bypasses:
// its restrictions are the filter for ring operations.  It never opens, closes or accepts anything.
#pragma once

#include "worker/relay_buffer_pool.hpp"
#include "worker/deferred_call.hpp"
#include "worker/relay_poller.hpp"

#include "common/config.hpp"
#include "common/event_source.hpp"

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace myproxy {

class UringRing {
public:
	/* Fixed-file slots (two per session); a session that finds none left stays on epoll. */
	static constexpr unsigned file_slots = 16384;
	/* Provided receive buffers, shared by every session of the worker. */
	static constexpr unsigned receive_buffers = 128;
	static constexpr unsigned receive_buffer_size = 16 * 1024;
	static constexpr unsigned queue_depth = 512;

	/* Sets the ring up as uring_setup.cpp says; nullptr with errno when the kernel refuses. */
	static std::unique_ptr<UringRing> create() noexcept;
	~UringRing() noexcept;
	UringRing(const UringRing &) = delete;
	UringRing &operator=(const UringRing &) = delete;

	/* Watches the ring's fd on @loop; false with errno set. */
	bool attach(sd_event *loop) noexcept;
	int fd() const noexcept { return ring.ring_fd; }
	/* The raw ring, for tests of its restrictions. */
	io_uring &raw() noexcept { return ring; }

	/* Registers @fds (a session's client and backend sockets) in two adjacent slots; the first
	 * slot, or -1 when none is left or the kernel refused (errno).  @handlers[i](@userdata) hears
	 * of socket i's completions as epoll events (EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR). */
	int join(const int (&fds)[2], const RelayWatch::Handler (&handlers)[2], void *userdata) noexcept;
	/* The session leaves (before it closes the sockets, or gives them back to sd-event):
	 * outstanding receives are cancelled, sends in flight finish on their own, bytes received
	 * and not read are dropped, and the slots are free once every operation has completed.
	 * @at_once: the sockets go back to sd-event, which reads them next: the cancels are
	 * submitted now, so no receive of the ring takes what comes after (else at the end of the
	 * dispatch, with the rest). */
	void leave(int first_slot, bool at_once = false) noexcept;

	/* Like recv()/send() with MSG_DONTWAIT on the socket in @slot (StreamSocket's contract):
	 * bytes moved, 0 on EOF, -1 with errno (EAGAIN: a completion will say when to try again). */
	ssize_t read(int slot, void *buffer, std::size_t size) noexcept;
	ssize_t write(int slot, const void *buffer, std::size_t size) noexcept;
	/* The relay wants input from @slot and can take @room bytes: arms a receive of at most that
	 * much, unless one is armed or bytes wait.  Sized so, a completion is read whole at once and
	 * its buffer goes back to the ring: sessions whose clients stop reading pin none. */
	void want_input(int slot, std::size_t room = receive_buffer_size) noexcept;
	/* Bytes, EOF or an error wait in @slot for read() (no completion will announce them again). */
	bool input_ready(int slot) const noexcept;

	/* At the end (the destructor, after every session left): every operation completes or is
	 * cancelled, so the kernel is done with the buffers before they go. */
	void drain() noexcept;
	unsigned operations_in_flight() const noexcept { return in_flight; }

	/* Sessions that took the ring since the worker started (tests, the log). */
	std::uint64_t sessions_joined() const noexcept { return joined; }

private:
	/* One socket's state, kept small: a worker holds two per session for as long as the session
	 * lasts, idle or not (the idle-connection bound, doc/performance.md). */
	static constexpr std::uint16_t none = 0xffff;
	struct Channel {
		/* receive side: the provided buffer holding unread bytes [held_offset, held_length) */
		std::uint16_t held_buffer = none;
		std::uint16_t held_offset = 0, held_length = 0;
		/* What the relay could take when it last asked (a receive re-armed by the ring). */
		std::uint16_t room = 0;
		std::uint16_t receive_error = 0;
		/* send side: the ring's copy of what the relay wrote (send_table), [send_offset,
		 * send_length) unsent */
		std::uint16_t send_buffer = none;
		std::uint16_t send_offset = 0, send_length = 0;
		std::uint16_t send_error = 0;
		/* Submitted and not completed: the slot is not free before they are. */
		std::uint8_t operations = 0;
		/* A session owns it; the socket is in the fixed-file table. */
		bool attached : 1 = false;
		bool registered : 1 = false;
		bool receive_armed : 1 = false;
		/* The provided buffers ran out: it waits for one to come back. */
		bool starved : 1 = false;
		bool eof : 1 = false;
		bool send_in_flight : 1 = false;
		bool writer_waiting : 1 = false;
		bool in_use() const noexcept { return attached || registered || operations > 0; }
	};
	/* A session's two sockets: client (slot 2n), backend (slot 2n + 1). */
	struct Pair {
		void *userdata = nullptr;
		Channel side[2];
	};
	static constexpr unsigned pairs_per_chunk = 256;
	/* user_data: slot << 2 | operation; op_drain (slot 0, operation 0) is the destructor's cancel. */
	enum Operation : std::uint64_t { op_drain = 0, op_receive = 1, op_send = 2, op_cancel = 3 };

	UringRing() noexcept = default;

	io_uring ring{};
	bool ring_ready = false;
	io_uring_buf_ring *buffer_ring = nullptr;
	std::uint8_t *buffer_memory = nullptr;
	/* In chunks: no reallocation moves them, and no growth reserves room for sessions to come. */
	std::vector<std::unique_ptr<Pair[]>> chunks;
	std::vector<int> free_pairs;
	/* Every session of a worker hears through the same two trampolines (client, backend). */
	RelayWatch::Handler handlers_[2] = {nullptr, nullptr};
	/* Send buffers in flight, by Channel::send_buffer. */
	std::vector<std::unique_ptr<std::uint8_t[]>> send_table;
	std::vector<std::uint16_t> free_sends;
	std::vector<int> starved;
	/* Pairs to take out of the file table after the next submission (leave()). */
	std::vector<int> pending_unregister;
	/* Buffers of sends in flight come back here; it keeps as many as the relay's own pool (64), so
	 * a worker with up to 64 sends in flight at once takes none from malloc per packet (with 16, a
	 * busy worker allocated and freed a 32 KiB buffer for every send beyond the sixteenth). */
	RelayBufferPool send_buffers;
	EventSource source;
	DeferredCall deferred_submit;
	sd_event *loop = nullptr;
	bool dispatching = false;
	/* Operations submitted or queued and not completed, over every slot. */
	unsigned in_flight = 0;
	std::uint64_t joined = 0;
	std::uint64_t next_pair = 0;

	Pair &pair_of(int slot) noexcept { return chunks[unsigned(slot / 2) / pairs_per_chunk][unsigned(slot / 2) % pairs_per_chunk]; }
	Channel &channel(int slot) noexcept { return pair_of(slot).side[slot & 1]; }
	const Channel &channel(int slot) const noexcept
	{
		return chunks[unsigned(slot / 2) / pairs_per_chunk][unsigned(slot / 2) % pairs_per_chunk].side[slot & 1];
	}
	std::uint8_t *send_bytes(const Channel &c) noexcept { return send_table[c.send_buffer].get(); }
	bool take_send_buffer(Channel &c) noexcept;
	void put_send_buffer(Channel &c) noexcept;
	io_uring_sqe *next_sqe() noexcept;
	void queued() noexcept;
	void submit() noexcept;
	void arm_receive(int slot, std::size_t room) noexcept;
	void queue_send(int slot) noexcept;
	void recycle(int buffer_id) noexcept;
	void unregister(int first_slot) noexcept;
	void free_if_done(int slot) noexcept;
	void release_held(Channel &channel) noexcept;
	void complete(const io_uring_cqe &cqe) noexcept;
	void receive_done(int slot, const io_uring_cqe &cqe) noexcept;
	void send_done(int slot, int result) noexcept;
	void operation_done(int slot) noexcept;
	void notify(int slot, std::uint32_t events) noexcept;
	void dispatch() noexcept;
	static int on_ready(sd_event_source *source, int fd, std::uint32_t revents, void *userdata);
	static int on_deferred_submit(sd_event_source *source, void *userdata);
};

/* Before the sandbox (worker/sandbox.cpp): with @mode automatic, creates the worker's ring and keeps
 * it for the worker's RelayPoller::open(); logs one line either way ("relay: io_uring ..." or why
 * plain sessions relay through epoll).  The only place a worker calls io_uring_setup. */
void prepare_relay_ring(RelayIo mode) noexcept;
std::unique_ptr<UringRing> take_prepared_relay_ring() noexcept;

} // namespace myproxy
