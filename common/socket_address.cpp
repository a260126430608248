// Parsing and printing of socket addresses (see socket_address.hpp).  The numeric parser is pure; the
// only blocking call is getaddrinfo() in resolve_address(), reached for host names only.  Nothing here
// throws or allocates except to_string().
#include "common/socket_address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace myproxy {

namespace {

/* Quote at most this much of the input in an error, so the message always fits AddressError. */
constexpr int quote_max = 160;
constexpr std::size_t sun_path_size = sizeof(sockaddr_un::sun_path);

AddressError make_error(const char *problem, std::string_view text, const char *hint = "")
{
	AddressError error;
	const bool cut = text.size() > static_cast<std::size_t>(quote_max);
	const int shown = cut ? quote_max : static_cast<int>(text.size());
	std::snprintf(error.text, sizeof(error.text), "%s in '%.*s%s'%s", problem, shown, text.data(),
		      cut ? "..." : "", hint);
	return error;
}

AddressResult parse_unix_path(std::string_view text)
{
	if (text.size() > sun_path_size - 1)
		return make_error("socket path too long (at most 107 bytes)", text);
	SocketAddress address;
	auto *sun = reinterpret_cast<sockaddr_un *>(&address.storage);
	sun->sun_family = AF_UNIX;
	std::memcpy(sun->sun_path, text.data(), text.size());
	address.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + text.size() + 1);
	return address;
}

/* "@name": Linux's abstract namespace, spelled with a leading NUL and no terminator. */
AddressResult parse_abstract(std::string_view text)
{
	const std::string_view name = text.substr(1);
	if (name.empty())
		return make_error("empty abstract socket name", text);
	if (name.size() > sun_path_size - 1)
		return make_error("abstract socket name too long (at most 107 bytes)", text);
	SocketAddress address;
	auto *sun = reinterpret_cast<sockaddr_un *>(&address.storage);
	sun->sun_family = AF_UNIX;
	std::memcpy(sun->sun_path + 1, name.data(), name.size());
	address.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
	return address;
}

struct HostPort {
	std::string_view host;
	std::uint16_t port;
	/* Written as "[...]" or with several colons: only an IPv6 literal fits. */
	bool ipv6_only;
};

/* Sets error and returns false, or fills port. */
bool parse_port(std::string_view digits, std::string_view text, std::uint16_t &port, AddressError &error)
{
	if (digits.empty()) {
		error = make_error("missing port", text);
		return false;
	}
	unsigned long value = 0;
	for (char c : digits) {
		if (c < '0' || c > '9') {
			error = make_error("invalid port", text);
			return false;
		}
		if (value <= 65535)
			value = value * 10 + static_cast<unsigned>(c - '0');
	}
	if (value == 0 || value > 65535) {
		error = make_error("port out of range", text);
		return false;
	}
	port = static_cast<std::uint16_t>(value);
	return true;
}

bool split_host_port(std::string_view text, std::uint16_t default_port, HostPort &out, AddressError &error)
{
	out.port = default_port;
	if (text.front() == '[') {
		const std::size_t close = text.find(']');
		if (close == std::string_view::npos) {
			error = make_error("missing ']'", text);
			return false;
		}
		out.host = text.substr(1, close - 1);
		out.ipv6_only = true;
		const std::string_view rest = text.substr(close + 1);
		if (rest.empty())
			return true;
		if (rest.front() != ':') {
			error = make_error("unexpected text after ']'", text);
			return false;
		}
		return parse_port(rest.substr(1), text, out.port, error);
	}

	const std::size_t colon = text.find(':');
	if (colon == std::string_view::npos) {
		out.host = text;
		out.ipv6_only = false;
		return true;
	}
	if (text.find(':', colon + 1) != std::string_view::npos) {
		out.host = text;
		out.ipv6_only = true;
		return true;
	}
	out.host = text.substr(0, colon);
	out.ipv6_only = false;
	return parse_port(text.substr(colon + 1), text, out.port, error);
}

/* glibc's resolver reads "10.1" or "0x7f.1" as IPv4 shorthands; we want those to be plain errors. */
bool looks_like_ipv4(std::string_view host)
{
	for (char c : host)
		if ((c < '0' || c > '9') && c != '.')
			return false;
	return true;
}

SocketAddress make_inet(const in_addr &ip, std::uint16_t port)
{
	SocketAddress address;
	auto *sin = reinterpret_cast<sockaddr_in *>(&address.storage);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr = ip;
	address.length = sizeof(sockaddr_in);
	return address;
}

SocketAddress make_inet6(const in6_addr &ip, std::uint16_t port)
{
	SocketAddress address;
	auto *sin6 = reinterpret_cast<sockaddr_in6 *>(&address.storage);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	sin6->sin6_addr = ip;
	address.length = sizeof(sockaddr_in6);
	return address;
}

enum class Parsed { address, host_name, error };

