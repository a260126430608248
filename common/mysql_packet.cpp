// Packet framing; see mysql_packet.hpp.  Only headers are read here, payload bytes are copied
// (reassembly) but never interpreted.
#include "mysql_packet.hpp"

#include <algorithm>
#include <cassert>

namespace myproxy {

ParseResult<PacketHeader> decode_packet_header(ByteSpan bytes) noexcept
{
	ByteReader r(bytes);
	PacketHeader header;
	header.payload_length = r.u24("packet header: payload length past end");
	header.sequence_id = r.u8("packet header: sequence id past end");
	if (!r.ok())
		return r.error();
	return header;
}

void encode_packet_header(std::span<std::uint8_t, PACKET_HEADER_SIZE> out, PacketHeader header) noexcept
{
	assert(header.payload_length <= MAX_PACKET_PAYLOAD);
	out[0] = std::uint8_t(header.payload_length);
	out[1] = std::uint8_t(header.payload_length >> 8);
	out[2] = std::uint8_t(header.payload_length >> 16);
	out[3] = header.sequence_id;
}

PacketScan scan_packet(ByteSpan buffer) noexcept
{
	PacketScan scan;
	if (buffer.size() < PACKET_HEADER_SIZE) {
		scan.bytes_missing = PACKET_HEADER_SIZE - buffer.size();
		return scan;
	}
	scan.header_complete = true;
	scan.header = decode_packet_header(buffer).value();
	scan.wire_size = PACKET_HEADER_SIZE + scan.header.payload_length;
	scan.payload_present = std::min(buffer.size() - PACKET_HEADER_SIZE, std::size_t(scan.header.payload_length));
	scan.complete = scan.payload_present == scan.header.payload_length;
	scan.continued = scan.header.payload_length == MAX_PACKET_PAYLOAD;
	scan.bytes_missing = scan.header.payload_length - scan.payload_present;
	return scan;
}

std::size_t framed_size(std::size_t payload_size) noexcept
{
	return payload_size + PACKET_HEADER_SIZE * (payload_size / MAX_PACKET_PAYLOAD + 1);
}

bool PacketIterator::next(Packet &packet) noexcept
{
	const PacketScan scan = scan_packet(remaining());
	if (!scan.complete)
		return false;
	packet.header = scan.header;
	packet.payload = buffer.subspan(position + PACKET_HEADER_SIZE, scan.header.payload_length);
	position += scan.wire_size;
	return true;
}

ParseResult<ReassembledPayload> reassemble_payload(ByteSpan buffer, std::vector<std::uint8_t> &payload,
						   std::size_t max_payload_size)
{
	/* First pass: headers only, so a too-large or out-of-sequence payload fails before anything is
	 * copied, and an incomplete one costs no copy. */
	ReassembledPayload result;
	std::size_t position = 0;
	std::size_t total = 0;
	for (;;) {
		const PacketScan scan = scan_packet(buffer.subspan(position));
		if (!scan.header_complete)
			return result;
		if (result.packet_count == 0)
			result.first_sequence_id = scan.header.sequence_id;
		else if (scan.header.sequence_id != std::uint8_t(result.last_sequence_id + 1))
			return ParseError{"packet: continuation has wrong sequence id", position + 3};
		result.last_sequence_id = scan.header.sequence_id;
		++result.packet_count;
		total += scan.header.payload_length;
		if (total > max_payload_size)
			return ParseError{"packet: payload larger than allowed", position};
		if (!scan.complete)
			return result;
		position += scan.wire_size;
		if (!scan.continued)
			break;
	}

	payload.clear();
	payload.reserve(total);
	PacketIterator it(buffer.first(position));
	Packet packet;
	while (it.next(packet))
		payload.insert(payload.end(), packet.payload.begin(), packet.payload.end());
	result.complete = true;
	result.wire_size = position;
	return result;
}

std::size_t begin_packet(std::vector<std::uint8_t> &out)
{
	const std::size_t start = out.size();
	out.insert(out.end(), PACKET_HEADER_SIZE, 0);
	return start;
}

static void write_header_at(std::vector<std::uint8_t> &out, std::size_t at, std::uint32_t length,
			    std::uint8_t &sequence_id) noexcept
{
	encode_packet_header(std::span<std::uint8_t, PACKET_HEADER_SIZE>(out.data() + at, PACKET_HEADER_SIZE),
			     {length, sequence_id});
	++sequence_id;
}

void finish_packet(std::vector<std::uint8_t> &out, std::size_t start, std::uint8_t &sequence_id)
{
	assert(out.size() >= start + PACKET_HEADER_SIZE);
	/* A payload this large is rare (a big query built by the caller); splitting it in place moves
	 * the tail once per continuation header, which is cheap next to producing 16 MiB. */
	std::size_t header_at = start;
	for (;;) {
		const std::size_t left = out.size() - header_at - PACKET_HEADER_SIZE;
		if (left < MAX_PACKET_PAYLOAD) {
			write_header_at(out, header_at, std::uint32_t(left), sequence_id);
			return;
		}
		write_header_at(out, header_at, MAX_PACKET_PAYLOAD, sequence_id);
		header_at += PACKET_HEADER_SIZE + MAX_PACKET_PAYLOAD;
		out.insert(out.begin() + std::ptrdiff_t(header_at), PACKET_HEADER_SIZE, 0);
	}
}

void append_packet(std::vector<std::uint8_t> &out, ByteSpan payload, std::uint8_t &sequence_id)
{
	out.reserve(out.size() + framed_size(payload.size()));
	for (;;) {
		const std::size_t chunk = std::min(payload.size(), std::size_t(MAX_PACKET_PAYLOAD));
		const std::size_t at = out.size();
		out.insert(out.end(), PACKET_HEADER_SIZE, 0);
		write_header_at(out, at, std::uint32_t(chunk), sequence_id);
		out.insert(out.end(), payload.begin(), payload.begin() + std::ptrdiff_t(chunk));
		payload = payload.subspan(chunk);
		if (chunk < MAX_PACKET_PAYLOAD)
			return;
	}
}

} // namespace myproxy
