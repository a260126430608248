// Readable endings of command-phase sessions (see session_ending.hpp).  DESIGN.md section 3: the
// ERR uses a server code and SQLSTATE and the sequence id the client expects, never 0 mid-exchange.
#include "worker/session_ending.hpp"

#include "common/err_packet.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/log.hpp"
#include "common/stream_socket.hpp"
#include "worker/relay.hpp"
#include "worker/session_log.hpp"

#include <cstring>

#include <new>
#include <vector>

namespace myproxy {

bool relay_session_idle(const Relay &relay) noexcept
{
	return relay.idle() && relay.buffers_empty() && !relay.counters().client_spoke_last;
}

std::uint8_t final_err_sequence_id(const Relay &relay) noexcept
{
	if (const PacketStart *rogue = relay.pending_report(RelaySide::backend))
		return rogue->header.sequence_id;
	if (relay.counters().client_spoke_last)
		return static_cast<std::uint8_t>(relay.last_sequence_id(RelaySide::client) + 1);
	if (relay_session_idle(relay))
		return 1;
	return static_cast<std::uint8_t>(relay.last_sequence_id(RelaySide::backend) + 1);
}

bool send_final_err(Relay &relay, const ServerError &error, std::string_view message,
		    std::uint32_t client_capabilities) noexcept
{
	try {
		std::uint8_t sequence_id = final_err_sequence_id(relay);
		if (relay.pending_report(RelaySide::backend) != nullptr)
			relay.drop_packet(RelaySide::backend);
		std::vector<std::uint8_t> packet;
		const std::size_t start = begin_packet(packet);
		build_err_packet(packet, error, message,
				 client_capabilities != 0 ? client_capabilities : CLIENT_PROTOCOL_41);
		finish_packet(packet, start, sequence_id);
		if (!relay.send_to_client(ByteSpan(packet.data(), packet.size())))
			return false;
		(void)relay.resume();
		return true;
	} catch (const std::bad_alloc &) {
		return false;
	}
}

/* A broken compressed stream: the client hears the server's net error for it (its own stream was
 * at fault, or the backend's, which it cannot read any more either). */
static void report_compression_fault(const RelayEvent &event, Relay &relay, std::uint32_t client_capabilities,
				     const SessionLog &log) noexcept
{
	const auto fault = static_cast<CompressedFault>(event.error_number);
	const bool from_client = event.side == RelaySide::client;
	log(LogLevel::warning, "%s: the %s's %s", relay_close_reason_name(event.close_reason),
	    from_client ? "client" : "backend", compressed_fault_name(fault));
	const ServerError &error = fault == CompressedFault::too_large	   ? ER_NET_PACKET_TOO_LARGE
				   : fault == CompressedFault::out_of_order  ? ER_NET_PACKETS_OUT_OF_ORDER
				   : fault == CompressedFault::out_of_memory ? ER_OUT_OF_RESOURCES
									     : ER_NET_UNCOMPRESS_ERROR;
	(void)send_final_err(relay, error,
			     from_client ? "Couldn't uncompress communication packet"
					 : "Lost connection to the backend server: its compressed stream is broken",
			     client_capabilities);
}

void report_relay_end(const RelayEvent &event, Relay &relay, const StreamSocket &client, const StreamSocket &backend,
		      std::uint32_t client_capabilities, const SessionLog &log) noexcept
{
	const char *reason = relay_close_reason_name(event.close_reason);
	switch (event.close_reason) {
	case RelayEvent::CloseReason::client_quit:
	case RelayEvent::CloseReason::client_closed:
		log(LogLevel::debug, "%s", reason);
		break;
	case RelayEvent::CloseReason::backend_closed:
		log(LogLevel::info, "%s", reason);
		(void)send_final_err(relay, ER_CONNECTION_KILLED, "Lost connection to the backend server",
				     client_capabilities);
		break;
	case RelayEvent::CloseReason::client_error:
	case RelayEvent::CloseReason::backend_error:
		if (event.close_reason == RelayEvent::CloseReason::backend_error)
			(void)send_final_err(relay, ER_CONNECTION_KILLED, "Lost connection to the backend server",
					     client_capabilities);
		if (event.error_number == tls_errno) {
			const StreamSocket &stream =
				event.close_reason == RelayEvent::CloseReason::client_error ? client : backend;
			log(LogLevel::info, "%s: %s", reason, stream.tls_error().c_str());
		} else {
			log(LogLevel::info, "%s: %s", reason, std::strerror(event.error_number));
		}
		break;
	case RelayEvent::CloseReason::compression_error:
		report_compression_fault(event, relay, client_capabilities, log);
		break;
	case RelayEvent::CloseReason::packet_too_large:
	case RelayEvent::CloseReason::protocol_error:
	case RelayEvent::CloseReason::out_of_memory:
		log(LogLevel::warning, "%s", reason);
		/* A command we must hold whole (COM_CHANGE_USER, COM_INIT_DB) that is larger than the
		 * relay's buffer: what the server says past max_allowed_packet. */
		if (event.close_reason == RelayEvent::CloseReason::packet_too_large && event.side == RelaySide::client)
			(void)send_final_err(relay, ER_NET_PACKET_TOO_LARGE,
					     "Got a packet bigger than 'max_allowed_packet' bytes", client_capabilities);
		if (event.close_reason == RelayEvent::CloseReason::protocol_error)
			(void)send_final_err(relay, ER_NET_READ_ERROR,
					     relay.pending_report(RelaySide::backend) != nullptr
						     ? "The backend asked for a LOCAL INFILE the client did not allow"
						     : "Malformed packet",
					     client_capabilities);
		break;
	}
}

} // namespace myproxy
