// EOF packet (0xFE, payload shorter than 9 bytes): ends column definitions and rows when
// CLIENT_DEPRECATE_EOF was not negotiated.  Parse and build; payload only.  Also the classification
// of 0xFE in a result set, where it may instead start a row whose first column has a long length.
#pragma once

#include "byte_reader.hpp"
#include "parse_result.hpp"

#include <cstdint>
#include <vector>

namespace myproxy {

constexpr std::uint8_t EOF_HEADER = 0xFE;
/* An EOF packet is shorter than this; a 0xFE row starts with an 8-byte lenenc length (9 bytes). */
constexpr std::size_t EOF_PACKET_LENGTH_LIMIT = 9;

struct EofPacket {
	/* Both only with CLIENT_PROTOCOL_41, else 0. */
	std::uint16_t warnings = 0;
	std::uint16_t status_flags = 0;
};

/* Parses an EOF packet; fails on a payload of 9 bytes or more (that is no EOF). */
ParseResult<EofPacket> parse_eof_packet(ByteSpan payload, std::uint32_t capabilities) noexcept;

void build_eof_packet(std::vector<std::uint8_t> &out, const EofPacket &eof, std::uint32_t capabilities);

/* True if @payload, seen where a result-set row or a column definition may come, ends that sequence.
 * Without CLIENT_DEPRECATE_EOF: 0xFE and shorter than 9 bytes (an EOF packet).  With it: 0xFE and
 * shorter than 0xFFFFFF (an OK packet with header 0xFE, which may carry info and session state and
 * so be 9 bytes or longer; a row starting with 0xFE announces a column of 16 MiB or more, so its
 * packet is always a full 0xFFFFFF).  Never use it in the authentication phase: there 0xFE is an
 * AuthSwitchRequest. */
bool is_eof_packet(ByteSpan payload, std::uint32_t capabilities) noexcept;

/* The same test from a packet's first payload byte and its header's payload length, for the
 * cut-through relay, which classifies a packet before the rest of it has arrived. */
bool is_eof_packet_start(std::uint8_t first_byte, std::size_t payload_length, std::uint32_t capabilities) noexcept;

} // namespace myproxy