/* Everything both public parsers share: leaves a host name in hp for the caller to refuse or resolve. */
Parsed parse_common(std::string_view text, std::uint16_t default_port, SocketAddress &address, HostPort &hp,
		    AddressError &error)
{
	if (text.empty()) {
		error = make_error("empty address", text);
		return Parsed::error;
	}
	if (text.find('\0') != std::string_view::npos) {
		error = make_error("NUL byte", text);
		return Parsed::error;
	}
	if (text.front() == '/' || text.front() == '@') {
		const AddressResult r = text.front() == '/' ? parse_unix_path(text) : parse_abstract(text);
		if (!r) {
			std::memcpy(error.text, r.error(), sizeof(error.text));
			return Parsed::error;
		}
		address = r.value();
		return Parsed::address;
	}
	if (text.find('/') != std::string_view::npos) {
		error = make_error("socket path not absolute", text);
		return Parsed::error;
	}
	if (!split_host_port(text, default_port, hp, error))
		return Parsed::error;
	if (hp.host.empty()) {
		error = make_error("missing host", text);
		return Parsed::error;
	}
	if (hp.host == "*" && !hp.ipv6_only) {
		address = make_inet6(in6addr_any, hp.port);
		return Parsed::address;
	}

	/* inet_pton() wants a C string; anything longer than a host name is garbage anyway. */
	char host[host_name_max + 1];
	if (hp.host.size() > host_name_max) {
		error = make_error("host name too long", text);
		return Parsed::error;
	}
	std::memcpy(host, hp.host.data(), hp.host.size());
	host[hp.host.size()] = '\0';

	in6_addr ip6;
	if (inet_pton(AF_INET6, host, &ip6) == 1) {
		address = make_inet6(ip6, hp.port);
		return Parsed::address;
	}
	if (hp.ipv6_only && hp.host.find('%') != std::string_view::npos) {
		/* inet_pton() has no scope ids, and a link-local backend is tied to one interface. */
		error = make_error("IPv6 zone id", text, " (not supported: give a global or unique local address)");
		return Parsed::error;
	}
	if (hp.ipv6_only) {
		/* The hint only helps when the brackets are missing. */
		error = make_error("invalid IPv6 address", text,
				   text.front() == '[' ? "" : " (a port needs brackets: [::1]:3306)");
		return Parsed::error;
	}
	in_addr ip4;
	if (inet_pton(AF_INET, host, &ip4) == 1) {
		address = make_inet(ip4, hp.port);
		return Parsed::address;
	}
	if (looks_like_ipv4(hp.host)) {
		error = make_error("invalid IPv4 address", text);
		return Parsed::error;
	}
	if (!is_host_name(hp.host)) {
		error = make_error("invalid host name", text);
		return Parsed::error;
	}
	return Parsed::host_name;
}

AddressResult lookup(const HostPort &hp)
{
	char host[host_name_max + 1];
	std::memcpy(host, hp.host.data(), hp.host.size());
	host[hp.host.size()] = '\0';

	addrinfo hints{};
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	addrinfo *list = nullptr;
	const int rc = getaddrinfo(host, nullptr, &hints, &list);
	if (rc != 0)
		return lookup_error(hp.host, rc, errno);
	const AddressResult result = first_inet_address(list, hp.port, hp.host);
	freeaddrinfo(list);
	return result;
}

std::size_t clamp_written(int n, std::size_t size)
{
	if (n < 0)
		return 0;
	return static_cast<std::size_t>(n) < size ? static_cast<std::size_t>(n) : size - 1;
}

std::size_t format_unix(const SocketAddress &address, char *buffer, std::size_t size)
{
	const auto *sun = reinterpret_cast<const sockaddr_un *>(&address.storage);
	const std::size_t base = offsetof(sockaddr_un, sun_path);
	const std::size_t path_length = address.length > base ? address.length - base : 0;
	if (path_length == 0)
		return clamp_written(std::snprintf(buffer, size, "(unnamed)"), size);
	if (sun->sun_path[0] != '\0')
		return clamp_written(std::snprintf(buffer, size, "%.*s", static_cast<int>(path_length),
						   sun->sun_path), size);

	std::size_t n = clamp_written(std::snprintf(buffer, size, "@"), size);
	for (std::size_t i = 1; i < path_length && n + 5 < size; ++i) {
		const auto c = static_cast<unsigned char>(sun->sun_path[i]);
		if (c >= 0x20 && c < 0x7f && c != '\\')
			buffer[n++] = static_cast<char>(c);
		else
			n += clamp_written(std::snprintf(buffer + n, size - n, "\\x%02x", c), size - n);
	}
	buffer[n] = '\0';
	return n;
}

} // namespace

bool operator==(const SocketAddress &a, const SocketAddress &b) noexcept
{
	return a.length == b.length && std::memcmp(&a.storage, &b.storage, a.length) == 0;
}

