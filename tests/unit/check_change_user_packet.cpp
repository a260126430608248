// Unit tests for common/change_user_packet: COM_CHANGE_USER as libmariadb sends it, every
// truncated prefix, hostile lengths, and the builder's round trip and refusals.
#include "common/change_user_packet.hpp"
#include "tests/check_main.hpp"
#include "tests/unit/packet_test_util.hpp"

#include "common/mysql_capabilities.hpp"

#include <string>
#include <vector>

using namespace myproxy;
using packet_test::bytes_of;
using packet_test::within;

static constexpr std::uint32_t client_caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH |
					     CLIENT_CONNECT_ATTRS | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;

/* 0x11, "bob\0", auth length 20 + 20 bytes, "app\0", charset 45, "mysql_native_password\0",
 * attributes {_client_name: libmariadb, _pid: 1234}. */
static std::vector<std::uint8_t> sample()
{
	std::vector<std::uint8_t> p{0x11};
	for (char c : std::string_view("bob"))
		p.push_back(std::uint8_t(c));
	p.push_back(0);
	p.push_back(20);
	for (int i = 0; i < 20; ++i)
		p.push_back(std::uint8_t(0x41 + i));
	for (char c : std::string_view("app"))
		p.push_back(std::uint8_t(c));
	p.push_back(0);
	p.push_back(45);
	p.push_back(0);
	for (char c : std::string_view("mysql_native_password"))
		p.push_back(std::uint8_t(c));
	p.push_back(0);
	const std::string attrs = std::string("\x0c_client_name\x0alibmariadb\x04_pid\x04" "1234", 1 + 12 + 1 + 10 + 1 + 4 + 1 + 4);
	p.push_back(std::uint8_t(attrs.size()));
	p.insert(p.end(), attrs.begin(), attrs.end());
	return p;
}

START_TEST(test_parse_libmariadb)
{
	const auto p = sample();
	auto r = parse_change_user(p, client_caps);
	ck_assert_msg(r.ok(), "%s", r.ok() ? "" : r.error().what);
	ck_assert(r->user == "bob");
	ck_assert_uint_eq(r->auth_response.size(), 20);
	ck_assert_uint_eq(r->auth_response[0], 0x41);
	ck_assert(r->database == "app");
	ck_assert(r->character_set.has_value());
	ck_assert_uint_eq(*r->character_set, 45);
	ck_assert(r->auth_plugin_name == "mysql_native_password");
	ck_assert_uint_eq(r->attrs.size(), 2);
	ck_assert(r->attrs.find("_pid") == std::optional<std::string_view>("1234"));
	ck_assert(within(r->user, p));
	ck_assert(within(r->auth_response, p));
}
END_TEST

START_TEST(test_parse_optional_tail)
{
	/* Ends after the database: valid (old clients). */
	std::vector<std::uint8_t> p{0x11, 'u', 0, 0, 'd', 0};
	auto r = parse_change_user(p, client_caps);
	ck_assert(r.ok());
	ck_assert(r->user == "u");
	ck_assert(r->auth_response.empty());
	ck_assert(r->database == "d");
	ck_assert(!r->character_set);
	ck_assert(r->auth_plugin_name.empty());
	ck_assert(r->attrs.empty());

	/* A plugin name running to the end without its NUL is tolerated. */
	std::vector<std::uint8_t> q{0x11, 'u', 0, 0, 0, 45, 0, 'm', 'y'};
	r = parse_change_user(q, client_caps);
	ck_assert(r.ok());
	ck_assert(r->auth_plugin_name == "my");
	ck_assert(r->database.empty());
}
END_TEST

START_TEST(test_parse_without_secure_connection)
{
	std::vector<std::uint8_t> p{0x11, 'u', 0, 'p', 'w', 0, 'd', 0};
	auto r = parse_change_user(p, CLIENT_PROTOCOL_41);
	ck_assert(r.ok());
	ck_assert_uint_eq(r->auth_response.size(), 2);
	ck_assert(r->database == "d");
}
END_TEST

START_TEST(test_every_prefix)
{
	const auto p = sample();
	std::size_t parsed = packet_test::for_every_prefix(
		p, [](ByteSpan b) { return parse_change_user(b, client_caps); },
		[](const ChangeUserCommand &c, ByteSpan b) {
			ck_assert(within(c.user, b));
			ck_assert(within(c.database, b));
			ck_assert(within(c.auth_plugin_name, b));
		});
	/* Prefixes ending after the database, after the charset, and inside the plugin name parse. */
	ck_assert_uint_gt(parsed, 0);
}
END_TEST

