// Unit tests for common/auth_switch: AuthSwitchRequest and AuthMoreData.  The switch requests were
// captured from MariaDB 10.11 (a client starting with client_ed25519 for a mysql_native_password user,
// and one starting with mysql_native_password for an ed25519 user).
#include "common/auth_switch.hpp"
#include "tests/check_main.hpp"
#include "tests/unit/packet_test_util.hpp"

#include <string>
#include <vector>

using namespace myproxy;
using packet_test::from_hex;

static const char SWITCH_NATIVE[] = "fe6d7973716c5f6e61746976655f70617373776f726400"
				    "44252c4c7b4834683569346521723f232e5c687400";
static const char SWITCH_NATIVE_SCRAMBLE[] = "44252c4c7b4834683569346521723f232e5c6874";
static const char SWITCH_ED25519[] = "fe636c69656e745f6564323535313900"
				     "473844dad08966edf0f737b69092741175b3f29e42dd1b3ff6ab30b6db70ea42";
/* Written from the protocol docs: MySQL 8 switching to caching_sha2_password. */
static const char SWITCH_CACHING_SHA2[] = "fe63616368696e675f736861325f70617373776f726400"
					  "0102030405060708090a0b0c0d0e0f101112131400";

START_TEST(test_switch_native)
{
	const auto bytes = from_hex(SWITCH_NATIVE);
	auto request = parse_auth_switch_request(bytes);
	ck_assert(request.ok());
	ck_assert(request->plugin_name == "mysql_native_password");
	ck_assert_uint_eq(request->plugin_data.size(), 20);
	ck_assert(packet_test::same(request->plugin_data, from_hex(SWITCH_NATIVE_SCRAMBLE)));
	std::vector<std::uint8_t> out;
	build_auth_switch_request(out, "mysql_native_password", from_hex(SWITCH_NATIVE_SCRAMBLE));
	ck_assert(out == bytes);

	/* A server that leaves the NUL out: the data are the scramble as they are. */
	const auto without_nul = std::vector<std::uint8_t>(bytes.begin(), bytes.end() - 1);
	request = parse_auth_switch_request(without_nul);
	ck_assert(request.ok());
	ck_assert_uint_eq(request->plugin_data.size(), 20);
}
END_TEST

START_TEST(test_switch_other_plugins)
{
	const auto ed = from_hex(SWITCH_ED25519);
	auto request = parse_auth_switch_request(ed);
	ck_assert(request.ok());
	ck_assert(request->plugin_name == "client_ed25519");
	ck_assert_uint_eq(request->plugin_data.size(), 32);
	std::vector<std::uint8_t> out;
	build_auth_switch_request(out, request->plugin_name, request->plugin_data);
	ck_assert(out == ed);

	const auto sha2 = from_hex(SWITCH_CACHING_SHA2);
	request = parse_auth_switch_request(sha2);
	ck_assert(request.ok());
	ck_assert(request->plugin_name == "caching_sha2_password");
	ck_assert_uint_eq(request->plugin_data.size(), 20);
	ck_assert_uint_eq(request->plugin_data[19], 0x14);

	/* mysql_clear_password carries no data. */
	const auto clear = from_hex("fe6d7973716c5f636c6561725f70617373776f726400");
	request = parse_auth_switch_request(clear);
	ck_assert(request.ok());
	ck_assert(request->plugin_name == "mysql_clear_password");
	ck_assert(request->plugin_data.empty());
	out.clear();
	build_auth_switch_request(out, "mysql_clear_password", {});
	ck_assert(out == clear);

	ck_assert(auth_plugin_data_has_trailing_nul("mysql_native_password"));
	ck_assert(auth_plugin_data_has_trailing_nul("caching_sha2_password"));
	ck_assert(!auth_plugin_data_has_trailing_nul("client_ed25519"));
	ck_assert(!auth_plugin_data_has_trailing_nul("mysql_clear_password"));
}
END_TEST

