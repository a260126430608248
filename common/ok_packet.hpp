// OK packet: parse (backend replies) and build (replies myproxy sends itself).  Payload only: the
// caller frames it (mysql_packet.hpp).  The layout depends on the negotiated capabilities, which
// every function takes; parsing never allocates and never reads past the payload.
#pragma once

#include "byte_reader.hpp"
#include "parse_result.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace myproxy {

constexpr std::uint8_t OK_HEADER = 0x00;
/* An OK packet with this header ends a result set when CLIENT_DEPRECATE_EOF was negotiated. */
constexpr std::uint8_t OK_EOF_HEADER = 0xFE;

struct OkPacket {
	std::uint8_t header = OK_HEADER; /* OK_HEADER or OK_EOF_HEADER */
	std::uint64_t affected_rows = 0;
	std::uint64_t last_insert_id = 0;
	/* SERVER_STATUS_* (with CLIENT_PROTOCOL_41 or CLIENT_TRANSACTIONS, else 0). */
	std::uint16_t status_flags = 0;
	/* Only with CLIENT_PROTOCOL_41, else 0. */
	std::uint16_t warnings = 0;
	/* Human-readable info ("Rows matched: 1 ..."); often empty. */
	std::string_view info;
	/* The raw content of the session state string<lenenc> (a list of state-change entries); empty
	 * unless CLIENT_SESSION_TRACK and SERVER_SESSION_STATE_CHANGED. */
	ByteSpan session_state_info;
};

/* Parses an OK packet with header 0x00 or 0xFE.  With CLIENT_SESSION_TRACK an absent info field
 * (servers omit it when empty) reads as empty; bytes after the last field are ignored, as clients do. */
ParseResult<OkPacket> parse_ok_packet(ByteSpan payload, std::uint32_t capabilities) noexcept;

/* Appends the payload of @ok.  With CLIENT_SESSION_TRACK the info field is left out when it is empty
 * and there is no session state, as servers do. */
void build_ok_packet(std::vector<std::uint8_t> &out, const OkPacket &ok, std::uint32_t capabilities);

/* True if @payload starts with 0x00.  Meaningful only where an OK is one of the expected replies (the
 * first packet of a command response, or an authentication result): rows of a binary result set and
 * COM_STMT_PREPARE_OK start with 0x00 too.  For the 0xFE result-set terminator see is_eof_packet(). */
bool is_ok_packet(ByteSpan payload) noexcept;

} // namespace myproxy