START_TEST(test_hostile)
{
	/* Wrong command byte. */
	std::vector<std::uint8_t> wrong{0x03, 'u', 0, 0, 'd', 0};
	ck_assert(!parse_change_user(wrong, client_caps).ok());
	/* Auth length past the end. */
	std::vector<std::uint8_t> auth{0x11, 'u', 0, 200, 'x'};
	ck_assert(!parse_change_user(auth, client_caps).ok());
	/* A database without NUL. */
	std::vector<std::uint8_t> db{0x11, 'u', 0, 0, 'd', 'b'};
	ck_assert(!parse_change_user(db, client_caps).ok());
	/* One byte of charset. */
	std::vector<std::uint8_t> cs{0x11, 'u', 0, 0, 'd', 0, 45};
	ck_assert(!parse_change_user(cs, client_caps).ok());
	/* Attributes announcing more than there is, and a bad lenenc prefix. */
	std::vector<std::uint8_t> attrs{0x11, 'u', 0, 0, 'd', 0, 45, 0, 'p', 0, 50, 1, 'k', 1, 'v'};
	ck_assert(!parse_change_user(attrs, client_caps).ok());
	std::vector<std::uint8_t> prefix{0x11, 'u', 0, 0, 'd', 0, 45, 0, 'p', 0, 0xFF};
	ck_assert(!parse_change_user(prefix, client_caps).ok());
	/* A pair running past the attribute block. */
	std::vector<std::uint8_t> pair{0x11, 'u', 0, 0, 'd', 0, 45, 0, 'p', 0, 3, 1, 'k', 5, 'v'};
	ck_assert(!parse_change_user(pair, client_caps).ok());
	/* Empty. */
	ck_assert(!parse_change_user({}, client_caps).ok());
}
END_TEST

START_TEST(test_build_round_trip)
{
	const std::uint8_t auth[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
	const ConnectAttr attrs[] = {{"_client_name", "myproxy"}, {"k", ""}};
	ChangeUserParams params;
	params.user = "tenant_1";
	params.auth_response = auth;
	params.database = "db1";
	params.character_set = 33;
	params.auth_plugin_name = "mysql_native_password";
	params.attrs = attrs;
	std::vector<std::uint8_t> out;
	ck_assert(build_change_user(out, params, client_caps));
	auto r = parse_change_user(out, client_caps);
	ck_assert(r.ok());
	ck_assert(r->user == "tenant_1");
	ck_assert_uint_eq(r->auth_response.size(), 20);
	ck_assert(r->database == "db1");
	ck_assert_uint_eq(*r->character_set, 33);
	ck_assert(r->auth_plugin_name == "mysql_native_password");
	ck_assert_uint_eq(r->attrs.size(), 2);
	ck_assert(r->attrs.find("_client_name") == std::optional<std::string_view>("myproxy"));

	/* Without CLIENT_CONNECT_ATTRS the attributes stay home. */
	out.clear();
	ck_assert(build_change_user(out, params, client_caps & ~CLIENT_CONNECT_ATTRS));
	r = parse_change_user(out, client_caps & ~CLIENT_CONNECT_ATTRS);
	ck_assert(r.ok());
	ck_assert(r->attrs.empty());
}
END_TEST

START_TEST(test_build_refusals)
{
	std::vector<std::uint8_t> out;
	ChangeUserParams params;
	params.user = std::string_view("a\0b", 3);
	ck_assert(!build_change_user(out, params, client_caps));
	params.user = "a";
	ck_assert(!build_change_user(out, params, CLIENT_PROTOCOL_41));
	const std::vector<std::uint8_t> long_auth(256, 1);
	params.auth_response = long_auth;
	ck_assert(!build_change_user(out, params, client_caps));
	ck_assert(out.empty());
}
END_TEST

static Suite *change_user_suite()
{
	Suite *s = suite_create("change_user_packet");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_parse_libmariadb);
	tcase_add_test(tc, test_parse_optional_tail);
	tcase_add_test(tc, test_parse_without_secure_connection);
	tcase_add_test(tc, test_every_prefix);
	tcase_add_test(tc, test_hostile);
	tcase_add_test(tc, test_build_round_trip);
	tcase_add_test(tc, test_build_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({change_user_suite()});
}
