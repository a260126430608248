// Unit tests for master/cgroup_reader (finding cgroup2 in mountinfo) and common/cgroup_xattrs (the
// bounded blob that carries a cgroup's xattrs in NEW_CLIENT): hybrid, pure v2 and v1-only hosts,
// escaped mount points, and every bound of the blob.
#include "common/cgroup_xattrs.hpp"
#include "master/cgroup_reader.hpp"
#include "tests/check_main.hpp"

#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace myproxy;

START_TEST(test_mount_hybrid)
{
	const char *text =
		"25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
		"35 25 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
		"36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate\n"
		"37 35 0:32 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd\n";
	const auto mount = find_cgroup2_mount(text);
	ck_assert(mount.has_value());
	ck_assert_str_eq(mount->c_str(), "/sys/fs/cgroup/unified");
}
END_TEST

START_TEST(test_mount_pure_v2_and_none)
{
	const auto pure = find_cgroup2_mount(
		"33 24 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n");
	ck_assert(pure.has_value());
	ck_assert_str_eq(pure->c_str(), "/sys/fs/cgroup");

	/* v1 only, a cgroup2 word in the wrong field, garbage: nothing. */
	ck_assert(!find_cgroup2_mount("37 35 0:32 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n").has_value());
	ck_assert(!find_cgroup2_mount("37 35 0:32 / /cgroup2 rw - tmpfs cgroup2 rw\n").has_value());
	ck_assert(!find_cgroup2_mount("").has_value());
	ck_assert(!find_cgroup2_mount(" - cgroup2 cgroup2 rw\n").has_value());
	ck_assert(!find_cgroup2_mount("1 2 - cgroup2 x\n").has_value());
}
END_TEST

START_TEST(test_mount_escaped)
{
	const auto mount = find_cgroup2_mount("40 30 0:40 / /mnt/my\\040cgroup rw shared:1 - cgroup2 cgroup2 rw\n");
	ck_assert(mount.has_value());
	ck_assert_str_eq(mount->c_str(), "/mnt/my cgroup");
}
END_TEST

static ByteSpan span(const std::vector<std::uint8_t> &v)
{
	return ByteSpan(v.data(), v.size());
}

START_TEST(test_blob_round_trip)
{
	std::vector<std::uint8_t> blob;
	ck_assert(append_cgroup_xattr(blob, 0, "user.tenant", "acme"));
	ck_assert(append_cgroup_xattr(blob, 0, "trusted.plan", std::string("a\0b", 3)));
	ck_assert(append_cgroup_xattr(blob, 2, "user.site", ""));
	const auto valid = validate_cgroup_xattrs(span(blob));
	ck_assert(valid.ok());
	ck_assert_uint_eq(valid.value(), 3);

	CgroupXattrCursor cursor(span(blob));
	CgroupXattr x;
	ck_assert(cursor.next(x));
	ck_assert_uint_eq(x.level, 0);
	ck_assert(x.name == "user.tenant" && x.value == "acme");
	ck_assert(cursor.next(x));
	ck_assert(x.name == "trusted.plan" && x.value == std::string_view("a\0b", 3));
	ck_assert(cursor.next(x));
	ck_assert(x.level == 2 && x.name == "user.site" && x.value.empty());
	ck_assert(!cursor.next(x));
}
END_TEST

START_TEST(test_blob_bounds)
{
	std::vector<std::uint8_t> blob;
	/* Names outside user./trusted., empty suffixes, NUL, too long: refused. */
	ck_assert(!append_cgroup_xattr(blob, 0, "security.selinux", "x"));
	ck_assert(!append_cgroup_xattr(blob, 0, "user.", "x"));
	ck_assert(!append_cgroup_xattr(blob, 0, std::string_view("user.a\0b", 8), "x"));
	ck_assert(!append_cgroup_xattr(blob, 0, "user." + std::string(251, 'n'), "x"));
	ck_assert(!append_cgroup_xattr(blob, 0, "user.v", std::string(cgroup_xattr_value_max + 1, 'v')));
	ck_assert(!append_cgroup_xattr(blob, cgroup_xattr_levels_max, "user.deep", "x"));
	ck_assert(blob.empty());
	/* The total size bound. */
	while (append_cgroup_xattr(blob, 0, "user.big", std::string(500, 'b'))) {
	}
	ck_assert_uint_le(blob.size(), cgroup_xattrs_max_size);
	ck_assert(validate_cgroup_xattrs(span(blob)).ok());
}
END_TEST

