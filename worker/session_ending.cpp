// Readable endings of command-phase sessions (see session_ending.hpp).  DESIGN.md section 3: the
// ERR uses a server code and SQLSTATE and the sequence id the client expects, never 0 mid-exchange.
#include "worker/session_ending.hpp"

#include "common/err_packet.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "worker/relay.hpp"

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

} // namespace myproxy
