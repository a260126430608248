// Fuzz target for common/control_protocol: a datagram either parses into packets whose payloads lie
// inside it (and rebuild to the same bytes) or fails at an offset inside it.
#include "common/control_protocol.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <vector>

using namespace myproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const ByteSpan input(data, size);
	const auto packets = parse_control_datagram(input);
	if (!packets) {
		FUZZ_CHECK(fuzz::error_ok(packets.error(), input));
		return 0;
	}
	FUZZ_CHECK(packets->size() <= control_max_packets);
	std::vector<std::uint8_t> rebuilt;
	append_control_magic(rebuilt);
	for (const ControlPacket &packet : *packets) {
		FUZZ_CHECK(fuzz::view_ok(packet.payload, input));
		FUZZ_CHECK(append_control_packet(rebuilt, packet.command, packet.payload));
		(void)control_command_name(packet.command);
	}
	FUZZ_CHECK(fuzz::same(ByteSpan(rebuilt.data(), rebuilt.size()), input));
	return 0;
}
