// End to end, client.cgroup: a cgroup made for the test (under the cgroup2 mount found in
// /proc/self/mountinfo), xattrs set on it and on its parent, a client process moved into it, and
// the Lua handler reporting path, xattr and parent of every level back through client:err().  A
// second proxy whose code never names the field does not read cgroups (its log says so), and its
// script reaching client.cgroup through a key built at run time gets an error, not a silent nil.
// Needs root (mkdir in cgroupfs, trusted.* xattrs), as the tests run in CI.
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include "master/cgroup_reader.hpp"

#include <check.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

using namespace myproxy::test;

namespace {

ProxyProcess *proxy = nullptr;
ProxyProcess *blind = nullptr;

std::string config_lua()
{
	return "worker_processes = 1\n"
	       "mysql_listen(" + lua_quote(proxy->path("main.sock")) + ", {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    local level, parts = client.cgroup, {}\n"
	       "    if not level then return client:err('no cgroup') end\n"
	       "    while level do\n"
	       "      local names = {}\n"
	       "      for k, v in pairs(level.xattr) do names[#names + 1] = k .. '=' .. v end\n"
	       "      table.sort(names)\n"
	       "      parts[#parts + 1] = level.path .. '{' .. table.concat(names, ',') .. '}'\n"
	       "      level = level.parent\n"
	       "    end\n"
	       "    return client:err(table.concat(parts, ' '))\n"
	       "  end,\n"
	       "})\n";
}

/* No function names the field: the key is built at run time. */
std::string blind_config_lua()
{
	return "worker_processes = 1\n"
	       "mysql_listen(" + lua_quote(blind->path("blind.sock")) + ", {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    local ok, problem = pcall(function() return client['cg' .. 'roup'] end)\n"
	       "    return client:err(ok and 'read without an error' or tostring(problem))\n"
	       "  end,\n"
	       "})\n";
}

std::string read_text(const std::string &path)
{
	std::ifstream in(path);
	std::ostringstream text;
	text << in.rdbuf();
	return text.str();
}

void set_xattr(const std::string &directory, const char *name, const std::string &value)
{
	PROXY_ASSERT(setxattr(directory.c_str(), name, value.data(), value.size(), 0) == 0, "setxattr(%s, %s): %s",
		     directory.c_str(), name, std::strerror(errno));
}

// Logs in to @socket from a child moved into @cgroup_directory; returns the ERR message.
std::string login_from_cgroup(const std::string &cgroup_directory, const std::string &socket)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	const pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		{
			std::ofstream procs(cgroup_directory + "/cgroup.procs");
			procs << getpid() << std::flush;
			if (!procs.good())
				_exit(2);
		}
		MysqlClient c;
		const bool ok = c.connect(Endpoint::unix_socket(socket), "someone", "pw");
		const std::string message = ok ? std::string("<logged in>") : c.message();
		if (write(fds[1], message.data(), message.size()) < 0)
			_exit(3);
		_exit(0);
	}
	close(fds[1]);
	const std::string text = read_until_eof(fds[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	PROXY_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client child: %s (cannot join %s?)",
		     describe_wait_status(status).c_str(), cgroup_directory.c_str());
	return text;
}

} // namespace

/* A cgroup below our own, for a test; its path as /proc shows it and its directory. */
struct TestCgroup {
	std::string path, directory;
};

static TestCgroup make_test_cgroup(const std::string &name)
{
	const auto mount = myproxy::find_cgroup2_mount(read_text("/proc/self/mountinfo"));
	PROXY_ASSERT(mount.has_value(), "no cgroup2 mount in /proc/self/mountinfo");
	const std::string own = read_text("/proc/self/cgroup");
	const auto v2 = own.find("0::");
	PROXY_ASSERT(v2 != std::string::npos, "no 0:: line in /proc/self/cgroup");
	std::string base = own.substr(v2 + 3, own.find('\n', v2) - v2 - 3);
	if (base == "/")
		base.clear();
	TestCgroup made{base + "/" + name + "-" + std::to_string(getpid()), ""};
	made.directory = *mount + made.path;
	PROXY_ASSERT(mkdir(made.directory.c_str(), 0755) == 0, "mkdir(%s): %s", made.directory.c_str(),
		     std::strerror(errno));
	return made;
}

START_TEST(test_cgroup_xattrs_reach_lua)
{
	const TestCgroup parent = make_test_cgroup("myproxy-test");
	const std::string &parent_path = parent.path, &parent_dir = parent.directory;
	const std::string child_path = parent_path + "/client", child_dir = parent_dir + "/client";
	PROXY_ASSERT(mkdir(child_dir.c_str(), 0755) == 0, "mkdir(%s): %s", child_dir.c_str(), std::strerror(errno));

	set_xattr(child_dir, "user.tenant", "acme");
	set_xattr(child_dir, "user.empty", "");
	set_xattr(parent_dir, "trusted.plan", "gold");
	set_xattr(parent_dir, "user.site", "eu-1");
	const std::string message = login_from_cgroup(child_dir, proxy->path("main.sock"));
	rmdir(child_dir.c_str());
	rmdir(parent_dir.c_str());

	const std::string expected =
		child_path + "{user.empty=,user.tenant=acme} " + parent_path + "{trusted.plan=gold,user.site=eu-1}";
	PROXY_ASSERT(message.rfind(expected, 0) == 0, "client.cgroup chain '%s', expected it to start with '%s'",
		     message.c_str(), expected.c_str());
	/* The chain ends at the root, whose parent is nil. */
	PROXY_ASSERT(contains(message, " /{"), "the chain does not reach the root: '%s'", message.c_str());
	PROXY_ASSERT(message.find(" /{") == message.rfind(" /"), "the chain goes past the root: '%s'", message.c_str());
}
END_TEST

/* The second proxy's code never names the field: the master leaves cgroups alone, and the script's
 * run-time key meets an error that says why. */
START_TEST(test_cgroup_not_read_unless_named)
{
	PROXY_ASSERT(contains(blind->log(), "no function of config.lua names client.cgroup"),
		     "the master did not say it skips cgroups:\n%s", blind->log_tail().c_str());
	PROXY_ASSERT(!contains(proxy->log(), "no function of config.lua names client.cgroup"),
		     "the proxy whose handler names client.cgroup skips it");
	const TestCgroup cgroup = make_test_cgroup("myproxy-blind");
	const std::string message = login_from_cgroup(cgroup.directory, blind->path("blind.sock"));
	rmdir(cgroup.directory.c_str());
	PROXY_ASSERT(contains(message, "client.cgroup was not read"), "the run-time key got '%s'", message.c_str());
}
END_TEST

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*proxy);
	PROXY_ASSERT_CLEAN_SHUTDOWN(*blind);
}
END_TEST

static Suite *cgroup_suite()
{
	Suite *s = suite_create("proxy_cgroup");
	TCase *tc = server_tcase("cgroup", 60);
	tcase_add_test(tc, test_cgroup_xattrs_reach_lua);
	tcase_add_test(tc, test_cgroup_not_read_unless_named);
	suite_add_tcase(s, tc);
	tc = server_tcase("shutdown", 60);
	tcase_add_test(tc, test_clean_shutdown);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	mysql_library_init(0, nullptr, nullptr);
	SharedServerSpec spec;
	const int rc = run_suites_with_servers(spec, {cgroup_suite()}, [] {
		proxy = new ProxyProcess;
		proxy->start(config_lua(), {proxy->path("main.sock")});
		blind = new ProxyProcess;
		blind->start(blind_config_lua(), {blind->path("blind.sock")});
	});
	mysql_library_end();
	return rc;
}
