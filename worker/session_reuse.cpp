// Whether an ending session's backend connection may be reused; see session_reuse.hpp.
#include "worker/session_reuse.hpp"

#include "worker/backend_side.hpp"
#include "worker/relay.hpp"

#include "common/command_packet.hpp"

#include <string>

namespace myproxy {

static bool client_quit(const RelayEvent &event) noexcept
{
	return event.kind == RelayEvent::Kind::command && event.side == RelaySide::client &&
	       event.start.header.payload_length == 1 && event.start.first_byte == COM_QUIT;
}

static bool client_closed(const RelayEvent &event) noexcept
{
	return event.kind == RelayEvent::Kind::closed && event.close_reason == RelayEvent::CloseReason::client_closed;
}

bool ends_session(const RelayEvent &event) noexcept
{
	return client_quit(event) || client_closed(event);
}

bool end_session_for_reuse(const RelayEvent &event, Relay &relay, BackendSide &backend, std::string_view account)
{
	const bool quit = client_quit(event);
	if (!quit && !client_closed(event))
		return false;
	const bool backend_quiet = backend.reusing() && relay.pending_report(RelaySide::backend) == nullptr &&
				   !backend.stream().pending() && !relay.input_buffered(RelaySide::backend);
	if (!backend_quiet) {
		if (quit)
			relay.forward_packet(RelaySide::client);
		return false;
	}
	if (quit)
		relay.drop_packet(RelaySide::client);
	/* Bytes still buffered (a reply the client did not take, bytes behind its COM_QUIT): the
	 * session ends, the connection is closed rather than kept. */
	if (!relay.idle() || !relay.buffers_empty())
		return quit;
	backend.park(std::string(account));
	return true;
}

} // namespace myproxy