START_TEST(test_blob_hostile)
{
	/* Truncated entry, levels out of order, a bad name, a value length past the end. */
	const std::vector<std::uint8_t> truncated = {0, 6, 'u', 's', 'e', 'r', '.', 'a', 5};
	ck_assert(!validate_cgroup_xattrs(span(truncated)).ok());
	const std::vector<std::uint8_t> disorder = {1, 6, 'u', 's', 'e', 'r', '.', 'a', 0, 0,
						    0, 6, 'u', 's', 'e', 'r', '.', 'b', 0, 0};
	ck_assert_str_eq(validate_cgroup_xattrs(span(disorder)).error().what, "cgroup xattrs: levels out of order");
	const std::vector<std::uint8_t> bad_name = {0, 3, 'a', 'b', 'c', 0, 0};
	ck_assert_str_eq(validate_cgroup_xattrs(span(bad_name)).error().what, "cgroup xattrs: name not allowed");
	const std::vector<std::uint8_t> past_end = {0, 6, 'u', 's', 'e', 'r', '.', 'a', 0xff, 0x00, 'x'};
	ck_assert(!validate_cgroup_xattrs(span(past_end)).ok());
	const std::vector<std::uint8_t> deep = {40, 6, 'u', 's', 'e', 'r', '.', 'a', 0, 0};
	ck_assert_str_eq(validate_cgroup_xattrs(span(deep)).error().what, "cgroup xattrs: level too deep");
	/* Too many at one level. */
	std::vector<std::uint8_t> many;
	for (unsigned i = 0; i <= cgroup_xattrs_per_level_max; ++i) {
		const std::vector<std::uint8_t> entry = {0, 6, 'u', 's', 'e', 'r', '.', std::uint8_t('a' + i % 26), 0, 0};
		many.insert(many.end(), entry.begin(), entry.end());
	}
	ck_assert_str_eq(validate_cgroup_xattrs(span(many)).error().what, "cgroup xattrs: too many at one level");
	/* A value over cgroup_xattr_value_max (the blob itself within its bound), and a blob over its bound. */
	std::vector<std::uint8_t> long_value = {0, 6, 'u', 's', 'e', 'r', '.', 'a',
						std::uint8_t((cgroup_xattr_value_max + 1) & 0xff),
						std::uint8_t((cgroup_xattr_value_max + 1) >> 8)};
	long_value.resize(long_value.size() + cgroup_xattr_value_max + 1, 'v');
	ck_assert_str_eq(validate_cgroup_xattrs(span(long_value)).error().what, "cgroup xattrs: value too long");
	const std::vector<std::uint8_t> oversized(cgroup_xattrs_max_size + 1, 0);
	ck_assert_str_eq(validate_cgroup_xattrs(span(oversized)).error().what, "cgroup xattrs: too large");
	ck_assert(validate_cgroup_xattrs(ByteSpan()).ok());
}
END_TEST

/* A cgroup tree played by a temporary directory (the reader takes any mount point): user.* xattrs on
 * the leaf, its parent and the root, read leaf first with their levels. */
struct XattrTree {
	std::string root;
	XattrTree()
	{
		char pattern[] = "/tmp/check_cgroup_reader.XXXXXX";
		ck_assert(mkdtemp(pattern) != nullptr);
		root = pattern;
		ck_assert_int_eq(mkdir((root + "/a").c_str(), 0755), 0);
		ck_assert_int_eq(mkdir((root + "/a/b").c_str(), 0755), 0);
	}
	~XattrTree() { std::system(("rm -rf '" + root + "'").c_str()); }
	/* /tmp must take user xattrs (ext4, tmpfs since Linux 6.6). */
	bool set(const std::string &dir, const std::string &name, const std::string &value)
	{
		return setxattr((root + dir).c_str(), name.c_str(), value.data(), value.size(), 0) == 0;
	}
};

static std::vector<std::string> walk(const std::vector<std::uint8_t> &blob)
{
	ck_assert(validate_cgroup_xattrs(ByteSpan(blob.data(), blob.size())).ok());
	std::vector<std::string> seen;
	CgroupXattrCursor cursor(ByteSpan(blob.data(), blob.size()));
	CgroupXattr x;
	while (cursor.next(x))
		seen.push_back(std::to_string(x.level) + " " + std::string(x.name) + "=" + std::string(x.value));
	return seen;
}

