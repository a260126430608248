// Setting up the worker's relay ring (worker side; see uring_ring.hpp), before the seccomp filter is
// loaded: io_uring operations never pass through the filter, so the ring is created disabled,
// given what it needs (a sparse fixed-file table, the provided-buffer ring), restricted to the
// relay's opcodes on fixed files and to file-table updates, and only then enabled.  After the
// sandbox the worker can neither create another ring nor lift these restrictions.
#include "worker/uring_ring.hpp"

#include "common/log.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstdlib>
#include <new>

namespace myproxy {

namespace {

/* The filter for ring operations: what a compromised worker could do with its ring. */
io_uring_restriction restriction(std::uint16_t kind, std::uint8_t value) noexcept
{
	io_uring_restriction r{};
	r.opcode = kind;
	r.sqe_op = value; /* one union: register_op, sqe_op and sqe_flags share the byte */
	return r;
}

const io_uring_restriction *relay_restrictions(unsigned &count) noexcept
{
	static const io_uring_restriction table[] = {
		/* A receive into a provided buffer, a send from the ring's own buffer, a cancel at close. */
		restriction(IORING_RESTRICTION_SQE_OP, IORING_OP_RECV),
		restriction(IORING_RESTRICTION_SQE_OP, IORING_OP_SEND),
		restriction(IORING_RESTRICTION_SQE_OP, IORING_OP_ASYNC_CANCEL),
		/* Only descriptors a session registered: never a raw fd number. */
		restriction(IORING_RESTRICTION_SQE_FLAGS_ALLOWED, IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT),
		restriction(IORING_RESTRICTION_SQE_FLAGS_REQUIRED, IOSQE_FIXED_FILE),
		/* A session's two sockets in and out of the table; nothing else may be registered. */
		restriction(IORING_RESTRICTION_REGISTER_OP, IORING_REGISTER_FILES_UPDATE),
	};
	count = sizeof(table) / sizeof(table[0]);
	return table;
}

/* prepare_relay_ring() to RelayPoller::open(), in one process. */
std::unique_ptr<UringRing> prepared_ring;

} // namespace

void prepare_relay_ring(RelayIo mode) noexcept
{
	if (mode == RelayIo::epoll) {
		log_info("relay: epoll for every session (relay_io = \"epoll\")");
		return;
	}
	prepared_ring = UringRing::create();
	if (!prepared_ring)
		log_errno(LogLevel::info, errno, nullptr, "relay: io_uring_setup(); plain sessions relay through epoll");
	else
		log_info("relay: io_uring for plain sessions (restricted to recv, send and cancel on registered sockets)");
}

std::unique_ptr<UringRing> take_prepared_relay_ring() noexcept
{
	return std::move(prepared_ring);
}

std::unique_ptr<UringRing> UringRing::create() noexcept
{
	std::unique_ptr<UringRing> self(new (std::nothrow) UringRing);
	if (!self) {
		errno = ENOMEM;
		return nullptr;
	}
	io_uring_params params{};
	params.flags = IORING_SETUP_R_DISABLED;
	int r = io_uring_queue_init_params(queue_depth, &self->ring, &params);
	if (r < 0) {
		errno = -r;
		return nullptr;
	}
	self->ring_ready = true;
	r = io_uring_register_files_sparse(&self->ring, file_slots);

	const std::size_t ring_bytes = receive_buffers * sizeof(io_uring_buf);
	if (r >= 0) {
		void *memory = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
		if (memory == MAP_FAILED)
			r = -errno;
		else
			self->buffer_ring = static_cast<io_uring_buf_ring *>(memory);
	}
	if (r >= 0) {
		/* Pages the kernel never fills are never resident. */
		void *memory = mmap(nullptr, std::size_t(receive_buffers) * receive_buffer_size, PROT_READ | PROT_WRITE,
				    MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
		if (memory == MAP_FAILED)
			r = -errno;
		else
			self->buffer_memory = static_cast<std::uint8_t *>(memory);
	}
	if (r >= 0) {
		io_uring_buf_reg registration{};
		registration.ring_addr = reinterpret_cast<std::uintptr_t>(self->buffer_ring);
		registration.ring_entries = receive_buffers;
		registration.bgid = 0;
		r = io_uring_register_buf_ring(&self->ring, &registration, 0);
	}
	if (r >= 0) {
		io_uring_buf_ring_init(self->buffer_ring);
		for (unsigned i = 0; i < receive_buffers; ++i)
			io_uring_buf_ring_add(self->buffer_ring, self->buffer_memory + std::size_t(i) * receive_buffer_size,
					      receive_buffer_size, std::uint16_t(i), io_uring_buf_ring_mask(receive_buffers),
					      int(i));
		io_uring_buf_ring_advance(self->buffer_ring, int(receive_buffers));
		unsigned count = 0;
		const io_uring_restriction *table = relay_restrictions(count);
		/* Debian's liburing 2.3 does not export io_uring_register_restrictions() and
		 * io_uring_enable_rings(): the raw register call it does export does the same. */
		r = io_uring_register(unsigned(self->ring.ring_fd), IORING_REGISTER_RESTRICTIONS, table, count);
	}
	if (r >= 0)
		r = io_uring_register(unsigned(self->ring.ring_fd), IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
	if (r < 0) {
		errno = -r;
		return nullptr;
	}
	return self;
}

UringRing::~UringRing() noexcept
{
	source.reset();
	deferred_submit.reset();
	if (ring_ready) {
		/* The kernel must be done with the send buffers and the receive buffers first. */
		drain();
		io_uring_queue_exit(&ring);
	}
	/* After the ring: the kernel no longer writes into these. */
	if (buffer_memory != nullptr)
		munmap(buffer_memory, std::size_t(receive_buffers) * receive_buffer_size);
	if (buffer_ring != nullptr)
		munmap(buffer_ring, receive_buffers * sizeof(io_uring_buf));
}

} // namespace myproxy
