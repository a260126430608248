// The master's client listeners and their accept loop (see listener_set.hpp).  Master side.
#include "master/listener_set.hpp"

#include "common/config.hpp"
#include "common/log.hpp"

#include <systemd/sd-event.h>

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>

namespace myproxy {

namespace {

/* One client per wake-up of a listener: accepting until EAGAIN costs a failing accept4() per
   wake-up, which is as dear as the wake-up (the epoll is level-triggered) that brings the next
   client, and a short queue is the usual case.  Failures that concern only one client (it hung up
   before we took it) try the next one, up to this many times. */
constexpr unsigned accept_attempts = 64;

} // namespace

ListenerSet::ListenerSet(sd_event *event_, std::uint64_t accept_pause_usec_, ClientHandler on_client_)
	: event(event_), accept_pause_usec(accept_pause_usec_), on_client(std::move(on_client_))
{
}

ListenerSet::~ListenerSet()
{
	abandon();
	close_all();
}

int ListenerSet::add_source(Slot &slot)
{
	int r = sd_event_add_io(event, slot.accept_source.out(), slot.listener.fd.get(), EPOLLIN, on_accept, &slot);
	if (r >= 0)
		r = sd_event_source_set_enabled(slot.accept_source.get(), SD_EVENT_OFF);
	if (r < 0)
		log_errno(LogLevel::error, -r, nullptr, "sd_event_add_io(%s)", slot.listener.description.c_str());
	return r;
}

int ListenerSet::adopt(std::vector<Listener> listeners)
{
	for (Listener &listener : listeners) {
		auto slot = std::make_unique<Slot>();
		slot->owner = this;
		slot->listener = std::move(listener);
		slots.push_back(std::move(slot));
		if (const int r = add_source(*slots.back()))
			return r;
	}
	return 0;
}

std::optional<ListenerError> ListenerSet::prepare(const std::vector<ListenerConfig> &configs)
{
	abandon();
	for (std::size_t i = 0; i < configs.size(); ++i) {
		const ListenerConfig &config = configs[i];
		const unsigned index = static_cast<unsigned>(i);
		bool kept = false;
		for (auto &slot : slots) {
			const Listener &l = slot->listener;
			if (config.systemd ? l.from_systemd : (!l.from_systemd && l.configured_address == config.address)) {
				prepared_kept.push_back({slot.get(), index});
				kept = true;
			}
		}
		if (kept)
			continue;
		/* sd_listen_fds() hands its sockets over once, at startup. */
		std::optional<ListenerError> error;
		if (config.systemd)
			error = ListenerError{"mysql_listen(systemd): a reload cannot add systemd's sockets (restart myproxy)",
					      78};
		else
			error = open_address_listener(config.address, index, prepared_new);
		if (error) {
			error->message += " (mysql_listen at " + config.origin + ")";
			abandon();
			return error;
		}
	}
	return std::nullopt;
}

int ListenerSet::commit()
{
	std::vector<std::unique_ptr<Slot>> next;
	for (Listener &listener : prepared_new) {
		auto slot = std::make_unique<Slot>();
		slot->owner = this;
		slot->listener = std::move(listener);
		if (const int r = add_source(*slot)) {
			for (auto &opened : next)
				close_slot(*opened);
			close_slot(*slot);
			prepared_new.clear();
			abandon();
			return r;
		}
		log_info("listening on %s", slot->listener.description.c_str());
		next.push_back(std::move(slot));
	}
	prepared_new.clear();
	for (auto &slot : slots) {
		bool keep = false;
		for (const Kept &kept : prepared_kept) {
			if (kept.slot != slot.get())
				continue;
			slot->listener.config_index = kept.config_index;
			keep = true;
		}
		if (keep) {
			next.push_back(std::move(slot));
		} else {
			log_info("no longer listening on %s", slot->listener.description.c_str());
			close_slot(*slot);
		}
	}
	prepared_kept.clear();
	slots = std::move(next);
	for (auto &slot : slots)
		update(*slot);
	return 0;
}

void ListenerSet::abandon() noexcept
{
	for (Listener &listener : prepared_new)
		remove_socket_file(listener);
	prepared_new.clear();
	prepared_kept.clear();
}

void ListenerSet::close_slot(Slot &slot) noexcept
{
	slot.accept_source.reset();
	slot.pause_timer.reset();
	remove_socket_file(slot.listener);
	slot.listener.fd.reset();
}

void ListenerSet::close_all() noexcept
{
	accepting = false;
	for (auto &slot : slots)
		close_slot(*slot);
}

void ListenerSet::set_accepting(bool on)
{
	accepting = on;
	for (auto &slot : slots)
		update(*slot);
}

void ListenerSet::update(Slot &slot)
{
	if (slot.accept_source)
		sd_event_source_set_enabled(slot.accept_source.get(),
					    accepting && !slot.paused ? SD_EVENT_ON : SD_EVENT_OFF);
}

void ListenerSet::pause(Slot &slot)
{
	slot.paused = true;
	int r;
	if (slot.pause_timer) {
		r = sd_event_source_set_time_relative(slot.pause_timer.get(), accept_pause_usec);
		if (r >= 0)
			r = sd_event_source_set_enabled(slot.pause_timer.get(), SD_EVENT_ONESHOT);
	} else {
		r = sd_event_add_time_relative(event, slot.pause_timer.out(), CLOCK_MONOTONIC, accept_pause_usec, 1000,
					       on_pause_end, &slot);
	}
	if (r < 0) {
		/* Without the timer the listener would stay off for good; better to retry soon. */
		log_errno(LogLevel::error, -r, nullptr, "pause timer for %s", slot.listener.description.c_str());
		slot.paused = false;
	}
	update(slot);
}

void ListenerSet::accept_clients(Slot &slot)
{
	for (unsigned i = 0; i < accept_attempts && accepting && !slot.paused && slot.listener.fd; ++i) {
		SocketAddress peer;
		peer.length = sizeof(peer.storage);
		const int fd = accept4(slot.listener.fd.get(), reinterpret_cast<sockaddr *>(&peer.storage), &peer.length,
				       SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			on_client(slot.listener, UniqueFd(fd), peer);
			return;
		}
		switch (errno) {
		case EAGAIN:
			return;
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
		case EPERM:
			/* This client is gone or refused; the next one may be fine. */
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			log_errno(LogLevel::warning, errno, nullptr, "accept4(%s); pausing it",
				  slot.listener.description.c_str());
			pause(slot);
			return;
		default:
			log_errno(LogLevel::error, errno, nullptr, "accept4(%s); pausing it",
				  slot.listener.description.c_str());
			pause(slot);
			return;
		}
	}
}

int ListenerSet::on_accept(sd_event_source *, int, std::uint32_t, void *userdata)
{
	auto &slot = *static_cast<Slot *>(userdata);
	slot.owner->accept_clients(slot);
	return 0;
}

int ListenerSet::on_pause_end(sd_event_source *, std::uint64_t, void *userdata)
{
	auto &slot = *static_cast<Slot *>(userdata);
	slot.paused = false;
	slot.owner->update(slot);
	return 0;
}

} // namespace myproxy
