// The relay ring's I/O (see uring_ring.hpp; its set-up is uring_setup.cpp).  A completion becomes
// the epoll event the relay expects (EPOLLIN: read(); EPOLLOUT: write() again), delivered to the
// session's handler during dispatch(), which reaps and submits until neither has work left.  A
// channel outlives its session until its last operation completes: no completion ever names a
// freed object, and a slot is reused only once the kernel is done with it.
#include "worker/uring_ring.hpp"

#include "common/log.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

namespace myproxy {

namespace {

constexpr unsigned operation_bits = 2;

std::uint64_t user_data(int slot, std::uint64_t operation) noexcept
{
	return std::uint64_t(slot) << operation_bits | operation;
}

} // namespace

bool UringRing::attach(sd_event *event) noexcept
{
	loop = event;
	const int r = sd_event_add_io(event, source.out(), ring.ring_fd, EPOLLIN, on_ready, this);
	if (r < 0) {
		errno = -r;
		return false;
	}
	return true;
}

int UringRing::join(const int (&fds)[2], const RelayWatch::Handler (&handlers)[2], void *userdata) noexcept
{
	int pair;
	const bool fresh = free_pairs.empty();
	if (!fresh) {
		pair = free_pairs.back();
		free_pairs.pop_back();
	} else if (next_pair < file_slots / 2) {
		pair = int(next_pair);
		try {
			if (next_pair % pairs_per_chunk == 0) {
				chunks.push_back(std::make_unique<Pair[]>(pairs_per_chunk));
				/* Room to give every pair back without allocating. */
				free_pairs.reserve(chunks.size() * pairs_per_chunk);
			}
		} catch (const std::bad_alloc &) {
			errno = ENOMEM;
			return -1;
		}
		++next_pair;
	} else {
		errno = ENOSPC;
		return -1;
	}
	const int first = pair * 2;
	int registered[2] = {fds[0], fds[1]};
	const int r = io_uring_register_files_update(&ring, unsigned(first), registered, 2);
	if (r < 2) {
		int none_fds[2] = {-1, -1};
		if (r > 0)
			(void)io_uring_register_files_update(&ring, unsigned(first), none_fds, 2);
		free_pairs.push_back(pair);
		errno = r < 0 ? -r : EBADF;
		return -1;
	}
	Pair &entry = pair_of(first);
	entry = Pair{};
	entry.userdata = userdata;
	handlers_[0] = handlers[0];
	handlers_[1] = handlers[1];
	for (Channel &side : entry.side)
		side.attached = side.registered = true;
	++joined;
	return first;
}

void UringRing::leave(int first, bool at_once) noexcept
{
	for (int slot = first; slot < first + 2; ++slot) {
		Channel &channel = this->channel(slot);
		channel.attached = false;
		release_held(channel);
		if (channel.receive_armed) {
			io_uring_sqe *sqe = next_sqe();
			io_uring_prep_cancel64(sqe, user_data(slot, op_receive), 0);
			sqe->flags |= IOSQE_FIXED_FILE;
			io_uring_sqe_set_data64(sqe, user_data(slot, op_cancel));
			++channel.operations;
			++in_flight;
			queued();
		}
	}
	/* After the submission that carries what the session queued last (a final ERR): the sends
	 * resolve their fixed files when they are issued. */
	try {
		pending_unregister.push_back(first);
	} catch (const std::bad_alloc &) {
		submit();
		unregister(first);
	}
	if (!dispatching || at_once)
		submit();
}

void UringRing::unregister(int first) noexcept
{
	int no_fds[2] = {-1, -1};
	const int r = io_uring_register_files_update(&ring, unsigned(first), no_fds, 2);
	if (r < 0)
		log_errno(LogLevel::error, -r, nullptr, "io_uring_register(IORING_REGISTER_FILES_UPDATE, %d)", first);
	channel(first).registered = channel(first + 1).registered = false;
	free_if_done(first);
}

void UringRing::free_if_done(int slot) noexcept
{
	const int first = slot & ~1;
	if (channel(first).in_use() || channel(first + 1).in_use())
		return;
	/* Never allocates: join() reserved room for every pair. */
	free_pairs.push_back(first / 2);
}

ssize_t UringRing::read(int slot, void *buffer, std::size_t size) noexcept
{
	Channel &channel = this->channel(slot);
	if (channel.held_buffer != none) {
		const std::size_t n = std::min<std::size_t>(size, channel.held_length - channel.held_offset);
		std::memcpy(buffer,
			    buffer_memory + std::size_t(channel.held_buffer) * receive_buffer_size + channel.held_offset, n);
		channel.held_offset = std::uint16_t(channel.held_offset + n);
		if (channel.held_offset == channel.held_length)
			release_held(channel);
		return ssize_t(n);
	}
	if (channel.receive_error != 0) {
		errno = channel.receive_error;
		return -1;
	}
	if (channel.eof)
		return 0;
	errno = EAGAIN;
	return -1;
}

ssize_t UringRing::write(int slot, const void *buffer, std::size_t size) noexcept
{
	Channel &channel = this->channel(slot);
	if (channel.send_error != 0) {
		errno = channel.send_error;
		return -1;
	}
	if (channel.send_in_flight) {
		channel.writer_waiting = true;
		errno = EAGAIN;
		return -1;
	}
	if (channel.send_buffer == none && !take_send_buffer(channel)) {
		errno = ENOMEM;
		return -1;
	}
	const std::size_t n = std::min(size, RelayBufferPool::buffer_size);
	std::memcpy(send_bytes(channel), buffer, n);
	channel.send_offset = 0;
	channel.send_length = std::uint16_t(n);
	queue_send(slot);
	if (n < size)
		channel.writer_waiting = true;
	return ssize_t(n);
}

bool UringRing::take_send_buffer(Channel &c) noexcept
{
	try {
		if (free_sends.empty()) {
			if (send_table.size() >= none)
				return false;
			send_table.emplace_back();
			free_sends.reserve(send_table.capacity());
			free_sends.push_back(std::uint16_t(send_table.size() - 1));
		}
		const std::uint16_t index = free_sends.back();
		send_table[index] = send_buffers.get();
		free_sends.pop_back();
		c.send_buffer = index;
		return true;
	} catch (const std::bad_alloc &) {
		return false;
	}
}

void UringRing::put_send_buffer(Channel &c) noexcept
{
	if (c.send_buffer == none)
		return;
	send_buffers.put(std::move(send_table[c.send_buffer]));
	/* Never allocates: take_send_buffer() reserved room for every index. */
	free_sends.push_back(c.send_buffer);
	c.send_buffer = none;
	c.send_offset = c.send_length = 0;
}

void UringRing::want_input(int slot, std::size_t room) noexcept
{
	Channel &channel = this->channel(slot);
	channel.room = std::uint16_t(std::min<std::size_t>(room, receive_buffer_size));
	if (room > 0 && channel.attached && !channel.receive_armed && !channel.starved && channel.held_buffer == none &&
	    !channel.eof && channel.receive_error == 0)
		arm_receive(slot, room);
}

bool UringRing::input_ready(int slot) const noexcept
{
	const Channel &channel = this->channel(slot);
	return channel.held_buffer != none || channel.eof || channel.receive_error != 0;
}

/* --- submission ------------------------------------------------------------------------------ */

io_uring_sqe *UringRing::next_sqe() noexcept
{
	io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (sqe == nullptr) {
		/* The queue is full: what is in it goes now, in order. */
		(void)io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
	}
	return sqe;
}

void UringRing::queued() noexcept
{
	if (dispatching || loop == nullptr)
		return;
	if (const int r = deferred_submit.schedule(loop, on_deferred_submit, this); r < 0)
		log_errno(LogLevel::error, -r, nullptr, "relay ring: cannot schedule the submission");
}

void UringRing::submit() noexcept
{
	if (io_uring_sq_ready(&ring) > 0) {
		const int r = io_uring_submit(&ring);
		if (r < 0)
			log_errno(LogLevel::error, -r, nullptr, "io_uring_enter()");
	}
	while (!pending_unregister.empty()) {
		const int first = pending_unregister.back();
		pending_unregister.pop_back();
		unregister(first);
	}
}

void UringRing::arm_receive(int slot, std::size_t room) noexcept
{
	Channel &channel = this->channel(slot);
	io_uring_sqe *sqe = next_sqe();
	/* The kernel takes at most this much into the buffer it picks. */
	io_uring_prep_recv(sqe, slot, nullptr, unsigned(std::min<std::size_t>(room, receive_buffer_size)), 0);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	io_uring_sqe_set_data64(sqe, user_data(slot, op_receive));
	channel.receive_armed = true;
	++channel.operations;
	++in_flight;
	queued();
}

void UringRing::queue_send(int slot) noexcept
{
	Channel &channel = this->channel(slot);
	io_uring_sqe *sqe = next_sqe();
	/* MSG_WAITALL: the kernel sends it all (or fails), so one completion per write(). */
	io_uring_prep_send(sqe, slot, send_bytes(channel) + channel.send_offset,
			   channel.send_length - channel.send_offset, MSG_WAITALL | MSG_NOSIGNAL);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, user_data(slot, op_send));
	channel.send_in_flight = true;
	++channel.operations;
	++in_flight;
	queued();
}

