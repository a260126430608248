// Text result sets; see result_set.hpp.  The reader validates each packet completely when it is fed,
// so that the views it hands out can be walked later without any further checks.
#include "result_set.hpp"

#include "lenenc.hpp"
#include "mysql_capabilities.hpp"

namespace myproxy {

ParseResult<ColumnDefinition> parse_column_definition(ByteSpan payload) noexcept
{
	ByteReader r(payload);
	ColumnDefinition column;
	column.catalog = read_lenenc_string(r, "ColumnDefinition41: catalog past end or bad length");
	column.schema = read_lenenc_string(r, "ColumnDefinition41: schema past end or bad length");
	column.table = read_lenenc_string(r, "ColumnDefinition41: table past end or bad length");
	column.org_table = read_lenenc_string(r, "ColumnDefinition41: org_table past end or bad length");
	column.name = read_lenenc_string(r, "ColumnDefinition41: name past end or bad length");
	column.org_name = read_lenenc_string(r, "ColumnDefinition41: org_name past end or bad length");
	const std::size_t fixed_length_offset = r.offset();
	const std::uint64_t fixed_length =
		read_lenenc_int(r, "ColumnDefinition41: fixed-length fields length past end or bad prefix");
	if (r.ok() && fixed_length != COLUMN_DEFINITION_FIXED_LENGTH)
		return ParseError{"ColumnDefinition41: fixed-length fields length is not 0x0C", fixed_length_offset};
	column.character_set = r.u16("ColumnDefinition41: character set past end");
	column.column_length = r.u32("ColumnDefinition41: column length past end");
	column.type = r.u8("ColumnDefinition41: type past end");
	column.flags = r.u16("ColumnDefinition41: flags past end");
	column.decimals = r.u8("ColumnDefinition41: decimals past end");
	r.skip(2, "ColumnDefinition41: filler past end");
	if (!r.ok())
		return r.error();
	if (!r.at_end())
		return ParseError{"ColumnDefinition41: trailing bytes after the fixed-length fields", r.offset()};
	return column;
}

TextRow::Iterator::Iterator(ByteSpan bytes, std::size_t columns) noexcept : reader(bytes), left(columns)
{
	if (left > 0)
		advance();
}

void TextRow::Iterator::advance() noexcept
{
	current = read_lenenc_string_or_null(reader, "text row: column past end");
}

TextRow::Iterator &TextRow::Iterator::operator++() noexcept
{
	if (left > 0 && --left > 0)
		advance();
	return *this;
}

ParseResult<TextRow> parse_text_row(ByteSpan payload, std::size_t column_count) noexcept
{
	if (column_count == 0)
		return ParseError{"text row: no columns announced", 0};
	ByteReader r(payload);
	for (std::size_t i = 0; i < column_count; ++i) {
		if (r.ok() && r.at_end())
			return ParseError{"text row: fewer columns than announced", r.offset()};
		(void)read_lenenc_string_or_null(r, "text row: column length past end or bad prefix");
	}
	if (!r.ok())
		return r.error();
	if (!r.at_end())
		return ParseError{"text row: more columns than announced", r.offset()};
	return TextRow(payload, column_count);
}

bool ResultEnd::more_results() const noexcept
{
	return (ok.status_flags & SERVER_MORE_RESULTS_EXISTS) != 0;
}

ParseResult<ResultSetEvent> ResultSetReader::fail(ParseError error) noexcept
{
	state = State::FAILED;
	return error;
}

ParseResult<ResultSetEvent> ResultSetReader::end_result(ByteSpan payload, bool had_result_set) noexcept
{
	ResultEnd end{{}, had_result_set};
	if (had_result_set && !(capabilities & CLIENT_DEPRECATE_EOF)) {
		auto eof = parse_eof_packet(payload, capabilities);
		if (!eof)
			return fail(eof.error());
		end.ok.header = EOF_HEADER;
		end.ok.warnings = eof->warnings;
		end.ok.status_flags = eof->status_flags;
	} else {
		auto ok = parse_ok_packet(payload, capabilities);
		if (!ok)
			return fail(ok.error());
		end.ok = *ok;
	}
	columns = columns_seen = 0;
	state = end.more_results() ? State::RESPONSE : State::DONE;
	return ResultSetEvent{end};
}

ParseResult<ResultSetEvent> ResultSetReader::error_packet(ByteSpan payload) noexcept
{
	auto err = parse_err_packet(payload, capabilities);
	if (!err)
		return fail(err.error());
	columns = columns_seen = 0;
	state = State::DONE;
	return ResultSetEvent{ResultError{*err}};
}

ParseResult<ResultSetEvent> ResultSetReader::response(ByteSpan payload) noexcept
{
	if (payload.empty())
		return fail({"query response: empty packet", 0});
	switch (payload[0]) {
	case OK_HEADER:
		return end_result(payload, false);
	case ERR_HEADER:
		return error_packet(payload);
	case LENENC_NULL:
		/* CLIENT_LOCAL_FILES is offered to a backend only when relayed for a client, and then
		 * the relay handles the request before it would come here. */
		return fail({"query response: LOCAL INFILE request not expected", 0});
	}
	ByteReader r(payload);
	const std::uint64_t count = read_lenenc_int(r, "column count: past end or bad prefix");
	if (!r.ok())
		return fail(r.error());
	if (!r.at_end())
		/* Metadata caching or optional metadata would add a byte here; neither is negotiated. */
		return fail({"column count: trailing bytes", r.offset()});
	if (count == 0)
		return fail({"column count: zero", 0});
	if (count > max_columns)
		return fail({"column count: more columns than the limit", 0});
	columns = std::size_t(count);
	columns_seen = 0;
	state = State::COLUMNS;
	return ResultSetEvent{ResultColumnCount{count}};
}

ParseResult<ResultSetEvent> ResultSetReader::column(ByteSpan payload) noexcept
{
	if (!payload.empty() && payload[0] == ERR_HEADER)
		return error_packet(payload);
	if (is_eof_packet(payload, capabilities & ~CLIENT_DEPRECATE_EOF))
		return fail({"result set: fewer column definitions than announced", 0});
	auto definition = parse_column_definition(payload);
	if (!definition)
		return fail(definition.error());
	const std::size_t index = columns_seen++;
	if (columns_seen == columns)
		state = capabilities & CLIENT_DEPRECATE_EOF ? State::ROWS : State::COLUMNS_EOF;
	return ResultSetEvent{ResultColumn{index, *definition}};
}

ParseResult<ResultSetEvent> ResultSetReader::columns_eof(ByteSpan payload) noexcept
{
	if (!payload.empty() && payload[0] == ERR_HEADER)
		return error_packet(payload);
	if (!is_eof_packet(payload, capabilities))
		return fail({"result set: EOF expected after the column definitions", 0});
	auto eof = parse_eof_packet(payload, capabilities);
	if (!eof)
		return fail(eof.error());
	state = State::ROWS;
	return ResultSetEvent{ResultColumnsEnd{*eof}};
}

ParseResult<ResultSetEvent> ResultSetReader::row(ByteSpan payload) noexcept
{
	/* 0xFF is never a lenenc prefix, so an ERR cannot be mistaken for a row. */
	if (!payload.empty() && payload[0] == ERR_HEADER)
		return error_packet(payload);
	if (is_eof_packet(payload, capabilities))
		return end_result(payload, true);
	auto text_row = parse_text_row(payload, columns);
	if (!text_row)
		return fail(text_row.error());
	return ResultSetEvent{ResultRow{*text_row}};
}

ParseResult<ResultSetEvent> ResultSetReader::feed(ByteSpan payload) noexcept
{
	switch (state) {
	case State::RESPONSE:
		return response(payload);
	case State::COLUMNS:
		return column(payload);
	case State::COLUMNS_EOF:
		return columns_eof(payload);
	case State::ROWS:
		return row(payload);
	case State::DONE:
		return fail({"result set: packet after the end of the response", 0});
	case State::FAILED:
		break;
	}
	return ParseError{"result set: packet after a parse error", 0};
}

} // namespace myproxy
