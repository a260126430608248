// Unit tests for common/socket_address: every accepted form, printing back, and hostile input (bad
// ports, overlong paths, garbage).  Name resolution is tried only with "localhost" (/etc/hosts).
#include "common/socket_address.hpp"
#include "tests/check_main.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>
#include <string>

using namespace myproxy;

/* ck_assert_str_eq() keeps only the char pointers, which dangle when the argument is a temporary string. */
static void assert_str_eq(const std::string &actual, const std::string &expected)
{
	ck_assert_msg(actual == expected, "got '%s', expected '%s'", actual.c_str(), expected.c_str());
}

static std::string parsed(std::string_view text, std::uint16_t default_port = 3306)
{
	const AddressResult r = parse_numeric_address(text, default_port);
	ck_assert_msg(r.ok(), "'%.*s' failed: %s", static_cast<int>(text.size()), text.data(), r.error());
	return to_string(r.value());
}

static std::string error_of(std::string_view text)
{
	const AddressResult r = parse_numeric_address(text, 3306);
	ck_assert_msg(!r.ok(), "'%.*s' was accepted", static_cast<int>(text.size()), text.data());
	return r.error();
}

START_TEST(test_ipv4)
{
	assert_str_eq(parsed("1.2.3.4"), "1.2.3.4:3306");
	assert_str_eq(parsed("1.2.3.4", 3307), "1.2.3.4:3307");
	assert_str_eq(parsed("1.2.3.4:3307"), "1.2.3.4:3307");
	assert_str_eq(parsed("127.0.0.1:1"), "127.0.0.1:1");
	assert_str_eq(parsed("255.255.255.255:65535"), "255.255.255.255:65535");

	const AddressResult r = parse_numeric_address("10.0.0.1:3307", 3306);
	ck_assert(r.ok());
	ck_assert_int_eq(r.value().family(), AF_INET);
	ck_assert_uint_eq(r.value().length, sizeof(sockaddr_in));
	const auto *sin = reinterpret_cast<const sockaddr_in *>(r.value().get());
	ck_assert_uint_eq(ntohs(sin->sin_port), 3307);
	ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), 0x0A000001);
}
END_TEST

START_TEST(test_ipv6)
{
	assert_str_eq(parsed("[::1]:3307"), "[::1]:3307");
	assert_str_eq(parsed("[::1]"), "[::1]:3306");
	assert_str_eq(parsed("::1"), "[::1]:3306");
	assert_str_eq(parsed("[2001:db8::5]:1234"), "[2001:db8::5]:1234");
	assert_str_eq(parsed("[::ffff:1.2.3.4]:5"), "[::ffff:1.2.3.4]:5");

	const AddressResult r = parse_numeric_address("[::1]:3307", 3306);
	ck_assert_int_eq(r.value().family(), AF_INET6);
	ck_assert_uint_eq(r.value().length, sizeof(sockaddr_in6));
}
END_TEST

START_TEST(test_any)
{
	assert_str_eq(parsed("*:3306"), "[::]:3306");
	assert_str_eq(parsed("*"), "[::]:3306");
	assert_str_eq(parsed("*", 4000), "[::]:4000");
	assert_str_eq(parsed("[::]:3307"), "[::]:3307");
	const AddressResult r = parse_numeric_address("*:3306", 3306);
	const auto *sin6 = reinterpret_cast<const sockaddr_in6 *>(r.value().get());
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
}
END_TEST

START_TEST(test_unix_path)
{
	assert_str_eq(parsed("/run/myproxy/myproxy.sock"), "/run/myproxy/myproxy.sock");
	const AddressResult r = parse_numeric_address("/x", 3306);
	ck_assert_int_eq(r.value().family(), AF_UNIX);
	/* sun_path is NUL-terminated and the length counts the terminator */
	ck_assert_uint_eq(r.value().length, offsetof(sockaddr_un, sun_path) + 3);

	const std::string longest = "/" + std::string(106, 'a');
	assert_str_eq(parsed(longest), longest);
	const std::string too_long = longest + "b";
	assert_str_eq(error_of(too_long).substr(0, 40), "socket path too long (at most 107 bytes)");
}
END_TEST

START_TEST(test_abstract)
{
	assert_str_eq(parsed("@myproxy"), "@myproxy");
	const AddressResult r = parse_numeric_address("@ab", 3306);
	ck_assert_int_eq(r.value().family(), AF_UNIX);
	ck_assert_uint_eq(r.value().length, offsetof(sockaddr_un, sun_path) + 3);
	const auto *sun = reinterpret_cast<const sockaddr_un *>(r.value().get());
	ck_assert_int_eq(sun->sun_path[0], 0);
	ck_assert_int_eq(sun->sun_path[1], 'a');

	const std::string longest = "@" + std::string(107, 'n');
	assert_str_eq(parsed(longest), longest);
	ck_assert(error_of(longest + "n").find("abstract socket name too long") == 0);
	assert_str_eq(error_of("@"), "empty abstract socket name in '@'");
	/* spaces are printable; a backslash is escaped so the output stays unambiguous */
	assert_str_eq(parsed("@a b\\"), "@a b\\x5c");
}
END_TEST

