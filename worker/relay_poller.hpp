// One epoll set per worker for the sockets of the sessions in their command phase (worker side),
// watched by sd-event as a single io source.  sd-event dispatches one source per epoll_wait, so
// with a source per socket every ready socket costs a system call of its own; here one wake-up
// serves every relayed socket that became ready together, for two epoll_waits (sd-event's and
// ours).  That pays only when wake-ups find more than two sockets ready, so the poller measures it
// and steps aside when they do not (bench/syscalls.sh, doc/performance.md).  The loop stays
// sd-event's.  It never reads or writes a socket and never closes one: a Watch only lends its
// descriptor, and must go before the descriptor is closed.
#pragma once

#include "common/event_source.hpp"
#include "common/unique_fd.hpp"

#include <sys/epoll.h>

#include <cstdint>
#include <memory>

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;

namespace myproxy {

class RelayPoller;
class UringRing;

/* One socket in the poller: added by RelayPoller::add(), removed by remove() or the destructor. */
class RelayWatch {
public:
	/* sd-event's io handler type, so a session hands the same trampoline to both; the poller
	 * passes no source (nullptr). */
	using Handler = int (*)(sd_event_source *source, int fd, std::uint32_t revents, void *userdata);

	RelayWatch() noexcept = default;
	~RelayWatch() noexcept;
	RelayWatch(const RelayWatch &) = delete;
	RelayWatch &operator=(const RelayWatch &) = delete;

	bool active() const noexcept { return poller != nullptr; }

private:
	friend class RelayPoller;
class UringRing;
	RelayPoller *poller = nullptr;
	int fd = -1;
	std::uint32_t events = 0;
	Handler handler = nullptr;
	void *userdata = nullptr;
};

class RelayPoller {
public:
	RelayPoller() noexcept;
	~RelayPoller() noexcept;
	RelayPoller(const RelayPoller &) = delete;
	RelayPoller &operator=(const RelayPoller &) = delete;

	/* Creates the epoll set and its sd-event source on @event; false with errno set. */
	bool open(sd_event *event) noexcept;
	bool is_open() const noexcept { return source.get() != nullptr; }

	/* The worker's io_uring for plain sessions (worker/uring_ring), set up before the sandbox;
	 * open() watches it too, or drops it (logged) when sd-event refuses.  Without it (none given,
	 * relay_io = "epoll", or the kernel refused io_uring) every session relays through epoll. */
	void adopt_ring(std::unique_ptr<UringRing> ring) noexcept;
	UringRing *ring() noexcept { return uring.get(); }

	/* Watches @fd for @events (EPOLLIN/EPOLLOUT; hang-ups and errors always) and calls @handler
	 * when it is ready.  False (errno set) when epoll refuses it; @watch stays inactive. */
	bool add(RelayWatch &watch, int fd, std::uint32_t events, RelayWatch::Handler handler, void *userdata) noexcept;
	/* A system call only when @events differ from what the watch has. */
	bool modify(RelayWatch &watch, std::uint32_t events) noexcept;
	/* Stops watching (before the descriptor closes); an event of the batch being dispatched that
	 * names it is dropped.  Nothing when @watch is inactive. */
	void remove(RelayWatch &watch) noexcept;

	/* Whether sessions should put their sockets here now (else in their own sd-event sources):
	 * while wake-ups find at least engage_threshold sockets ready on average, and two sessions
	 * or more are in the relay.  Disengaged, it
	 * engages again for a probe every probe_interval_usec.  Sessions follow at their next event
	 * (CommandPhase::poll()). */
	bool engaged() noexcept;
	/* The worker's sessions in the relay: with fewer than two, no wake-up can find more than two
	 * sockets ready, so the poller stays aside without probing. */
	void session_started() noexcept { ++sessions; }
	void session_ended() noexcept { --sessions; }
	/* Tests: the policy's clock (CLOCK_MONOTONIC microseconds; default: sd-event's) and whether
	 * it adapts at all (false: always engaged). */
	void set_clock(std::uint64_t (*clock)(void *), void *context) noexcept
	{
		clock_fn = clock;
		clock_context = context;
	}
	void set_adaptive(bool on) noexcept { adaptive = on; }

	static constexpr std::uint64_t probe_interval_usec = 500'000;
	/* A session moves in only once it has relayed this many commands: moving in and out costs 4
	 * epoll_ctl, which a short session (a page view's login, a query or two, COM_QUIT) never earns
	 * back (measured: 1.2 more epoll_ctl and 0.8 more epoll_wait per login at 16 threads). */
	static constexpr std::uint64_t join_after_commands = 16;
	/* Batches per measurement; the first batches of a probe are not counted (sessions are
	 * still moving in). */
	static constexpr std::uint32_t window_batches = 64;
	static constexpr std::uint32_t probe_settle_batches = 8;
	/* Events per batch, times 4: 2 events per wake-up is where one epoll_wait per socket costs
	 * as much as two per wake-up. */
	static constexpr std::uint32_t engage_threshold_x4 = 9;

	/* Batches dispatched and events in them, for tests. */
	std::uint64_t batches() const noexcept { return batch_count; }
	std::uint64_t events_dispatched() const noexcept { return event_count; }

private:
	static constexpr int batch_max = 64;

	UniqueFd epoll;
	EventSource source;
	std::unique_ptr<UringRing> uring;
	sd_event *loop = nullptr;
	/* The policy (engaged()). */
	bool adaptive = true;
	bool engaged_ = true;
	bool probing = false;
	std::uint32_t sessions = 0;
	std::uint64_t next_probe_usec = 0;
	std::uint32_t window_batch_count = 0;
	std::uint32_t window_event_count = 0;
	std::uint32_t settle = 0;
	std::uint64_t (*clock_fn)(void *) = nullptr;
	void *clock_context = nullptr;
	std::uint64_t now_usec() const noexcept;
	void measure(int events) noexcept;
	/* The batch being dispatched: remove() clears entries from @next on. */
	epoll_event batch[batch_max];
	int batch_size = 0;
	int next = 0;
	std::uint64_t batch_count = 0;
	std::uint64_t event_count = 0;

	static int on_ready(sd_event_source *source, int fd, std::uint32_t revents, void *userdata);
	void dispatch() noexcept;
};

} // namespace myproxy
