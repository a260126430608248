// The worker's seccomp allow-list (worker side; see syscall_allowlist.hpp).  One row per call (or
// per argument condition), grouped under headings, error rows first.  The test hook of the test
// binary proves the default: execve, bind and listen kill the worker; openat fails with EACCES.
// Keep the reasons honest: "harmless" is not a reason, "glibc's isatty() on stderr" is.
#include "worker/syscall_allowlist.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>

namespace myproxy {

namespace {

constexpr SyscallRule plain(const char *group, const char *name, const char *reason)
{
	return {group, name, SyscallAction::allow, 0, false, {0, 0, 0}, reason};
}

constexpr SyscallRule plain_if(const char *group, const char *name, SyscallArgument argument, const char *reason)
{
	return {group, name, SyscallAction::allow, 0, true, argument, reason};
}

constexpr SyscallRule failing(const char *group, const char *name, int error_number, const char *reason)
{
	return {group, name, SyscallAction::fail, error_number, false, {0, 0, 0}, reason};
}

constexpr SyscallRule failing_if(const char *group, const char *name, int error_number, SyscallArgument argument,
				 const char *reason)
{
	return {group, name, SyscallAction::fail, error_number, true, argument, reason};
}

/* Namespaces may not be created, whatever else clone() is asked to do. */
constexpr std::uint64_t clone_namespace_flags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
						CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;

constexpr SyscallRule table[] = {
	/* --- fail softly: libraries try these and cope with the error ------------------------- */
	failing("files", "open", EACCES,
		"no file access in a worker; libraries that look for files (libpq: ~/.pgpass, pg_service.conf; "
		"glibc: /etc/passwd for getpwuid_r, /etc/localtime; OpenSSL: openssl.cnf) carry on without them"),
	failing("files", "openat", EACCES, "as open: the call glibc actually makes; Lua's io.open returns nil, error"),
	failing("files", "openat2", EACCES, "as open"),
	failing("files", "creat", EACCES, "as open: no file is created"),
	failing("files", "stat", EACCES, "libpq stat()s ~/.pgpass before opening it"),
	failing("files", "lstat", EACCES, "as stat"),
	failing_if("files", "newfstatat", EACCES, {3, AT_EMPTY_PATH, 0},
		   "path-based fstatat (libpq's stat of ~/.pgpass through glibc); fstat(fd) is allowed below"),
	failing_if("files", "statx", EACCES, {2, AT_EMPTY_PATH, 0}, "as newfstatat"),
	failing("files", "access", EACCES, "libraries probing for a file (OpenSSL, libpq) treat EACCES as absent"),
	failing("files", "faccessat", EACCES, "as access"),
	failing("files", "faccessat2", EACCES, "as access"),
	failing("files", "readlink", EACCES, "libraries asking where the program lives (/proc/self/exe) cope with the error"),
	failing("files", "readlinkat", EACCES, "as readlink"),
	failing_if("terminal", "ioctl", ENOTTY, {1, 0, TCGETS},
		   "glibc's isatty() on stdout/stderr (stdio buffering): \"not a terminal\" is the truth here"),
	failing("threads", "clone3", ENOSYS,
		"seccomp cannot look into clone3's argument struct; ENOSYS makes glibc fall back to clone, "
		"whose flags are checked below"),

	/* --- memory ------------------------------------------------------------------------- */
	plain("memory", "brk", "malloc"),
	plain("memory", "mmap", "malloc of large blocks, Lua's heap, relay buffers"),
	plain("memory", "munmap", "free of large blocks"),
	plain("memory", "mremap", "realloc of large blocks (Lua tables and strings)"),
	plain("memory", "mprotect", "glibc malloc arenas, libsodium's guarded allocations"),
	plain("memory", "madvise", "malloc trimming; libsodium's MADV_DONTDUMP on secrets"),
	plain("memory", "mlock", "libsodium's sodium_mlock keeps secrets out of swap"),
	plain("memory", "munlock", "as mlock"),

	/* --- process basics ------------------------------------------------------------------- */
	plain("process", "exit", "a thread ends"),
	plain("process", "exit_group", "the worker ends (_exit)"),
	plain("process", "restart_syscall", "the kernel restarts an interrupted sleep"),
	plain("process", "getpid", "sd-event checks it is used in the process that created it"),
	plain("process", "gettid", "glibc's abort() and raise()"),
	plain("process", "getppid", "read-only; libraries detecting a fork"),
	plain("process", "getuid", "libpq looks up the user's name and home (then fails softly on /etc/passwd)"),
	plain("process", "geteuid", "as getuid"),
	plain("process", "getgid", "read-only credentials"),
	plain("process", "getegid", "read-only credentials"),
	plain("process", "getresuid", "read-only credentials"),
	plain("process", "getresgid", "read-only credentials"),
	plain("process", "getgroups", "read-only credentials"),
	plain("process", "uname", "glibc and OpenSSL ask for the kernel version"),
	plain("process", "getrlimit", "read-only limits (glibc's sysconf)"),
	plain_if("process", "prlimit64", {2, 0, 0}, "reading a limit (new_limit == NULL); setting one is killed"),
	plain("process", "getrusage", "CPU accounting for statistics"),
	plain("process", "sched_getaffinity", "glibc's sysconf(_SC_NPROCESSORS_ONLN)"),
	plain("process", "sched_yield", "spin locks in glibc and libraries"),

	/* --- threads (no worker code starts one; kept possible for libraries, never a process) */
	plain("threads", "futex", "locks in glibc, libstdc++ and OpenSSL, even single-threaded"),
	plain("threads", "set_robust_list", "a thread starts"),
	plain("threads", "set_tid_address", "a thread starts"),
	plain("threads", "rseq", "glibc registers restartable sequences per thread"),
	plain_if("threads", "clone", {0, CLONE_THREAD | clone_namespace_flags, CLONE_THREAD},
		 "a thread, never a process (fork) and never a namespace"),

	/* --- time ------------------------------------------------------------------------------ */
	plain("time", "clock_gettime", "sd-event, deadlines, Lua's os.time/os.clock"),
	plain("time", "clock_getres", "sd-event timer accuracy"),
	plain("time", "gettimeofday", "libraries' timestamps"),
	plain("time", "time", "libraries' timestamps"),
	plain("time", "nanosleep", "libraries' back-off"),
	plain("time", "clock_nanosleep", "as nanosleep"),

	/* --- randomness -------------------------------------------------------------------- */
	plain("random", "getrandom", "libsodium (scrambles, nonces), OpenSSL (TLS, RSA padding)"),

	/* --- descriptors and I/O ------------------------------------------------------------- */
	plain("io", "read", "sockets; timerfd and signalfd of sd-event"),
	plain("io", "write", "sockets; log lines to stderr"),
	plain("io", "readv", "sockets"),
	plain("io", "writev", "sockets; stdio"),
	plain("io", "close", "every descriptor the worker owns"),
	plain("io", "close_range", "closing inherited descriptors"),
	plain("io", "dup", "libraries duplicating their own descriptors"),
	plain("io", "dup3", "as dup"),
	plain("io", "fcntl", "O_NONBLOCK, FD_CLOEXEC on sockets"),
	plain("io", "fstat", "the received client socket's inode check"),
	plain_if("io", "newfstatat", {3, AT_EMPTY_PATH, AT_EMPTY_PATH}, "fstat(fd) as glibc 2.33+ implements it"),
	plain_if("io", "statx", {2, AT_EMPTY_PATH, AT_EMPTY_PATH}, "fstat(fd) through statx"),
	plain("io", "lseek", "stdio on stderr"),
	plain_if("io", "ioctl", {1, 0, FIONREAD}, "bytes waiting on a socket"),
	plain_if("io", "ioctl", {1, 0, FIONBIO}, "non-blocking mode set by libraries"),
	plain_if("io", "ioctl", {1, 0, TIOCOUTQ}, "bytes not yet sent on a socket"),

	/* --- the event loop ------------------------------------------------------------------ */
	/* io_uring stays out (io_uring_setup/enter/register): its operations would bypass this filter;
	 * measured and decided in doc/performance.md. */
	plain("events", "epoll_create1", "sd-event and the relay poller (worker/relay_poller), at worker start"),
	plain("events", "epoll_ctl", "sd-event sources come and go with connections, relay sockets move to the relay poller"),
	plain("events", "epoll_wait", "sd-event; the relay poller drains its set without waiting"),
	plain("events", "epoll_pwait", "sd-event"),
	plain("events", "epoll_pwait2", "sd-event on newer kernels"),
	/* XXX review: io_uring operations do not pass through this filter.  The relay's ring
	 * (worker/uring_ring) is created and restricted before the filter is loaded, with
	 * IORING_REGISTER_RESTRICTIONS as the filter for what it may do: recv, send and async cancel,
	 * only on sockets registered in its fixed-file table (IOSQE_FIXED_FILE required), and no
	 * register operation but IORING_REGISTER_FILES_UPDATE.  io_uring_setup stays forbidden: no
	 * second, unrestricted ring can be made after the sandbox. */
	plain("events", "io_uring_enter", "submits the relay ring's sends and receives (worker/uring_ring)"),
	plain("events", "io_uring_register",
	      "a session's sockets in and out of the relay ring's file table; the ring refuses every other "
	      "register operation (its restrictions)"),
	plain("events", "timerfd_create", "sd-event creates a timerfd per clock on first use"),
	plain("events", "timerfd_settime", "sd-event timers (login deadlines, drain)"),
	plain("events", "timerfd_gettime", "sd-event timers"),
	plain("events", "eventfd2", "libraries' wake-ups"),
	plain("events", "pipe2", "UBSan's vptr check probes memory through a pipe (sanitizer builds); an anonymous pipe reaches nothing outside the worker"),
	plain("events", "signalfd4", "sd-event signal sources"),
	plain("events", "poll", "libpq and OpenSSL wait on a socket in some paths"),
	plain("events", "ppoll", "as poll"),
	plain("events", "select", "as poll"),
	plain("events", "pselect6", "as poll"),

	/* --- signals ------------------------------------------------------------------------- */
	plain("signals", "rt_sigreturn", "return from a signal handler"),
	plain("signals", "rt_sigaction", "libpq and the worker ignore SIGPIPE"),
	plain("signals", "rt_sigprocmask", "libpq blocks SIGPIPE around send(); sd-event"),
	plain("signals", "rt_sigpending", "libpq checks for a SIGPIPE it caused"),
	plain("signals", "rt_sigtimedwait", "libpq consumes a SIGPIPE it caused"),
	plain("signals", "sigaltstack", "signal stacks of libraries"),
	plain_if("signals", "kill", {0, 0, syscall_argument_self_pid}, "raise() on itself only"),
	plain_if("signals", "tgkill", {0, 0, syscall_argument_self_pid},
		 "abort() and raise() on itself only, so an assertion still ends with SIGABRT"),

	/* --- sockets: client sockets only; bind, listen and accept are killed -------------------- */
	plain_if("sockets", "socket", {0, 0, AF_UNIX}, "backends on UNIX sockets; libpq; NSS asking nscd"),
	plain_if("sockets", "socket", {0, 0, AF_INET}, "backends over IPv4"),
	plain_if("sockets", "socket", {0, 0, AF_INET6}, "backends over IPv6"),
	plain("sockets", "connect", "to backends (MySQL, PostgreSQL)"),
	plain("sockets", "getsockopt", "SO_ERROR after a non-blocking connect"),
	plain("sockets", "setsockopt", "TCP_NODELAY, keepalive"),
	plain("sockets", "getsockname", "libpq, logging"),
	plain("sockets", "getpeername", "libpq, logging"),
	plain("sockets", "sendto", "send() is sendto()"),
	plain("sockets", "recvfrom", "recv() is recvfrom()"),
	plain("sockets", "sendmsg", "the channel to the master"),
	plain("sockets", "recvmsg", "the channel (SCM_RIGHTS: the client socket)"),
	plain("sockets", "sendmmsg", "batched sends of libraries"),
	plain("sockets", "recvmmsg", "batched receives of libraries"),
	plain("sockets", "shutdown", "closing a connection's direction"),
};

} // namespace

std::span<const SyscallRule> syscall_allowlist() noexcept
{
	return table;
}

} // namespace myproxy
