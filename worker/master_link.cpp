// The worker's end of the channel to the master (see master_link.hpp).  Worker side.
#include "worker/master_link.hpp"

#include "common/channel_socket.hpp"
#include "common/exit_status.hpp"
#include "common/log.hpp"

#include <systemd/sd-event.h>
#include <sys/epoll.h>

#include <exception>
#include <new>

namespace myproxy {

int MasterLink::watch(sd_event *event) noexcept
{
	return sd_event_add_io(event, source.out(), fd.get(), EPOLLIN, on_channel, this);
}

void MasterLink::send(const ChannelMessage &message) noexcept
{
	try {
		std::vector<std::uint8_t> bytes;
		auto encoded = encode_channel_message(bytes, message);
		if (!encoded) {
			log_error("cannot encode %s: %s", channel_message_name(channel_message_type(message)),
				  encoded.error().what);
			return;
		}
		outgoing.push_back(std::move(bytes));
	} catch (const std::bad_alloc &) {
		log_error("out of memory queueing a message for the master");
		return;
	}
	flush();
}

void MasterLink::flush() noexcept
{
	while (!outgoing.empty() && fd) {
		const ChannelSendResult result = send_channel_message(fd.get(), outgoing.front(), {});
		if (result.status == ChannelIoStatus::would_block)
			break;
		if (result.status != ChannelIoStatus::ok) {
			if (result.status == ChannelIoStatus::error)
				log_errno(LogLevel::error, result.error_number, nullptr, "send to the master");
			outgoing.clear();
			host.master_gone(exit_ok, false);
			return;
		}
		outgoing.pop_front();
	}
	update_events();
}

void MasterLink::update_events() noexcept
{
	if (source)
		sd_event_source_set_io_events(source.get(), EPOLLIN | (outgoing.empty() ? 0u : std::uint32_t(EPOLLOUT)));
}

int MasterLink::on_channel(sd_event_source *, int, std::uint32_t revents, void *userdata)
{
	auto &link = *static_cast<MasterLink *>(userdata);
	if (revents & EPOLLOUT)
		link.flush();
	if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
		link.receive();
	return 0;
}

void MasterLink::receive()
{
	/* One message per wake-up: SEQPACKET gives no hint whether another is queued, and a read
	 * that fails with EAGAIN costs as much as the wake-up that brings the next one. */
	if (!fd)
		return;
	ReceivedChannelMessage received = receive_channel_message(fd.get(), receive_buffer);
	switch (received.status) {
	case ChannelIoStatus::would_block:
		return;
	case ChannelIoStatus::peer_closed:
		log_info("the master closed the channel; exiting");
		host.master_gone(exit_ok, true);
		return;
	case ChannelIoStatus::error:
		if (received.control_truncated) {
			host.master_lost_fds(ByteSpan(receive_buffer.data(), received.size));
			return;
		}
		log_errno(LogLevel::error, received.error_number, nullptr, "receive from the master: %s",
			  received.what != nullptr ? received.what : "failed");
		host.master_gone(exit_channel_protocol, true);
		return;
	case ChannelIoStatus::ok:
		break;
	}
	auto message = decode_channel_message(ByteSpan(receive_buffer.data(), received.size), received.fd_count,
					       ChannelDirection::master_to_worker);
	if (!message) {
		log_error("bad message from the master: %s", message.error().what);
		host.master_gone(exit_channel_protocol, true);
		return;
	}
	try {
		host.master_message(*message, received.fds);
	} catch (const std::exception &e) {
		log_error("%s: %s", channel_message_name(channel_message_type(*message)), e.what());
	}
}

} // namespace myproxy
