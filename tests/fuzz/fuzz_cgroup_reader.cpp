// Fuzz target for master/cgroup_reader.hpp's find_cgroup2_mount(): a /proc/self/mountinfo text
// (mount points are chosen by whoever may mount, octal escapes included).  A mount point found is
// escaped again the way the kernel does and put in a fresh mountinfo line: parsing that must give
// the same mount point back.
#include "master/cgroup_reader.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <cstdio>
#include <string>
#include <string_view>

using namespace myproxy;

/* The kernel's show_mountinfo() escaping: space, tab, newline and backslash as \ooo. */
static std::string escape_mount_point(std::string_view path)
{
	std::string out;
	for (char c : path) {
		if (c == ' ' || c == '\t' || c == '\n' || c == '\\') {
			char octal[5];
			std::snprintf(octal, sizeof(octal), "\\%03o", unsigned(std::uint8_t(c)));
			out += octal;
		} else {
			out += c;
		}
	}
	return out;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const std::string_view text(reinterpret_cast<const char *>(data), size);
	const auto mount = find_cgroup2_mount(text);
	if (!mount)
		return 0;
	fuzz::touch(*mount);
	FUZZ_CHECK(!mount->empty());
	if (mount->find('\0') != std::string::npos)
		return 0; /* a NUL decoded from "\000" cannot be a real path; not rebuilt */
	const std::string line = "30 1 0:26 / " + escape_mount_point(*mount) +
				 " rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
	const auto again = find_cgroup2_mount(line);
	FUZZ_CHECK(again.has_value());
	FUZZ_CHECK(*again == *mount);
	return 0;
}
