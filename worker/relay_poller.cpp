// The relay's epoll set inside sd-event, and when to use it; see relay_poller.hpp.  A handler may
// remove watches (its own or another session's, when it closes one or steps out) while the batch
// is dispatched: remove() clears their entries, so no event reaches a watch that is gone.
#include "relay_poller.hpp"

#include "worker/uring_ring.hpp"

#include "common/log.hpp"

#include <systemd/sd-event.h>

#include <cerrno>
#include <ctime>

namespace myproxy {

RelayWatch::~RelayWatch() noexcept
{
	if (poller != nullptr)
		poller->remove(*this);
}

RelayPoller::RelayPoller() noexcept = default;
RelayPoller::~RelayPoller() noexcept = default;

void RelayPoller::adopt_ring(std::unique_ptr<UringRing> ring) noexcept
{
	uring = std::move(ring);
}

bool RelayPoller::open(sd_event *event) noexcept
{
	loop = event;
	epoll.reset(epoll_create1(EPOLL_CLOEXEC));
	if (!epoll)
		return false;
	const int r = sd_event_add_io(event, source.out(), epoll.get(), EPOLLIN, on_ready, this);
	if (r < 0) {
		epoll.reset();
		errno = -r;
		return false;
	}
	if (!uring)
		uring = take_prepared_relay_ring();
	if (uring && !uring->attach(event)) {
		log_errno(LogLevel::warning, errno, nullptr, "relay: cannot watch the io_uring; relaying through epoll");
		uring.reset();
	}
	return true;
}

bool RelayPoller::add(RelayWatch &watch, int fd, std::uint32_t events, RelayWatch::Handler handler,
		      void *userdata) noexcept
{
	remove(watch);
	epoll_event event{};
	event.events = events;
	event.data.ptr = &watch;
	if (epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &event) < 0)
		return false;
	watch.poller = this;
	watch.fd = fd;
	watch.events = events;
	watch.handler = handler;
	watch.userdata = userdata;
	return true;
}

bool RelayPoller::modify(RelayWatch &watch, std::uint32_t events) noexcept
{
	if (watch.poller != this)
		return false;
	if (watch.events == events)
		return true;
	epoll_event event{};
	event.events = events;
	event.data.ptr = &watch;
	if (epoll_ctl(epoll.get(), EPOLL_CTL_MOD, watch.fd, &event) < 0)
		return false;
	watch.events = events;
	return true;
}

void RelayPoller::remove(RelayWatch &watch) noexcept
{
	if (watch.poller != this)
		return;
	/* Fails only when the descriptor is already closed, which the watch's owner must not do. */
	(void)epoll_ctl(epoll.get(), EPOLL_CTL_DEL, watch.fd, nullptr);
	for (int i = next; i < batch_size; ++i)
		if (batch[i].data.ptr == &watch)
			batch[i].data.ptr = nullptr;
	watch.poller = nullptr;
	watch.fd = -1;
}

void RelayPoller::dispatch() noexcept
{
	/* Only what is ready now (the source said so): never waits. */
	const int n = epoll_wait(epoll.get(), batch, batch_max, 0);
	if (n <= 0)
		return;
	++batch_count;
	measure(n);
	batch_size = n;
	for (next = 0; next < batch_size;) {
		const epoll_event ready = batch[next++];
		auto *watch = static_cast<RelayWatch *>(ready.data.ptr);
		if (watch == nullptr)
			continue;
		++event_count;
		(void)watch->handler(nullptr, watch->fd, ready.events, watch->userdata);
	}
	batch_size = next = 0;
}

std::uint64_t RelayPoller::now_usec() const noexcept
{
	if (clock_fn != nullptr)
		return clock_fn(clock_context);
	std::uint64_t now = 0;
	/* The time of the loop's last wake-up: no system call. */
	(void)sd_event_now(loop, CLOCK_MONOTONIC, &now);
	return now;
}

void RelayPoller::measure(int events) noexcept
{
	if (!adaptive || !engaged_)
		return;
	if (settle > 0) {
		--settle;
		return;
	}
	window_event_count += std::uint32_t(events);
	if (++window_batch_count < window_batches)
		return;
	const bool worth_it = window_event_count * 4 >= window_batch_count * engage_threshold_x4;
	/* At most one line per probe interval, and only at a change or a probe's verdict. */
	if (!worth_it || probing)
		log_debug("relay poller: %.2f sockets ready per wake-up: %s", double(window_event_count) / window_batch_count,
			  worth_it ? "sessions stay in the poller" : "sessions use their own sd-event sources");
	if (!worth_it) {
		engaged_ = false;
		next_probe_usec = now_usec() + probe_interval_usec;
	}
	probing = false;
	window_batch_count = window_event_count = 0;
}

bool RelayPoller::engaged() noexcept
{
	if (adaptive && sessions < 2)
		return false;
	if (!engaged_ && adaptive && now_usec() >= next_probe_usec) {
		engaged_ = true;
		probing = true;
		settle = probe_settle_batches;
		window_batch_count = window_event_count = 0;
	}
	return engaged_ && is_open();
}

int RelayPoller::on_ready(sd_event_source *, int, std::uint32_t, void *userdata)
{
	static_cast<RelayPoller *>(userdata)->dispatch();
	return 0;
}

} // namespace myproxy
