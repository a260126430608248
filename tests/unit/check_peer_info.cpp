// Unit tests for master/peer_info: the /proc/PID/cgroup parser on good and hostile text, and
// read_peer_info() on a real socketpair (credentials, pidfd, cgroup of this very process).
#include "master/peer_info.hpp"
#include "tests/check_main.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

using namespace myproxy;

START_TEST(test_v2_only)
{
	const auto r = parse_cgroup_v2_path("0::/user.slice/user-1000.slice/session-2.scope\n");
	ck_assert(r.ok());
	ck_assert(r.value() == "/user.slice/user-1000.slice/session-2.scope");

	const auto root = parse_cgroup_v2_path("0::/\n");
	ck_assert(root.ok());
	ck_assert(root.value() == "/");
}
END_TEST

START_TEST(test_hybrid)
{
	const char *text = "12:cpuset:/\n"
			   "11:memory:/user.slice/user-1000.slice\n"
			   "3:cpu,cpuacct:/user.slice\n"
			   "1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n"
			   "0::/user.slice/user-1000.slice/session-2.scope\n";
	const auto r = parse_cgroup_v2_path(text);
	ck_assert(r.ok());
	ck_assert(r.value() == "/user.slice/user-1000.slice/session-2.scope");
}
END_TEST

START_TEST(test_no_v2_line)
{
	const auto v1 = parse_cgroup_v2_path("4:memory:/x\n1:name=systemd:/x\n");
	ck_assert(!v1.ok());
	ck_assert_str_eq(v1.error().what, "cgroup: no complete 0:: line");
	ck_assert(!parse_cgroup_v2_path("").ok());
	/* "10::" is a v1 line whose id merely starts with 0's neighbour. */
	ck_assert(!parse_cgroup_v2_path("10::/x\n").ok());
}
END_TEST

START_TEST(test_unterminated_line)
{
	/* The read may have cut the last line: it is never trusted. */
	const auto r = parse_cgroup_v2_path("0::/user.slice/user-1000.sl");
	ck_assert(!r.ok());
	ck_assert_str_eq(r.error().what, "cgroup: no complete 0:: line");
}
END_TEST

START_TEST(test_overlong)
{
	std::string text = "0::/" + std::string(channel_max_cgroup_path, 'a') + "\n";
	const auto r = parse_cgroup_v2_path(text);
	ck_assert(!r.ok());
	ck_assert_str_eq(r.error().what, "cgroup: 0:: path too long");

	text = "0::/" + std::string(channel_max_cgroup_path - 1, 'a') + "\n";
	const auto ok = parse_cgroup_v2_path(text);
	ck_assert(ok.ok());
	ck_assert_uint_eq(ok.value().size(), channel_max_cgroup_path);
}
END_TEST

START_TEST(test_garbage)
{
	ck_assert_str_eq(parse_cgroup_v2_path("0::relative\n").error().what, "cgroup: 0:: path not absolute");
	ck_assert_str_eq(parse_cgroup_v2_path("0::\n").error().what, "cgroup: 0:: path not absolute");
	ck_assert_str_eq(parse_cgroup_v2_path(std::string_view("0::/a\0b\n", 8)).error().what,
			 "cgroup: NUL byte");
	/* A cgroup name with a newline could forge a line; two 0:: lines are refused. */
	const auto forged = parse_cgroup_v2_path("0::/user.slice/evil\n0::/system.slice/mysql.service\n");
	ck_assert(!forged.ok());
	ck_assert_str_eq(forged.error().what, "cgroup: more than one 0:: line");
	ck_assert(!parse_cgroup_v2_path("\n\n\n:::\nno colons\n").ok());
}
END_TEST

START_TEST(test_every_prefix)
{
	const std::string text = "1:name=systemd:/a\n0::/user.slice/x.scope\n";
	for (std::size_t n = 0; n <= text.size(); ++n) {
		const auto r = parse_cgroup_v2_path(std::string_view(text).substr(0, n));
		ck_assert(r.ok() == (n == text.size()));
	}
}
END_TEST

