// Fuzz target for node_check.hpp: the master's health check talking to a hostile node.  The first
// input byte's low 7 bits pick how the rest (the node's byte stream) is cut into receive() calls
// (1..128 bytes), its high bit asks for TLS (at START_TLS the handshake is taken as done and the
// stream goes on as if decrypted); the rest is fed in order until the check is done.  Checks that what the check writes is well
// framed, that a verdict is never unknown, that a healthy verdict ends with COM_QUIT, and that a
// finished check stays finished and writes nothing more.
#include "common/command_packet.hpp"
#include "common/mysql_packet.hpp"
#include "common/node_check.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <vector>

using namespace myproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size == 0)
		return 0;
	const std::size_t chunk = std::size_t(data[0] & 0x7f) + 1;
	const bool ssl = (data[0] & 0x80) != 0;
	const ByteSpan stream(data + 1, size - 1);
	NodeCheck check("monitor", "secret", ssl);
	std::vector<std::uint8_t> out;
	std::size_t at = 0;
	while (at < stream.size() && !check.done()) {
		const std::size_t n = std::min(chunk, stream.size() - at);
		if (check.receive(stream.subspan(at, n), out) == NodeCheckStatus::START_TLS) {
			FUZZ_CHECK(ssl);
			check.tls_established(out);
		}
		at += n;
	}
	if (!check.done())
		check.abort("end of input");
	FUZZ_CHECK(check.done());
	FUZZ_CHECK(check.state() != NodeState::unknown && node_state_name(check.state())[0] != 'i');
	fuzz::touch(fuzz::bytes_of(check.detail()));

	PacketIterator it(out);
	Packet packet, last;
	std::size_t packets = 0;
	while (it.next(packet)) {
		fuzz::touch(packet.payload);
		last = packet;
		++packets;
	}
	FUZZ_CHECK(it.remaining().empty());
	if (check.state() == NodeState::alive || check.state() == NodeState::read_only) {
		FUZZ_CHECK(packets >= 3);
		FUZZ_CHECK(last.payload.size() == 1 && last.payload[0] == COM_QUIT);
	}

	const std::size_t written = out.size();
	FUZZ_CHECK(check.receive(stream, out) == NodeCheckStatus::DONE);
	FUZZ_CHECK(out.size() == written);
	return 0;
}
