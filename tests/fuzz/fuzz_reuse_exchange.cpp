// Fuzz target for reuse_exchange.hpp: a hostile backend answering the parking exchange of a reused
// connection (or a taken connection's COM_INIT_DB).  The first input byte: its low 5 bits pick how
// the rest is cut into feed() calls (1..32 bytes), bit 5 negotiates CLIENT_DEPRECATE_EOF, bit 6
// MariaDB's metadata caching and extended metadata, bit 7 runs COM_INIT_DB instead of the parking.
// The token is fixed (00 01 .. 0f) so seeds can answer it.  Checks that a verdict, once given, stays
// (parking: anything more fails), that a failure says why, and that a clean parking's schema is a
// view the size of a packet at most.
#include "common/mysql_capabilities.hpp"
#include "common/reuse_exchange.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <cstring>

using namespace myproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size == 0)
		return 0;
	const std::size_t chunk = std::size_t(data[0] & 0x1f) + 1;
	const std::uint32_t capabilities =
		CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | ((data[0] & 0x20) ? CLIENT_DEPRECATE_EOF : 0);
	const std::uint32_t mariadb =
		(data[0] & 0x40) ? std::uint32_t((MARIADB_CLIENT_CACHE_METADATA | MARIADB_CLIENT_EXTENDED_METADATA) >> 32) : 0;
	const ByteSpan stream(data + 1, size - 1);
	std::array<std::uint8_t, 16> token;
	for (std::size_t i = 0; i < token.size(); ++i)
		token[i] = std::uint8_t(i);

	if (data[0] & 0x80) {
		ReuseInitDb init_db(capabilities, "schema");
		fuzz::touch(init_db.request());
		for (std::size_t at = 0; at < stream.size(); at += chunk) {
			const ReuseStatus status = init_db.feed(stream.subspan(at, std::min(chunk, stream.size() - at)));
			if (status == ReuseStatus::failed)
				FUZZ_CHECK(std::strlen(init_db.failure()) > 0);
			if (status != ReuseStatus::waiting)
				break;
		}
		return 0;
	}

	ReuseParking parking(capabilities, mariadb, token);
	fuzz::touch(parking.request());
	ReuseStatus verdict = ReuseStatus::waiting;
	for (std::size_t at = 0; at < stream.size(); at += chunk) {
		const ReuseStatus status = parking.feed(stream.subspan(at, std::min(chunk, stream.size() - at)));
		if (verdict != ReuseStatus::waiting) {
			/* After the verdict every byte is one too many. */
			FUZZ_CHECK(status == ReuseStatus::failed);
			continue;
		}
		verdict = status;
	}
	if (verdict == ReuseStatus::failed)
		FUZZ_CHECK(std::strlen(parking.failure()) > 0);
	if (verdict == ReuseStatus::clean)
		FUZZ_CHECK(parking.database().size() <= ReplyInbox::max_payload);
	return 0;
}
