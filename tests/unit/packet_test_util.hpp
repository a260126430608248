// Helpers shared by the packet unit tests: byte vectors from hex (as captured from a MariaDB 10.11
// server) and the "every truncated prefix" loop that every parser must survive.
#pragma once

#include "common/parse_result.hpp"
#include "common/byte_reader.hpp"

#include <check.h>

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

namespace packet_test {

inline std::vector<std::uint8_t> from_hex(std::string_view hex)
{
	auto nibble = [](char c) -> std::uint8_t {
		if (c >= '0' && c <= '9')
			return std::uint8_t(c - '0');
		if (c >= 'a' && c <= 'f')
			return std::uint8_t(c - 'a' + 10);
		ck_abort_msg("bad hex digit");
		return 0;
	};
	std::vector<std::uint8_t> out;
	bool high = true;
	for (char c : hex) {
		if (c == ' ')
			continue;
		if (high)
			out.push_back(std::uint8_t(nibble(c) << 4));
		else
			out.back() |= nibble(c);
		high = !high;
	}
	ck_assert_msg(high, "odd number of hex digits");
	return out;
}

inline std::vector<std::uint8_t> bytes_of(std::string_view s)
{
	return {s.begin(), s.end()};
}

inline bool same(myproxy::ByteSpan a, myproxy::ByteSpan b)
{
	return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

/* True if @inner lies within @outer (views returned by a parser must point into its input). */
inline bool within(myproxy::ByteSpan inner, myproxy::ByteSpan outer)
{
	if (inner.empty())
		return true;
	return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

inline bool within(std::string_view inner, myproxy::ByteSpan outer)
{
	return within(myproxy::ByteSpan(reinterpret_cast<const std::uint8_t *>(inner.data()), inner.size()), outer);
}

/* Calls @parse on a heap copy of every proper prefix of @packet (so AddressSanitizer sees any read
 * past it) and checks that each result is a clean error with an offset inside the prefix, or a
 * value accepted by @check_value.  Returns how many prefixes parsed. */
template<typename Parse, typename CheckValue>
std::size_t for_every_prefix(const std::vector<std::uint8_t> &packet, Parse parse, CheckValue check_value)
{
	std::size_t parsed = 0;
	for (std::size_t n = 0; n < packet.size(); ++n) {
		const std::vector<std::uint8_t> prefix(packet.begin(), packet.begin() + std::ptrdiff_t(n));
		const auto result = parse(myproxy::ByteSpan(prefix));
		if (result.ok()) {
			check_value(result.value(), myproxy::ByteSpan(prefix));
			++parsed;
		} else {
			ck_assert_ptr_nonnull(result.error().what);
			ck_assert_uint_le(result.error().offset, n);
		}
	}
	return parsed;
}

} // namespace packet_test
