// cgroup v2 mount and xattrs (master side; see cgroup_reader.hpp).  listxattr/getxattr on paths
// under cgroupfs: the names are bounded by the kernel (XATTR_LIST_MAX), the values by our own
// buffer; a value that grew between the two calls is skipped (ERANGE), never truncated.
#include "master/cgroup_reader.hpp"

#include "common/cgroup_xattrs.hpp"
#include "common/log.hpp"

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>

namespace myproxy {

namespace {

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
std::string unescape_mount_field(std::string_view field)
{
	std::string out;
	out.reserve(field.size());
	for (std::size_t i = 0; i < field.size(); ++i) {
		if (field[i] == '\\' && i + 3 < field.size() &&
		    field[i + 1] >= '0' && field[i + 1] <= '3' && field[i + 2] >= '0' && field[i + 2] <= '7' &&
		    field[i + 3] >= '0' && field[i + 3] <= '7') {
			out += char((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0'));
			i += 3;
		} else {
			out += field[i];
		}
	}
	return out;
}

std::string read_small_file(const char *path)
{
	std::string text;
	const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return text;
	char buffer[8192];
	for (;;) {
		const ssize_t n = read(fd, buffer, sizeof(buffer));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || text.size() > (1u << 20))
			break;
		text.append(buffer, std::size_t(n));
	}
	close(fd);
	return text;
}

void read_one_directory(const std::string &directory, unsigned level, std::vector<std::uint8_t> &blob)
{
	char names[4096];
	const ssize_t length = llistxattr(directory.c_str(), names, sizeof(names));
	if (length <= 0) {
		if (length < 0 && errno != ENOTSUP && errno != ENODATA)
			log_errno(LogLevel::debug, errno, nullptr, "llistxattr(%s)", directory.c_str());
		return;
	}
	unsigned taken = 0;
	char value[cgroup_xattr_value_max];
	for (std::size_t offset = 0; offset < std::size_t(length);) {
		const std::string_view name(names + offset);
		offset += name.size() + 1;
		if (!cgroup_xattr_name_allowed(name))
			continue;
		if (taken >= cgroup_xattrs_per_level_max) {
			log_debug("%s: more than %zu xattrs; the rest is left out", directory.c_str(),
				  cgroup_xattrs_per_level_max);
			return;
		}
		const std::string name_string(name);
		const ssize_t size = lgetxattr(directory.c_str(), name_string.c_str(), value, sizeof(value));
		if (size < 0) {
			log_errno(LogLevel::debug, errno, nullptr, "lgetxattr(%s, %s)", directory.c_str(),
				  name_string.c_str());
			continue;
		}
		if (!append_cgroup_xattr(blob, level, name, std::string_view(value, std::size_t(size)))) {
			log_debug("%s: xattr %s does not fit; left out", directory.c_str(), name_string.c_str());
			continue;
		}
		++taken;
	}
}

} // namespace

std::optional<std::string> find_cgroup2_mount(std::string_view text)
{
	std::size_t offset = 0;
	while (offset < text.size()) {
		std::size_t end = text.find('\n', offset);
		if (end == std::string_view::npos)
			end = text.size();
		const std::string_view line = text.substr(offset, end - offset);
		offset = end + 1;
		/* "36 25 0:31 / /sys/fs/cgroup/unified rw,... shared:10 - cgroup2 cgroup2 rw" */
		const auto separator = line.find(" - ");
		if (separator == std::string_view::npos)
			continue;
		const std::string_view after = line.substr(separator + 3);
		if (!after.starts_with("cgroup2 "))
			continue;
		std::string_view fields = line.substr(0, separator);
		std::string_view mount_point;
		for (int i = 0; i <= 4; ++i) {
			const auto space = fields.find(' ');
			const std::string_view field = fields.substr(0, space);
			if (i == 4)
				mount_point = field;
			if (space == std::string_view::npos) {
				if (i < 4)
					mount_point = {};
				break;
			}
			fields = fields.substr(space + 1);
		}
		if (!mount_point.empty() && mount_point.front() == '/')
			return unescape_mount_field(mount_point);
	}
	return std::nullopt;
}

const std::string &cgroup2_mount()
{
	static const std::string mount = [] {
		const auto found = find_cgroup2_mount(read_small_file("/proc/self/mountinfo"));
		if (!found) {
			log_info("no cgroup2 file system mounted: client.cgroup.xattr stays empty");
			return std::string();
		}
		log_debug("cgroup2 is mounted at %s", found->c_str());
		return *found;
	}();
	return mount;
}

void read_cgroup_xattrs(const std::string &mount, std::string_view cgroup_path, std::vector<std::uint8_t> &blob)
{
	if (mount.empty() || cgroup_path.empty() || cgroup_path.front() != '/')
		return;
	/* ".." would climb out of cgroupfs; /proc never shows one, but the path is still input. */
	if (cgroup_path.find("/../") != std::string_view::npos || cgroup_path.ends_with("/.."))
		return;
	std::string_view path = cgroup_path;
	for (unsigned level = 0; level < cgroup_xattr_levels_max; ++level) {
		const std::string directory = path == "/" ? mount : mount + std::string(path);
		read_one_directory(directory, level, blob);
		if (path == "/")
			return;
		const auto slash = path.rfind('/');
		path = slash == 0 ? std::string_view("/") : path.substr(0, slash);
	}
}

} // namespace myproxy
