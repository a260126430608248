// PostgreSQL's array text format (what array_out writes and array_in reads), for the Lua functions
// pg:encode_array() and pg:decode_array().  Pure: text in, a tree out, or a precise ParseError for
// malformed input; the text may come from anywhere (a database value, a script), so the parser
// treats it as hostile: bounded nesting, no reads past the input.  No I/O.
#pragma once

#include "common/parse_result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace myproxy {

/* PostgreSQL's own limit on array dimensions (MAXDIM); deeper input is refused. */
inline constexpr unsigned pg_array_max_depth = 6;

struct PgArrayElement {
	enum class Kind : std::uint8_t { null, text, array };
	Kind kind = Kind::array;
	/* kind == text: the value, unquoted and unescaped. */
	std::string text;
	/* kind == array: the elements in order. */
	std::vector<PgArrayElement> elements;
};

/* Parses "{a,\"b c\",NULL,{1,2}}" (an optional dimension prefix such as "[0:1]=" is accepted and
 * ignored: elements are numbered from 1).  The root is always an array.  Rules as PostgreSQL's
 * array_in: whitespace around elements is ignored, double quotes and backslashes quote, an unquoted
 * NULL (any case) is a null element, and the elements of one array are either all arrays or all
 * values.  Throws only std::bad_alloc. */
ParseResult<PgArrayElement> parse_pg_array(std::string_view text);

/* True when @value must be double-quoted as an array element: empty, "NULL" in any case, or
 * containing whitespace, braces, commas, double quotes or backslashes. */
bool pg_array_value_needs_quotes(std::string_view value) noexcept;

/* Appends @value as one array element, quoted and escaped when needed. */
void append_pg_array_value(std::string &out, std::string_view value);

/* The text of @array (kind array) as PostgreSQL would write it, e.g. for round trips. */
std::string encode_pg_array(const PgArrayElement &array);

} // namespace myproxy
