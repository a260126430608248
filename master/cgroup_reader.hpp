// Where cgroup v2 lives and what a client's cgroup says about it (master side only: workers cannot
// read files).  The cgroup2 mount comes from /proc/self/mountinfo (/sys/fs/cgroup on pure v2 hosts,
// /sys/fs/cgroup/unified on hybrid ones); the extended attributes ("user.*", "trusted.*") of the
// client's cgroup directory and its ancestors are read into the bounded NEW_CLIENT blob.  Never
// follows symlinks, never writes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace myproxy {

/* Pure: the mount point of the first cgroup2 file system in a /proc/self/mountinfo text (octal
   escapes such as "\040" decoded), or nullopt. */
std::optional<std::string> find_cgroup2_mount(std::string_view mountinfo);

/* The cgroup2 mount of this process's view, read once and remembered; empty when there is none. */
const std::string &cgroup2_mount();

/* Appends the xattrs of @mount + @cgroup_path (level 0) and of each ancestor up to the mount's root
   to @blob, within the bounds of common/cgroup_xattrs.hpp (what does not fit is left out and logged
   at debug level).  Directories that vanish or refuse are skipped. */
void read_cgroup_xattrs(const std::string &mount, std::string_view cgroup_path, std::vector<std::uint8_t> &blob);

} // namespace myproxy
