// Crash penalties, after OpenSSH's PerSourcePenalties (master side, pure logic): a uid whose client
// was being served when a worker crashed is refused for a while, so one tenant cannot keep
// knocking out the connections of others.  Bounded: at most max_entries uids are remembered; when
// full, expired entries go first, then the one that expires soonest.  No I/O, no clock of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>

namespace myproxy {

/* The signals that mean the worker itself failed (SIGSEGV, SIGBUS, SIGSYS from seccomp, SIGABRT,
   SIGILL, SIGFPE).  SIGKILL from an operator or the OOM killer, SIGTERM, SIGHUP: not a crash, so
   nobody is penalized for them. */
bool is_crash_signal(int signal_number) noexcept;

/* Refusals are logged at most once per uid per interval, with how many there were: a refused
   tenant reconnecting in a loop must not flood the journal.  Bounded like CrashPenalties. */
class RefusalLog {
public:
	static constexpr std::size_t max_entries = 65536;

	explicit RefusalLog(std::uint64_t interval_usec) noexcept : interval(interval_usec) {}

	/* A refusal of @uid at @now_usec.  Returns 0 when it is not to be logged; otherwise the
	   number of refusals of @uid this line stands for (this one and the ones not logged). */
	std::uint64_t note(std::uint32_t uid, std::uint64_t now_usec);

	std::size_t size() const noexcept { return entries.size(); }

private:
	struct Entry {
		std::uint64_t logged_usec = 0;
		std::uint64_t unlogged = 0;
	};
	std::uint64_t interval;
	std::unordered_map<std::uint32_t, Entry> entries;
};

class CrashPenalties {
public:
	static constexpr std::size_t max_entries = 65536;

	/* @duration_usec 0 turns penalties off. */
	explicit CrashPenalties(std::uint64_t duration_usec) noexcept : duration(duration_usec) {}

	/* @uid crashed a worker at @now_usec: refused until now + duration (a repeat extends it). */
	void penalize(std::uint32_t uid, std::uint64_t now_usec);

	/* Microseconds @uid is still refused at @now_usec; 0 when it is not. */
	std::uint64_t remaining(std::uint32_t uid, std::uint64_t now_usec) noexcept;

	std::size_t size() const noexcept { return until.size(); }
	std::uint64_t duration_usec() const noexcept { return duration; }
	/* A reload's crash_penalty: refusals already running keep their end. */
	void set_duration_usec(std::uint64_t duration_usec) noexcept { duration = duration_usec; }

private:
	std::uint64_t duration;
	std::unordered_map<std::uint32_t, std::uint64_t> until;

	void make_room(std::uint64_t now_usec) noexcept;
};

} // namespace myproxy
