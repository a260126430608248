// Appends MySQL protocol fields to a caller-owned byte vector.  The caller reuses the vector
// across packets, so building a packet allocates only when the vector must grow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace myproxy {

class ByteWriter {
	std::vector<std::uint8_t> &out;

public:
	explicit ByteWriter(std::vector<std::uint8_t> &buffer) noexcept : out(buffer) {}

	std::size_t size() const noexcept { return out.size(); }
	std::vector<std::uint8_t> &buffer() noexcept { return out; }

	void u8(std::uint8_t value) { out.push_back(value); }

	/* Little-endian unsigned integer of @n bytes (1..8). */
	void uint_le(std::uint64_t value, std::size_t n) {
		for (std::size_t i = 0; i < n; ++i)
			out.push_back(std::uint8_t(value >> (8 * i)));
	}

	void u16(std::uint16_t value) { uint_le(value, 2); }
	void u24(std::uint32_t value) { uint_le(value, 3); }
	void u32(std::uint32_t value) { uint_le(value, 4); }
	void u64(std::uint64_t value) { uint_le(value, 8); }

	void zeros(std::size_t n) { out.insert(out.end(), n, 0); }

	void bytes(std::span<const std::uint8_t> data) { out.insert(out.end(), data.begin(), data.end()); }

	void string(std::string_view s) { out.insert(out.end(), s.begin(), s.end()); }

	void null_terminated(std::string_view s) {
		string(s);
		u8(0);
	}

	/* Overwrites @n bytes at @offset with a little-endian @value (for lengths known only later). */
	void patch_uint_le(std::size_t offset, std::uint64_t value, std::size_t n) noexcept {
		for (std::size_t i = 0; i < n; ++i)
			out[offset + i] = std::uint8_t(value >> (8 * i));
	}
};

} // namespace myproxy
