// Text result sets (the reply to COM_QUERY), read one packet at a time without I/O: the relay and the
// cluster monitor feed each payload as it arrives and get one event back.  Events hold views into the
// payload just fed; nothing is copied or allocated.  Never negotiates anything itself: the caller
// passes the capabilities of its session, and metadata caching / optional metadata (MariaDB's
// CLIENT_CACHE_METADATA, MySQL's CLIENT_OPTIONAL_RESULTSET_METADATA) must not have been negotiated.
#pragma once

#include "byte_reader.hpp"
#include "eof_packet.hpp"
#include "err_packet.hpp"
#include "ok_packet.hpp"
#include "parse_result.hpp"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string_view>
#include <variant>

namespace myproxy {

/* The default cap on a result set's column count: MySQL's and MariaDB's table limit.  A count above
 * the cap is taken as garbage, not as a result to wait for. */
constexpr std::size_t MAX_RESULT_COLUMNS = 4096;

/* The length of the fixed-length block at the end of a ColumnDefinition41. */
constexpr std::uint8_t COLUMN_DEFINITION_FIXED_LENGTH = 0x0C;

/* ColumnDefinition41; MariaDB's extended metadata is not negotiated, so it never appears. */
struct ColumnDefinition {
	std::string_view catalog; /* always "def" */
	std::string_view schema;
	std::string_view table;	    /* alias */
	std::string_view org_table; /* physical table */
	std::string_view name;	    /* alias */
	std::string_view org_name;  /* physical column */
	std::uint16_t character_set = 0;
	std::uint32_t column_length = 0;
	std::uint8_t type = 0; /* MYSQL_TYPE_* */
	std::uint16_t flags = 0;
	std::uint8_t decimals = 0;
};

/* Parses one column definition.  The fixed-length block must announce 0x0C bytes, and nothing may
 * follow it (a COM_FIELD_LIST default value is not part of a query's result set). */
ParseResult<ColumnDefinition> parse_column_definition(ByteSpan payload) noexcept;

/* A text row that has been checked to hold exactly the announced number of columns, each a
 * string<lenenc> inside the payload or 0xFB (NULL).  Iterating it cannot fail:
 *	for (std::optional<std::string_view> value : row) ...
 * Valid as long as the payload it was parsed from. */
class TextRow {
	ByteSpan payload;
	std::size_t column_count = 0;

public:
	class Iterator {
		ByteReader reader;
		std::size_t left;
		std::optional<std::string_view> current;

		void advance() noexcept;

	public:
		using value_type = std::optional<std::string_view>;
		using difference_type = std::ptrdiff_t;

		Iterator(ByteSpan bytes, std::size_t columns) noexcept;

		const std::optional<std::string_view> &operator*() const noexcept { return current; }
		Iterator &operator++() noexcept;
		void operator++(int) noexcept { ++*this; }
		bool operator==(std::default_sentinel_t) const noexcept { return left == 0; }
	};

	TextRow() noexcept = default;
	TextRow(ByteSpan bytes, std::size_t columns) noexcept : payload(bytes), column_count(columns) {}

	std::size_t size() const noexcept { return column_count; }
	Iterator begin() const noexcept { return Iterator(payload, column_count); }
	std::default_sentinel_t end() const noexcept { return {}; }
};

/* Parses a text row of exactly @column_count columns (at least 1): fewer, more, or a length past the
 * end is an error. */
ParseResult<TextRow> parse_text_row(ByteSpan payload, std::size_t column_count) noexcept;

/* The events of a query response, one per packet fed. */
struct ResultColumnCount {
	std::uint64_t count;
};

struct ResultColumn {
	/* 0-based; index + 1 == count marks the last definition, which with CLIENT_DEPRECATE_EOF is
	 * the only sign that the definitions are over. */
	std::size_t index;
	ColumnDefinition definition;
};

/* The EOF packet after the column definitions; only without CLIENT_DEPRECATE_EOF. */
struct ResultColumnsEnd {
	EofPacket eof;
};

struct ResultRow {
	TextRow row;
};

/* The end of one result: an OK instead of a result set (INSERT, SET, ...), or the terminator after
 * the rows (an EOF packet, whose fields other than warnings and status_flags then read 0, or an OK
 * with header 0xFE under CLIENT_DEPRECATE_EOF).  With more_results() the reader expects the next
 * result of a multi-statement query or a CALL. */
struct ResultEnd {
	OkPacket ok;
	/* False for an OK that came instead of a result set. */
	bool had_result_set;

	bool more_results() const noexcept;
};

/* An ERR in place of the result set, a definition or a row: the response is over. */
struct ResultError {
	ErrPacket err;
};

using ResultSetEvent =
	std::variant<ResultColumnCount, ResultColumn, ResultColumnsEnd, ResultRow, ResultEnd, ResultError>;

/* Reads the whole response to one COM_QUERY, multi-statement results included.  Feed each logical
 * payload (continuation packets joined; a physical packet works too for telling rows from the
 * terminator, as a 0xFE row is always a full 0xFFFFFF packet).  After a parse error the reader stays
 * failed; after the last ResultEnd or a ResultError it is done and reset() prepares it for the next
 * query. */
class ResultSetReader {
	enum class State : std::uint8_t { RESPONSE, COLUMNS, COLUMNS_EOF, ROWS, DONE, FAILED };

	std::uint32_t capabilities;
	std::size_t max_columns;
	State state = State::RESPONSE;
	std::size_t columns = 0;
	std::size_t columns_seen = 0;

	ParseResult<ResultSetEvent> fail(ParseError error) noexcept;
	ParseResult<ResultSetEvent> end_result(ByteSpan payload, bool had_result_set) noexcept;
	ParseResult<ResultSetEvent> error_packet(ByteSpan payload) noexcept;
	ParseResult<ResultSetEvent> response(ByteSpan payload) noexcept;
	ParseResult<ResultSetEvent> column(ByteSpan payload) noexcept;
	ParseResult<ResultSetEvent> columns_eof(ByteSpan payload) noexcept;
	ParseResult<ResultSetEvent> row(ByteSpan payload) noexcept;

public:
	/* @negotiated_capabilities: the session's, which decide the EOF/OK terminators and the shape
	 * of OK and ERR packets. */
	explicit ResultSetReader(std::uint32_t negotiated_capabilities,
				 std::size_t max_column_count = MAX_RESULT_COLUMNS) noexcept
		: capabilities(negotiated_capabilities), max_columns(max_column_count) {}

	ParseResult<ResultSetEvent> feed(ByteSpan payload) noexcept;

	/* The response is complete: the last result ended without SERVER_MORE_RESULTS_EXISTS, or an ERR
	 * came. */
	bool done() const noexcept { return state == State::DONE; }
	bool failed() const noexcept { return state == State::FAILED; }
	/* The current result set's column count (0 between results). */
	std::size_t column_count() const noexcept { return columns; }

	void reset() noexcept
	{
		state = State::RESPONSE;
		columns = columns_seen = 0;
	}
};

} // namespace myproxy
