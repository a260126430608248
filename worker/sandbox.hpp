// Entering the worker sandbox (worker side, right after fork, before the first client): drop
// privileges when started as root (supplementary groups cleared, then gid, then uid, all three of
// each), set PR_SET_NO_NEW_PRIVS, and load the seccomp filter built from syscall_allowlist.hpp.
// Fail closed: any failure is reported as a named exit status and the worker never says
// WORKER_READY, so the master never hands it a client.
#pragma once

#include "common/config.hpp"

#include <sys/types.h>

#include <string>

namespace myproxy {

struct SandboxOptions {
	/* --no-sandbox clears this: no seccomp filter (for debugging and sanitizer builds). */
	bool seccomp = true;
	/* The user the worker becomes when started as root: worker_user / --user, resolved by the
	   master before the fork (a worker cannot read /etc/passwd). */
	std::string user_name = "nobody";
	uid_t uid = 65534;
	gid_t gid = 65534;
	/* Test binary only (never set by the production main): "privileges" or "filter" makes that
	   step fail, to prove the worker then exits before it receives a client. */
	std::string fault_injection;
};

/* Enters the sandbox; returns 0, or the exit status to _exit() with (the reason is logged).  Between
 * the privilege drop and the filter it prepares the relay's io_uring as @relay_io says
 * (worker/uring_ring.hpp): io_uring_setup is not allowed after. */
int enter_sandbox(const SandboxOptions &options, RelayIo relay_io = RelayIo::epoll) noexcept;

/* Writes the filter for @self_pid in libseccomp's PFC text form to @fd (the reviewed golden file
   in tests/ is this output); returns 0 or a negative errno. */
int export_syscall_filter_pfc(int fd, pid_t self_pid) noexcept;

} // namespace myproxy
