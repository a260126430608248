// Coverage builds only (configure --enable-coverage, scripts/coverage.sh): a forked worker ends with
// _exit(), which skips the exit handlers that write gcov's counters, so it writes them itself first.
// In every other build this is an empty inline function.  Never call it under the seccomp filter:
// writing the counters opens files, which the filter answers with SIGSYS.
#pragma once

#ifdef MYPROXY_COVERAGE
extern "C" void __gcov_dump(void);
#endif

namespace myproxy {

inline void flush_coverage_counters() noexcept
{
#ifdef MYPROXY_COVERAGE
	__gcov_dump();
#endif
}

} // namespace myproxy
