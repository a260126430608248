// A call on the next iteration of the worker's sd-event loop, armed again for each need (worker
// side): for work an event cannot announce, such as bytes OpenSSL decrypted ahead or queries queued
// for a PostgreSQL connection.  The one-shot defer source is created on first need and released
// with the owner; it never runs the call itself.
#pragma once

#include "common/event_source.hpp"

#include <systemd/sd-event.h>

namespace myproxy {

class DeferredCall {
public:
	/* @handler(@userdata) runs once on @loop's next iteration, however often this is called before
	 * it does.  0, or a negative errno when sd-event refused (nothing is armed then). */
	int schedule(sd_event *loop, sd_event_handler_t handler, void *userdata) noexcept;
	/* Cancels what is armed and releases the source. */
	void reset() noexcept { source.reset(); }

private:
	EventSource source;
};

} // namespace myproxy
