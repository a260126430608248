// The relay's packet-boundary tracker; see packet_tracker.hpp.  Only headers and the first payload
// byte of reported packets are looked at; everything else is counted, never read.
#include "packet_tracker.hpp"

#include <algorithm>

namespace myproxy {

static TrackerStep make_step(TrackerStep::Kind kind, std::size_t length) noexcept
{
	TrackerStep step;
	step.kind = kind;
	step.length = length;
	return step;
}

TrackerStep PacketTracker::step(ByteSpan data) noexcept
{
	if (header_left + payload_left > 0) {
		const std::size_t left = std::size_t(header_left) + payload_left;
		const std::size_t n = std::min(left, data.size());
		if (n == 0)
			return make_step(TrackerStep::Kind::need_more, 1);
		const std::size_t from_header = std::min<std::size_t>(header_left, n);
		header_left -= std::uint32_t(from_header);
		payload_left -= std::uint32_t(n - from_header);
		return make_step(TrackerStep::Kind::pass, n);
	}

	if (data.size() < PACKET_HEADER_SIZE)
		return make_step(TrackerStep::Kind::need_more, PACKET_HEADER_SIZE);
	const PacketScan scan = scan_packet(data);
	const PacketHeader header = scan.header;
	const bool logical_start = !continued;
	/* Evaluated afresh each time: a need_more below means this header is decoded again later. */
	const bool follows_255 = last_sequence_id == 0xFF && !peer_spoke;

	bool report = false;
	if (logical_start) {
		if (infile) {
			/* The empty packet ends the file; the backend's OK or ERR follows. */
			if (header.payload_length == 0)
				infile = false;
		} else if (report_next || (report_commands && header.sequence_id == 0 && !follows_255)) {
			report = true;
		}
	}

	if (!report) {
		last_sequence_id = header.sequence_id;
		peer_spoke = false;
		header_left = PACKET_HEADER_SIZE;
		payload_left = header.payload_length;
		continued = scan.continued;
		return step(data);
	}

	const std::size_t wire_size = scan.wire_size;
	PacketStart start;
	start.header = header;
	start.wire_size = wire_size;
	if (header.payload_length > 0) {
		if (data.size() <= PACKET_HEADER_SIZE)
			return make_step(TrackerStep::Kind::need_more, PACKET_HEADER_SIZE + 1);
		start.first_byte = data[PACKET_HEADER_SIZE];
	}
	const bool hold_small = small_command_max != 0 && header.payload_length > 0 &&
				start.first_byte == small_command && header.payload_length <= small_command_max;
	const bool hold = report_next ? hold_next : hold_commands.test(start.first_byte) || hold_small;
	if (hold && !scan.complete)
		return make_step(TrackerStep::Kind::need_more, wire_size);
	start.complete = scan.complete;

	last_sequence_id = header.sequence_id;
	peer_spoke = false;
	report_next = false;
	pending = true;
	pending_header = header;
	TrackerStep result = make_step(TrackerStep::Kind::packet_start, wire_size);
	result.start = start;
	return result;
}

void PacketTracker::pass_packet() noexcept
{
	if (!pending)
		return;
	pending = false;
	header_left = PACKET_HEADER_SIZE;
	payload_left = pending_header.payload_length;
	continued = pending_header.payload_length == MAX_PACKET_PAYLOAD;
}

bool PacketTracker::skip_packet() noexcept
{
	if (!pending || pending_header.payload_length == MAX_PACKET_PAYLOAD)
		return false;
	pending = false;
	return true;
}

} // namespace myproxy
