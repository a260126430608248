// Unit tests for master/peer_info on kernels and failures this host does not have: each case runs
// read_peer_info() in a forked child under a seccomp filter that answers one call with the errno an
// older kernel (no SO_PEERPIDFD before Linux 6.5) or a failing procfs gives, so the pidfd_open()
// fallback and every best-effort failure path run for real, logged, and leave the fields empty.
#include "master/peer_info.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

#include "tests/unit/syscall_faults.hpp"

using namespace myproxy;
using namespace myproxy::test;

/* As master/peer_info.cpp names it (Debian 12's headers predate it). */
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace {

/* What read_peer_info() left, as the child reports it, with the log lines it wrote. */
struct Outcome {
	bool returned = false;
	bool credentials = false;
	bool pidfd = false;
	bool cgroup = false;
	std::string log;

	bool logged(const std::string &needle) const { return log.find(needle) != std::string::npos; }
};

int fail_with(scmp_filter_ctx ctx, int errnum, int syscall_number)
{
	return fail_call(ctx, syscall_number, errnum);
}

int fail_sockopt(scmp_filter_ctx ctx, int errnum, int option)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(static_cast<std::uint32_t>(errnum)), SCMP_SYS(getsockopt), 2,
				SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET), SCMP_A2(SCMP_CMP_EQ, static_cast<scmp_datum_t>(option)));
}

/* read_peer_info() in the child on a socketpair with itself (it is its own client, so pid,
   cgroup and liveness are known), after @prepare (its own mount namespace), under @rules. */
Outcome read_peer_info_under(const FaultRules &rules, const std::function<bool()> &prepare = {})
{
	const FaultRun run = run_with_faults(rules, [] {
		int pair[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
			return std::string("socketpair failed");
		SocketAddress peer;
		peer.storage.ss_family = AF_UNIX;
		peer.length = sizeof(sa_family_t);
		PeerInfo info;
		const bool returned = read_peer_info(pair[0], true, peer, info);
		return std::string(returned ? "R" : "-") + (info.has_credentials && info.pid == getpid() ? "C" : "-") +
		       (info.pidfd.is_valid() ? "P" : "-") + (!info.cgroup_path.empty() ? "G" : "-");
	}, prepare);
	ck_assert_msg(run.result.size() == 4, "child said \"%s\":\n%s", run.result.c_str(), run.log.c_str());
	Outcome outcome;
	outcome.returned = run.result[0] == 'R';
	outcome.credentials = run.result[1] == 'C';
	outcome.pidfd = run.result[2] == 'P';
	outcome.cgroup = run.result[3] == 'G';
	outcome.log = run.log;
	return outcome;
}

bool logged(const Outcome &outcome, const char *needle)
{
	return outcome.logged(needle);
}

/* Whether this process has a cgroup v2 path at all (hosts with v1 only leave cgroup empty). */
bool host_has_cgroup_v2_path()
{
	std::string text;
	if (FILE *f = std::fopen("/proc/self/cgroup", "r")) {
		char chunk[4096];
		std::size_t n;
		while ((n = std::fread(chunk, 1, sizeof(chunk), f)) > 0)
			text.append(chunk, n);
		std::fclose(f);
	}
	return parse_cgroup_v2_path(text).ok();
}

/* In a private mount namespace, @text is what this process's /proc/PID/cgroup reads. */
bool fake_proc_cgroup(const std::string &text)
{
	char pattern[] = "/tmp/check_peer_info_kernels.cgroup.XXXXXX";
	const int fd = mkstemp(pattern);
	if (fd < 0)
		return false;
	const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
	close(fd);
	const std::string target = "/proc/" + std::to_string(getpid()) + "/cgroup";
	const bool mounted = written && unshare(CLONE_NEWNS) == 0 &&
			     mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
			     mount(pattern, target.c_str(), nullptr, MS_BIND, nullptr) == 0;
	if (!mounted)
		std::fprintf(stderr, "faking %s: %s\n", target.c_str(), strerrorname_np(errno));
	unlink(pattern);
	return mounted;
}

FaultRules no_rules()
{
	return no_faults();
}

} // namespace

