// Socket addresses as the administrator writes them in config.lua ("/run/x.sock", "@name", "1.2.3.4:3307",
// "[::1]", "*:3306", "db.example:3306") and as log lines print them.  Used on both sides: the master binds
// them, workers connect to them.  Never opens a socket; only resolve_address() may touch the network (DNS),
// and only at startup: workers are sandboxed and must stay on parse_numeric_address().
// Every type here is trivially destructible so Lua glue may hold one across a Lua error (longjmp).
#pragma once

#include <sys/socket.h>

struct addrinfo;

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace myproxy {

struct SocketAddress {
	sockaddr_storage storage{};
	/* 0 means "no address". */
	socklen_t length = 0;

	bool defined() const noexcept { return length != 0; }
	int family() const noexcept { return storage.ss_family; }
	const sockaddr *get() const noexcept { return reinterpret_cast<const sockaddr *>(&storage); }

	/* Byte-wise: the same text always parses to the same bytes. */
	friend bool operator==(const SocketAddress &a, const SocketAddress &b) noexcept;
};

/* A fixed buffer instead of std::string so no destructor is skipped when Lua longjmps past it. */
struct AddressError {
	char text[256];
};

class [[nodiscard]] AddressResult {
	SocketAddress address_;
	AddressError error_{};
	bool ok_;

public:
	AddressResult(const SocketAddress &address) noexcept : address_(address), ok_(true) {}
	AddressResult(const AddressError &error) noexcept : error_(error), ok_(false) {}

	bool ok() const noexcept { return ok_; }
	explicit operator bool() const noexcept { return ok_; }
	/* Only valid when ok(). */
	const SocketAddress &value() const noexcept { return address_; }
	/* Only valid when !ok(): names the problem and quotes the input, e.g.
	 * "port out of range in '1.2.3.4:99999'". */
	const char *error() const noexcept { return error_.text; }
};

/* The longest DNS name (RFC 1035: 253 characters in text form). */
inline constexpr std::size_t host_name_max = 253;

/* A host name that parse_numeric_address() left for a resolver, with the port the text gave. */
struct HostName {
	char text[host_name_max + 1]; /* NUL-terminated */
	std::size_t length = 0;       /* 0: the text named no host */
	std::uint16_t port = 0;
};

/* MySQL's port, the default when an IP address comes without one. */
inline constexpr std::uint16_t mysql_default_port = 3306;

/* Pure: no I/O, no allocation.  Accepts "/abs/path", "@abstract", "1.2.3.4", "1.2.3.4:3307", "[::1]",
 * "[::1]:3307", "::1" (bare IPv6, default port), "*" and "*:3306" (IPv6 "::", which is dual-stack unless
 * the socket sets IPV6_V6ONLY).  A host name is an error saying it needs resolution.  Ports are 1..65535;
 * IPv6 zone ids ("%eth0") are not supported. */
AddressResult parse_numeric_address(std::string_view text, std::uint16_t default_port) noexcept;

/* Like parse_numeric_address(), but when the text names a host, @host gets the name and its port (and
 * the result is the same "host name" error): for resolvers that run elsewhere (mysql_resolve() in a
 * callback asks the master). */
AddressResult parse_numeric_address(std::string_view text, std::uint16_t default_port, HostName &host) noexcept;

/* Whether @name (not empty) is a host name a resolver may be asked for: at most host_name_max
 * letters, digits, '-', '.' and '_', not starting with '-' or '.'. */
bool is_host_name(std::string_view name) noexcept;

/* The first IPv4 or IPv6 entry of a getaddrinfo() result, with @port; an error quoting @host when
 * there is none. */
AddressResult first_inet_address(const addrinfo *list, std::uint16_t port, std::string_view host) noexcept;

/* "cannot resolve 'HOST': REASON" for getaddrinfo()'s result @rc (@error_number for EAI_SYSTEM). */
AddressError lookup_error(std::string_view host, int rc, int error_number) noexcept;

/* An IPv4 address from 4 bytes or an IPv6 address from 16 (network byte order), with @port; any
 * other @size is an error. */
AddressResult make_ip_address(const std::uint8_t *bytes, std::size_t size, std::uint16_t port) noexcept;

/* Copies the IP address of an AF_INET or AF_INET6 address (4 or 16 bytes) to @out and returns its
 * size; 0 for other families. */
std::size_t ip_address_bytes(const SocketAddress &address, std::uint8_t (&out)[16]) noexcept;

/* Like parse_numeric_address(), but "host" and "host:port" are looked up with getaddrinfo() and the first
 * result wins.  Blocks on DNS: startup only. */
AddressResult resolve_address(std::string_view text, std::uint16_t default_port) noexcept;

/* Longest text format_socket_address() writes, including the NUL: an abstract name of non-printable
 * bytes escaped as \xNN. */
inline constexpr std::size_t socket_address_text_max = 512;

/* Writes the address as parse_numeric_address() accepts it ("[::1]:3306", "/run/x.sock", "@name")
 * into buffer (always NUL-terminated), so that text parses back to the same address; except that
 * non-printable bytes and backslashes of an abstract name are written as \xNN, for log lines, and
 * such a text does not parse back (the parser takes no escapes).  Returns the length written.  Does
 * not allocate, so Lua's __tostring can use it. */
std::size_t format_socket_address(const SocketAddress &address, char *buffer, std::size_t size) noexcept;

std::string to_string(const SocketAddress &address);

} // namespace myproxy
