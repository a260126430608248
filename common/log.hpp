// Logging for the master and the workers: one line per event on stderr, which journald collects.
// Every line carries the process role ("master", "worker[2]") and, when given, the subject of the
// event ("acct=acme pid=123").  A line is formatted into a stack buffer and written with a single
// write(2), so lines of several processes never interleave; nothing allocates and errno survives.
// Never log secrets: pass names and ids, never passwords or scrambles.
#pragma once

#include <cstdarg>
#include <cstddef>

namespace myproxy {

/* The severity ladder.  fatal writes its line and ends the process. */
enum class LogLevel { debug, info, warning, error, fatal };

/* Longest line written, including the priority prefix and the newline; longer messages are cut
   and end in "...".  Below PIPE_BUF, so a write to a pipe is atomic. */
inline constexpr std::size_t log_line_max = 2048;


/* Startup: sets the role and decides, once, whether stderr is the journal (JOURNAL_STREAM names
   stderr's device and inode), which selects "<N>" priority prefixes instead of severity words. */
void log_init(const char *role) noexcept;

/* Changes the role prefix, e.g. after fork: log_set_role("worker[%u]", index). */
void log_set_role(const char *format, ...) noexcept __attribute__((format(printf, 1, 2)));

/* The verbosity switch: debug lines are dropped unless enabled (off by default). */
void log_set_debug(bool enabled) noexcept;

/* Whether a line of @level would be written; lets callers skip preparing costly arguments. */
bool log_enabled(LogLevel level) noexcept;

/* True when JOURNAL_STREAM matches stderr's "device:inode" (what systemd sets for services). */
bool stderr_is_journal() noexcept;

/* The formatter behind every log call, exposed for tests.  Writes one line ending in '\n' into
   @buffer (NUL-terminated after it; @size must be at least 16) and returns its length without the
   NUL.  @journal selects the "<N>" prefix; @role and @subject may be null or empty; @errnum != 0
   appends ": ENAME (description)".  Control characters in the result become '?', so text that
   came from a client cannot forge a second line. */
std::size_t format_log_line(char *buffer, std::size_t size, bool journal, const char *role,
			    LogLevel level, const char *subject, int errnum, const char *format,
			    va_list args) noexcept __attribute__((format(printf, 8, 0)));

/* The general forms: @subject may be null.  A fatal @level exits after writing. */
void log_message(LogLevel level, const char *subject, const char *format, ...) noexcept
	__attribute__((format(printf, 3, 4)));
void log_errno(LogLevel level, int errnum, const char *subject, const char *format, ...) noexcept
	__attribute__((format(printf, 4, 5)));

/* Shorthands without a subject. */
void log_debug(const char *format, ...) noexcept __attribute__((format(printf, 1, 2)));
void log_info(const char *format, ...) noexcept __attribute__((format(printf, 1, 2)));
void log_warning(const char *format, ...) noexcept __attribute__((format(printf, 1, 2)));
void log_error(const char *format, ...) noexcept __attribute__((format(printf, 1, 2)));
[[noreturn]] void log_fatal(const char *format, ...) noexcept __attribute__((format(printf, 1, 2)));
[[noreturn]] void log_fatal_errno(int errnum, const char *format, ...) noexcept
	__attribute__((format(printf, 2, 3)));

} // namespace myproxy