START_TEST(test_bad_ports)
{
	assert_str_eq(error_of("1.2.3.4:99999"), "port out of range in '1.2.3.4:99999'");
	assert_str_eq(error_of("1.2.3.4:65536"), "port out of range in '1.2.3.4:65536'");
	assert_str_eq(error_of("1.2.3.4:0"), "port out of range in '1.2.3.4:0'");
	assert_str_eq(error_of("1.2.3.4:99999999999999999999999"),
			 "port out of range in '1.2.3.4:99999999999999999999999'");
	assert_str_eq(error_of("1.2.3.4:"), "missing port in '1.2.3.4:'");
	assert_str_eq(error_of("1.2.3.4:x"), "invalid port in '1.2.3.4:x'");
	assert_str_eq(error_of("1.2.3.4:-1"), "invalid port in '1.2.3.4:-1'");
	assert_str_eq(error_of("1.2.3.4:+1"), "invalid port in '1.2.3.4:+1'");
	assert_str_eq(error_of("1.2.3.4: 1"), "invalid port in '1.2.3.4: 1'");
	assert_str_eq(error_of("[::1]:70000"), "port out of range in '[::1]:70000'");
	assert_str_eq(error_of("[::1]:"), "missing port in '[::1]:'");
	assert_str_eq(error_of("*:0"), "port out of range in '*:0'");
}
END_TEST

START_TEST(test_garbage)
{
	assert_str_eq(error_of(""), "empty address in ''");
	assert_str_eq(error_of(std::string_view("/a\0b", 4)), "NUL byte in '/a'");
	assert_str_eq(error_of("[::1"), "missing ']' in '[::1'");
	assert_str_eq(error_of("[::1]x"), "unexpected text after ']' in '[::1]x'");
	assert_str_eq(error_of("[1.2.3.4]"), "invalid IPv6 address in '[1.2.3.4]'");
	assert_str_eq(error_of("[]"), "missing host in '[]'");
	assert_str_eq(error_of("[*]:1"), "invalid IPv6 address in '[*]:1'");
	assert_str_eq(error_of("[fe80::1%eth0]:3306"),
		      "IPv6 zone id in '[fe80::1%eth0]:3306' (not supported: give a global or unique local address)");
	assert_str_eq(error_of("fe80::1%eth0"),
		      "IPv6 zone id in 'fe80::1%eth0' (not supported: give a global or unique local address)");
	assert_str_eq(error_of("::1:3306:x"),
			 "invalid IPv6 address in '::1:3306:x' (a port needs brackets: [::1]:3306)");
	assert_str_eq(error_of(":3306"), "missing host in ':3306'");
	assert_str_eq(error_of("1.2.3.400"), "invalid IPv4 address in '1.2.3.400'");
	assert_str_eq(error_of("1.2.3"), "invalid IPv4 address in '1.2.3'");
	assert_str_eq(error_of("1234"), "invalid IPv4 address in '1234'");
	assert_str_eq(error_of("a b"), "invalid host name in 'a b'");
	assert_str_eq(error_of("-x"), "invalid host name in '-x'");
	assert_str_eq(error_of("run/x.sock"), "socket path not absolute in 'run/x.sock'");
	assert_str_eq(error_of("db.example:3306"),
			 "host name in 'db.example:3306' (host names are resolved only at startup)");
	ck_assert(error_of(std::string(300, 'h')).find("host name too long in 'hhh") == 0);

	/* The quote is cut so the message always fits, and says so. */
	const std::string long_garbage = "[" + std::string(1000, 'z');
	const std::string message = error_of(long_garbage);
	ck_assert(message.size() < sizeof(AddressError::text));
	ck_assert(message.find("...'") != std::string::npos);
}
END_TEST

/* Every prefix of valid addresses either parses or errors cleanly (sanitizers watch the reads). */
START_TEST(test_prefixes)
{
	const char *const inputs[] = {"[2001:db8::5]:1234", "255.255.255.255:65535", "@abstract", "*:3306"};
	for (const char *input : inputs) {
		const std::string_view text(input);
		for (std::size_t n = 0; n <= text.size(); ++n) {
			const AddressResult r = parse_numeric_address(text.substr(0, n), 3306);
			if (r.ok())
				ck_assert(r.value().defined());
			else
				ck_assert(r.error()[0] != '\0');
		}
	}
}
END_TEST

