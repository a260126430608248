// EOF packet; see eof_packet.hpp.
#include "eof_packet.hpp"

#include "byte_writer.hpp"
#include "mysql_capabilities.hpp"
#include "mysql_packet.hpp"

namespace myproxy {

ParseResult<EofPacket> parse_eof_packet(ByteSpan payload, std::uint32_t capabilities) noexcept
{
	if (payload.size() >= EOF_PACKET_LENGTH_LIMIT)
		return ParseError{"EOF: payload of 9 bytes or more is no EOF packet", EOF_PACKET_LENGTH_LIMIT};
	ByteReader r(payload);
	EofPacket eof;
	const std::uint8_t header = r.u8("EOF: header past end");
	if (r.ok() && header != EOF_HEADER)
		return ParseError{"EOF: header is not 0xFE", 0};
	if (capabilities & CLIENT_PROTOCOL_41) {
		eof.warnings = r.u16("EOF: warnings past end");
		eof.status_flags = r.u16("EOF: status flags past end");
	}
	if (!r.ok())
		return r.error();
	return eof;
}

void build_eof_packet(std::vector<std::uint8_t> &out, const EofPacket &eof, std::uint32_t capabilities)
{
	ByteWriter w(out);
	w.u8(EOF_HEADER);
	if (capabilities & CLIENT_PROTOCOL_41) {
		w.u16(eof.warnings);
		w.u16(eof.status_flags);
	}
}

bool is_eof_packet_start(std::uint8_t first_byte, std::size_t payload_length, std::uint32_t capabilities) noexcept
{
	if (payload_length == 0 || first_byte != EOF_HEADER)
		return false;
	if (capabilities & CLIENT_DEPRECATE_EOF)
		return payload_length < MAX_PACKET_PAYLOAD;
	return payload_length < EOF_PACKET_LENGTH_LIMIT;
}

bool is_eof_packet(ByteSpan payload, std::uint32_t capabilities) noexcept
{
	return !payload.empty() && is_eof_packet_start(payload[0], payload.size(), capabilities);
}

} // namespace myproxy
