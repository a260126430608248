// Unit tests for common/handshake_v10: a real MariaDB greeting, build/parse round trips over the flag
// combinations, and hostile input (every truncation, bad versions, lengths past the end).
#include "common/handshake_v10.hpp"
#include "common/mysql_capabilities.hpp"
#include "tests/check_main.hpp"

#include <string>
#include <string_view>
#include <vector>

using namespace myproxy;

static std::vector<std::uint8_t> from_hex(std::string_view hex)
{
	std::vector<std::uint8_t> out;
	for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
		out.push_back(std::uint8_t(std::stoul(std::string(hex.substr(i, 2)), nullptr, 16)));
	return out;
}

static ByteSpan bytes_of(std::string_view s)
{
	return {reinterpret_cast<const std::uint8_t *>(s.data()), s.size()};
}

/* The payload (header stripped) that mariadbd 10.11.19 (Debian 12) sent on a fresh TCP connection,
 * read with python3's socket module.  auth-plugin-data-len 21; CLIENT_LONG_PASSWORD clear, so the
 * last 4 reserved bytes carry MariaDB's extended capabilities (0x1d). */
static const char REAL_MARIADB_GREETING[] =
	"0a352e352e352d31302e31312e31392d4d6172696144422d302b64656231327531000300000037797e307063237d00fef7"
	"080200ff81150000000000001d0000006f35573a59353a615d2e6a50006d7973716c5f6e61746976655f70617373776f726400";
static constexpr std::string_view REAL_SCRAMBLE = "7y~0pc#}o5W:Y5:a].jP";
/* Offset of "mysql_native_password" in that payload. */
static constexpr std::size_t REAL_PLUGIN_OFFSET = 78;

static const std::uint32_t COMMON_CAPS = CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_MULTI_RESULTS;

START_TEST(test_real_mariadb_greeting)
{
	const auto payload = from_hex(REAL_MARIADB_GREETING);
	ck_assert_uint_eq(payload.size(), 100);
	auto h = parse_handshake_v10(payload);
	ck_assert(h.ok());
	ck_assert_uint_eq(h->protocol_version, 10);
	ck_assert(h->server_version == "5.5.5-10.11.19-MariaDB-0+deb12u1");
	ck_assert_uint_eq(h->connection_id, 3);
	ck_assert_uint_eq(h->capabilities, 0x81fff7fe);
	ck_assert(h->capabilities & CLIENT_PLUGIN_AUTH);
	ck_assert(!(h->capabilities & CLIENT_LONG_PASSWORD));
	ck_assert_uint_eq(h->mariadb_capabilities, 0x1d);
	ck_assert(h->all_capabilities() & MARIADB_CLIENT_PROGRESS);
	ck_assert(h->all_capabilities() & MARIADB_CLIENT_STMT_BULK_OPERATIONS);
	ck_assert(!(h->all_capabilities() & MARIADB_CLIENT_COM_MULTI));
	ck_assert_uint_eq(h->character_set, 8);
	ck_assert_uint_eq(h->status_flags, SERVER_STATUS_AUTOCOMMIT);
	ck_assert(h->auth_plugin_name == "mysql_native_password");
	ck_assert_uint_eq(h->auth_plugin_data_1.size(), 8);
	ck_assert_uint_eq(h->auth_plugin_data_2.size(), 12);
	auto scramble = handshake_v10_scramble20(*h);
	ck_assert(scramble.ok());
	ck_assert(std::string_view(reinterpret_cast<const char *>(scramble->data()), 20) == REAL_SCRAMBLE);
}
END_TEST

START_TEST(test_build_reproduces_real_greeting)
{
	HandshakeV10Params p;
	p.server_version = "5.5.5-10.11.19-MariaDB-0+deb12u1";
	p.connection_id = 3;
	p.scramble = bytes_of(REAL_SCRAMBLE);
	p.capabilities = 0x81fff7fe;
	p.mariadb_capabilities = 0x1d;
	p.character_set = 8;
	p.status_flags = SERVER_STATUS_AUTOCOMMIT;
	p.auth_plugin_name = "mysql_native_password";
	std::vector<std::uint8_t> out = {0xAA};
	ck_assert(build_handshake_v10(out, p));
	ck_assert_uint_eq(out[0], 0xAA);
	out.erase(out.begin());
	ck_assert(out == from_hex(REAL_MARIADB_GREETING));
}
END_TEST

START_TEST(test_real_greeting_every_prefix)
{
	const auto payload = from_hex(REAL_MARIADB_GREETING);
	for (std::size_t length = 0; length < payload.size(); ++length) {
		auto h = parse_handshake_v10(ByteSpan(payload).first(length));
		if (length < REAL_PLUGIN_OFFSET) {
			ck_assert_msg(!h.ok(), "prefix %zu parsed", length);
			ck_assert_uint_le(h.error().offset, length);
		} else {
			/* Inside the plugin name: taken as a name without its NUL. */
			ck_assert_msg(h.ok(), "prefix %zu failed", length);
			ck_assert_uint_eq(h->auth_plugin_name.size(), length - REAL_PLUGIN_OFFSET);
		}
	}
}
END_TEST