START_TEST(test_round_trip)
{
	const char *const inputs[] = {"1.2.3.4:3307", "[::1]:3307", "[::]:1", "/run/a.sock", "@name"};
	for (const char *input : inputs) {
		const AddressResult a = parse_numeric_address(input, 3306);
		const AddressResult b = parse_numeric_address(to_string(a.value()), 3306);
		ck_assert(b.ok());
		ck_assert(a.value() == b.value());
	}
	ck_assert(!(parse_numeric_address("1.2.3.4", 3306).value() == parse_numeric_address("1.2.3.4", 3307).value()));
}
END_TEST

START_TEST(test_format_small_buffers)
{
	assert_str_eq(to_string(SocketAddress{}), "(none)");
	const AddressResult r = parse_numeric_address("[2001:db8::5]:1234", 3306);
	char buffer[8];
	const std::size_t n = format_socket_address(r.value(), buffer, sizeof(buffer));
	ck_assert_uint_eq(n, 7);
	assert_str_eq(buffer, "[2001:d");

	const std::string binary_name = "@" + std::string(107, '\x01');
	const AddressResult abstract = parse_numeric_address(binary_name, 3306);
	char big[socket_address_text_max];
	const std::size_t m = format_socket_address(abstract.value(), big, sizeof(big));
	ck_assert_uint_eq(m, 1 + 107 * 4);
	ck_assert_uint_eq(std::strlen(big), m);
	char tiny[10];
	ck_assert_uint_lt(format_socket_address(abstract.value(), tiny, sizeof(tiny)), sizeof(tiny));
}
END_TEST

START_TEST(test_resolve)
{
	/* numeric forms never touch the resolver */
	assert_str_eq(to_string(resolve_address("1.2.3.4", 3306).value()), "1.2.3.4:3306");
	assert_str_eq(resolve_address("1.2.3.4:99999", 3306).error(), "port out of range in '1.2.3.4:99999'");

	const AddressResult local = resolve_address("localhost:3307", 3306);
	ck_assert_msg(local.ok(), "%s", local.error());
	const std::string text = to_string(local.value());
	ck_assert_msg(text == "127.0.0.1:3307" || text == "[::1]:3307", "%s", text.c_str());

	const AddressResult missing = resolve_address("no-such-host.invalid", 3306);
	ck_assert(!missing.ok());
	ck_assert(std::string(missing.error()).find("cannot resolve 'no-such-host.invalid': ") == 0);

	/* What a resolver answers, taken in order: entries of other families are passed over, and an
	 * answer with no IPv4 or IPv6 entry at all is an error naming the host. */
	sockaddr_un unix_address{};
	unix_address.sun_family = AF_UNIX;
	sockaddr_in6 v6{};
	v6.sin6_family = AF_INET6;
	v6.sin6_addr.s6_addr[15] = 1;
	addrinfo second{};
	second.ai_family = AF_INET6;
	second.ai_addr = reinterpret_cast<sockaddr *>(&v6);
	second.ai_addrlen = sizeof(v6);
	addrinfo first{};
	first.ai_family = AF_UNIX;
	first.ai_addr = reinterpret_cast<sockaddr *>(&unix_address);
	first.ai_addrlen = sizeof(unix_address);
	first.ai_next = &second;
	const AddressResult picked = first_inet_address(&first, 3306, "db.example");
	ck_assert_msg(picked.ok(), "%s", picked.error());
	assert_str_eq(to_string(picked.value()), "[::1]:3306");
	first.ai_next = nullptr;
	const AddressResult none = first_inet_address(&first, 3306, "db.example");
	ck_assert(!none.ok());
	ck_assert_msg(std::string(none.error()).find("no IPv4 or IPv6 address for host") == 0, "%s", none.error());
}
END_TEST

static Suite *socket_address_suite()
{
	Suite *s = suite_create("socket_address");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_ipv4);
	tcase_add_test(tc, test_ipv6);
	tcase_add_test(tc, test_any);
	tcase_add_test(tc, test_unix_path);
	tcase_add_test(tc, test_abstract);
	tcase_add_test(tc, test_bad_ports);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_prefixes);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_format_small_buffers);
	suite_add_tcase(s, tc);

	TCase *resolver = tcase_create("resolver");
	/* a lookup of a .invalid name may wait for a DNS timeout where one is configured */
	tcase_set_timeout(resolver, 30);
	tcase_add_test(resolver, test_resolve);
	suite_add_tcase(s, resolver);
	return s;
}

int main()
{
	return run_check_suites({socket_address_suite()});
}
