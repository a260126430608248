// Logging for the master and the workers: formats one line on the stack and writes it to stderr
// with one write(2).  Must never allocate, never use stdio buffers (a forked worker would flush
// the master's), and never change errno for the caller.
#include "common/exit_status.hpp"
#include "log.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

namespace myproxy {

namespace {

char process_role[64] = "myproxy";
bool journal_prefixes = false;
bool debug_enabled = false;

/* Appends to a fixed buffer, cutting at the capacity and remembering that it did. */
class LineBuilder {
	char *buffer;
	std::size_t capacity;
	std::size_t length = 0;
	bool truncated = false;

public:
	/* Keeps two bytes of @size free for the final "\n" and NUL. */
	LineBuilder(char *out, std::size_t size) noexcept : buffer(out), capacity(size - 2) {}

	std::size_t size() const noexcept { return length; }

	void append(const char *text, std::size_t n) noexcept {
		const std::size_t room = capacity - length;
		if (n > room) {
			n = room;
			truncated = true;
		}
		std::memcpy(buffer + length, text, n);
		length += n;
	}

	void append(const char *text) noexcept { append(text, std::strlen(text)); }

	void vappend(const char *format, va_list args) noexcept __attribute__((format(printf, 2, 0))) {
		const std::size_t room = capacity - length;
		/* room + 1: vsnprintf's NUL lands on the byte kept for '\n', overwritten in finish(). */
		const int n = std::vsnprintf(buffer + length, room + 1, format, args);
		if (n < 0) {
			append("(bad log format)");
			return;
		}
		if (std::size_t(n) > room) {
			length = capacity;
			truncated = true;
		} else {
			length += std::size_t(n);
		}
	}

