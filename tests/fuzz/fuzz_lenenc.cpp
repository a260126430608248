// Fuzz target for lenenc.hpp: reads the input as a run of int<lenenc>, of string<lenenc> and of nullable
// strings, touches every string, and writes each value back to check it reads the same.  The readers
// must never hand out bytes outside the input nor report an error offset past its end.
#include "common/lenenc.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <vector>

using namespace myproxy;

/* Reused by every round trip: an input of 4096 one-byte values would otherwise cost 12288 allocations. */
static std::vector<std::uint8_t> out;

static void check_int_round_trip(std::uint64_t value)
{
	out.clear();
	ByteWriter w(out);
	write_lenenc_int(w, value);
	FUZZ_CHECK(out.size() == lenenc_int_size(value));
	ByteReader r(out);
	FUZZ_CHECK(read_lenenc_int(r, "lenenc int round trip") == value);
	FUZZ_CHECK(r.ok() && r.at_end());
}

static void check_string_round_trip(std::string_view value)
{
	out.clear();
	ByteWriter w(out);
	write_lenenc_string(w, value);
	ByteReader r(out);
	FUZZ_CHECK(read_lenenc_string(r, "lenenc string round trip") == value);
	FUZZ_CHECK(r.ok() && r.at_end());
}

/* Every read must consume at least one byte, or fail; a failure must point inside the input. */
template<typename Read>
static void read_all(ByteSpan input, Read read)
{
	ByteReader r(input);
	while (r.ok() && !r.at_end()) {
		const std::size_t before = r.offset();
		read(r);
		FUZZ_CHECK(!r.ok() || r.offset() > before);
	}
	if (!r.ok())
		FUZZ_CHECK(fuzz::error_ok(r.error(), input));
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const ByteSpan input(data, size);

	read_all(input, [input](ByteReader &r) {
		const std::uint8_t prefix = input[r.offset()];
		const std::uint64_t value = read_lenenc_int(r, "lenenc int");
		if (r.ok()) {
			/* 0xFB (NULL) and 0xFF (ERR) are no integers. */
			FUZZ_CHECK(prefix != LENENC_NULL && prefix != 0xFF);
			check_int_round_trip(value);
		}
	});
	read_all(input, [input](ByteReader &r) {
		const std::string_view value = read_lenenc_string(r, "lenenc string");
		FUZZ_CHECK(fuzz::view_ok(value, input));
		if (r.ok())
			check_string_round_trip(value);
	});
	read_all(input, [input](ByteReader &r) {
		const auto value = read_lenenc_string_or_null(r, "lenenc string or NULL");
		if (value) {
			FUZZ_CHECK(fuzz::view_ok(*value, input));
			if (r.ok())
				check_string_round_trip(*value);
		}
	});
	return 0;
}
