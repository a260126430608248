// End to end, which I/O path the relay takes (worker/uring_ring, relay_io in config.lua): the real
// ./myproxy (sandboxed in the production build) with relay_io unset relays a plain session through
// its worker's io_uring, seen from outside in /proc: the ring's fdinfo lists the session's two
// sockets in its file table while it lasts and none once it closed (the ring let go of them),
// and its completion head moved.  With relay_io = "epoll" the workers have no ring at all.  The
// relay's behaviour itself is the relay suites' (run on both paths, Makefile.am).
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using namespace myproxy::test;

namespace {

ProxyProcess *on_auto = nullptr;  // leaked on purpose: forked test children must not destroy them
ProxyProcess *on_epoll = nullptr;

std::string config_lua(ProxyProcess &p, const char *relay_io)
{
	return std::string("worker_processes = 1\n") + relay_io +
	       "backend = " + lua_quote(shared_mariadb().socket_path()) + "\n"
	       "mysql_listen(" + lua_quote(p.path("relay.sock")) + ", {\n"
	       "  on_handshake_response = function(client, hr) return client:connect(backend, hr) end,\n"
	       "})\n";
}

int worker_pid(const ProxyProcess &p)
{
	std::ifstream children("/proc/" + std::to_string(p.pid()) + "/task/" + std::to_string(p.pid()) + "/children");
	int pid = -1;
	children >> pid;
	return pid;
}

// The fdinfo of the worker's io_uring descriptor, or "" when it has none.
std::string ring_fdinfo(int pid)
{
	for (int fd = 0; fd < 64; ++fd) {
		char target[PATH_MAX];
		const std::string link = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
		const ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
		if (n <= 0 || std::string(target, std::size_t(n)) != "anon_inode:[io_uring]")
			continue;
		std::ifstream info("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(fd));
		return std::string(std::istreambuf_iterator<char>(info), {});
	}
	return "";
}

// Sockets in the ring's fixed-file table ("    0: socket:[123]" lines under UserFiles).
unsigned registered_sockets(const std::string &fdinfo)
{
	unsigned count = 0;
	for (std::size_t at = fdinfo.find("socket:["); at != std::string::npos; at = fdinfo.find("socket:[", at + 1))
		++count;
	return count;
}

unsigned long cq_head(const std::string &fdinfo)
{
	const std::size_t at = fdinfo.find("CqHead:");
	return at == std::string::npos ? 0 : std::stoul(fdinfo.substr(at + 7));
}

void connect_or_fail(MysqlClient &c, ProxyProcess &p)
{
	PROXY_ASSERT(c.connect(Endpoint::unix_socket(p.path("relay.sock")), "alice", "alice-pw"), "login: %s",
		     c.error().c_str());
}

} // namespace

START_TEST(test_plain_sessions_take_the_ring)
{
	set_current_proxy(on_auto);
	PROXY_ASSERT(on_auto->log().find("relay: io_uring for plain sessions") != std::string::npos,
		     "the worker did not set its ring up");
	const int pid = worker_pid(*on_auto);
	PROXY_ASSERT(pid > 0, "no worker");
	const std::string before = ring_fdinfo(pid);
	PROXY_ASSERT(!before.empty(), "the worker has no io_uring descriptor");
	PROXY_CHECK(registered_sockets(before) == 0);
	{
		MysqlClient c;
		connect_or_fail(c, *on_auto);
		for (int i = 0; i < 50; ++i)
			PROXY_ASSERT_STR(c.text("SELECT " + std::to_string(i)), std::to_string(i));
		PROXY_ASSERT_STR(c.text("SELECT LENGTH(REPEAT('x', 200000))"), "200000");
		const std::string during = ring_fdinfo(pid);
		PROXY_ASSERT(registered_sockets(during) == 2, "the session's sockets are not in the ring:\n%s",
			     during.c_str());
		PROXY_ASSERT(cq_head(during) > cq_head(before) + 100, "the ring completed too little:\n%s", during.c_str());
	}
	/* COM_QUIT ends the session: its sockets leave the table. */
	unsigned left = 2;
	for (int i = 0; i < 100 && left != 0; ++i) {
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
		left = registered_sockets(ring_fdinfo(pid));
	}
	PROXY_ASSERT(left == 0, "sockets stay in the ring after the session:\n%s", ring_fdinfo(pid).c_str());
}
END_TEST

START_TEST(test_relay_io_epoll_makes_no_ring)
{
	set_current_proxy(on_epoll);
	PROXY_ASSERT(on_epoll->log().find("relay: epoll for every session (relay_io = \"epoll\")") != std::string::npos,
		     "no line about relay_io");
	const int pid = worker_pid(*on_epoll);
	PROXY_ASSERT(pid > 0, "no worker");
	MysqlClient c;
	connect_or_fail(c, *on_epoll);
	PROXY_ASSERT_STR(c.text("SELECT 'on epoll'"), "on epoll");
	PROXY_ASSERT(ring_fdinfo(pid).empty(), "a worker has an io_uring although relay_io = \"epoll\"");
}
END_TEST

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*on_auto);
	PROXY_ASSERT_CLEAN_SHUTDOWN(*on_epoll);
}
END_TEST

static Suite *relay_io_suite()
{
	Suite *s = suite_create("proxy_relay_io");
	TCase *tc = tcase_create("relay_io");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_plain_sessions_take_the_ring);
	tcase_add_test(tc, test_relay_io_epoll_makes_no_ring);
	tcase_add_test(tc, test_clean_shutdown);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	mysql_library_init(0, nullptr, nullptr);
	const int rc = run_suites_with_servers(SharedServerSpec{}, {relay_io_suite()}, [] {
		shared_mariadb().create_user("alice", "alice-pw");
		on_auto = new ProxyProcess;
		on_auto->start(config_lua(*on_auto, ""), {on_auto->path("relay.sock")});
		on_epoll = new ProxyProcess;
		on_epoll->start(config_lua(*on_epoll, "relay_io = 'epoll'\n"), {on_epoll->path("relay.sock")});
	});
	mysql_library_end();
	return rc;
}
