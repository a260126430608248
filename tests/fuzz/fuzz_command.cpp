// Fuzz target for command_packet.hpp: the input is one command-phase payload, given to parse_init_db()
// and parse_query() and named with command_name().  Every view is touched; whatever parses is built
// again and must give back the same bytes.
#include "common/command_packet.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <cstring>
#include <vector>

using namespace myproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const ByteSpan payload(data, size);
	if (!payload.empty()) {
		const char *name = command_name(payload[0]);
		FUZZ_CHECK(name != nullptr && std::strncmp(name, "COM_", 4) == 0);
	}

	const auto init_db = parse_init_db(payload);
	if (init_db.ok()) {
		FUZZ_CHECK(fuzz::view_ok(init_db->schema, payload));
		FUZZ_CHECK(init_db->schema.find('\0') == std::string_view::npos);
		std::vector<std::uint8_t> out;
		build_com_init_db(out, init_db->schema);
		FUZZ_CHECK(fuzz::same(out, payload));
	} else {
		FUZZ_CHECK(fuzz::error_ok(init_db.error(), payload));
	}

	const auto query = parse_query(payload);
	if (query.ok()) {
		FUZZ_CHECK(fuzz::view_ok(query->query, payload));
		std::vector<std::uint8_t> out;
		build_com_query(out, query->query);
		FUZZ_CHECK(fuzz::same(out, payload));
	} else {
		FUZZ_CHECK(fuzz::error_ok(query.error(), payload));
		FUZZ_CHECK(payload.empty() || payload[0] != COM_QUERY);
	}
	return 0;
}
