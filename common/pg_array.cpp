// The array text format (see pg_array.hpp).  A recursive-descent parser over a string_view with an
// explicit depth bound; every read checks the position against the end first.
#include "common/pg_array.hpp"

namespace myproxy {

namespace {

bool is_space(char c) noexcept
{
	/* What PostgreSQL's array_isspace() accepts. */
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool equals_null(std::string_view s) noexcept
{
	if (s.size() != 4)
		return false;
	const char *null = "null";
	for (std::size_t i = 0; i < 4; ++i)
		if ((s[i] | 0x20) != null[i])
			return false;
	return true;
}

class Parser {
public:
	explicit Parser(std::string_view text) noexcept : text_(text) {}

	ParseResult<PgArrayElement> parse()
	{
		skip_space();
		if (pos_ < text_.size() && text_[pos_] == '[' && !skip_dimensions())
			return error_;
		PgArrayElement root;
		if (!parse_array(root, 1))
			return error_;
		skip_space();
		if (pos_ != text_.size())
			return ParseError{"pg array: junk after the closing brace", pos_};
		return root;
	}

private:
	std::string_view text_;
	std::size_t pos_ = 0;
	ParseError error_{"", 0};

	bool fail(const char *what) noexcept
	{
		error_ = {what, pos_};
		return false;
	}

	void skip_space() noexcept
	{
		while (pos_ < text_.size() && is_space(text_[pos_]))
			++pos_;
	}

	/* "[1:3][0:1]=" : bounds are only checked for their form. */
	bool skip_dimensions() noexcept
	{
		while (pos_ < text_.size() && text_[pos_] == '[') {
			++pos_;
			bool digits = false;
			while (pos_ < text_.size() && text_[pos_] != ']') {
				const char c = text_[pos_];
				if (!((c >= '0' && c <= '9') || c == ':' || c == '-' || c == '+'))
					return fail("pg array: bad character in the dimensions");
				digits = digits || (c >= '0' && c <= '9');
				++pos_;
			}
			if (pos_ == text_.size() || !digits)
				return fail("pg array: unterminated dimensions");
			++pos_;
		}
		skip_space();
		if (pos_ == text_.size() || text_[pos_] != '=')
			return fail("pg array: '=' expected after the dimensions");
		++pos_;
		skip_space();
		return true;
	}

	bool parse_array(PgArrayElement &array, unsigned depth)
	{
		if (depth > pg_array_max_depth)
			return fail("pg array: nested too deeply");
		if (pos_ == text_.size() || text_[pos_] != '{')
			return fail("pg array: '{' expected");
		++pos_;
		array.kind = PgArrayElement::Kind::array;
		skip_space();
		if (pos_ < text_.size() && text_[pos_] == '}') {
			++pos_;
			return true;
		}
		for (;;) {
			skip_space();
			if (pos_ == text_.size())
				return fail("pg array: unterminated array");
			PgArrayElement &element = array.elements.emplace_back();
			if (text_[pos_] == '{') {
				if (!parse_array(element, depth + 1))
					return false;
			} else if (!parse_value(element)) {
				return false;
			}
			const bool nested = element.kind == PgArrayElement::Kind::array;
			if (nested != (array.elements.front().kind == PgArrayElement::Kind::array))
				return fail("pg array: arrays and values mixed in one dimension");
			skip_space();
			if (pos_ == text_.size())
				return fail("pg array: unterminated array");
			if (text_[pos_] == '}') {
				++pos_;
				return true;
			}
			if (text_[pos_] != ',')
				return fail("pg array: ',' or '}' expected");
			++pos_;
		}
	}

	bool parse_value(PgArrayElement &element)
	{
		element.kind = PgArrayElement::Kind::text;
		if (text_[pos_] == '"') {
			++pos_;
			for (;;) {
				if (pos_ == text_.size())
					return fail("pg array: unterminated quoted value");
				char c = text_[pos_++];
				if (c == '"')
					return true;
				if (c == '\\') {
					if (pos_ == text_.size())
						return fail("pg array: backslash at the end");
					c = text_[pos_++];
				}
				element.text.push_back(c);
			}
		}
		/* Unquoted: up to ',' or '}'; trailing whitespace is dropped unless escaped. */
		const std::size_t start = pos_;
		std::size_t kept = 0; /* length of element.text up to its last significant char */
		bool escaped = false;
		while (pos_ < text_.size()) {
			char c = text_[pos_];
			if (c == ',' || c == '}')
				break;
			if (c == '"' || c == '{')
				return fail("pg array: unexpected quote or brace in an unquoted value");
			++pos_;
			if (c == '\\') {
				if (pos_ == text_.size())
					return fail("pg array: backslash at the end");
				c = text_[pos_++];
				escaped = true;
				element.text.push_back(c);
				kept = element.text.size();
				continue;
			}
			element.text.push_back(c);
			if (!is_space(c))
				kept = element.text.size();
		}
		element.text.resize(kept);
		if (pos_ == start || (kept == 0 && !escaped))
			return fail("pg array: empty unquoted value");
		if (!escaped && equals_null(element.text)) {
			element.kind = PgArrayElement::Kind::null;
			element.text.clear();
		}
		return true;
	}
};

void append_array(std::string &out, const PgArrayElement &array)
{
	out.push_back('{');
	bool first = true;
	for (const PgArrayElement &element : array.elements) {
		if (!first)
			out.push_back(',');
		first = false;
		switch (element.kind) {
		case PgArrayElement::Kind::null:
			out += "NULL";
			break;
		case PgArrayElement::Kind::text:
			append_pg_array_value(out, element.text);
			break;
		case PgArrayElement::Kind::array:
			append_array(out, element);
			break;
		}
	}
	out.push_back('}');
}

} // namespace

ParseResult<PgArrayElement> parse_pg_array(std::string_view text)
{
	return Parser(text).parse();
}

bool pg_array_value_needs_quotes(std::string_view value) noexcept
{
	if (value.empty() || equals_null(value))
		return true;
	for (const char c : value)
		if (c == '{' || c == '}' || c == ',' || c == '"' || c == '\\' || is_space(c))
			return true;
	return false;
}

void append_pg_array_value(std::string &out, std::string_view value)
{
	if (!pg_array_value_needs_quotes(value)) {
		out += value;
		return;
	}
	out.push_back('"');
	for (const char c : value) {
		if (c == '"' || c == '\\')
			out.push_back('\\');
		out.push_back(c);
	}
	out.push_back('"');
}

std::string encode_pg_array(const PgArrayElement &array)
{
	std::string out;
	append_array(out, array);
	return out;
}

} // namespace myproxy