void UringRing::recycle(int buffer_id) noexcept
{
	io_uring_buf_ring_add(buffer_ring, buffer_memory + std::size_t(buffer_id) * receive_buffer_size,
			      receive_buffer_size, std::uint16_t(buffer_id), io_uring_buf_ring_mask(receive_buffers), 0);
	io_uring_buf_ring_advance(buffer_ring, 1);
	/* A receive that found the buffers all taken tries again now that one is back. */
	while (!starved.empty()) {
		const int slot = starved.back();
		starved.pop_back();
		Channel &channel = this->channel(slot);
		channel.starved = false;
		if (channel.attached) {
			want_input(slot, channel.room);
			break;
		}
	}
}

void UringRing::release_held(Channel &channel) noexcept
{
	if (channel.held_buffer == none)
		return;
	const int buffer_id = channel.held_buffer;
	channel.held_buffer = none;
	channel.held_offset = channel.held_length = 0;
	recycle(buffer_id);
}

/* --- completion ------------------------------------------------------------------------------ */

void UringRing::complete(const io_uring_cqe &cqe) noexcept
{
	if (cqe.user_data == op_drain)
		return;
	--in_flight;
	const int slot = int(cqe.user_data >> operation_bits);
	switch (cqe.user_data & ((1u << operation_bits) - 1)) {
	case op_receive:
		receive_done(slot, cqe);
		break;
	case op_send:
		send_done(slot, cqe.res);
		break;
	default:
		break;
	}
	--channel(slot).operations;
	free_if_done(slot);
}

