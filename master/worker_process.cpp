// The child side of a worker's fork() and the description of its end (see worker_process.hpp).
// Master side, but everything here before the entry runs in the child.
#include "master/worker_process.hpp"

#include "common/exit_status.hpp"
#include "common/log.hpp"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <exception>
#include <string_view>

namespace myproxy {

namespace {

/* Dispositions go back to default, except the fault signals: their handlers belong to the
   sanitizers and crash reporters, which are as useful in a worker as in the master. */
void reset_signals() noexcept
{
	for (int sig = 1; sig < NSIG; ++sig) {
		switch (sig) {
		case SIGKILL:
		case SIGSTOP:
		case SIGSEGV:
		case SIGBUS:
		case SIGILL:
		case SIGFPE:
		case SIGTRAP:
		case SIGABRT:
			continue;
		case SIGHUP:
		case SIGINT:
		case SIGTERM:
			/* A worker takes orders only from the master, over its channel: signals to
			   the whole process group (Ctrl-C, systemctl kill) must not end it. */
			signal(sig, SIG_IGN);
			break;
		default:
			signal(sig, SIG_DFL);
		}
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, nullptr);
}

} // namespace

[[noreturn]] void run_worker_process(const WorkerEntry &entry, int channel_fd, unsigned index,
			    WorkerActivityPage *activity, WorkerCounters *counters) noexcept
{
	log_set_role("worker[%u]", index);
	worker_activity_page = activity;
	worker_counters_page = counters;

	/* Everything the master holds (listeners, other workers' channels, sd-event's epoll,
	   signalfd and pidfds, clients in flight) is closed; only fds 0-2 and the channel stay. */
	constexpr int channel_target = 3;
	if (channel_fd != channel_target && dup3(channel_fd, channel_target, O_CLOEXEC) < 0) {
		log_errno(LogLevel::error, errno, nullptr, "dup3(channel, 3)");
		_exit(exit_software);
	}
	if (close_range(channel_target + 1, ~0U, 0) < 0) {
		log_errno(LogLevel::error, errno, nullptr, "close_range(4)");
		_exit(exit_software);
	}
	reset_signals();

	int status = exit_software;
	try {
		status = entry(UniqueFd(channel_target), index);
	} catch (const std::exception &e) {
		log_error("uncaught exception: %s", e.what());
	} catch (...) {
		log_error("uncaught exception");
	}
	_exit(status);
}

void describe_child_exit(char *buffer, std::size_t size, int code, int status) noexcept
{
	if (size == 0)
		return;
	switch (code) {
	case CLD_EXITED: {
		const std::string_view name = exit_status_name(status);
		if (name.empty())
			std::snprintf(buffer, size, "exited with status %d", status);
		else
			std::snprintf(buffer, size, "exited with status %d (%.*s)", status, int(name.size()),
				      name.data());
		return;
	}
	case CLD_KILLED:
	case CLD_DUMPED: {
		const char *abbrev = sigabbrev_np(status);
		const char *dumped = code == CLD_DUMPED ? ", core dumped" : "";
		if (abbrev != nullptr)
			std::snprintf(buffer, size, "killed by signal %d (SIG%s)%s", status, abbrev, dumped);
		else
			std::snprintf(buffer, size, "killed by signal %d%s", status, dumped);
		return;
	}
	default:
		std::snprintf(buffer, size, "changed state (code %d, status %d)", code, status);
	}
}

} // namespace myproxy
