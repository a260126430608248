// Fuzz target for worker/packet_tracker.hpp: a relay direction's byte stream cut into chunks, with
// the caller's verdicts (pass or skip a reported packet, report the next start, LOCAL INFILE) taken
// from the input.  Invariants: every step makes progress or asks for more than it has, a pass never
// covers more than it was shown, a reported packet starts at a header the stream really has there,
// and a complete one fits in the span.
#include "worker/packet_tracker.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <algorithm>
#include <vector>

using namespace myproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size < 2)
		return 0;
	/* Byte 0: bit 0 client side (commands reported), bit 1 hold COM_INIT_DB and COM_QUERY whole,
	   bit 2 start in LOCAL INFILE, bit 3 report the next start whole; bits 4-7 chunk size - 1.
	   Byte 1: the verdicts, one bit per reported packet (1: skip it if complete), cycling. */
	const std::uint8_t mode = data[0];
	const std::uint8_t verdicts = data[1];
	const std::size_t chunk = std::size_t(mode >> 4) + 1;
	const ByteSpan stream(data + 2, size - 2);

	PacketTracker tracker((mode & 1) != 0);
	if (mode & 2) {
		tracker.hold_command(0x02);
		tracker.hold_command(0x03);
	}
	if (mode & 4)
		tracker.start_infile();
	if (mode & 8)
		tracker.report_next_start(true);

	/* The bytes received but not yet classified: [at, received). */
	std::size_t at = 0;
	std::size_t received = std::min(chunk, stream.size());
	unsigned reported = 0;
	for (unsigned steps = 0; steps < 100000; ++steps) {
		const ByteSpan span = stream.subspan(at, received - at);
		const TrackerStep step = tracker.step(span);
		switch (step.kind) {
		case TrackerStep::Kind::need_more:
			FUZZ_CHECK(step.length > span.size());
			if (received == stream.size())
				return 0;
			received = std::min(received + chunk, stream.size());
			break;
		case TrackerStep::Kind::pass:
			FUZZ_CHECK(step.length > 0 && step.length <= span.size());
			fuzz::touch(span.first(step.length));
			at += step.length;
			if (at == received) {
				if (received == stream.size())
					return 0;
				received = std::min(received + chunk, stream.size());
			}
			break;
		case TrackerStep::Kind::packet_start: {
			FUZZ_CHECK(span.size() >= PACKET_HEADER_SIZE);
			const PacketStart &start = step.start;
			FUZZ_CHECK(start.wire_size == PACKET_HEADER_SIZE + start.header.payload_length);
			FUZZ_CHECK(start.header.payload_length == (std::uint32_t(span[0]) | std::uint32_t(span[1]) << 8 |
								   std::uint32_t(span[2]) << 16));
			FUZZ_CHECK(start.header.sequence_id == span[3]);
			if (start.complete)
				FUZZ_CHECK(start.wire_size <= span.size());
			if (start.header.payload_length > 0 && span.size() > PACKET_HEADER_SIZE)
				FUZZ_CHECK(start.first_byte == span[PACKET_HEADER_SIZE]);
			const bool skip = start.complete && (verdicts >> (reported++ % 8) & 1) != 0;
			if (skip && tracker.skip_packet())
				at += start.wire_size;
			else
				tracker.pass_packet();
			break;
		}
		}
	}
	FUZZ_CHECK(!"the tracker made no progress");
	return 0;
}