void UringRing::receive_done(int slot, const io_uring_cqe &cqe) noexcept
{
	Channel &channel = this->channel(slot);
	channel.receive_armed = false;
	const int buffer_id = (cqe.flags & IORING_CQE_F_BUFFER) != 0 ? int(cqe.flags >> IORING_CQE_BUFFER_SHIFT) : -1;
	if (!channel.attached || cqe.res <= 0) {
		if (buffer_id >= 0)
			recycle(buffer_id);
	}
	if (!channel.attached)
		return;
	if (cqe.res > 0 && buffer_id >= 0) {
		channel.held_buffer = std::uint16_t(buffer_id);
		channel.held_offset = 0;
		channel.held_length = std::uint16_t(cqe.res);
		notify(slot, EPOLLIN);
	} else if (cqe.res == 0) {
		channel.eof = true;
		notify(slot, EPOLLIN | EPOLLHUP);
	} else if (cqe.res == -ENOBUFS) {
		try {
			starved.push_back(slot);
			channel.starved = true;
		} catch (const std::bad_alloc &) {
			channel.receive_error = ENOMEM;
			notify(slot, EPOLLIN | EPOLLERR);
		}
	} else if (cqe.res == -EINTR || cqe.res == -EAGAIN || cqe.res == -ECANCELED) {
		want_input(slot, channel.room);
	} else {
		channel.receive_error = std::uint16_t(cqe.res < 0 ? -cqe.res : EIO);
		notify(slot, EPOLLIN | EPOLLERR);
	}
}