/* The filter itself changes nothing: the control for every case below. */
START_TEST(test_unfiltered)
{
	const Outcome o = read_peer_info_under(no_rules());
	ck_assert(o.returned && o.credentials && o.pidfd);
	ck_assert(o.cgroup == host_has_cgroup_v2_path());
}
END_TEST

/* Before Linux 6.5: no SO_PEERPIDFD, so the pidfd comes from pidfd_open(pid), quietly. */
START_TEST(test_no_peer_pidfd_falls_back)
{
	const Outcome o = read_peer_info_under([](scmp_filter_ctx ctx) {
		return fail_sockopt(ctx, ENOPROTOOPT, SO_PEERPIDFD);
	});
	ck_assert(o.returned && o.credentials && o.pidfd);
	ck_assert(o.cgroup == host_has_cgroup_v2_path());
	ck_assert_msg(!logged(o, "pidfd_open(") && !logged(o, "getsockopt") && !logged(o, "warning"), "%s",
		      o.log.c_str());
}
END_TEST

/* The fallback fails too (the client exited): no pidfd, so no cgroup, and a debug line. */
START_TEST(test_fallback_pidfd_open_fails)
{
	const Outcome o = read_peer_info_under([](scmp_filter_ctx ctx) {
		const int r = fail_sockopt(ctx, EINVAL, SO_PEERPIDFD);
		return r < 0 ? r : fail_with(ctx, ESRCH, SCMP_SYS(pidfd_open));
	});
	ck_assert(o.returned && o.credentials);
	ck_assert(!o.pidfd && !o.cgroup);
	ck_assert_logged(o, "pidfd_open(");
	ck_assert_logged(o, "ESRCH");
}
END_TEST

/* SO_PEERPIDFD fails for another reason than age: no fallback to a racy pidfd_open(). */
START_TEST(test_peer_pidfd_error_no_fallback)
{
	const Outcome o = read_peer_info_under([](scmp_filter_ctx ctx) {
		const int r = fail_sockopt(ctx, ENODATA, SO_PEERPIDFD);
		/* Were the fallback taken, it would work: the pidfd must stay empty for the right reason. */
		return r;
	});
	ck_assert(o.returned && o.credentials);
	ck_assert(!o.pidfd && !o.cgroup);
	ck_assert_logged(o, "getsockopt(SO_PEERPIDFD)");
	ck_assert_logged(o, "ENODATA");
	ck_assert(!logged(o, "pidfd_open("));
}
END_TEST

/* No credentials: the client still goes to a worker (true), with nothing about its process. */
START_TEST(test_no_peer_credentials)
{
	const Outcome o = read_peer_info_under([](scmp_filter_ctx ctx) {
		return fail_sockopt(ctx, EPERM, SO_PEERCRED);
	});
	ck_assert(o.returned);
	ck_assert(!o.credentials && !o.pidfd && !o.cgroup);
	ck_assert_logged(o, "getsockopt(SO_PEERCRED)");
	ck_assert_logged(o, "EPERM");
}
END_TEST

/* /proc/PID/cgroup cannot be opened: the pidfd stays, the cgroup is unknown. */
START_TEST(test_proc_cgroup_open_fails)
{
	const Outcome o = read_peer_info_under([](scmp_filter_ctx ctx) {
		/* Only the flags read_proc_cgroup() opens with, so that nothing else in the child fails. */
		const scmp_datum_t mask = O_ACCMODE | O_CLOEXEC | O_NOCTTY | O_CREAT;
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 1,
					SCMP_A2(SCMP_CMP_MASKED_EQ, mask, O_RDONLY | O_CLOEXEC | O_NOCTTY));
	});
	ck_assert(o.returned && o.credentials && o.pidfd);
	ck_assert(!o.cgroup);
	ck_assert_logged(o, "/cgroup)");
	ck_assert_logged(o, "EACCES");
}
END_TEST

