// The cgroup xattr blob (see cgroup_xattrs.hpp).  The validator is the one place that decides what
// a well-formed blob is; the cursor trusts only blobs it has passed.
#include "cgroup_xattrs.hpp"

namespace myproxy {

bool cgroup_xattr_name_allowed(std::string_view name) noexcept
{
	if (name.size() > 255 || name.find('\0') != std::string_view::npos)
		return false;
	for (std::string_view prefix : {std::string_view("user."), std::string_view("trusted.")})
		if (name.size() > prefix.size() && name.starts_with(prefix))
			return true;
	return false;
}

bool append_cgroup_xattr(std::vector<std::uint8_t> &blob, unsigned level, std::string_view name,
			 std::string_view value)
{
	if (level >= cgroup_xattr_levels_max || !cgroup_xattr_name_allowed(name) ||
	    value.size() > cgroup_xattr_value_max)
		return false;
	const std::size_t entry = 1 + 1 + name.size() + 2 + value.size();
	if (blob.size() + entry > cgroup_xattrs_max_size)
		return false;
	blob.push_back(std::uint8_t(level));
	blob.push_back(std::uint8_t(name.size()));
	blob.insert(blob.end(), name.begin(), name.end());
	blob.push_back(std::uint8_t(value.size() & 0xff));
	blob.push_back(std::uint8_t(value.size() >> 8));
	blob.insert(blob.end(), value.begin(), value.end());
	return true;
}

ParseResult<std::size_t> validate_cgroup_xattrs(ByteSpan blob) noexcept
{
	if (blob.size() > cgroup_xattrs_max_size)
		return ParseError{"cgroup xattrs: too large", cgroup_xattrs_max_size};
	ByteReader r(blob);
	std::size_t count = 0, at_level = 0;
	unsigned previous = 0;
	while (r.ok() && !r.at_end()) {
		const std::size_t offset = r.offset();
		const unsigned level = r.u8("cgroup xattrs: level past end");
		const std::size_t name_length = r.u8("cgroup xattrs: name length past end");
		const std::string_view name = ByteReader::as_string(r.bytes(name_length, "cgroup xattrs: name past end"));
		const std::size_t value_length = r.u16("cgroup xattrs: value length past end");
		r.bytes(value_length, "cgroup xattrs: value past end");
		if (!r.ok())
			break;
		if (level >= cgroup_xattr_levels_max)
			return ParseError{"cgroup xattrs: level too deep", offset};
		if (level < previous)
			return ParseError{"cgroup xattrs: levels out of order", offset};
		at_level = level == previous && count > 0 ? at_level + 1 : 1;
		if (at_level > cgroup_xattrs_per_level_max)
			return ParseError{"cgroup xattrs: too many at one level", offset};
		if (!cgroup_xattr_name_allowed(name))
			return ParseError{"cgroup xattrs: name not allowed", offset};
		if (value_length > cgroup_xattr_value_max)
			return ParseError{"cgroup xattrs: value too long", offset};
		previous = level;
		++count;
	}
	if (!r.ok())
		return r.error();
	return count;
}

bool CgroupXattrCursor::next(CgroupXattr &out) noexcept
{
	if (rest.size() < 4)
		return false;
	ByteReader r(rest);
	out.level = r.u8("");
	const std::size_t name_length = r.u8("");
	out.name = ByteReader::as_string(r.bytes(name_length, ""));
	const std::size_t value_length = r.u16("");
	out.value = ByteReader::as_string(r.bytes(value_length, ""));
	if (!r.ok())
		return false;
	rest = rest.subspan(r.offset());
	return true;
}

} // namespace myproxy
