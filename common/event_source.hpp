// The owner of one sd-event source (both processes): disables and releases it when it goes, moves
// but never copies, so no path leaves a source that can still fire into a freed object.  Header
// only: common/ links no sd-event, the processes that use this do.  It never adds a source itself.
#pragma once

#include <systemd/sd-event.h>

#include <utility>

namespace myproxy {

class EventSource {
	sd_event_source *source = nullptr;

public:
	EventSource() noexcept = default;
	explicit EventSource(sd_event_source *owned) noexcept : source(owned) {}

	EventSource(EventSource &&other) noexcept : source(other.release()) {}
	EventSource &operator=(EventSource &&other) noexcept {
		reset(other.release());
		return *this;
	}

	EventSource(const EventSource &) = delete;
	EventSource &operator=(const EventSource &) = delete;

	~EventSource() { reset(); }

	sd_event_source *get() const noexcept { return source; }
	explicit operator bool() const noexcept { return source != nullptr; }

	/* Disabled before the reference goes: sd-event may hold its own reference while it dispatches
	 * this very source, and a disabled source never fires again whoever still holds it. */
	void reset(sd_event_source *owned = nullptr) noexcept {
		sd_event_source *old = std::exchange(source, owned);
		if (old != nullptr)
			sd_event_source_disable_unref(old);
	}

	[[nodiscard]] sd_event_source *release() noexcept { return std::exchange(source, nullptr); }

	/* For sd_event_add_*(event, x.out(), ...): drops what it held, then receives the new source. */
	sd_event_source **out() noexcept {
		reset();
		return &source;
	}
};

} // namespace myproxy
