// A bounds-checked cursor over an untrusted byte span: the only way common/ parsers read input.
// Errors are sticky: the first failed read records what and where, every later read returns zero
// or an empty view, so a parser reads all its fields and checks ok() once.  Never reads past the
// span, never allocates, never throws.
#pragma once

#include "parse_result.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace myproxy {

using ByteSpan = std::span<const std::uint8_t>;

class ByteReader {
	ByteSpan data;
	std::size_t position = 0;
	const char *failure = nullptr;
	std::size_t failure_offset = 0;

public:
	explicit ByteReader(ByteSpan bytes) noexcept : data(bytes) {}

	bool ok() const noexcept { return failure == nullptr; }
	ParseError error() const noexcept { return {failure, failure_offset}; }
	std::size_t offset() const noexcept { return position; }
	std::size_t remaining() const noexcept { return ok() ? data.size() - position : 0; }
	bool at_end() const noexcept { return remaining() == 0; }

	/* Record a problem found by the caller (first one wins); returns false for convenience. */
	bool fail(const char *what) noexcept {
		if (failure == nullptr) {
			failure = what;
			failure_offset = position;
		}
		return false;
	}

	/* Fails with @what unless at least @n bytes remain. */
	bool need(std::size_t n, const char *what) noexcept {
		if (!ok())
			return false;
		if (n > data.size() - position)
			return fail(what);
		return true;
	}

	/* The next byte without consuming it; 0 (and a failure) at the end. */
	std::uint8_t peek(const char *what) noexcept {
		return need(1, what) ? data[position] : 0;
	}

	std::uint8_t u8(const char *what) noexcept {
		return need(1, what) ? data[position++] : 0;
	}

	/* Little-endian unsigned integer of @n bytes (1..8), as in the MySQL protocol. */
	std::uint64_t uint_le(std::size_t n, const char *what) noexcept {
		if (!need(n, what))
			return 0;
		std::uint64_t value = 0;
		for (std::size_t i = 0; i < n; ++i)
			value |= std::uint64_t(data[position + i]) << (8 * i);
		position += n;
		return value;
	}

	std::uint16_t u16(const char *what) noexcept { return std::uint16_t(uint_le(2, what)); }
	std::uint32_t u24(const char *what) noexcept { return std::uint32_t(uint_le(3, what)); }
	std::uint32_t u32(const char *what) noexcept { return std::uint32_t(uint_le(4, what)); }
	std::uint64_t u64(const char *what) noexcept { return uint_le(8, what); }

	ByteSpan bytes(std::size_t n, const char *what) noexcept {
		if (!need(n, what))
			return {};
		ByteSpan result = data.subspan(position, n);
		position += n;
		return result;
	}

	std::string_view string(std::size_t n, const char *what) noexcept {
		return as_string(bytes(n, what));
	}

	/* Consumes @n bytes without looking at them (reserved/filler fields). */
	void skip(std::size_t n, const char *what) noexcept { (void)bytes(n, what); }

	/* A NUL-terminated string; the terminator is consumed but not part of the result. */
	std::string_view null_terminated(const char *what) noexcept {
		if (!ok())
			return {};
		for (std::size_t i = position; i < data.size(); ++i) {
			if (data[i] == 0) {
				std::string_view result = as_string(data.subspan(position, i - position));
				position = i + 1;
				return result;
			}
		}
		fail(what);
		return {};
	}

	/* Everything up to the end of the span ("string<EOF>"). */
	ByteSpan rest() noexcept {
		if (!ok())
			return {};
		ByteSpan result = data.subspan(position);
		position = data.size();
		return result;
	}

	std::string_view rest_string() noexcept { return as_string(rest()); }

	static std::string_view as_string(ByteSpan bytes) noexcept {
		return {reinterpret_cast<const char *>(bytes.data()), bytes.size()};
	}
};

} // namespace myproxy
