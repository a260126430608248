// One compressed link of the relay (worker side): the client's or the backend's stream after the
// login's OK, seen by the relay as plain bytes.  Wire bytes wait in one fixed window from the relay's
// pool until they are inflated into the relay's buffer; outgoing plain bytes are deflated one bounded
// frame at a time into another window (common/compressed_framing), so memory per link is bounded
// whatever the packet sizes.  Never reads a socket twice per call, never logs (fault() says why).
#pragma once

#include "common/compressed_framing.hpp"
#include "common/stream_socket.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>

namespace myproxy {

class RelayBufferPool;

class CompressedLink {
public:
	CompressedLink(RelayBufferPool &pool, CompressedRole role) noexcept;
	~CompressedLink() noexcept;

	CompressedLink(const CompressedLink &) = delete;
	CompressedLink &operator=(const CompressedLink &) = delete;

	/* The first @size bytes written go out as they are (the login's OK, which precedes
	 * compression). */
	void pass_plain(std::size_t size) noexcept { plain_prefix = size; }
	/* Wire bytes the login read behind its last packet; false when they do not fit. */
	[[nodiscard]] bool preload(ByteSpan wire) noexcept;

	/* Like StreamSocket::read(), in plain bytes: inflates what waits, else reads once from
	 * @stream.  -1 with errno EPROTO after a fault (see fault()), EAGAIN when nothing plain came. */
	ssize_t read(StreamSocket &stream, std::uint8_t *plain, std::size_t size) noexcept;
	/* Sends what waits, then frames and sends a prefix of @plain, until the socket blocks:
	 * plain bytes taken (maybe 0), or -1 with errno.  output_pending() afterwards: wait for
	 * EPOLLOUT. */
	ssize_t write(StreamSocket &stream, const std::uint8_t *plain, std::size_t size) noexcept;

	/* Framed bytes wait for the socket. */
	bool output_pending() const noexcept { return out_start < out_end; }
	/* Plain bytes can be had without reading the socket (epoll will not say so). */
	bool input_buffered() const noexcept { return in_start < in_end || framing.plain_pending(); }
	CompressedFault fault() const noexcept { return fault_; }

private:
	RelayBufferPool &pool;
	CompressedFraming framing;
	CompressedFault fault_ = CompressedFault::none;
	std::unique_ptr<std::uint8_t[]> in_window, out_window;
	std::size_t in_start = 0, in_end = 0, out_start = 0, out_end = 0;
	std::size_t plain_prefix = 0;

	bool take_window(std::unique_ptr<std::uint8_t[]> &window) noexcept;
	void release_empty_windows() noexcept;
	ssize_t inflate_buffered(std::uint8_t *plain, std::size_t size) noexcept;
	/* Sends the out window; false with errno when the socket failed or would block. */
	bool send_pending(StreamSocket &stream) noexcept;
};

} // namespace myproxy
