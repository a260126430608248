// Fuzz target for common/compressed_framing.hpp: the input's bytes as a peer's compressed stream,
// decoded in chunks into small outputs, and as plain bytes, encoded and decoded again.  Invariants:
// every step stays within what it was given, a fault sticks, a frame never yields more than its
// header declared (no bomb gets through), and a round trip gives the plain bytes back (but for the
// packets' sequence ids, which the decoder renumbers).
#include "common/compressed_framing.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <algorithm>
#include <vector>

using namespace myproxy;

/* The most a frame may yield: its declared length, at most 16 MiB - 1. */
static constexpr std::size_t frame_plain_max = 0xFFFFFF;

static void decode_hostile(CompressedRole role, ByteSpan wire, std::size_t in_chunk, std::size_t out_chunk)
{
	CompressedFraming framing(role);
	std::vector<std::uint8_t> out(out_chunk);
	std::size_t at = 0, produced = 0;
	CompressedFault fault = CompressedFault::none;
	for (int idle = 0; idle < 2;) {
		const std::size_t n = std::min(in_chunk, wire.size() - at);
		const CompressedFraming::Step step = framing.decode(wire.subspan(at, n), out);
		FUZZ_CHECK(step.consumed <= n);
		FUZZ_CHECK(step.produced <= out.size());
		fuzz::touch(ByteSpan(out.data(), step.produced));
		at += step.consumed;
		produced += step.produced;
		if (step.fault != CompressedFault::none) {
			fault = step.fault;
			break;
		}
		idle = step.consumed == 0 && step.produced == 0 ? idle + 1 : 0;
	}
	/* Every byte of the input starts at most one frame's worth of output. */
	FUZZ_CHECK(produced <= (wire.size() + 1) * frame_plain_max);
	if (fault != CompressedFault::none) {
		const CompressedFraming::Step again = framing.decode(wire, out);
		FUZZ_CHECK(again.fault == fault && again.consumed == 0 && again.produced == 0);
	}
}

static void round_trip(CompressedRole encoder_role, ByteSpan plain, std::size_t out_chunk)
{
	CompressedFraming encoder(encoder_role);
	CompressedFraming decoder(encoder_role == CompressedRole::server ? CompressedRole::client
									 : CompressedRole::server);
	std::vector<std::uint8_t> frame(CompressedFraming::frame_wire_max), out(out_chunk), back;
	std::size_t at = 0;
	while (at < plain.size()) {
		const CompressedFraming::Step step = encoder.encode(plain.subspan(at), frame);
		FUZZ_CHECK(step.consumed > 0 && step.consumed <= CompressedFraming::frame_payload_max);
		FUZZ_CHECK(step.produced <= frame.size());
		at += step.consumed;
		std::size_t fed = 0;
		while (true) {
			const CompressedFraming::Step d = decoder.decode(ByteSpan(frame.data() + fed, step.produced - fed), out);
			FUZZ_CHECK(d.fault == CompressedFault::none);
			fed += d.consumed;
			back.insert(back.end(), out.begin(), out.begin() + std::ptrdiff_t(d.produced));
			if (d.consumed == 0 && d.produced == 0)
				break;
		}
		FUZZ_CHECK(fed == step.produced);
	}
	/* The same bytes, but for the packets' sequence ids, which the decoder renumbers. */
	FUZZ_CHECK(back.size() == plain.size());
	std::size_t next_header = 0;
	for (std::size_t i = 0; i < plain.size(); ++i) {
		if (i == next_header + 3 && i < plain.size())
			next_header += 4 + (std::size_t(plain[next_header]) | std::size_t(plain[next_header + 1]) << 8 |
					    std::size_t(plain[next_header + 2]) << 16);
		else
			FUZZ_CHECK(back[i] == plain[i]);
	}
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size < 1)
		return 0;
	/* Byte 0: bit 0 the client role (else the server's), bits 1-4 input chunk - 1 (x 97 + 1),
	   bits 5-7 output chunk (1, 7, 64, 1000, 4096, 32768, 65536, 1 MiB). */
	static constexpr std::size_t out_chunks[] = {1, 7, 64, 1000, 4096, 32768, 65536, 1 << 20};
	const std::uint8_t mode = data[0];
	const CompressedRole role = (mode & 1) ? CompressedRole::client : CompressedRole::server;
	const std::size_t in_chunk = std::size_t((mode >> 1) & 0x0F) * 97 + 1;
	const std::size_t out_chunk = out_chunks[mode >> 5];
	const ByteSpan input(data + 1, size - 1);
	/* One-byte outputs of a bomb take long: give them only short inputs. */
	if (out_chunk > 1 || input.size() <= 64)
		decode_hostile(role, input, in_chunk, out_chunk);
	round_trip(role, input, std::max<std::size_t>(out_chunk, 64));
	return 0;
}
