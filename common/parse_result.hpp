// The outcome of parsing untrusted bytes: a value, or a precise error naming what was wrong and
// where.  Shared by every parser in common/; no I/O, no allocation.  Parsers never throw: the
// connection boundary decides what a ParseError means (ERR packet, log line, close).
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>
#include <variant>

namespace myproxy {

struct ParseError {
	/* A static string naming the field and the problem, e.g. "lenenc string: length past end". */
	const char *what;
	/* Byte offset into the parsed span where the problem was detected. */
	std::size_t offset;
};

template<typename T>
class [[nodiscard]] ParseResult {
	std::variant<T, ParseError> v;

public:
	ParseResult(T value) noexcept(std::is_nothrow_move_constructible_v<T>) : v(std::move(value)) {}
	ParseResult(ParseError error) noexcept : v(error) {}

	bool ok() const noexcept { return v.index() == 0; }
	explicit operator bool() const noexcept { return ok(); }

	/* Only valid when ok(). */
	T &value() noexcept { return *std::get_if<0>(&v); }
	const T &value() const noexcept { return *std::get_if<0>(&v); }
	T *operator->() noexcept { return std::get_if<0>(&v); }
	const T *operator->() const noexcept { return std::get_if<0>(&v); }
	T &operator*() noexcept { return value(); }
	const T &operator*() const noexcept { return value(); }

	/* Only valid when !ok(). */
	const ParseError &error() const noexcept { return *std::get_if<1>(&v); }
};

} // namespace myproxy
