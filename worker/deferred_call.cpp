// A call on the next loop iteration (see deferred_call.hpp).  Worker side.
#include "worker/deferred_call.hpp"

namespace myproxy {

int DeferredCall::schedule(sd_event *loop, sd_event_handler_t handler, void *userdata) noexcept
{
	if (!source)
		/* A new defer source is enabled one-shot already. */
		return sd_event_add_defer(loop, source.out(), handler, userdata);
	const int result = sd_event_source_set_enabled(source.get(), SD_EVENT_ONESHOT);
	return result < 0 ? result : 0;
}

} // namespace myproxy
