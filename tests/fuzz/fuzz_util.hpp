// Shared by the fuzz targets: reading every byte a parser hands out (so AddressSanitizer sees a view
// that reaches past the input) and aborting on a broken invariant, which libFuzzer and the replay
// driver both report as a failure.  Test code only: never linked into myproxy, never throws.
#pragma once

#include "common/byte_reader.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

/* Each fuzz_<name>.cpp defines it; libFuzzer or replay_main.cpp calls it. */
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size);

namespace fuzz {

using myproxy::ByteSpan;

/* Keeps the sums observable, so the compiler cannot drop the reads. */
inline volatile std::uint64_t sink = 0;

[[noreturn]] inline void invariant_broken(const char *file, int line, const char *condition) noexcept
{
	std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, condition);
	std::abort();
}

inline ByteSpan bytes_of(std::string_view s) noexcept
{
	return {reinterpret_cast<const std::uint8_t *>(s.data()), s.size()};
}

inline void touch(ByteSpan bytes) noexcept
{
	std::uint64_t sum = 0;
	for (std::uint8_t b : bytes)
		sum += b;
	sink = sink + sum;
}

inline void touch(std::string_view s) noexcept
{
	touch(bytes_of(s));
}

/* True if @inner lies inside @outer: a parser's views must point into the input it was given. */
inline bool within(ByteSpan inner, ByteSpan outer) noexcept
{
	if (inner.empty())
		return true;
	const auto inner_at = reinterpret_cast<std::uintptr_t>(inner.data());
	const auto outer_at = reinterpret_cast<std::uintptr_t>(outer.data());
	return inner_at >= outer_at && inner_at - outer_at <= outer.size() &&
	       inner.size() <= outer.size() - (inner_at - outer_at);
}

inline bool within(std::string_view inner, ByteSpan outer) noexcept
{
	return within(bytes_of(inner), outer);
}

/* Touches @view and checks that it lies inside @input. */
template<typename View>
bool view_ok(View view, ByteSpan input) noexcept
{
	touch(view);
	return within(view, input);
}

inline std::string_view as_string(ByteSpan bytes) noexcept
{
	return {reinterpret_cast<const char *>(bytes.data()), bytes.size()};
}

inline bool same(ByteSpan a, ByteSpan b) noexcept
{
	return as_string(a) == as_string(b);
}

/* A parse error must name the problem and point inside the input. */
inline bool error_ok(const myproxy::ParseError &error, ByteSpan input) noexcept
{
	return error.what != nullptr && error.what[0] != '\0' && error.offset <= input.size();
}

} // namespace fuzz

/* A macro only to report the file and line (std::source_location needs clang 15 with libstdc++). */
#define FUZZ_CHECK(condition) ((condition) ? (void)0 : fuzz::invariant_broken(__FILE__, __LINE__, #condition))
