// Fuzz target for result_set.hpp: a query response as the relay would see it.  The first input byte
// picks the session's capabilities and the column limit; the rest is a stream of framed packets, fed
// one payload at a time to a ResultSetReader (reset after each response, so one input can hold
// several).  Every event's views are walked; parse_column_definition() and parse_text_row() also get
// every payload directly, so they are fuzzed whatever state the reader is in.
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/result_set.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <type_traits>
#include <variant>

using namespace myproxy;

/* Bits 0-3 of the selector byte turn on CAPABILITY_BITS[i]; bits 4-5 pick COLUMN_LIMITS. */
static constexpr std::uint32_t CAPABILITY_BITS[] = {
	CLIENT_PROTOCOL_41, CLIENT_TRANSACTIONS, CLIENT_SESSION_TRACK, CLIENT_DEPRECATE_EOF,
};
static constexpr std::size_t COLUMN_LIMITS[] = {MAX_RESULT_COLUMNS, 1, 3, 64};

static void check_definition(const ColumnDefinition &column, ByteSpan payload)
{
	FUZZ_CHECK(fuzz::view_ok(column.catalog, payload));
	FUZZ_CHECK(fuzz::view_ok(column.schema, payload));
	FUZZ_CHECK(fuzz::view_ok(column.table, payload));
	FUZZ_CHECK(fuzz::view_ok(column.org_table, payload));
	FUZZ_CHECK(fuzz::view_ok(column.name, payload));
	FUZZ_CHECK(fuzz::view_ok(column.org_name, payload));
}

/* Walks a checked row: exactly size() values, each inside the payload. */
static void check_row(const TextRow &row, ByteSpan payload)
{
	std::size_t count = 0;
	for (auto it = row.begin(); it != row.end(); ++it) {
		if (*it)
			FUZZ_CHECK(fuzz::view_ok(**it, payload));
		++count;
		FUZZ_CHECK(count <= row.size());
	}
	FUZZ_CHECK(count == row.size());
}

static void check_event(const ResultSetEvent &event, const ResultSetReader &reader, ByteSpan payload)
{
	std::visit(
		[&](const auto &e) {
			using Event = std::decay_t<decltype(e)>;
			if constexpr (std::is_same_v<Event, ResultColumnCount>) {
				FUZZ_CHECK(e.count >= 1 && e.count == reader.column_count());
			} else if constexpr (std::is_same_v<Event, ResultColumn>) {
				FUZZ_CHECK(e.index < reader.column_count());
				check_definition(e.definition, payload);
			} else if constexpr (std::is_same_v<Event, ResultRow>) {
				FUZZ_CHECK(e.row.size() == reader.column_count());
				check_row(e.row, payload);
			} else if constexpr (std::is_same_v<Event, ResultEnd>) {
				FUZZ_CHECK(fuzz::view_ok(e.ok.info, payload));
				FUZZ_CHECK(fuzz::view_ok(e.ok.session_state_info, payload));
				FUZZ_CHECK(reader.done() != e.more_results());
			} else if constexpr (std::is_same_v<Event, ResultError>) {
				FUZZ_CHECK(fuzz::view_ok(e.err.sql_state, payload));
				FUZZ_CHECK(fuzz::view_ok(e.err.message, payload));
				FUZZ_CHECK(reader.done());
			}
		},
		event);
}

static void check_direct_parsers(ByteSpan payload, std::size_t column_count)
{
	const auto column = parse_column_definition(payload);
	if (column.ok())
		check_definition(*column, payload);
	else
		FUZZ_CHECK(fuzz::error_ok(column.error(), payload));

	const auto row = parse_text_row(payload, column_count);
	if (row.ok())
		check_row(*row, payload);
	else
		FUZZ_CHECK(fuzz::error_ok(row.error(), payload));
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size == 0)
		return 0;
	std::uint32_t capabilities = 0;
	for (std::size_t i = 0; i < std::size(CAPABILITY_BITS); ++i)
		if (data[0] & (1u << i))
			capabilities |= CAPABILITY_BITS[i];
	const std::size_t limit = COLUMN_LIMITS[(data[0] >> 4) % std::size(COLUMN_LIMITS)];

	ResultSetReader reader(capabilities, limit);
	PacketIterator packets(ByteSpan(data + 1, size - 1));
	Packet packet;
	while (packets.next(packet)) {
		const ByteSpan payload = packet.payload;
		check_direct_parsers(payload, reader.column_count() == 0 ? 1 : reader.column_count());
		const auto event = reader.feed(payload);
		if (!event.ok()) {
			FUZZ_CHECK(fuzz::error_ok(event.error(), payload));
			FUZZ_CHECK(reader.failed() || reader.done());
			/* Stays failed until reset. */
			FUZZ_CHECK(!reader.feed(payload).ok());
			reader.reset();
			continue;
		}
		FUZZ_CHECK(!reader.failed());
		FUZZ_CHECK(reader.column_count() <= limit);
		check_event(*event, reader, payload);
		if (reader.done())
			reader.reset();
	}
	return 0;
}
