// Length-encoded integers and strings of the MySQL protocol ("int<lenenc>", "string<lenenc>").
// A first byte below 0xFB is the value; 0xFC, 0xFD and 0xFE announce 2, 3 and 8 more bytes.
// 0xFB means SQL NULL in result rows only, 0xFF is never a valid prefix (it marks ERR packets).
#pragma once

#include "byte_reader.hpp"
#include "byte_writer.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace myproxy {

constexpr std::uint8_t LENENC_NULL = 0xFB;

/* Reads an int<lenenc>; NULL (0xFB) and 0xFF are errors here. */
std::uint64_t read_lenenc_int(ByteReader &r, const char *what) noexcept;

/* Reads a string<lenenc>; fails if the length points past the end of the span. */
std::string_view read_lenenc_string(ByteReader &r, const char *what) noexcept;

/* Like read_lenenc_string, but a 0xFB prefix yields std::nullopt (a NULL column in a text row). */
std::optional<std::string_view> read_lenenc_string_or_null(ByteReader &r, const char *what) noexcept;

/* Number of bytes write_lenenc_int() produces for @value. */
std::size_t lenenc_int_size(std::uint64_t value) noexcept;

void write_lenenc_int(ByteWriter &w, std::uint64_t value);
void write_lenenc_string(ByteWriter &w, std::string_view s);

} // namespace myproxy