START_TEST(test_plugin_name_without_nul)
{
	auto payload = from_hex(REAL_MARIADB_GREETING);
	payload.pop_back();
	auto h = parse_handshake_v10(payload);
	ck_assert(h.ok());
	ck_assert(h->auth_plugin_name == "mysql_native_password");
}
END_TEST

START_TEST(test_trailing_bytes_ignored)
{
	auto payload = from_hex(REAL_MARIADB_GREETING);
	payload.insert(payload.end(), {'x', 'y', 0, 'z'});
	auto h = parse_handshake_v10(payload);
	ck_assert(h.ok());
	ck_assert(h->auth_plugin_name == "mysql_native_password");
}
END_TEST

START_TEST(test_wrong_protocol_version)
{
	auto payload = from_hex(REAL_MARIADB_GREETING);
	for (std::uint8_t version : {std::uint8_t(9), std::uint8_t(11), std::uint8_t(0), std::uint8_t(0xFF)}) {
		payload[0] = version;
		auto h = parse_handshake_v10(payload);
		ck_assert(!h.ok());
		ck_assert_str_eq(h.error().what, "HandshakeV10: protocol version is not 10");
		ck_assert_uint_eq(h.error().offset, 0);
	}
	auto empty = parse_handshake_v10(ByteSpan{});
	ck_assert(!empty.ok());
	ck_assert_str_eq(empty.error().what, "HandshakeV10: protocol version past end");
}
END_TEST

START_TEST(test_server_version_without_nul)
{
	const std::uint8_t payload[] = {10, '5', '.', '7', '.', '1'};
	auto h = parse_handshake_v10(payload);
	ck_assert(!h.ok());
	ck_assert_str_eq(h.error().what, "HandshakeV10: server version without NUL");
}
END_TEST

/* A greeting as an old server sends it: no CLIENT_PLUGIN_AUTH, auth-plugin-data-len 0, and a part 2
 * of 13 bytes regardless. */
START_TEST(test_no_plugin_auth_length_zero)
{
	const std::string scramble = "ABCDEFGHIJKLMNOPQRST";
	HandshakeV10Params p;
	p.server_version = "5.0.96";
	p.connection_id = 0x01020304;
	p.scramble = bytes_of(scramble);
	p.capabilities = COMMON_CAPS | CLIENT_SECURE_CONNECTION | CLIENT_LONG_PASSWORD;
	std::vector<std::uint8_t> out;
	ck_assert(build_handshake_v10(out, p));
	/* 1 + 7 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10 + 13 */
	ck_assert_uint_eq(out.size(), 52);
	ck_assert_uint_eq(out[1 + 7 + 4 + 8 + 1 + 2 + 1 + 2 + 2], 0);
	auto h = parse_handshake_v10(out);
	ck_assert(h.ok());
	ck_assert(h->auth_plugin_name.empty());
	ck_assert_uint_eq(h->connection_id, 0x01020304);
	auto s = handshake_v10_scramble20(*h);
	ck_assert(s.ok());
	ck_assert(std::string(s->begin(), s->end()) == scramble);
	/* A nonzero length byte without CLIENT_PLUGIN_AUTH does not change part 2's size. */
	out[1 + 7 + 4 + 8 + 1 + 2 + 1 + 2 + 2] = 50;
	h = parse_handshake_v10(out);
	ck_assert(h.ok());
	ck_assert_uint_eq(h->auth_plugin_data_2.size(), 12);
}
END_TEST

START_TEST(test_no_secure_connection_short_scramble)
{
	const std::string scramble = "12345678";
	HandshakeV10Params p;
	p.server_version = "4.0";
	p.scramble = bytes_of(scramble);
	p.capabilities = CLIENT_LONG_PASSWORD;
	std::vector<std::uint8_t> out;
	ck_assert(build_handshake_v10(out, p));
	auto h = parse_handshake_v10(out);
	ck_assert(h.ok());
	ck_assert(h->auth_plugin_data_2.empty());
	auto s = handshake_v10_scramble20(*h);
	ck_assert(!s.ok());
	ck_assert_str_eq(s.error().what, "HandshakeV10: scramble shorter than 20 bytes");
}
END_TEST

