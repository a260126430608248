// Every exit status of myproxy's processes, master and workers, one meaning each (values from
// sysexits.h where one fits), and their names for log lines: the master logs a worker's exit as
// "exited with status 77 (EXIT_PRIVILEGE_DROP)".  man/myproxy.8 lists the same table; a value never
// changes its meaning, since service managers and scripts act on it.
#pragma once

#include <string_view>

namespace myproxy {

/* Shut down as asked (SIGTERM/SIGINT, drained), --help, --version, a good --check-config. */
inline constexpr int exit_ok = 0;
/* A fatal log line: the process found its own state inconsistent (log_fatal). */
inline constexpr int exit_fatal = 1;
/* A wrong command line (EX_USAGE). */
inline constexpr int exit_usage = 64;
/* An internal error (EX_SOFTWARE): a worker's setup after fork() failed or an exception escaped
 * its entry function. */
inline constexpr int exit_software = 70;
/* The master: the operating system refused a listener, the event loop or the workers (EX_OSERR). */
inline constexpr int exit_os_error = 71;
/* A worker's event loop could not be set up or failed while running (EX_IOERR). */
inline constexpr int exit_worker_loop = 74;
/* A worker got from the master what the channel protocol does not allow (EX_PROTOCOL). */
inline constexpr int exit_channel_protocol = 76;
/* A worker could not drop its privileges (EX_NOPERM). */
inline constexpr int exit_privilege_drop = 77;
/* The configuration cannot be used: config.lua or the system does not match it (EX_CONFIG). */
inline constexpr int exit_config = 78;
/* A worker could not load its seccomp filter. */
inline constexpr int exit_seccomp_filter = 79;

struct ExitStatusName {
	int status;
	std::string_view name;
};

inline constexpr ExitStatusName exit_status_names[] = {
	{exit_ok, "EXIT_OK"},
	{exit_fatal, "EXIT_FATAL"},
	{exit_usage, "EXIT_USAGE"},
	{exit_software, "EXIT_SOFTWARE"},
	{exit_os_error, "EXIT_OS_ERROR"},
	{exit_worker_loop, "EXIT_WORKER_LOOP"},
	{exit_channel_protocol, "EXIT_CHANNEL_PROTOCOL"},
	{exit_privilege_drop, "EXIT_PRIVILEGE_DROP"},
	{exit_config, "EXIT_CONFIG"},
	{exit_seccomp_filter, "EXIT_SECCOMP_FILTER"},
};

/* "EXIT_PRIVILEGE_DROP" for 77; empty for a status myproxy never exits with on purpose. */
constexpr std::string_view exit_status_name(int status) noexcept
{
	for (const ExitStatusName &entry : exit_status_names)
		if (entry.status == status)
			return entry.name;
	return {};
}

} // namespace myproxy