	/* Replaces control characters from @from on, marks a cut line, adds "\n" and NUL. */
	std::size_t finish(std::size_t from) noexcept {
		for (std::size_t i = from; i < length; ++i) {
			const unsigned char c = static_cast<unsigned char>(buffer[i]);
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				buffer[i] = '?';
		}
		if (truncated)
			std::memcpy(buffer + length - 3, "...", 3);
		buffer[length++] = '\n';
		buffer[length] = '\0';
		return length;
	}
};

/* syslog(3) priorities, which journald reads from a "<N>" line prefix. */
int journal_priority(LogLevel level) noexcept
{
	switch (level) {
	case LogLevel::debug:
		return 7;
	case LogLevel::info:
		return 6;
	case LogLevel::warning:
		return 4;
	case LogLevel::error:
		return 3;
	case LogLevel::fatal:
		return 2;
	}
	return 3;
}

/* Without the journal, the severity is spelled out (info, the common case, is not). */
const char *severity_word(LogLevel level) noexcept
{
	switch (level) {
	case LogLevel::debug:
		return "debug: ";
	case LogLevel::info:
		return "";
	case LogLevel::warning:
		return "warning: ";
	case LogLevel::error:
		return "error: ";
	case LogLevel::fatal:
		return "fatal: ";
	}
	return "";
}

void append_errno(LineBuilder &line, int errnum) noexcept
{
	char text[128];
	const char *name = strerrorname_np(errnum);
	const char *description = strerrordesc_np(errnum);
	if (name != nullptr && description != nullptr)
		std::snprintf(text, sizeof(text), ": %s (%s)", name, description);
	else
		std::snprintf(text, sizeof(text), ": errno %d", errnum);
	line.append(text);
}

void write_line(const char *line, std::size_t length) noexcept
{
	while (length > 0) {
		const ssize_t n = ::write(STDERR_FILENO, line, length);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		line += n;
		length -= std::size_t(n);
	}
}

void emit(LogLevel level, int errnum, const char *subject, const char *format, va_list args) noexcept
	__attribute__((format(printf, 4, 0)));

void emit(LogLevel level, int errnum, const char *subject, const char *format, va_list args) noexcept
{
	if (!log_enabled(level))
		return;
	const int saved_errno = errno;
	char line[log_line_max];
	const std::size_t length = format_log_line(line, sizeof(line), journal_prefixes, process_role,
						   level, subject, errnum, format, args);
	write_line(line, length);
	if (level == LogLevel::fatal)
		/* Not exit(): after a fatal error no destructor or atexit handler should run, and in a
		   forked worker those would belong to the master's copy of the state. */
		_exit(exit_fatal);
	errno = saved_errno;
}

} // namespace

std::size_t format_log_line(char *buffer, std::size_t size, bool journal, const char *role,
			    LogLevel level, const char *subject, int errnum, const char *format,
			    va_list args) noexcept
{
	LineBuilder line(buffer, size);
	if (journal) {
		char prefix[8];
		std::snprintf(prefix, sizeof(prefix), "<%d>", journal_priority(level));
		line.append(prefix);
	}
	const std::size_t text_start = line.size();
	const bool has_role = role != nullptr && role[0] != '\0';
	const bool has_subject = subject != nullptr && subject[0] != '\0';
	if (has_role)
		line.append(role);
	if (has_role && has_subject)
		line.append(" ");
	if (has_subject)
		line.append(subject);
	if (has_role || has_subject)
		line.append(": ");
	if (!journal)
		line.append(severity_word(level));
	line.vappend(format, args);
	if (errnum != 0)
		append_errno(line, errnum);
	return line.finish(text_start);
}

bool stderr_is_journal() noexcept
{
	const char *value = std::getenv("JOURNAL_STREAM");
	if (value == nullptr)
		return false;
	unsigned long long device = 0, inode = 0;
	int consumed = 0;
	if (std::sscanf(value, "%llu:%llu%n", &device, &inode, &consumed) != 2 || value[consumed] != '\0')
		return false;
	struct stat st;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == device && st.st_ino == inode;
}

void log_init(const char *role) noexcept
{
	const int saved_errno = errno;
	log_set_role("%s", role != nullptr ? role : "");
	journal_prefixes = stderr_is_journal();
	errno = saved_errno;
}

void log_set_role(const char *format, ...) noexcept
{
	va_list args;
	va_start(args, format);
	std::vsnprintf(process_role, sizeof(process_role), format, args);
	va_end(args);
}

void log_set_debug(bool enabled) noexcept
{
	debug_enabled = enabled;
}

bool log_enabled(LogLevel level) noexcept
{
	return level != LogLevel::debug || debug_enabled;
}

void log_message(LogLevel level, const char *subject, const char *format, ...) noexcept
{
	va_list args;
	va_start(args, format);
	emit(level, 0, subject, format, args);
	va_end(args);
}

void log_errno(LogLevel level, int errnum, const char *subject, const char *format, ...) noexcept
{
	va_list args;
	va_start(args, format);
	emit(level, errnum, subject, format, args);
	va_end(args);
}

void log_debug(const char *format, ...) noexcept
{
	va_list args;
	va_start(args, format);
	emit(LogLevel::debug, 0, nullptr, format, args);
	va_end(args);
}

void log_info(const char *format, ...) noexcept
{
	va_list args;
	va_start(args, format);
	emit(LogLevel::info, 0, nullptr, format, args);
	va_end(args);
}

void log_warning(const char *format, ...) noexcept
{
	va_list args;
	va_start(args, format);
	emit(LogLevel::warning, 0, nullptr, format, args);
	va_end(args);
}

void log_error(const char *format, ...) noexcept
{
	va_list args;
	va_start(args, format);
	emit(LogLevel::error, 0, nullptr, format, args);
	va_end(args);
}

void log_fatal(const char *format, ...) noexcept
{
	va_list args;
	va_start(args, format);
	emit(LogLevel::fatal, 0, nullptr, format, args);
	va_end(args);
	_exit(exit_fatal);
}

void log_fatal_errno(int errnum, const char *format, ...) noexcept
{
	va_list args;
	va_start(args, format);
	emit(LogLevel::fatal, errnum, nullptr, format, args);
	va_end(args);
	_exit(exit_fatal);
}

} // namespace myproxy