START_TEST(test_longer_scramble)
{
	const std::string scramble = "abcdefghijklmnopqrstuvwxyz0123";
	HandshakeV10Params p;
	p.server_version = "x";
	p.scramble = bytes_of(scramble);
	p.capabilities = COMMON_CAPS | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
	p.auth_plugin_name = "caching_sha2_password";
	std::vector<std::uint8_t> out;
	ck_assert(build_handshake_v10(out, p));
	auto h = parse_handshake_v10(out);
	ck_assert(h.ok());
	ck_assert_uint_eq(h->auth_plugin_data_2.size(), 22);
	auto s = handshake_v10_scramble20(*h);
	ck_assert(s.ok());
	ck_assert(std::string(s->begin(), s->end()) == scramble.substr(0, 20));
	ck_assert(h->auth_plugin_name == "caching_sha2_password");
}
END_TEST

START_TEST(test_part2_length_past_end)
{
	auto payload = from_hex(REAL_MARIADB_GREETING);
	/* Announce 100 bytes of plugin data: part 2 would need 92 bytes. */
	ck_assert_uint_eq(payload[1 + 33 + 4 + 8 + 1 + 2 + 1 + 2 + 2], 21);
	payload[1 + 33 + 4 + 8 + 1 + 2 + 1 + 2 + 2] = 100;
	auto h = parse_handshake_v10(payload);
	ck_assert(!h.ok());
	ck_assert_str_eq(h.error().what, "HandshakeV10: auth-plugin-data-part-2 past end");
	/* 255, the largest value, too. */
	payload[1 + 33 + 4 + 8 + 1 + 2 + 1 + 2 + 2] = 255;
	ck_assert(!parse_handshake_v10(payload).ok());
}
END_TEST

START_TEST(test_mariadb_caps_only_without_long_password)
{
	auto payload = from_hex(REAL_MARIADB_GREETING);
	payload[1 + 33 + 4 + 8 + 1] |= 0x01; /* set CLIENT_LONG_PASSWORD */
	auto h = parse_handshake_v10(payload);
	ck_assert(h.ok());
	ck_assert(h->capabilities & CLIENT_LONG_PASSWORD);
	ck_assert_uint_eq(h->mariadb_capabilities, 0);
}
END_TEST

/* Every combination of the flags that change the layout, each built, parsed back, and then cut at
 * every byte. */
START_TEST(test_round_trip_all_flag_combinations)
{
	const std::uint32_t layout_flags[] = {CLIENT_SECURE_CONNECTION, CLIENT_PLUGIN_AUTH, CLIENT_LONG_PASSWORD,
					      CLIENT_PROTOCOL_41, CLIENT_SSL, CLIENT_DEPRECATE_EOF};
	const std::string scramble20 = "0123456789abcdefghij";
	const std::string scramble8 = "01234567";
	const std::size_t n = sizeof(layout_flags) / sizeof(layout_flags[0]);
	for (std::uint32_t mask = 0; mask < (1u << n); ++mask) {
		std::uint32_t caps = 0;
		for (std::size_t i = 0; i < n; ++i)
			if (mask & (1u << i))
				caps |= layout_flags[i];
		const bool secure = caps & CLIENT_SECURE_CONNECTION;
		const bool plugin = caps & CLIENT_PLUGIN_AUTH;
		HandshakeV10Params p;
		p.server_version = "8.0.36-myproxy";
		p.connection_id = 0xDEADBEEF;
		p.scramble = bytes_of(secure ? scramble20 : scramble8);
		p.capabilities = caps;
		p.mariadb_capabilities = (caps & CLIENT_LONG_PASSWORD) ? 0 : 0x80000001;
		p.character_set = 45;
		p.status_flags = 0x4002;
		p.auth_plugin_name = plugin ? "mysql_native_password" : "";
		std::vector<std::uint8_t> out;
		ck_assert_msg(build_handshake_v10(out, p), "mask %u", mask);
		auto h = parse_handshake_v10(out);
		ck_assert_msg(h.ok(), "mask %u: %s", mask, h.ok() ? "" : h.error().what);
		ck_assert(h->server_version == p.server_version);
		ck_assert_uint_eq(h->connection_id, p.connection_id);
		ck_assert_uint_eq(h->capabilities, caps);
		ck_assert_uint_eq(h->mariadb_capabilities, p.mariadb_capabilities);
		ck_assert_uint_eq(h->character_set, 45);
		ck_assert_uint_eq(h->status_flags, 0x4002);
		ck_assert(h->auth_plugin_name == p.auth_plugin_name);
		ck_assert_uint_eq(handshake_v10_scramble20(*h).ok(), secure);
		if (secure) {
			auto s = handshake_v10_scramble20(*h);
			ck_assert(std::string(s->begin(), s->end()) == scramble20);
		}
		/* Only a cut inside the (last) plugin name parses, as a name without its NUL. */
		const std::size_t name_offset = out.size() - p.auth_plugin_name.size() - 1;
		for (std::size_t length = 0; length < out.size(); ++length) {
			auto cut = parse_handshake_v10(ByteSpan(out).first(length));
			ck_assert_msg(cut.ok() == (plugin && length >= name_offset), "mask %u prefix %zu", mask, length);
			if (cut.ok())
				ck_assert(cut->auth_plugin_name == p.auth_plugin_name.substr(0, length - name_offset));
			else
				ck_assert_uint_le(cut.error().offset, length);
		}
	}
}
END_TEST

