// A session's relay on the worker's io_uring; see uring_session.hpp.
#include "worker/uring_session.hpp"

#include "worker/backend_side.hpp"
#include "worker/client_side.hpp"
#include "worker/session_log.hpp"
#include "worker/uring_ring.hpp"

#include "common/log.hpp"

#include <systemd/sd-event.h>
#include <sys/epoll.h>

#include <cerrno>
#include <cstring>

namespace myproxy {

bool uring_session_join(UringRing &ring, Relay &relay, ClientSide &client, BackendSide &backend,
			const RelayWatch::Handler (&handlers)[2], void *userdata, const SessionLog &log) noexcept
{
	if (client.stream().tls() || backend.stream().tls() || relay.compressed() || client.io_source() == nullptr ||
	    backend.io_source() == nullptr)
		return false;
	const int fds[2] = {client.fd(), backend.fd()};
	const int slot = ring.join(fds, handlers, userdata);
	if (slot < 0) {
		log(LogLevel::debug, "relay: stays on epoll: the io_uring refused the session: %s", std::strerror(errno));
		return false;
	}
	if (sd_event_source_set_enabled(client.io_source(), SD_EVENT_OFF) < 0 ||
	    sd_event_source_set_enabled(backend.io_source(), SD_EVENT_OFF) < 0) {
		ring.leave(slot);
		(void)sd_event_source_set_enabled(client.io_source(), SD_EVENT_ON);
		return false;
	}
	relay.use_ring(&ring, slot);
	log(LogLevel::debug, "relay: the session relays through the worker's io_uring");
	return true;
}

void uring_session_poll(Relay &relay, std::uint32_t client_wanted, std::uint32_t backend_wanted) noexcept
{
	UringRing *const ring = relay.ring();
	if (client_wanted & EPOLLIN)
		ring->want_input(relay.ring_slot(), relay.input_room(RelaySide::client));
	if (backend_wanted & EPOLLIN)
		ring->want_input(relay.ring_slot() + 1, relay.input_room(RelaySide::backend));
}

void uring_session_leave(Relay &relay, ClientSide &client, BackendSide &backend, bool give_back) noexcept
{
	UringRing *const ring = relay.ring();
	if (ring == nullptr)
		return;
	ring->leave(relay.ring_slot(), give_back);
	relay.use_ring(nullptr, -1);
	if (give_back) {
		if (client.io_source() != nullptr)
			(void)sd_event_source_set_enabled(client.io_source(), SD_EVENT_ON);
		if (backend.io_source() != nullptr)
			(void)sd_event_source_set_enabled(backend.io_source(), SD_EVENT_ON);
	}
}

bool uring_session_input(const Relay &relay, RelaySide side) noexcept
{
	const UringRing *const ring = relay.ring();
	return ring != nullptr && ring->input_ready(side == RelaySide::client ? relay.ring_slot() : relay.ring_slot() + 1);
}

} // namespace myproxy