START_TEST(test_read_xattrs_of_a_tree)
{
	XattrTree tree;
	ck_assert_msg(tree.set("", "user.site", "r"), "setxattr(%s): %s", tree.root.c_str(), std::strerror(errno));
	ck_assert(tree.set("/a", "user.tenant", "acme"));
	ck_assert(tree.set("/a/b", "user.leaf", "1"));
	/* Grown past what the reader takes (its buffer is the value bound): skipped, not truncated. */
	ck_assert(tree.set("/a/b", "user.huge", std::string(cgroup_xattr_value_max + 1, 'h')));
	std::vector<std::uint8_t> blob;
	read_cgroup_xattrs(tree.root, "/a/b", blob);
	const std::vector<std::string> expected = {"0 user.leaf=1", "1 user.tenant=acme", "2 user.site=r"};
	ck_assert(walk(blob) == expected);

	/* The root cgroup itself: its own xattrs at level 0. */
	blob.clear();
	read_cgroup_xattrs(tree.root, "/", blob);
	ck_assert(walk(blob) == std::vector<std::string>{"0 user.site=r"});
}
END_TEST

START_TEST(test_read_xattrs_bounds)
{
	XattrTree tree;
	ck_assert(tree.set("/a/b", "user.probe", "x"));
	/* More than one level may carry: the first cgroup_xattrs_per_level_max are taken. */
	for (std::size_t i = 0; i < cgroup_xattrs_per_level_max + 3; ++i)
		ck_assert(tree.set("/a", "user.n" + std::to_string(100 + i), "v"));
	std::vector<std::uint8_t> blob;
	read_cgroup_xattrs(tree.root, "/a", blob);
	ck_assert_uint_eq(walk(blob).size(), cgroup_xattrs_per_level_max);

	/* The blob's total bound: big values fill it, the rest is left out, the blob stays valid. */
	for (int i = 0; i < 3; ++i)
		ck_assert(tree.set("/a/b", "user.big" + std::to_string(i), std::string(700, 'b')));
	blob.clear();
	read_cgroup_xattrs(tree.root, "/a/b", blob);
	ck_assert_uint_le(blob.size(), cgroup_xattrs_max_size);
	std::size_t big = 0;
	for (const std::string &entry : walk(blob))
		big += entry.size() > 700 ? 1 : 0;
	ck_assert_uint_eq(big, 2); /* the third does not fit, in whatever order the file system lists them */
}
END_TEST

START_TEST(test_read_xattrs_refuses_bad_paths)
{
	XattrTree tree;
	ck_assert(tree.set("", "user.site", "r"));
	std::vector<std::uint8_t> blob;
	/* No mount, an empty or relative path, a climb out of the mount: nothing is read. */
	read_cgroup_xattrs("", "/a", blob);
	read_cgroup_xattrs(tree.root, "", blob);
	read_cgroup_xattrs(tree.root, "a/b", blob);
	read_cgroup_xattrs(tree.root, "/a/../..", blob);
	read_cgroup_xattrs(tree.root, "/a/..", blob);
	ck_assert(blob.empty());
	/* A cgroup that is gone: its own level is skipped, the ancestors still count. */
	read_cgroup_xattrs(tree.root, "/gone/leaf", blob);
	ck_assert(walk(blob) == std::vector<std::string>{"2 user.site=r"});
	/* This host's own cgroup2 mount, found once in /proc/self/mountinfo, is absolute when there. */
	const std::string &mount = cgroup2_mount();
	ck_assert(mount.empty() || mount.front() == '/');
	ck_assert(&cgroup2_mount() == &mount);
}
END_TEST

static Suite *cgroup_suite()
{
	Suite *s = suite_create("cgroup_reader");
	TCase *tc = tcase_create("mountinfo");
	tcase_add_test(tc, test_mount_hybrid);
	tcase_add_test(tc, test_mount_pure_v2_and_none);
	tcase_add_test(tc, test_mount_escaped);
	suite_add_tcase(s, tc);
	tc = tcase_create("blob");
	tcase_add_test(tc, test_blob_round_trip);
	tcase_add_test(tc, test_blob_bounds);
	tcase_add_test(tc, test_blob_hostile);
	suite_add_tcase(s, tc);
	tc = tcase_create("xattrs");
	tcase_add_test(tc, test_read_xattrs_of_a_tree);
	tcase_add_test(tc, test_read_xattrs_bounds);
	tcase_add_test(tc, test_read_xattrs_refuses_bad_paths);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({cgroup_suite()});
}
