// The worker's seccomp allow-list as data (worker side): every system call a sandboxed worker may
// make, each with the reason, grouped under headings; the loader in worker/sandbox.cpp walks it.
// Anything not listed kills the whole worker (SCMP_ACT_KILL_PROCESS).  Calls that libraries try and
// cope with failing (libpq looking for ~/.pgpass, glibc reading /etc/passwd) come first and fail
// with an errno instead.  Adding a call: one row here, then regenerate the reviewed golden file
// (see tests/unit/check_syscall_allowlist.cpp) so the change shows in the diff.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace myproxy {

enum class SyscallAction : std::uint8_t {
	/* The call runs. */
	allow,
	/* The call fails with SyscallRule::error_number; the kernel never sees it. */
	fail,
};

/* A condition on one argument: (arg[index] & mask) == value.  mask 0 means "the whole value",
   compared with ==. */
struct SyscallArgument {
	std::uint8_t index;
	std::uint64_t mask;
	std::uint64_t value;
};

/* Placeholder value: replaced by the worker's own pid when the filter is built (kill/tgkill may
   only target the worker itself, so abort() still ends with SIGABRT). */
inline constexpr std::uint64_t syscall_argument_self_pid = ~std::uint64_t(0);

struct SyscallRule {
	/* The heading the row stands under ("memory", "sockets", ...). */
	const char *group;
	/* The name libseccomp resolves (seccomp_syscall_resolve_name). */
	const char *name;
	SyscallAction action;
	/* For SyscallAction::fail. */
	int error_number;
	/* Optional condition; rows for one call with different conditions are alternatives.  A
	   call whose every row has a condition is killed when none matches. */
	bool has_argument;
	SyscallArgument argument;
	/* Why a worker needs it (or why it fails softly instead of killing). */
	const char *reason;
};

/* The table, error rows first.  Unit-tested: every row has a group, a name libseccomp knows and
   a reason; no (name, condition) pair repeats. */
std::span<const SyscallRule> syscall_allowlist() noexcept;

} // namespace myproxy