void UringRing::send_done(int slot, int result) noexcept
{
	Channel &channel = this->channel(slot);
	channel.send_in_flight = false;
	if (result > 0)
		channel.send_offset = std::uint16_t(channel.send_offset + result);
	if (result < 0 && result != -EINTR && result != -EAGAIN) {
		put_send_buffer(channel);
		channel.send_error = std::uint16_t(-result);
		if (channel.attached && channel.writer_waiting)
			notify(slot, EPOLLOUT | EPOLLERR);
		return;
	}
	if (channel.send_offset < channel.send_length && channel.registered) {
		queue_send(slot);
		return;
	}
	put_send_buffer(channel);
	if (channel.attached && channel.writer_waiting) {
		channel.writer_waiting = false;
		notify(slot, EPOLLOUT);
	}
}

void UringRing::notify(int slot, std::uint32_t events) noexcept
{
	if (!channel(slot).attached)
		return;
	/* The trampolines take no descriptor from here: -1. */
	(void)handlers_[slot & 1](nullptr, -1, events, pair_of(slot).userdata);
}

void UringRing::dispatch() noexcept
{
	dispatching = true;
	io_uring_cqe *ready[64];
	io_uring_cqe batch[64];
	while (true) {
		const unsigned n = io_uring_peek_batch_cqe(&ring, ready, 64);
		if (n > 0) {
			/* Copied out first: a handler may queue work and submit. */
			for (unsigned i = 0; i < n; ++i)
				batch[i] = *ready[i];
			io_uring_cq_advance(&ring, n);
			for (unsigned i = 0; i < n; ++i)
				complete(batch[i]);
			continue;
		}
		if (io_uring_sq_ready(&ring) == 0 && pending_unregister.empty())
			break;
		/* One io_uring_enter for every send and receive this wake-up produced. */
		submit();
	}
	dispatching = false;
}

void UringRing::drain() noexcept
{
	/* Left sessions out of the file table first: nothing of theirs is sent again. */
	submit();
	if (in_flight == 0)
		return;
	/* Sends of closed sessions that wait for room, receives being cancelled: all of them now. */
	io_uring_sqe *sqe = next_sqe();
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, op_drain);
	(void)io_uring_submit(&ring);
	dispatching = true;
	for (int round = 0; round < 50 && in_flight > 0; ++round) {
		__kernel_timespec wait{0, 100'000'000};
		io_uring_cqe *cqe = nullptr;
		if (io_uring_wait_cqe_timeout(&ring, &cqe, &wait) < 0)
			continue;
		const io_uring_cqe copy = *cqe;
		io_uring_cqe_seen(&ring, cqe);
		complete(copy);
	}
	dispatching = false;
	if (in_flight > 0)
		log_error("relay ring: %u operations still in flight at exit", in_flight);
}

int UringRing::on_ready(sd_event_source *, int, std::uint32_t, void *userdata)
{
	static_cast<UringRing *>(userdata)->dispatch();
	return 0;
}

int UringRing::on_deferred_submit(sd_event_source *, void *userdata)
{
	static_cast<UringRing *>(userdata)->dispatch();
	return 0;
}

} // namespace myproxy
