// Crash penalties (master side; see crash_penalty.hpp).  Lookups erase what has expired, so the
// table shrinks by itself; eviction when full is a linear scan, which only a crash (rare, and
// penalized) can trigger.
#include "master/crash_penalty.hpp"

#include <signal.h>

namespace myproxy {

bool is_crash_signal(int signal_number) noexcept
{
	switch (signal_number) {
	case SIGSEGV:
	case SIGBUS:
	case SIGSYS:
	case SIGABRT:
	case SIGILL:
	case SIGFPE:
		return true;
	default:
		return false;
	}
}

std::uint64_t RefusalLog::note(std::uint32_t uid, std::uint64_t now_usec)
{
	auto i = entries.find(uid);
	if (i == entries.end()) {
		if (entries.size() >= max_entries) {
			/* Forget the quiet ones; if every uid is loud, forget them all (a few lines more). */
			std::erase_if(entries, [&](const auto &e) { return now_usec - e.second.logged_usec >= interval; });
			if (entries.size() >= max_entries)
				entries.clear();
		}
		entries.emplace(uid, Entry{now_usec, 0});
		return 1;
	}
	Entry &entry = i->second;
	if (now_usec - entry.logged_usec < interval) {
		++entry.unlogged;
		return 0;
	}
	const std::uint64_t count = entry.unlogged + 1;
	entry = Entry{now_usec, 0};
	return count;
}

void CrashPenalties::penalize(std::uint32_t uid, std::uint64_t now_usec)
{
	if (duration == 0)
		return;
	if (until.size() >= max_entries && until.find(uid) == until.end())
		make_room(now_usec);
	until[uid] = now_usec + duration;
}

std::uint64_t CrashPenalties::remaining(std::uint32_t uid, std::uint64_t now_usec) noexcept
{
	if (until.empty())
		return 0;
	const auto i = until.find(uid);
	if (i == until.end())
		return 0;
	if (i->second <= now_usec) {
		until.erase(i);
		return 0;
	}
	return i->second - now_usec;
}

void CrashPenalties::make_room(std::uint64_t now_usec) noexcept
{
	auto soonest = until.end();
	for (auto i = until.begin(); i != until.end();) {
		if (i->second <= now_usec) {
			i = until.erase(i);
			continue;
		}
		if (soonest == until.end() || i->second < soonest->second)
			soonest = i;
		++i;
	}
	if (until.size() >= max_entries && soonest != until.end())
		until.erase(soonest);
}

} // namespace myproxy
