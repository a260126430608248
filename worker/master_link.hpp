// The worker's end of its channel to the master (worker side): queues and sends encoded messages,
// receives one message per wake-up, decodes it for the master-to-worker direction and hands it to
// its host with the descriptors it carried.  It never acts on a message: what each one means, and
// in which state, is the worker's dispatch table (worker/worker.cpp).
#pragma once

#include "common/channel_protocol.hpp"
#include "common/event_source.hpp"
#include "common/unique_fd.hpp"

#include <array>
#include <cstdint>
#include <deque>
#include <vector>

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;

namespace myproxy {

class MasterLink {
public:
	using ReceivedFds = std::array<UniqueFd, channel_max_fds>;

	class Host {
	public:
		/* A valid message from the master, with its descriptors (the host takes what it keeps). */
		virtual void master_message(const ChannelMessage &message, ReceivedFds &fds) = 0;
		/* A message whose descriptors did not fit (MSG_CTRUNC); @record is its bytes. */
		virtual void master_lost_fds(ByteSpan record) noexcept = 0;
		/* The channel is over: the worker exits with @status; @close_sessions when the master went
		 * away or broke the protocol (a failed send only stops the loop). */
		virtual void master_gone(int status, bool close_sessions) noexcept = 0;

	protected:
		~Host() = default;
	};

	MasterLink(UniqueFd channel, Host &owner) noexcept : fd(std::move(channel)), host(owner) {}

	MasterLink(const MasterLink &) = delete;
	MasterLink &operator=(const MasterLink &) = delete;

	/* Watches the channel on @event; 0 or a negative errno. */
	int watch(sd_event *event) noexcept;
	/* Encodes @message and sends it, or queues it while the channel is full. */
	void send(const ChannelMessage &message) noexcept;

private:
	UniqueFd fd;
	Host &host;
	EventSource source;
	/* Messages the channel could not take yet. */
	std::deque<std::vector<std::uint8_t>> outgoing;
	std::array<std::uint8_t, channel_max_message_size> receive_buffer;

	static int on_channel(sd_event_source *source, int fd, std::uint32_t revents, void *userdata);
	void flush() noexcept;
	void update_events() noexcept;
	void receive();
};

} // namespace myproxy
