// A worker process from the master's side of fork(): what the child runs before the worker's entry
// function (closing everything the master holds, resetting signals) and how its end is described in
// the log.  The child never returns into the master's code: it must not run any of the master's
// destructors (a Listener's would unlink the socket path).
#pragma once

#include "common/worker_activity.hpp"
#include "common/worker_counters.hpp"
#include "common/unique_fd.hpp"

#include <cstddef>
#include <functional>

namespace myproxy {

/* Runs in the forked child with its channel (fd 3) and index; returns the exit status. */
using WorkerEntry = std::function<int(UniqueFd channel, unsigned worker_index)>;

/* In the child right after fork(): keeps only fds 0-2 and @channel_fd (moved to 3), ignores
   SIGHUP/SIGINT/SIGTERM, runs @entry and _exit()s with its status. */
[[noreturn]] void run_worker_process(const WorkerEntry &entry, int channel_fd, unsigned index,
				     WorkerActivityPage *activity, WorkerCounters *counters) noexcept;

/* "exited with status 77 (EXIT_PRIVILEGE_DROP)" (the name from common/exit_status.hpp when the
   status has one), "exited with status 3", "killed by signal 31 (SIGSYS)", "killed by signal 11 (SIGSEGV), core
   dumped": @code and @status as in siginfo_t (CLD_EXITED, ...).  Pure, for the exit log line. */
void describe_child_exit(char *buffer, std::size_t size, int code, int status) noexcept;

} // namespace myproxy
