// MySQL packet framing: a 3-byte little-endian payload length and a 1-byte sequence id, payloads of
// 0xFFFFFF bytes continued by the next packet.  Scanning for the cut-through relay (which never
// needs a whole packet), walking and reassembling buffered packets, and building framed packets.
// Never interprets payload bytes: that is the packet parsers' job.
#pragma once

#include "byte_reader.hpp"
#include "parse_result.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace myproxy {

constexpr std::size_t PACKET_HEADER_SIZE = 4;
/* The largest payload one packet carries; a packet of exactly this size is continued by the next. */
constexpr std::uint32_t MAX_PACKET_PAYLOAD = 0xFFFFFF;

struct PacketHeader {
	std::uint32_t payload_length = 0;
	std::uint8_t sequence_id = 0;
};

/* Decodes the first PACKET_HEADER_SIZE bytes of @bytes; fails if there are fewer. */
ParseResult<PacketHeader> decode_packet_header(ByteSpan bytes) noexcept;

/* Encodes @header; its payload_length must not exceed MAX_PACKET_PAYLOAD. */
void encode_packet_header(std::span<std::uint8_t, PACKET_HEADER_SIZE> out, PacketHeader header) noexcept;

/* What the start of a buffer holds of one packet. */
struct PacketScan {
	/* False while fewer than PACKET_HEADER_SIZE bytes are there; then all other fields but
	 * bytes_missing are zero. */
	bool header_complete = false;
	PacketHeader header;
	/* Payload bytes of this packet present in the buffer (at most header.payload_length). */
	std::size_t payload_present = 0;
	/* The whole packet (header and payload) is in the buffer. */
	bool complete = false;
	/* PACKET_HEADER_SIZE + header.payload_length. */
	std::size_t wire_size = 0;
	/* payload_length == MAX_PACKET_PAYLOAD: the next packet continues this payload, and its first
	 * byte is data, not a command or a reply header. */
	bool continued = false;
	/* Bytes still to receive until this packet is complete; while the header is partial, only until
	 * the header is. */
	std::size_t bytes_missing = 0;
};

/* Looks at the packet starting at @buffer[0]; works with any prefix of it, down to zero bytes. */
PacketScan scan_packet(ByteSpan buffer) noexcept;

/* Total wire size of a payload of @payload_size bytes, continuation packets included. */
std::size_t framed_size(std::size_t payload_size) noexcept;

struct Packet {
	PacketHeader header;
	ByteSpan payload;
};

/* Walks the complete packets at the start of a buffer, one at a time:
 *	PacketIterator it(buffer);
 *	Packet packet;
 *	while (it.next(packet)) ...;
 * it.remaining() is then the partial packet that is left, if any.  Each packet is seen alone: use
 * PacketScan::continued (or reassemble_payload()) to tell continuation packets. */
class PacketIterator {
	ByteSpan buffer;
	std::size_t position = 0;

public:
	explicit PacketIterator(ByteSpan bytes) noexcept : buffer(bytes) {}

	/* Stores the next complete packet in @packet; false (and @packet untouched) at a partial packet
	 * or the end of the buffer. */
	bool next(Packet &packet) noexcept;

	/* Bytes of the complete packets returned so far. */
	std::size_t consumed() const noexcept { return position; }
	ByteSpan remaining() const noexcept { return buffer.subspan(position); }
};

struct ReassembledPayload {
	/* False: @buffer ends inside the logical payload; nothing was copied.  Receive more and retry. */
	bool complete = false;
	/* Bytes of @buffer taken by the logical payload's packets (when complete). */
	std::size_t wire_size = 0;
	std::size_t packet_count = 0;
	std::uint8_t first_sequence_id = 0;
	/* The last packet's sequence id; a reply carries last_sequence_id + 1 (mod 256). */
	std::uint8_t last_sequence_id = 0;
};

/* Reassembles the logical payload that starts at @buffer[0] into @payload (cleared first, reused for
 * its capacity): packets of MAX_PACKET_PAYLOAD bytes are joined with the next one, whose sequence id
 * must be one more (mod 256).  Fails as soon as the announced lengths exceed @max_payload_size, even
 * before the data arrived, so a peer cannot make the caller wait for (or buffer) 16 MiB of a
 * handshake. */
ParseResult<ReassembledPayload> reassemble_payload(ByteSpan buffer, std::vector<std::uint8_t> &payload,
						   std::size_t max_payload_size);

/* Builders.  begin_packet() reserves a header and returns where the packet starts; the caller then
 * appends the payload (e.g. with a build_*_packet() function) and calls finish_packet(), which fills
 * in the header and splits a payload of MAX_PACKET_PAYLOAD or more into continuation packets.
 * @sequence_id is the id of the first packet and is advanced past every packet written (mod 256), so
 * it is ready for the next one. */
std::size_t begin_packet(std::vector<std::uint8_t> &out);
void finish_packet(std::vector<std::uint8_t> &out, std::size_t start, std::uint8_t &sequence_id);

/* Appends @payload framed as one or more packets; a payload of exactly k * MAX_PACKET_PAYLOAD bytes
 * (k >= 1) ends with an empty packet, so the receiver knows it is over. */
void append_packet(std::vector<std::uint8_t> &out, ByteSpan payload, std::uint8_t &sequence_id);

} // namespace myproxy
