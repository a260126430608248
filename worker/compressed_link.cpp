// One compressed link of the relay; see compressed_link.hpp.  A window is taken from the pool only
// while bytes wait in it, so an idle compressed session holds no windows (only its zlib states).
#include "compressed_link.hpp"

#include "worker/relay_buffer_pool.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

namespace myproxy {

static constexpr std::size_t window_size = RelayBufferPool::buffer_size;
static_assert(CompressedFraming::frame_wire_max <= window_size, "a frame of ours must fit the out window");

CompressedLink::CompressedLink(RelayBufferPool &buffer_pool, CompressedRole role) noexcept
	: pool(buffer_pool), framing(role)
{
}

CompressedLink::~CompressedLink() noexcept
{
	pool.put(std::move(in_window));
	pool.put(std::move(out_window));
}

bool CompressedLink::take_window(std::unique_ptr<std::uint8_t[]> &window) noexcept
{
	if (window)
		return true;
	try {
		window = pool.get();
	} catch (const std::bad_alloc &) {
		return false;
	}
	return true;
}

void CompressedLink::release_empty_windows() noexcept
{
	if (in_window && in_start == in_end) {
		pool.put(std::move(in_window));
		in_start = in_end = 0;
	}
	if (out_window && out_start == out_end) {
		pool.put(std::move(out_window));
		out_start = out_end = 0;
	}
}

bool CompressedLink::preload(ByteSpan wire) noexcept
{
	if (wire.empty())
		return true;
	if (wire.size() > window_size - in_end || !take_window(in_window))
		return false;
	std::memcpy(in_window.get() + in_end, wire.data(), wire.size());
	in_end += wire.size();
	return true;
}

/* Inflates what the in window holds (and what zlib still holds) into @plain: bytes produced, or
 * -1 with EPROTO on a fault. */
ssize_t CompressedLink::inflate_buffered(std::uint8_t *plain, std::size_t size) noexcept
{
	const ByteSpan wire = in_window ? ByteSpan(in_window.get() + in_start, in_end - in_start) : ByteSpan();
	const CompressedFraming::Step step = framing.decode(wire, std::span<std::uint8_t>(plain, size));
	in_start += step.consumed;
	if (step.fault != CompressedFault::none) {
		fault_ = step.fault;
		errno = EPROTO;
		return -1;
	}
	release_empty_windows();
	return ssize_t(step.produced);
}

ssize_t CompressedLink::read(StreamSocket &stream, std::uint8_t *plain, std::size_t size) noexcept
{
	if (fault_ != CompressedFault::none) {
		errno = EPROTO;
		return -1;
	}
	if (input_buffered()) {
		const ssize_t n = inflate_buffered(plain, size);
		if (n != 0)
			return n;
	}
	if (!take_window(in_window)) {
		errno = ENOMEM;
		return -1;
	}
	if (in_start > 0) {
		std::memmove(in_window.get(), in_window.get() + in_start, in_end - in_start);
		in_end -= in_start;
		in_start = 0;
	}
	const ssize_t n = stream.read(in_window.get() + in_end, window_size - in_end);
	if (n <= 0) {
		const int error = errno;
		release_empty_windows();
		errno = error;
		return n;
	}
	in_end += std::size_t(n);
	const ssize_t produced = inflate_buffered(plain, size);
	if (produced == 0) {
		errno = EAGAIN;
		return -1;
	}
	return produced;
}

/* A short write means the socket is full: like the relay, wait for EPOLLOUT then. */
bool CompressedLink::send_pending(StreamSocket &stream) noexcept
{
	const std::size_t waiting = out_end - out_start;
	const ssize_t n = stream.write(out_window.get() + out_start, waiting);
	if (n < 0)
		return false;
	out_start += std::size_t(n);
	if (std::size_t(n) < waiting) {
		errno = EAGAIN;
		return false;
	}
	out_start = out_end = 0;
	return true;
}

ssize_t CompressedLink::write(StreamSocket &stream, const std::uint8_t *plain, std::size_t size) noexcept
{
	std::size_t taken = 0;
	while (true) {
		if (output_pending() && !send_pending(stream)) {
			if (errno != EAGAIN && errno != EINTR)
				return -1;
			break;
		}
		if (taken == size)
			break;
		if (!take_window(out_window)) {
			errno = ENOMEM;
			return -1;
		}
		if (plain_prefix > 0) {
			const std::size_t n = std::min({plain_prefix, size - taken, window_size});
			std::memcpy(out_window.get(), plain + taken, n);
			out_end = n;
			plain_prefix -= n;
			taken += n;
			continue;
		}
		const CompressedFraming::Step step = framing.encode(
			ByteSpan(plain + taken, size - taken), std::span<std::uint8_t>(out_window.get(), window_size));
		if (step.consumed == 0)
			break;
		out_end = step.produced;
		taken += step.consumed;
	}
	release_empty_windows();
	return ssize_t(taken);
}

} // namespace myproxy
