// The extended attributes of a client's cgroup and its ancestors as they travel in NEW_CLIENT: one
// bounded blob of entries, written by the master (which reads them from cgroupfs), validated by the
// channel decoder, and walked by the worker to build client.cgroup.xattr / .parent.xattr in Lua.
// Pure: no I/O.  Only "user.*" and "trusted.*" names; everything is bounded (count, sizes, depth).
//
// Entry: u8 level (0: the client's cgroup, 1: its parent, ...; never decreasing), u8 name length,
// name, u16 value length, value.
#pragma once

#include "byte_reader.hpp"
#include "parse_result.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace myproxy {

/* The whole blob, all levels together: the master stops adding entries when the next would not fit. */
inline constexpr std::size_t cgroup_xattrs_max_size = 2048;
inline constexpr std::size_t cgroup_xattr_value_max = 1024;
/* Attributes per cgroup directory. */
inline constexpr std::size_t cgroup_xattrs_per_level_max = 32;
/* Levels above the client's cgroup the master looks at (the root is usually reached first). */
inline constexpr std::size_t cgroup_xattr_levels_max = 32;

struct CgroupXattr {
	unsigned level;
	std::string_view name;
	std::string_view value;
};

/* Whether @name is one myproxy passes on: "user.X" or "trusted.X" with X non-empty, no NUL, at
   most 255 bytes in all (XATTR_NAME_MAX). */
bool cgroup_xattr_name_allowed(std::string_view name) noexcept;

/* Appends one entry to @blob; false (and @blob unchanged) when it would break a bound. */
bool append_cgroup_xattr(std::vector<std::uint8_t> &blob, unsigned level, std::string_view name,
			 std::string_view value);

/* Checks the whole blob: sizes, names, levels non-decreasing and below the bound, per-level count. */
ParseResult<std::size_t> validate_cgroup_xattrs(ByteSpan blob) noexcept;

/* Walks a blob that passed validate_cgroup_xattrs(): returns false at the end. */
class CgroupXattrCursor {
public:
	explicit CgroupXattrCursor(ByteSpan blob) noexcept : rest(blob) {}
	bool next(CgroupXattr &out) noexcept;

private:
	ByteSpan rest;
};

} // namespace myproxy
