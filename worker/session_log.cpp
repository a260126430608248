// Log lines of one client session; see session_log.hpp.
#include "session_log.hpp"

#include "common/log.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace myproxy {

std::size_t SessionLog::format_subject(char *buffer, std::size_t size) const noexcept
{
	int n = 0;
	if (!attributes.account.empty())
		n = std::snprintf(buffer, size, "acct=%s ", attributes.account.c_str());
	if (n < 0 || std::size_t(n) >= size)
		return size - 1;
	int m;
	if (attributes.has_credentials)
		m = std::snprintf(buffer + n, size - std::size_t(n), "pid=%d uid=%u", attributes.pid, attributes.uid);
	else if (!attributes.address.empty())
		m = std::snprintf(buffer + n, size - std::size_t(n), "peer=%s", attributes.address.c_str());
	else
		m = std::snprintf(buffer + n, size - std::size_t(n), "client=%llu", (unsigned long long)client_id);
	if (m < 0)
		return std::size_t(n);
	return std::min(size - 1, std::size_t(n + m));
}

void SessionLog::operator()(LogLevel level, const char *format, ...) const noexcept
{
	if (!log_enabled(level))
		return;
	char subject[client_account_max + 128];
	format_subject(subject, sizeof(subject));
	char message[log_line_max];
	va_list args;
	va_start(args, format);
	std::vsnprintf(message, sizeof(message), format, args);
	va_end(args);
	log_message(level, subject, "%s", message);
}

} // namespace myproxy
