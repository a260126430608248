// Fuzz target for mysql_packet.hpp: scan_packet(), PacketIterator and reassemble_payload() over one
// buffer, checked against each other, and every complete packet framed again with append_packet() and
// begin_packet()/finish_packet(), which must give back the very bytes it came from.  The first input
// byte picks reassemble_payload()'s size limit; the rest is the buffer.
#include "common/mysql_packet.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <algorithm>
#include <limits>
#include <vector>

using namespace myproxy;

static constexpr std::size_t PAYLOAD_LIMITS[] = {
	0, 1, 16, 255, 4096, MAX_PACKET_PAYLOAD, 2 * std::size_t(MAX_PACKET_PAYLOAD), std::numeric_limits<std::size_t>::max(),
};

static void check_scan(ByteSpan buffer)
{
	const PacketScan scan = scan_packet(buffer);
	const auto header = decode_packet_header(buffer);
	if (buffer.size() < PACKET_HEADER_SIZE) {
		FUZZ_CHECK(!scan.header_complete && !scan.complete && !scan.continued);
		FUZZ_CHECK(scan.wire_size == 0 && scan.payload_present == 0);
		FUZZ_CHECK(scan.bytes_missing == PACKET_HEADER_SIZE - buffer.size());
		FUZZ_CHECK(!header.ok() && fuzz::error_ok(header.error(), buffer));
		return;
	}
	FUZZ_CHECK(header.ok() && scan.header_complete);
	const std::size_t length = scan.header.payload_length;
	FUZZ_CHECK(length == header->payload_length && scan.header.sequence_id == header->sequence_id);
	FUZZ_CHECK(length <= MAX_PACKET_PAYLOAD);
	FUZZ_CHECK(scan.wire_size == PACKET_HEADER_SIZE + length);
	FUZZ_CHECK(scan.payload_present == std::min(length, buffer.size() - PACKET_HEADER_SIZE));
	FUZZ_CHECK(scan.complete == (scan.payload_present == length));
	FUZZ_CHECK(scan.continued == (length == MAX_PACKET_PAYLOAD));
	FUZZ_CHECK(scan.bytes_missing == length - scan.payload_present);
}

/* Reused by every reframing: a buffer of 4096 bytes holds up to 1024 empty packets. */
static std::vector<std::uint8_t> out;
static std::vector<std::uint8_t> built;

/* Frames @packet again both ways; the result must be the bytes at @wire. */
static void check_reframe(const Packet &packet, ByteSpan wire)
{
	out.clear();
	std::uint8_t sequence_id = packet.header.sequence_id;
	append_packet(out, packet.payload, sequence_id);
	FUZZ_CHECK(out.size() == framed_size(packet.payload.size()));
	FUZZ_CHECK(sequence_id == std::uint8_t(packet.header.sequence_id + 1));
	FUZZ_CHECK(fuzz::same(out, wire));

	built.clear();
	std::uint8_t built_sequence_id = packet.header.sequence_id;
	const std::size_t start = begin_packet(built);
	built.insert(built.end(), packet.payload.begin(), packet.payload.end());
	finish_packet(built, start, built_sequence_id);
	FUZZ_CHECK(built == out && built_sequence_id == sequence_id);
}

/* Walks the complete packets; returns them for the reassembly check. */
static std::vector<Packet> check_iterator(ByteSpan buffer)
{
	std::vector<Packet> packets;
	PacketIterator it(buffer);
	Packet packet;
	for (;;) {
		const std::size_t at = it.consumed();
		FUZZ_CHECK(at + it.remaining().size() == buffer.size());
		check_scan(it.remaining());
		if (!it.next(packet)) {
			FUZZ_CHECK(!scan_packet(it.remaining()).complete && it.consumed() == at);
			break;
		}
		FUZZ_CHECK(fuzz::view_ok(packet.payload, buffer));
		FUZZ_CHECK(packet.payload.data() == buffer.data() + at + PACKET_HEADER_SIZE);
		FUZZ_CHECK(it.consumed() == at + PACKET_HEADER_SIZE + packet.payload.size());
		/* A payload of exactly MAX_PACKET_PAYLOAD is framed with a trailing empty packet. */
		if (packet.payload.size() < MAX_PACKET_PAYLOAD)
			check_reframe(packet, buffer.subspan(at, it.consumed() - at));
		packets.push_back(packet);
	}
	return packets;
}

static void check_reassembly(ByteSpan buffer, std::size_t limit, const std::vector<Packet> &packets)
{
	/* A marker: an incomplete or failed reassembly must leave the caller's vector alone. */
	std::vector<std::uint8_t> payload{0x5A};
	const auto result = reassemble_payload(buffer, payload, limit);
	if (!result.ok()) {
		FUZZ_CHECK(fuzz::error_ok(result.error(), buffer));
		FUZZ_CHECK(payload.size() == 1 && payload[0] == 0x5A);
		return;
	}
	if (!result->complete) {
		FUZZ_CHECK(payload.size() == 1 && payload[0] == 0x5A);
		return;
	}
	FUZZ_CHECK(payload.size() <= limit);
	FUZZ_CHECK(result->packet_count >= 1 && result->packet_count <= packets.size());
	FUZZ_CHECK(result->wire_size <= buffer.size());
	FUZZ_CHECK(result->first_sequence_id == packets[0].header.sequence_id);
	std::vector<std::uint8_t> joined;
	std::size_t wire_size = 0;
	for (std::size_t i = 0; i < result->packet_count; ++i) {
		const Packet &packet = packets[i];
		FUZZ_CHECK(packet.header.sequence_id == std::uint8_t(result->first_sequence_id + i));
		/* Every packet but the last is full; the last is not. */
		FUZZ_CHECK((packet.payload.size() == MAX_PACKET_PAYLOAD) == (i + 1 < result->packet_count));
		joined.insert(joined.end(), packet.payload.begin(), packet.payload.end());
		wire_size += PACKET_HEADER_SIZE + packet.payload.size();
	}
	FUZZ_CHECK(result->last_sequence_id == packets[result->packet_count - 1].header.sequence_id);
	FUZZ_CHECK(joined == payload && wire_size == result->wire_size);

	out.clear();
	std::uint8_t sequence_id = result->first_sequence_id;
	append_packet(out, payload, sequence_id);
	FUZZ_CHECK(fuzz::same(out, buffer.first(result->wire_size)));
	FUZZ_CHECK(sequence_id == std::uint8_t(result->last_sequence_id + 1));
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size == 0)
		return 0;
	const std::size_t limit = PAYLOAD_LIMITS[data[0] % std::size(PAYLOAD_LIMITS)];
	const ByteSpan buffer(data + 1, size - 1);
	const std::vector<Packet> packets = check_iterator(buffer);
	check_reassembly(buffer, limit, packets);
	return 0;
}