START_TEST(test_scramble_ending_in_nul_round_trips)
{
	std::uint8_t scramble[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 0};
	HandshakeV10Params p;
	p.scramble = scramble;
	p.capabilities = COMMON_CAPS | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
	std::vector<std::uint8_t> out;
	ck_assert(build_handshake_v10(out, p));
	auto h = parse_handshake_v10(out);
	ck_assert(h.ok());
	auto s = handshake_v10_scramble20(*h);
	ck_assert(s.ok());
	ck_assert_mem_eq(s->data(), scramble, 20);
}
END_TEST

START_TEST(test_build_rejects)
{
	const std::string scramble20 = "0123456789abcdefghij";
	const std::string scramble21 = scramble20 + "k";
	const std::string scramble19 = scramble20.substr(0, 19);
	const std::string scramble8 = scramble20.substr(0, 8);
	const std::string long_scramble(254, 'x');
	const std::string too_long_scramble(255, 'x');
	HandshakeV10Params good;
	good.server_version = "10.11";
	good.scramble = bytes_of(scramble20);
	good.capabilities = COMMON_CAPS | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
	good.auth_plugin_name = "mysql_native_password";
	std::vector<std::uint8_t> out;
	ck_assert(build_handshake_v10(out, good));

	auto rejected = [](const HandshakeV10Params &p) {
		std::vector<std::uint8_t> buffer = {1, 2, 3};
		const bool built = build_handshake_v10(buffer, p);
		ck_assert(built || buffer.size() == 3);
		return !built;
	};
	HandshakeV10Params p = good;
	p.server_version = std::string_view("10.\0" "11", 6);
	ck_assert(rejected(p));
	p = good;
	p.auth_plugin_name = std::string_view("a\0b", 3);
	ck_assert(rejected(p));
	p = good;
	p.capabilities &= ~CLIENT_PLUGIN_AUTH;
	ck_assert(rejected(p)); /* a plugin name the flags would drop */
	p.auth_plugin_name = "";
	ck_assert(!rejected(p));
	p.scramble = bytes_of(scramble21); /* without PLUGIN_AUTH nothing announces 21 bytes */
	ck_assert(rejected(p));
	p = good;
	p.capabilities |= CLIENT_LONG_PASSWORD;
	p.mariadb_capabilities = 1;
	ck_assert(rejected(p));
	p = good;
	p.scramble = bytes_of(scramble19);
	ck_assert(rejected(p));
	p.scramble = bytes_of(long_scramble);
	ck_assert(!rejected(p));
	p.scramble = bytes_of(too_long_scramble);
	ck_assert(rejected(p));
	p = good;
	p.capabilities &= ~CLIENT_SECURE_CONNECTION;
	ck_assert(rejected(p)); /* 20 bytes, but only part 1 would be sent */
	p.scramble = bytes_of(scramble8);
	ck_assert(!rejected(p));
}
END_TEST

static Suite *handshake_v10_suite()
{
	Suite *s = suite_create("handshake_v10");
	TCase *real = tcase_create("real");
	tcase_add_test(real, test_real_mariadb_greeting);
	tcase_add_test(real, test_build_reproduces_real_greeting);
	tcase_add_test(real, test_real_greeting_every_prefix);
	suite_add_tcase(s, real);
	TCase *layout = tcase_create("layout");
	tcase_add_test(layout, test_plugin_name_without_nul);
	tcase_add_test(layout, test_trailing_bytes_ignored);
	tcase_add_test(layout, test_no_plugin_auth_length_zero);
	tcase_add_test(layout, test_no_secure_connection_short_scramble);
	tcase_add_test(layout, test_longer_scramble);
	tcase_add_test(layout, test_mariadb_caps_only_without_long_password);
	tcase_add_test(layout, test_scramble_ending_in_nul_round_trips);
	tcase_add_test(layout, test_round_trip_all_flag_combinations);
	suite_add_tcase(s, layout);
	TCase *hostile = tcase_create("hostile");
	tcase_add_test(hostile, test_wrong_protocol_version);
	tcase_add_test(hostile, test_server_version_without_nul);
	tcase_add_test(hostile, test_part2_length_past_end);
	tcase_add_test(hostile, test_build_rejects);
	suite_add_tcase(s, hostile);
	return s;
}

int main()
{
	return run_check_suites({handshake_v10_suite()});
}
