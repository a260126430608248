// When a session whose script asked for reuse ends, whether its backend connection may serve the
// next client (worker side): the client's COM_QUIT (which such a session intercepts, so the backend
// never sees it) or its close, at a command boundary, with nothing buffered either way, no exchange of
// myproxy's own running, no bytes OpenSSL holds.  Then the connection goes to the pool
// (worker/backend_pool), whose parking exchange checks the rest with the server itself: no reply of
// the session still on its way, no transaction open; and resets it.  Never does I/O itself.
#pragma once

#include <string_view>

namespace myproxy {

class BackendSide;
class Relay;
struct RelayEvent;

/* Whether @event ends the session (the client's COM_QUIT or close): the moment a parking may come. */
bool ends_session(const RelayEvent &event) noexcept;

/* The relay reported @event.  True when it ended the session and the backend connection was
 * parked: the session closes now (without the relay's end report: the backend is no longer its).
 * A COM_QUIT that cannot be parked is forwarded as usual. */
bool end_session_for_reuse(const RelayEvent &event, Relay &relay, BackendSide &backend, std::string_view account);

} // namespace myproxy
