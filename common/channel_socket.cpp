// The master/worker channel transport: sendmsg()/recvmsg() with SCM_RIGHTS on a SOCK_SEQPACKET
// socket.  Every fd the kernel installs is put into a UniqueFd before anything is checked, so an
// error on any path closes it.  Must never block on its own (the loops own readiness), never
// interpret message bytes, and never keep an fd of a message it reports as failed.
#include "channel_socket.hpp"

#include <cerrno>
#include <cstring>

#include <sys/socket.h>
#include <sys/uio.h>

/* Linux 6.5 may attach a pidfd (SO_PASSPIDFD); it is an fd too and must be closed. */
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

namespace myproxy {

namespace {

bool is_would_block(int error) noexcept
{
	return error == EAGAIN || error == EWOULDBLOCK;
}

/* Takes ownership of the fds in one SCM_RIGHTS/SCM_PIDFD control message: the first ones fill
   @result, any beyond channel_max_fds are closed at once.  Returns false if there were too many. */
bool adopt_fds(const cmsghdr &control, ReceivedChannelMessage &result) noexcept
{
	if (control.cmsg_len < CMSG_LEN(0))
		return true;
	const std::size_t count = (control.cmsg_len - CMSG_LEN(0)) / sizeof(int);
	const unsigned char *data = CMSG_DATA(&control);
	bool fits = true;
	for (std::size_t i = 0; i < count; ++i) {
		int fd;
		std::memcpy(&fd, data + i * sizeof(int), sizeof(fd));
		UniqueFd owned(fd);
		if (result.fd_count < result.fds.size())
			result.fds[result.fd_count++] = std::move(owned);
		else
			fits = false;
	}
	return fits;
}

ReceivedChannelMessage failure(ReceivedChannelMessage &&result, ChannelIoStatus status,
			       int error_number, const char *what) noexcept
{
	for (auto &fd : result.fds)
		fd.reset();
	result.fd_count = 0;
	result.size = 0;
	result.status = status;
	result.error_number = error_number;
	result.what = what;
	return std::move(result);
}

} // namespace

ChannelSendResult send_channel_message(int sock, ByteSpan bytes, std::span<const int> fds) noexcept
{
	if (fds.size() > channel_max_fds)
		return {ChannelIoStatus::error, EINVAL};

	iovec iov{const_cast<std::uint8_t *>(bytes.data()), bytes.size()};
	msghdr msg{};
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;

	alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int) * channel_max_fds)] = {};
	if (!fds.empty()) {
		msg.msg_control = control;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
		cmsghdr *header = CMSG_FIRSTHDR(&msg);
		header->cmsg_level = SOL_SOCKET;
		header->cmsg_type = SCM_RIGHTS;
		header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
		std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
	}

	ssize_t sent;
	do
		sent = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (sent < 0 && errno == EINTR);

	if (sent < 0) {
		const int error = errno;
		if (is_would_block(error))
			return {ChannelIoStatus::would_block, 0};
		if (error == EPIPE || error == ECONNRESET)
			return {ChannelIoStatus::peer_closed, error};
		return {ChannelIoStatus::error, error};
	}
	/* A SOCK_SEQPACKET record goes whole or not at all; anything else is not our socket. */
	if (std::size_t(sent) != bytes.size())
		return {ChannelIoStatus::error, EMSGSIZE};
	return {ChannelIoStatus::ok, 0};
}

ReceivedChannelMessage receive_channel_message(int sock, std::span<std::uint8_t> buffer) noexcept
{
	ReceivedChannelMessage result;

	iovec iov{buffer.data(), buffer.size()};
	msghdr msg{};
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	/* Room for the most fds a message carries plus credentials, so a socket with SO_PASSCRED
	   does not provoke MSG_CTRUNC on valid messages. */
	alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int) * channel_max_fds) +
					       CMSG_SPACE(sizeof(struct ucred))];
	msg.msg_control = control;
	msg.msg_controllen = sizeof(control);

	ssize_t received;
	do
		received = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (received < 0 && errno == EINTR);

	if (received < 0) {
		const int error = errno;
		if (is_would_block(error))
			return failure(std::move(result), ChannelIoStatus::would_block, 0, nullptr);
		if (error == ECONNRESET)
			return failure(std::move(result), ChannelIoStatus::peer_closed, error, "recvmsg");
		return failure(std::move(result), ChannelIoStatus::error, error, "recvmsg");
	}

	/* Own every installed fd before judging the message, so each failure below closes them. */
	bool too_many_fds = false;
	for (cmsghdr *header = CMSG_FIRSTHDR(&msg); header != nullptr; header = CMSG_NXTHDR(&msg, header)) {
		if (header->cmsg_level != SOL_SOCKET)
			continue;
		if (header->cmsg_type == SCM_RIGHTS || header->cmsg_type == SCM_PIDFD)
			too_many_fds |= !adopt_fds(*header, result);
	}

	if ((msg.msg_flags & MSG_CTRUNC) != 0) {
		/* Too many fds, or the receiver at its fd limit (the kernel then installs none): the
		   record itself arrived, so the receiver may still learn whom it concerned. */
		const bool record_intact = received > 0 && (msg.msg_flags & MSG_TRUNC) == 0;
		result = failure(std::move(result), ChannelIoStatus::error, 0,
				 "recvmsg: control data truncated (MSG_CTRUNC), too many fds or none left");
		result.control_truncated = record_intact;
		result.size = record_intact ? std::size_t(received) : 0;
		return result;
	}
	if ((msg.msg_flags & MSG_TRUNC) != 0)
		return failure(std::move(result), ChannelIoStatus::error, 0,
			       "recvmsg: message larger than the receive buffer (MSG_TRUNC)");
	if (too_many_fds)
		return failure(std::move(result), ChannelIoStatus::error, 0,
			       "recvmsg: more fds than any channel message carries");
	/* Our messages are never empty (the header alone is 8 bytes), so 0 bytes is EOF. */
	if (received == 0)
		return failure(std::move(result), ChannelIoStatus::peer_closed, 0, nullptr);

	result.status = ChannelIoStatus::ok;
	result.size = std::size_t(received);
	return result;
}

int create_channel_pair(UniqueFd &master_end, UniqueFd &worker_end) noexcept
{
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0)
		return errno;
	master_end.reset(pair[0]);
	worker_end.reset(pair[1]);
	return 0;
}

} // namespace myproxy