START_TEST(test_switch_hostile)
{
	auto old_style = parse_auth_switch_request(from_hex("fe"));
	ck_assert(!old_style.ok());
	ck_assert_ptr_eq(old_style.error().what, AUTH_SWITCH_OLD_STYLE_ERROR);
	ck_assert_uint_eq(old_style.error().offset, 1);

	struct Case {
		const char *hex;
		const char *what;
	};
	const Case cases[] = {
		{"", "AuthSwitchRequest: header past end"},
		{"ff6d7900", "AuthSwitchRequest: header is not 0xFE"},
		{"fe6d797371", "AuthSwitchRequest: plugin name without NUL"},
		{"fe00", "AuthSwitchRequest: empty plugin name"},
		{"fe000102", "AuthSwitchRequest: empty plugin name"},
	};
	for (const Case &c : cases) {
		auto request = parse_auth_switch_request(from_hex(c.hex));
		ck_assert_msg(!request.ok(), "accepted %s", c.hex);
		ck_assert_str_eq(request.error().what, c.what);
	}
}
END_TEST

static void check_switch_views(const AuthSwitchRequest &request, ByteSpan input)
{
	ck_assert(!request.plugin_name.empty());
	ck_assert(packet_test::within(request.plugin_name, input));
	ck_assert(packet_test::within(request.plugin_data, input));
}

START_TEST(test_switch_every_prefix)
{
	for (const char *hex : {SWITCH_NATIVE, SWITCH_ED25519, SWITCH_CACHING_SHA2}) {
		const auto bytes = from_hex(hex);
		const std::size_t parsed =
			packet_test::for_every_prefix(bytes, parse_auth_switch_request, check_switch_views);
		/* Every prefix that includes the plugin name's NUL parses, with less data. */
		const std::size_t name_end = std::string_view(reinterpret_cast<const char *>(bytes.data()) + 1).size() + 2;
		ck_assert_uint_eq(parsed, bytes.size() - name_end);
	}
}
END_TEST

START_TEST(test_more_data)
{
	/* caching_sha2_password: fast auth succeeded / full auth needed; then a key exchange. */
	const auto fast_auth = from_hex("0103");
	auto more = parse_auth_more_data(fast_auth);
	ck_assert(more.ok());
	ck_assert(packet_test::same(more->data, from_hex("03")));
	const std::string pem = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n";
	std::vector<std::uint8_t> out;
	build_auth_more_data(out, ByteSpan(reinterpret_cast<const std::uint8_t *>(pem.data()), pem.size()));
	ck_assert_uint_eq(out.size(), pem.size() + 1);
	ck_assert_uint_eq(out[0], AUTH_MORE_DATA_HEADER);
	more = parse_auth_more_data(out);
	ck_assert(more.ok());
	ck_assert(ByteReader::as_string(more->data) == pem);

	const auto header_only = from_hex("01");
	more = parse_auth_more_data(header_only);
	ck_assert(more.ok() && more->data.empty());

	auto bad = parse_auth_more_data(from_hex("0203"));
	ck_assert(!bad.ok());
	ck_assert_str_eq(bad.error().what, "AuthMoreData: header is not 0x01");
	bad = parse_auth_more_data({});
	ck_assert(!bad.ok());
	ck_assert_str_eq(bad.error().what, "AuthMoreData: header past end");

	const std::size_t parsed = packet_test::for_every_prefix(
		out, parse_auth_more_data,
		[](const AuthMoreData &m, ByteSpan input) { ck_assert(packet_test::within(m.data, input)); });
	ck_assert_uint_eq(parsed, out.size() - 1);
}
END_TEST

START_TEST(test_classification)
{
	ck_assert(is_auth_switch_request(from_hex(SWITCH_NATIVE)));
	ck_assert(is_auth_switch_request(from_hex("fe")));
	ck_assert(!is_auth_switch_request(from_hex("0103")));
	ck_assert(!is_auth_switch_request({}));
	ck_assert(is_auth_more_data(from_hex("0103")));
	ck_assert(!is_auth_more_data(from_hex(SWITCH_NATIVE)));
	ck_assert(!is_auth_more_data({}));
}
END_TEST

static Suite *auth_switch_suite()
{
	Suite *s = suite_create("auth_switch");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_switch_native);
	tcase_add_test(tc, test_switch_other_plugins);
	tcase_add_test(tc, test_switch_hostile);
	tcase_add_test(tc, test_switch_every_prefix);
	tcase_add_test(tc, test_more_data);
	tcase_add_test(tc, test_classification);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({auth_switch_suite()});
}