START_TEST(test_read_own_peer)
{
	int pair[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
	UniqueFd a(pair[0]), b(pair[1]);

	SocketAddress peer;
	peer.storage.ss_family = AF_UNIX;
	peer.length = sizeof(sa_family_t);
	PeerInfo info;
	ck_assert(read_peer_info(a.get(), true, peer, info));
	ck_assert(info.has_credentials);
	ck_assert_int_eq(info.pid, getpid());
	ck_assert_uint_eq(info.uid, getuid());
	ck_assert_uint_eq(info.gid, getgid());
	ck_assert(info.pidfd.is_valid());

	struct stat st;
	ck_assert_int_eq(fstat(a.get(), &st), 0);
	ck_assert_uint_eq(info.socket_device, st.st_dev);
	ck_assert_uint_eq(info.socket_inode, st.st_ino);

	/* Where this process has a cgroup v2 path, the peer (this process) got the same one. */
	std::string own;
	if (FILE *f = std::fopen("/proc/self/cgroup", "r")) {
		char chunk[4096];
		std::size_t n;
		while ((n = std::fread(chunk, 1, sizeof(chunk), f)) > 0)
			own.append(chunk, n);
		std::fclose(f);
	}
	if (const auto expected = parse_cgroup_v2_path(own))
		ck_assert_msg(info.cgroup_path == expected.value(), "got \"%s\"", info.cgroup_path.c_str());
	else
		ck_assert(info.cgroup_path.empty());

	const ClientInfo ci = info.client_info(7, 2);
	ck_assert_uint_eq(ci.client_id, 7);
	ck_assert_uint_eq(ci.listener_index, 2);
	ck_assert(ci.has_credentials);
	ck_assert_int_eq(ci.pid, getpid());
	ck_assert_uint_eq(ci.peer_address.size(), sizeof(sa_family_t));
	ck_assert(ci.cgroup_path == info.cgroup_path);
}
END_TEST

/* Without read_cgroup (no callback can read client.cgroup): credentials, but no cgroup, even where
 * this process has one, and no pidfd (it only vouches for the cgroup read; no worker keeps it). */
START_TEST(test_read_peer_without_cgroup)
{
	int pair[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
	UniqueFd a(pair[0]), b(pair[1]);
	SocketAddress peer;
	peer.storage.ss_family = AF_UNIX;
	peer.length = sizeof(sa_family_t);
	PeerInfo info;
	ck_assert(read_peer_info(a.get(), true, peer, info, false));
	ck_assert(info.has_credentials);
	ck_assert_int_eq(info.pid, getpid());
	ck_assert(!info.pidfd.is_valid());
	ck_assert(info.cgroup_path.empty());
	ck_assert(info.cgroup_xattrs.empty());
}
END_TEST

START_TEST(test_read_tcp_peer)
{
	int pair[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
	UniqueFd a(pair[0]), b(pair[1]);
	const auto peer = parse_numeric_address("192.0.2.1:4000", 3306);
	ck_assert(peer.ok());
	PeerInfo info;
	/* is_unix=false: no credentials are read even where the kernel would give them. */
	ck_assert(read_peer_info(a.get(), false, peer.value(), info));
	ck_assert(!info.has_credentials);
	ck_assert(!info.pidfd.is_valid());
	ck_assert(info.cgroup_path.empty());
	ck_assert(info.peer_address == peer.value());

	PeerInfo bad;
	ck_assert(!read_peer_info(-1, true, peer.value(), bad));
}
END_TEST

/* Hostile or odd peers: an fd that is no socket (no credentials, still true: the worker's own check
 * decides), and a client process that is gone before the master looks (no pidfd, no cgroup: never
 * another process's). */
START_TEST(test_read_odd_peers)
{
	int pipe_fds[2];
	ck_assert_int_eq(pipe2(pipe_fds, O_CLOEXEC), 0);
	UniqueFd r(pipe_fds[0]), w(pipe_fds[1]);
	SocketAddress peer;
	peer.storage.ss_family = AF_UNIX;
	peer.length = sizeof(sa_family_t);
	PeerInfo not_socket;
	ck_assert(read_peer_info(r.get(), true, peer, not_socket));
	ck_assert(!not_socket.has_credentials);
	ck_assert(!not_socket.pidfd.is_valid());

	int listener_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(listener_fd, 0);
	UniqueFd listener(listener_fd);
	sockaddr_un address{};
	address.sun_family = AF_UNIX;
	std::snprintf(address.sun_path + 1, sizeof(address.sun_path) - 1, "check_peer_info.%d", int(getpid()));
	const socklen_t length = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + std::strlen(address.sun_path + 1));
	ck_assert_int_eq(bind(listener.get(), reinterpret_cast<sockaddr *>(&address), length), 0);
	ck_assert_int_eq(listen(listener.get(), 1), 0);
	const pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		const int c = socket(AF_UNIX, SOCK_STREAM, 0);
		_exit(connect(c, reinterpret_cast<sockaddr *>(&address), length) == 0 ? 0 : 1);
	}
	int status = 0;
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	UniqueFd accepted(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
	ck_assert(accepted.is_valid());
	PeerInfo gone;
	ck_assert(read_peer_info(accepted.get(), true, peer, gone));
	ck_assert(gone.has_credentials);
	ck_assert_int_eq(gone.pid, child);
	ck_assert(!gone.pidfd.is_valid());
	ck_assert(gone.cgroup_path.empty() && gone.cgroup_xattrs.empty());
}
END_TEST

static Suite *peer_info_suite()
{
	Suite *s = suite_create("peer_info");
	TCase *parse = tcase_create("parse_cgroup");
	tcase_add_test(parse, test_v2_only);
	tcase_add_test(parse, test_hybrid);
	tcase_add_test(parse, test_no_v2_line);
	tcase_add_test(parse, test_unterminated_line);
	tcase_add_test(parse, test_overlong);
	tcase_add_test(parse, test_garbage);
	tcase_add_test(parse, test_every_prefix);
	suite_add_tcase(s, parse);
	TCase *read = tcase_create("read_peer_info");
	tcase_add_test(read, test_read_own_peer);
	tcase_add_test(read, test_read_peer_without_cgroup);
	tcase_add_test(read, test_read_tcp_peer);
	tcase_add_test(read, test_read_odd_peers);
	suite_add_tcase(s, read);
	return s;
}

int main()
{
	return run_check_suites({peer_info_suite()});
}
