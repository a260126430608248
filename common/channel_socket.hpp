// The master/worker channel transport: one SOCK_SEQPACKET record per message, fds as SCM_RIGHTS.
// It moves bytes and fds and knows nothing of message types (channel_protocol.hpp does) nor of
// any event loop (the master and worker loops call it when the socket is ready).  Received fds
// are owned by UniqueFd from the moment recvmsg() returns, so no path leaks one; truncated
// control data or too many fds is an error, never silently accepted.
#pragma once

#include "byte_reader.hpp"
#include "channel_protocol.hpp"
#include "unique_fd.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace myproxy {

/* How a send or receive ended. */
enum class ChannelIoStatus {
	/* Done: the whole message went, or one arrived. */
	ok,
	/* EAGAIN: nothing happened; retry when the socket is writable (or readable). */
	would_block,
	/* The other side is gone (EOF on receive; EPIPE/ECONNRESET on send). */
	peer_closed,
	/* Anything else; see error_number and what. */
	error,
};

struct ChannelSendResult {
	ChannelIoStatus status = ChannelIoStatus::ok;
	/* errno for error (and peer_closed), 0 otherwise. */
	int error_number = 0;
};

/* Sends @bytes as one record with @fds (at most channel_max_fds) attached as SCM_RIGHTS.  Never
   raises SIGPIPE.  The caller still owns @fds and closes them once this returned ok. */
ChannelSendResult send_channel_message(int sock, ByteSpan bytes, std::span<const int> fds) noexcept;

struct ReceivedChannelMessage {
	ChannelIoStatus status = ChannelIoStatus::ok;
	/* errno for error when a call failed, else 0. */
	int error_number = 0;
	/* For error: a static text naming the problem, for the log line. */
	const char *what = nullptr;
	/* For ok: the message occupies the first @size bytes of the caller's buffer. */
	std::size_t size = 0;
	/* For ok: the fds that came with it, in order (fds[0..fd_count)).  On every other status no
	   fd is kept: whatever arrived has been closed already. */
	std::array<UniqueFd, channel_max_fds> fds;
	std::size_t fd_count = 0;
	/* For error: MSG_CTRUNC cut the fds off an otherwise whole record, which is in the first
	   @size bytes of the buffer (a NEW_CLIENT to a worker at its fd limit: that client is lost,
	   the channel is fine). */
	bool control_truncated = false;
};

/* Receives one record into @buffer (channel_max_message_size bytes is enough for every valid
   message).  Retries EINTR.  Errors: MSG_TRUNC (record larger than @buffer), MSG_CTRUNC
   (control data did not fit, e.g. too many fds), more than channel_max_fds fds.  Other control
   messages (SCM_CREDENTIALS) are ignored.  Received fds are close-on-exec. */
ReceivedChannelMessage receive_channel_message(int sock, std::span<std::uint8_t> buffer) noexcept;

/* A connected SOCK_SEQPACKET pair, non-blocking and close-on-exec: one for each worker.  Returns
   0, or the errno of socketpair(). */
int create_channel_pair(UniqueFd &master_end, UniqueFd &worker_end) noexcept;

} // namespace myproxy
