// The worker sandbox (worker side; see sandbox.hpp).  Order matters: credentials first (setgroups
// and setresgid need root, which setresuid gives up), then NO_NEW_PRIVS, then the filter, which
// is built from the table in syscall_allowlist.cpp and nothing else.  After a successful drop the
// worker checks it cannot get root back.
#include "worker/sandbox.hpp"

#include "worker/syscall_allowlist.hpp"
#include "worker/uring_ring.hpp"

#include "common/exit_status.hpp"
#include "common/log.hpp"

#include <grp.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace myproxy {

namespace {

struct FilterDeleter {
	scmp_filter_ctx ctx;
	~FilterDeleter() { seccomp_release(ctx); }
};

int drop_privileges(const SandboxOptions &options) noexcept
{
	if (options.fault_injection == "privileges") {
		log_error("setresuid(%u): failing on purpose (test fault injection)", unsigned(options.uid));
		return exit_privilege_drop;
	}
	if (geteuid() != 0) {
		/* Not root: nothing to give up (and no way to become another user). */
		return 0;
	}
	if (options.uid == 0) {
		log_error("worker_user %s is root; refusing to run a worker as root", options.user_name.c_str());
		return exit_privilege_drop;
	}
	if (setgroups(0, nullptr) < 0) {
		log_errno(LogLevel::error, errno, nullptr, "setgroups(0)");
		return exit_privilege_drop;
	}
	if (setresgid(options.gid, options.gid, options.gid) < 0) {
		log_errno(LogLevel::error, errno, nullptr, "setresgid(%u)", unsigned(options.gid));
		return exit_privilege_drop;
	}
	if (setresuid(options.uid, options.uid, options.uid) < 0) {
		log_errno(LogLevel::error, errno, nullptr, "setresuid(%u)", unsigned(options.uid));
		return exit_privilege_drop;
	}
	/* Paranoia, as OpenSSH's permanently_set_uid(): the way back must be closed. */
	if (setresuid(0, 0, 0) == 0 || setresgid(0, 0, 0) == 0) {
		log_error("could regain root after dropping to %s", options.user_name.c_str());
		return exit_privilege_drop;
	}
	return 0;
}

int add_rule(scmp_filter_ctx ctx, const SyscallRule &rule, pid_t self_pid) noexcept
{
	const int nr = seccomp_syscall_resolve_name(rule.name);
	if (nr == __NR_SCMP_ERROR)
		return -ENOENT;
	const std::uint32_t action =
		rule.action == SyscallAction::allow ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(std::uint32_t(rule.error_number));
	if (!rule.has_argument)
		return seccomp_rule_add(ctx, action, nr, 0);
	const SyscallArgument &a = rule.argument;
	const std::uint64_t value = a.value == syscall_argument_self_pid ? std::uint64_t(self_pid) : a.value;
	const scmp_arg_cmp cmp = a.mask == 0 ? SCMP_CMP(a.index, SCMP_CMP_EQ, value)
					     : SCMP_CMP(a.index, SCMP_CMP_MASKED_EQ, a.mask, value);
	return seccomp_rule_add(ctx, action, nr, 1, cmp);
}

/* Builds the filter into a fresh context; returns it or null (logged). */
scmp_filter_ctx build_filter(pid_t self_pid) noexcept
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (ctx == nullptr) {
		log_error("seccomp_init() failed");
		return nullptr;
	}
	for (const SyscallRule &rule : syscall_allowlist()) {
		const int r = add_rule(ctx, rule, self_pid);
		if (r < 0) {
			log_errno(LogLevel::error, -r, nullptr, "seccomp_rule_add(%s)", rule.name);
			seccomp_release(ctx);
			return nullptr;
		}
	}
	return ctx;
}

int load_filter(const SandboxOptions &options) noexcept
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_errno(LogLevel::error, errno, nullptr, "prctl(PR_SET_NO_NEW_PRIVS)");
		return exit_seccomp_filter;
	}
	if (!options.seccomp)
		return 0;
	if (options.fault_injection == "filter") {
		log_error("seccomp_load(): failing on purpose (test fault injection)");
		return exit_seccomp_filter;
	}
	scmp_filter_ctx ctx = build_filter(getpid());
	if (ctx == nullptr)
		return exit_seccomp_filter;
	const FilterDeleter release{ctx};
	/* The filter itself sets NO_NEW_PRIVS too; it is set above so --no-sandbox keeps it. */
	const int r = seccomp_load(ctx);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "seccomp_load()");
		return exit_seccomp_filter;
	}
	return 0;
}

} // namespace

int enter_sandbox(const SandboxOptions &options, RelayIo relay_io) noexcept
{
	if (const int status = drop_privileges(options))
		return status;
	/* The ring's restrictions are in place before the filter: nothing can change them after. */
	prepare_relay_ring(relay_io);
	return load_filter(options);
}

int export_syscall_filter_pfc(int fd, pid_t self_pid) noexcept
{
	scmp_filter_ctx ctx = build_filter(self_pid);
	if (ctx == nullptr)
		return -EINVAL;
	const FilterDeleter release{ctx};
	return seccomp_export_pfc(ctx, fd);
}

} // namespace myproxy
