// How a session in the command phase ends so the client can read why (worker side): whether it
// is idle (a drain closes it at once) and the final ERR with the sequence id the client expects
// (after its command, in place of a rogue backend packet, or as the answer to its next command).
// Called by ClientConnection; works only through the relay's public state, never does I/O itself
// beyond what Relay::send_to_client() and resume() write.
#pragma once

#include "common/mysql_errors.hpp"

#include <cstdint>
#include <string_view>

namespace myproxy {

class Relay;
class SessionLog;
class StreamSocket;
struct RelayEvent;

/* Nothing in flight and the last bytes came from the backend: its answer is complete as far as
 * the relay can tell (a result set paused by the server right after a whole row also looks so;
 * the drain treats such a session as idle). */
bool relay_session_idle(const Relay &relay) noexcept;

/* The sequence id the client expects for our packet now: in place of a backend packet that waits
 * for a verdict, right after the client's last packet, after the backend's last one, or 1 (the
 * answer to the client's next command) when the session is idle. */
std::uint8_t final_err_sequence_id(const Relay &relay) noexcept;

/* Queues ERR @error with @message for the client and writes what its socket takes now.  A backend
 * packet waiting for a verdict (a LOCAL INFILE request nobody asked for) is dropped first.  False
 * when the client's stream is mid-packet (then a close is all that is left). */
bool send_final_err(Relay &relay, const ServerError &error, std::string_view message,
		    std::uint32_t client_capabilities) noexcept;

/* The relay ended (@event is its closed event): logs why, at the level the reason deserves, and
 * tells the client what it can (the backend went away: ERR 1927; a malformed packet: ERR 1158).
 * @client and @backend are the relay's streams, for the TLS error text. */
void report_relay_end(const RelayEvent &event, Relay &relay, const StreamSocket &client, const StreamSocket &backend,
		      std::uint32_t client_capabilities, const SessionLog &log) noexcept;

} // namespace myproxy