AddressResult parse_numeric_address(std::string_view text, std::uint16_t default_port) noexcept
{
	HostName ignored;
	return parse_numeric_address(text, default_port, ignored);
}

AddressResult resolve_address(std::string_view text, std::uint16_t default_port) noexcept
{
	SocketAddress address;
	HostPort hp{};
	AddressError error;
	switch (parse_common(text, default_port, address, hp, error)) {
	case Parsed::address:
		return address;
	case Parsed::host_name:
		return lookup(hp);
	case Parsed::error:
		break;
	}
	return error;
}

AddressResult parse_numeric_address(std::string_view text, std::uint16_t default_port, HostName &host) noexcept
{
	SocketAddress address;
	HostPort hp{};
	AddressError error;
	host.length = 0;
	switch (parse_common(text, default_port, address, hp, error)) {
	case Parsed::address:
		return address;
	case Parsed::host_name:
		/* parse_common() checked the length against host_name_max. */
		std::memcpy(host.text, hp.host.data(), hp.host.size());
		host.text[hp.host.size()] = '\0';
		host.length = hp.host.size();
		host.port = hp.port;
		return make_error("host name", text, " (host names are resolved only at startup)");
	case Parsed::error:
		break;
	}
	return error;
}

bool is_host_name(std::string_view name) noexcept
{
	if (name.empty() || name.size() > host_name_max || name.front() == '-' || name.front() == '.')
		return false;
	for (char c : name) {
		const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
				c == '-' || c == '.' || c == '_';
		if (!ok)
			return false;
	}
	return true;
}

AddressResult first_inet_address(const addrinfo *list, std::uint16_t port, std::string_view host) noexcept
{
	for (const addrinfo *ai = list; ai != nullptr; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			return make_inet(reinterpret_cast<const sockaddr_in *>(ai->ai_addr)->sin_addr, port);
		if (ai->ai_family == AF_INET6)
			return make_inet6(reinterpret_cast<const sockaddr_in6 *>(ai->ai_addr)->sin6_addr, port);
	}
	return make_error("no IPv4 or IPv6 address for host", host);
}

AddressError lookup_error(std::string_view host, int rc, int error_number) noexcept
{
	AddressError error;
	const char *why = rc == EAI_SYSTEM ? std::strerror(error_number) : gai_strerror(rc);
	const int shown = host.size() > std::size_t(quote_max) ? quote_max : int(host.size());
	std::snprintf(error.text, sizeof(error.text), "cannot resolve '%.*s': %s", shown, host.data(), why);
	return error;
}

AddressResult make_ip_address(const std::uint8_t *bytes, std::size_t size, std::uint16_t port) noexcept
{
	if (size == sizeof(in_addr)) {
		in_addr ip;
		std::memcpy(&ip, bytes, sizeof(ip));
		return make_inet(ip, port);
	}
	if (size == sizeof(in6_addr)) {
		in6_addr ip;
		std::memcpy(&ip, bytes, sizeof(ip));
		return make_inet6(ip, port);
	}
	AddressError error;
	std::snprintf(error.text, sizeof(error.text), "an IP address has 4 or 16 bytes, not %zu", size);
	return error;
}

std::size_t ip_address_bytes(const SocketAddress &address, std::uint8_t (&out)[16]) noexcept
{
	if (address.defined() && address.family() == AF_INET) {
		std::memcpy(out, &reinterpret_cast<const sockaddr_in *>(&address.storage)->sin_addr, 4);
		return 4;
	}
	if (address.defined() && address.family() == AF_INET6) {
		std::memcpy(out, &reinterpret_cast<const sockaddr_in6 *>(&address.storage)->sin6_addr, 16);
		return 16;
	}
	return 0;
}

std::size_t format_socket_address(const SocketAddress &address, char *buffer, std::size_t size) noexcept
{
	if (size == 0)
		return 0;
	char ip[INET6_ADDRSTRLEN];
	switch (address.defined() ? address.family() : AF_UNSPEC) {
	case AF_UNSPEC:
		return clamp_written(std::snprintf(buffer, size, "(none)"), size);
	case AF_UNIX:
		return format_unix(address, buffer, size);
	case AF_INET: {
		const auto *sin = reinterpret_cast<const sockaddr_in *>(&address.storage);
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		return clamp_written(std::snprintf(buffer, size, "%s:%u", ip, ntohs(sin->sin_port)), size);
	}
	case AF_INET6: {
		const auto *sin6 = reinterpret_cast<const sockaddr_in6 *>(&address.storage);
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		return clamp_written(std::snprintf(buffer, size, "[%s]:%u", ip, ntohs(sin6->sin6_port)), size);
	}
	default:
		return clamp_written(std::snprintf(buffer, size, "(address family %d)", address.family()), size);
	}
}

std::string to_string(const SocketAddress &address)
{
	char buffer[socket_address_text_max];
	const std::size_t n = format_socket_address(address, buffer, sizeof(buffer));
	return std::string(buffer, n);
}

} // namespace myproxy