/* The read itself fails (16 KiB asked at once: only read_proc_cgroup()'s first read): never a
   partial file parsed. */
START_TEST(test_proc_cgroup_read_fails)
{
	const Outcome o = read_peer_info_under([](scmp_filter_ctx ctx) {
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EIO), SCMP_SYS(read), 1, SCMP_A2(SCMP_CMP_EQ, 16384));
	});
	ck_assert(o.returned && o.credentials && o.pidfd);
	ck_assert(!o.cgroup);
	ck_assert_logged(o, "/cgroup)");
	ck_assert_logged(o, "EIO");
}
END_TEST

/* The liveness check after the read fails: the pid may have been recycled, so neither the pidfd
   nor the cgroup read through that pid is kept. */
START_TEST(test_liveness_check_fails)
{
	const Outcome o = read_peer_info_under([](scmp_filter_ctx ctx) {
		return fail_with(ctx, ESRCH, SCMP_SYS(pidfd_send_signal));
	});
	ck_assert(o.returned && o.credentials);
	ck_assert(!o.pidfd && !o.cgroup);
	ck_assert_logged(o, "pidfd_send_signal(0)");
	ck_assert_logged(o, "ESRCH");
}
END_TEST

/* A cgroup path that is no path (hostile or confused procfs): warned about, not used; the pidfd
   stays. */
START_TEST(test_proc_cgroup_garbage)
{
	const Outcome o = read_peer_info_under(no_rules(), [] { return fake_proc_cgroup("0::relative/path\n"); });
	ck_assert(o.returned && o.credentials && o.pidfd);
	ck_assert(!o.cgroup);
	ck_assert_logged(o, "/cgroup: cgroup: 0:: path not absolute");
}
END_TEST

/* A /proc/PID/cgroup larger than the buffer is not parsed at all: a second "0::" line could
   hide past the end. */
START_TEST(test_proc_cgroup_too_big)
{
	std::string text;
	while (text.size() <= 16384)
		text += "1:name=systemd:/" + std::string(100, 'x') + "\n";
	text += "0::/user.slice\n";
	const Outcome o = read_peer_info_under(no_rules(), [&] { return fake_proc_cgroup(text); });
	ck_assert(o.returned && o.credentials && o.pidfd);
	ck_assert(!o.cgroup);
	ck_assert_logged(o, "/cgroup)");
	ck_assert_logged(o, "EFBIG");
}
END_TEST

/* The control for the two above: a faked file that parses is used. */
START_TEST(test_proc_cgroup_faked_good)
{
	const Outcome o = read_peer_info_under(no_rules(), [] { return fake_proc_cgroup("0::/check.slice\n"); });
	ck_assert(o.returned && o.credentials && o.pidfd && o.cgroup);
}
END_TEST

static Suite *peer_info_kernels_suite()
{
	Suite *s = suite_create("peer_info_kernels");
	TCase *kernels = tcase_create("filtered");
	tcase_add_test(kernels, test_unfiltered);
	tcase_add_test(kernels, test_no_peer_pidfd_falls_back);
	tcase_add_test(kernels, test_fallback_pidfd_open_fails);
	tcase_add_test(kernels, test_peer_pidfd_error_no_fallback);
	tcase_add_test(kernels, test_no_peer_credentials);
	tcase_add_test(kernels, test_proc_cgroup_open_fails);
	tcase_add_test(kernels, test_proc_cgroup_read_fails);
	tcase_add_test(kernels, test_liveness_check_fails);
	tcase_add_test(kernels, test_proc_cgroup_garbage);
	tcase_add_test(kernels, test_proc_cgroup_too_big);
	tcase_add_test(kernels, test_proc_cgroup_faked_good);
	suite_add_tcase(s, kernels);
	return s;
}

int main()
{
	return run_check_suites({peer_info_kernels_suite()});
}
