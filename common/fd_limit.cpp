// The fd budget (see fd_limit.hpp).  systemd's default soft limit is 1024 whatever the hard limit
// says (the unit sets LimitNOFILE= too); select() is not used anywhere, so a high one is safe.
#include "common/fd_limit.hpp"

#include "common/log.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>

namespace myproxy {

namespace {

/* RLIM_INFINITY (or anything absurd) counts as this; the kernel's nr_open caps real fds anyway. */
constexpr std::uint64_t effectively_unlimited = 1U << 30;

std::uint64_t finite(rlim_t value) noexcept
{
	return value == RLIM_INFINITY ? effectively_unlimited
				      : std::min<std::uint64_t>(value, effectively_unlimited);
}

} // namespace

std::uint64_t raise_fd_limit() noexcept
{
	struct rlimit limit;
	if (getrlimit(RLIMIT_NOFILE, &limit) < 0) {
		log_errno(LogLevel::warning, errno, nullptr, "getrlimit(RLIMIT_NOFILE)");
		return 1024;
	}
	if (limit.rlim_cur != limit.rlim_max) {
		const rlim_t old = limit.rlim_cur;
		limit.rlim_cur = limit.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &limit) < 0) {
			log_errno(LogLevel::warning, errno, nullptr, "setrlimit(RLIMIT_NOFILE, %llu)",
				  static_cast<unsigned long long>(limit.rlim_max));
			return finite(old);
		}
		log_debug("fd limit raised from %llu to %llu", static_cast<unsigned long long>(old),
			  static_cast<unsigned long long>(limit.rlim_cur));
	}
	return finite(limit.rlim_cur);
}

std::uint64_t fd_reserve(std::uint64_t limit) noexcept
{
	return std::clamp<std::uint64_t>(limit / 16, 32, 1024);
}

std::uint64_t session_capacity(std::uint64_t limit) noexcept
{
	const std::uint64_t reserve = fd_reserve(limit);
	return limit > 2 * reserve + fds_per_session ? (limit - 2 * reserve) / fds_per_session : 1;
}

} // namespace myproxy
