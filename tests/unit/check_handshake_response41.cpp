// Unit tests for common/handshake_response41: a real libmariadb response and SSLRequest, round trips
// over every layout flag combination, and hostile input (truncations, bad lenenc, attribute blocks
// whose lengths lie).
#include "common/handshake_response41.hpp"
#include "common/byte_writer.hpp"
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

static std::string_view string_of(ByteSpan b)
{
	return ByteReader::as_string(b);
}

/* What `mariadb --skip-ssl -h127.0.0.1 -P... -u u -pp -D mydb` (client library libmariadb 3.3.20,
 * Debian 12) sent to a python3 socket server that replayed the real 10.11 greeting of
 * check_handshake_v10.cpp (nonce "7y~0pc#}o5W:Y5:a].jP"); header stripped. */
static const char REAL_RESPONSE[] =
	"8ca2bf000000100021000000000000000000000000000000000000001d0000007500145c549a610c60f961f4637a9a"
	"c05ef96018f209f06d796462006d7973716c5f6e61746976655f70617373776f7264007e035f6f73054c696e75780c"
	"5f636c69656e745f6e616d650a6c69626d617269616462045f70696404373633340f5f636c69656e745f7665727369"
	"6f6e06332e332e3230095f706c6174666f726d067838365f36340c70726f6772616d5f6e616d65056d7973716c0c5f"
	"7365727665725f686f7374093132372e302e302e31";
/* Offsets in REAL_RESPONSE: after the auth response, after "mydb\0", after the plugin name's NUL. */
static constexpr std::size_t REAL_AUTH_END = 55;
static constexpr std::size_t REAL_DATABASE_END = 60;
static constexpr std::size_t REAL_PLUGIN_END = 82;
/* The same client with --ssl, when the greeting also offered CLIENT_SSL. */
static const char REAL_SSL_REQUEST[] = "84aabf000000100021000000000000000000000000000000000000001d000000";

static const ConnectAttr REAL_ATTRS[] = {
	{"_os", "Linux"},
	{"_client_name", "libmariadb"},
	{"_pid", "7634"},
	{"_client_version", "3.3.20"},
	{"_platform", "x86_64"},
	{"program_name", "mysql"},
	{"_server_host", "127.0.0.1"},
};

START_TEST(test_real_response)
{
	const auto payload = from_hex(REAL_RESPONSE);
	ck_assert_uint_eq(payload.size(), 209);
	auto h = parse_handshake_response41(payload);
	ck_assert(h.ok());
	ck_assert(!h->is_ssl_request);
	ck_assert_uint_eq(h->capabilities, 0x00bfa28c);
	ck_assert(!(h->capabilities & CLIENT_LONG_PASSWORD));
	ck_assert_uint_eq(h->mariadb_capabilities, 0x1d);
	ck_assert_uint_eq(h->max_packet_size, 0x100000);
	ck_assert_uint_eq(h->character_set, 33);
	ck_assert(h->user == "u");
	ck_assert(string_of(h->auth_response) ==
		  string_of(from_hex("5c549a610c60f961f4637a9ac05ef96018f209f0")));
	ck_assert(h->database == "mydb");
	ck_assert(h->auth_plugin_name == "mysql_native_password");
	ck_assert_uint_eq(h->attrs.size(), 7);
	std::size_t i = 0;
	for (const ConnectAttr &attr : h->attrs) {
		ck_assert(attr.key == REAL_ATTRS[i].key);
		ck_assert(attr.value == REAL_ATTRS[i].value);
		++i;
	}
	ck_assert_uint_eq(i, 7);
	ck_assert(h->attrs.find("_client_name") == "libmariadb");
	ck_assert(!h->attrs.find("_missing").has_value());
	ck_assert_uint_eq(h->attrs.bytes().size(), 126);
}
END_TEST

START_TEST(test_build_reproduces_real_response)
{
	const auto expected = from_hex(REAL_RESPONSE);
	const auto auth = from_hex("5c549a610c60f961f4637a9ac05ef96018f209f0");
	HandshakeResponse41Params p;
	p.capabilities = 0x00bfa28c;
	p.max_packet_size = 0x100000;
	p.character_set = 33;
	p.mariadb_capabilities = 0x1d;
	p.user = "u";
	p.auth_response = auth;
	p.database = "mydb";
	p.auth_plugin_name = "mysql_native_password";
	p.attrs = REAL_ATTRS;
	std::vector<std::uint8_t> out;
	ck_assert(build_handshake_response41(out, p));
	ck_assert(out == expected);
	out.clear();
	p.capabilities = 0x00bfaa84;
	ck_assert(build_ssl_request(out, p));
	ck_assert(out == from_hex(REAL_SSL_REQUEST));
}
END_TEST

START_TEST(test_real_ssl_request)
{
	const auto payload = from_hex(REAL_SSL_REQUEST);
	ck_assert_uint_eq(payload.size(), SSL_REQUEST_LENGTH);
	auto h = parse_handshake_response41(payload);
	ck_assert(h.ok());
	ck_assert(h->is_ssl_request);
	ck_assert(h->capabilities & CLIENT_SSL);
	ck_assert_uint_eq(h->mariadb_capabilities, 0x1d);
	ck_assert(h->user.empty() && h->auth_response.empty() && h->attrs.empty());
}
END_TEST

START_TEST(test_32_bytes_without_ssl_is_not_a_request)
{
	auto payload = from_hex(REAL_SSL_REQUEST);
	payload[1] &= std::uint8_t(~(CLIENT_SSL >> 8));
	auto h = parse_handshake_response41(payload);
	ck_assert(!h.ok());
	ck_assert_str_eq(h.error().what, "HandshakeResponse41: user without NUL");
	ck_assert_uint_eq(h.error().offset, 32);
}
END_TEST

START_TEST(test_real_response_every_prefix)
{
	const auto payload = from_hex(REAL_RESPONSE);
	for (std::size_t length = 0; length < payload.size(); ++length) {
		auto h = parse_handshake_response41(ByteSpan(payload).first(length));
		/* Ends just before the database, or anywhere in the plugin name (no NUL), or just
		 * before the attributes: the documented tolerances; everything else is an error. */
		const bool expect_ok = length == REAL_AUTH_END ||
				       (length >= REAL_DATABASE_END && length <= REAL_PLUGIN_END);
		ck_assert_msg(h.ok() == expect_ok, "prefix %zu", length);
		if (h.ok()) {
			ck_assert(h->attrs.empty());
			ck_assert(h->database == (length == REAL_AUTH_END ? "" : "mydb"));
		} else {
			ck_assert_uint_le(h.error().offset, length);
		}
	}
}
END_TEST

START_TEST(test_pre41_client_rejected)
{
	auto payload = from_hex(REAL_RESPONSE);
	payload[1] &= std::uint8_t(~(CLIENT_PROTOCOL_41 >> 8));
	auto h = parse_handshake_response41(payload);
	ck_assert(!h.ok());
	ck_assert_str_eq(h.error().what, "HandshakeResponse41: no CLIENT_PROTOCOL_41 (pre-4.1 client)");
	/* A two-byte 3.23 capability field is reported as such, not as a short packet. */
	auto short_one = parse_handshake_response41(ByteSpan(payload).first(2));
	ck_assert(!short_one.ok());
	ck_assert_str_eq(short_one.error().what, "HandshakeResponse41: no CLIENT_PROTOCOL_41 (pre-4.1 client)");
}
END_TEST

/* A response with the fixed part for @caps, user "root", and @tail after it; written by hand so
 * that it can hold what the builder refuses to write. */
static std::vector<std::uint8_t> response_with(std::uint32_t caps, std::initializer_list<std::uint8_t> tail)
{
	std::vector<std::uint8_t> out;
	ByteWriter w(out);
	w.u32(caps | CLIENT_PROTOCOL_41 | CLIENT_LONG_PASSWORD);
	w.u32(0x01000000);
	w.u8(33);
	w.zeros(23);
	w.null_terminated("root");
	out.insert(out.end(), tail);
	return out;
}

static const char *error_of(const std::vector<std::uint8_t> &payload)
{
	auto h = parse_handshake_response41(payload);
	return h.ok() ? "ok" : h.error().what;
}

START_TEST(test_auth_response_encodings)
{
	const std::uint32_t lenenc = CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_SECURE_CONNECTION;
	ck_assert_str_eq(error_of(response_with(lenenc, {2, 'a', 'b'})), "ok");
	ck_assert_str_eq(error_of(response_with(lenenc, {0xFC, 2, 0, 'a', 'b'})), "ok");
	ck_assert_str_eq(error_of(response_with(lenenc, {0xFB, 'a'})), "HandshakeResponse41: auth response length malformed");
	ck_assert_str_eq(error_of(response_with(lenenc, {0xFF, 'a'})), "HandshakeResponse41: auth response length malformed");
	ck_assert_str_eq(error_of(response_with(lenenc, {0xFC, 2})), "HandshakeResponse41: auth response length malformed");
	ck_assert_str_eq(error_of(response_with(lenenc, {3, 'a', 'b'})), "HandshakeResponse41: auth response past end");
	ck_assert_str_eq(error_of(response_with(lenenc, {0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 'a'})),
			 "HandshakeResponse41: auth response past end");
	ck_assert_str_eq(error_of(response_with(lenenc, {})), "HandshakeResponse41: auth response length malformed");

	ck_assert_str_eq(error_of(response_with(CLIENT_SECURE_CONNECTION, {0xFC, 'a'})), "HandshakeResponse41: auth response past end");
	ck_assert_str_eq(error_of(response_with(CLIENT_SECURE_CONNECTION, {})), "HandshakeResponse41: auth response length past end");
	auto one_byte = response_with(CLIENT_SECURE_CONNECTION, {2, 0, 'b'});
	auto h = parse_handshake_response41(one_byte);
	ck_assert(h.ok() && h->auth_response.size() == 2 && h->auth_response[0] == 0);

	ck_assert_str_eq(error_of(response_with(0, {'a', 'b'})), "HandshakeResponse41: auth response without NUL");
	auto text = response_with(0, {'a', 'b', 0});
	h = parse_handshake_response41(text);
	ck_assert(h.ok() && string_of(h->auth_response) == "ab");
}
END_TEST

START_TEST(test_user_without_nul)
{
	auto payload = response_with(CLIENT_SECURE_CONNECTION, {});
	payload.pop_back();
	ck_assert_str_eq(error_of(payload), "HandshakeResponse41: user without NUL");
}
END_TEST

START_TEST(test_database_needs_nul_unless_absent)
{
	const std::uint32_t caps = CLIENT_SECURE_CONNECTION | CLIENT_CONNECT_WITH_DB;
	ck_assert_str_eq(error_of(response_with(caps, {0, 'd', 'b'})), "HandshakeResponse41: database without NUL");
	auto absent = response_with(caps, {0});
	auto h = parse_handshake_response41(absent);
	ck_assert(h.ok() && h->database.empty());
	auto present = response_with(caps, {0, 'd', 'b', 0});
	h = parse_handshake_response41(present);
	ck_assert(h.ok() && h->database == "db");
	/* Without the flag the same bytes are trailing garbage, ignored. */
	h = parse_handshake_response41(response_with(CLIENT_SECURE_CONNECTION, {0, 'd', 'b'}));
	ck_assert(h.ok() && h->database.empty());
}
END_TEST

START_TEST(test_plugin_name_without_nul)
{
	const std::uint32_t caps = CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS;
	auto payload = response_with(caps, {0, 'x', 'y'});
	auto h = parse_handshake_response41(payload);
	ck_assert(h.ok() && h->auth_plugin_name == "xy" && h->attrs.empty());
}
END_TEST

static const char *attrs_error(std::initializer_list<std::uint8_t> attrs_with_length)
{
	static std::vector<std::uint8_t> payload;
	payload = response_with(CLIENT_SECURE_CONNECTION | CLIENT_CONNECT_ATTRS, {0});
	payload.insert(payload.end(), attrs_with_length);
	return error_of(payload);
}

START_TEST(test_attrs_hostile)
{
	ck_assert_str_eq(attrs_error({4, 1, 'k', 1, 'v'}), "ok");
	ck_assert_str_eq(attrs_error({0}), "ok");
	/* Total length past the end of the payload. */
	ck_assert_str_eq(attrs_error({5, 1, 'k', 1, 'v'}), "HandshakeResponse41: attributes past end");
	ck_assert_str_eq(attrs_error({0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 1, 'k', 1, 'v'}),
			 "HandshakeResponse41: attributes past end");
	ck_assert_str_eq(attrs_error({0xFB, 1, 'k', 1, 'v'}), "HandshakeResponse41: attributes length malformed");
	ck_assert_str_eq(attrs_error({0xFD, 1, 0}), "HandshakeResponse41: attributes length malformed");
	/* A pair that runs past its block, although the payload has the bytes. */
	ck_assert_str_eq(attrs_error({3, 1, 'k', 1, 'v'}),
			 "HandshakeResponse41: connection attribute value malformed or past attributes end");
	ck_assert_str_eq(attrs_error({4, 9, 'k', 1, 'v', 'x', 'x', 'x', 'x', 'x', 'x'}),
			 "HandshakeResponse41: connection attribute key malformed or past attributes end");
	ck_assert_str_eq(attrs_error({2, 1, 'k'}),
			 "HandshakeResponse41: connection attribute value malformed or past attributes end");
	/* Bad lenenc prefixes inside the block. */
	ck_assert_str_eq(attrs_error({3, 0xFB, 1, 'v'}),
			 "HandshakeResponse41: connection attribute key malformed or past attributes end");
	ck_assert_str_eq(attrs_error({3, 1, 'k', 0xFF}),
			 "HandshakeResponse41: connection attribute value malformed or past attributes end");
	/* Trailing bytes after the block are ignored. */
	ck_assert_str_eq(attrs_error({4, 1, 'k', 1, 'v', 7, 7}), "ok");
}
END_TEST

START_TEST(test_attrs_error_offset_is_in_payload)
{
	auto payload = response_with(CLIENT_SECURE_CONNECTION | CLIENT_CONNECT_ATTRS, {0});
	const std::size_t block = payload.size() + 1;
	payload.insert(payload.end(), {3, 1, 'k', 0xFF});
	auto h = parse_handshake_response41(payload);
	ck_assert(!h.ok());
	ck_assert_uint_eq(h.error().offset, block + 3);
}
END_TEST

START_TEST(test_attrs_cap)
{
	std::vector<ConnectAttr> attrs(MAX_CONNECT_ATTRS, ConnectAttr{"k", "v"});
	HandshakeResponse41Params p;
	p.capabilities = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_CONNECT_ATTRS;
	p.user = "u";
	p.attrs = attrs;
	std::vector<std::uint8_t> out;
	ck_assert(build_handshake_response41(out, p));
	auto h = parse_handshake_response41(out);
	ck_assert(h.ok());
	ck_assert_uint_eq(h->attrs.size(), MAX_CONNECT_ATTRS);
	/* One more pair, hand-appended since the builder refuses it.  The block is 256 bytes, so its
	 * length is the 3-byte lenenc form 0xFC + u16 just before it. */
	attrs.push_back({"k", "v"});
	p.attrs = attrs;
	std::vector<std::uint8_t> refused;
	ck_assert(!build_handshake_response41(refused, p));
	ck_assert(refused.empty());
	const std::size_t block_at = std::size_t(h->attrs.bytes().data() - out.data());
	ck_assert_uint_eq(out[block_at - 3], 0xFC);
	ck_assert_uint_eq(out[block_at - 2] | out[block_at - 1] << 8, MAX_CONNECT_ATTRS * 4);
	out[block_at - 2] = std::uint8_t(MAX_CONNECT_ATTRS * 4 + 4);
	out.insert(out.end(), {1, 'k', 1, 'v'});
	h = parse_handshake_response41(out);
	ck_assert(!h.ok());
	ck_assert_str_eq(h.error().what, "HandshakeResponse41: more than 64 connection attributes");
}
END_TEST

START_TEST(test_round_trip_all_flag_combinations)
{
	const std::uint32_t layout_flags[] = {CLIENT_SECURE_CONNECTION, CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
					      CLIENT_CONNECT_WITH_DB, CLIENT_PLUGIN_AUTH, CLIENT_CONNECT_ATTRS,
					      CLIENT_LONG_PASSWORD, CLIENT_SSL};
	const std::string long_key(300, 'K');
	const ConnectAttr attrs[] = {{"_client_name", "myproxy"}, {"", ""}, {long_key, "v"}};
	const std::string long_auth(300, 'A');
	const std::size_t n = sizeof(layout_flags) / sizeof(layout_flags[0]);
	for (std::uint32_t mask = 0; mask < (1u << n); ++mask) {
		std::uint32_t caps = CLIENT_PROTOCOL_41;
		for (std::size_t i = 0; i < n; ++i)
			if (mask & (1u << i))
				caps |= layout_flags[i];
		const bool lenenc = caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;
		const bool secure = caps & CLIENT_SECURE_CONNECTION;
		HandshakeResponse41Params p;
		p.capabilities = caps;
		p.max_packet_size = 0x01000000;
		p.character_set = 255;
		p.mariadb_capabilities = (caps & CLIENT_LONG_PASSWORD) ? 0 : 0x0000001d;
		p.user = "app_user";
		/* A long (lenenc) response, a binary one with a NUL, or a NUL-free text one. */
		const std::string binary_auth("\x01\x00\x02", 3);
		p.auth_response = bytes_of(lenenc ? std::string_view(long_auth)
					   : secure ? std::string_view(binary_auth) : std::string_view("cleartext"));
		p.database = (caps & CLIENT_CONNECT_WITH_DB) ? "shop" : "";
		p.auth_plugin_name = (caps & CLIENT_PLUGIN_AUTH) ? "caching_sha2_password" : "";
		if (caps & CLIENT_CONNECT_ATTRS)
			p.attrs = attrs;
		std::vector<std::uint8_t> out;
		ck_assert_msg(build_handshake_response41(out, p), "mask %u", mask);
		auto h = parse_handshake_response41(out);
		ck_assert_msg(h.ok(), "mask %u: %s", mask, h.ok() ? "" : h.error().what);
		ck_assert(!h->is_ssl_request);
		ck_assert_uint_eq(h->capabilities, caps);
		ck_assert_uint_eq(h->max_packet_size, p.max_packet_size);
		ck_assert_uint_eq(h->character_set, 255);
		ck_assert_uint_eq(h->mariadb_capabilities, p.mariadb_capabilities);
		ck_assert(h->user == p.user);
		ck_assert(string_of(h->auth_response) == string_of(p.auth_response));
		ck_assert(h->database == p.database);
		ck_assert(h->auth_plugin_name == p.auth_plugin_name);
		ck_assert_uint_eq(h->attrs.size(), p.attrs.size());
		std::size_t i = 0;
		for (const ConnectAttr &attr : h->attrs) {
			ck_assert(attr.key == p.attrs[i].key && attr.value == p.attrs[i].value);
			++i;
		}
		for (std::size_t length = 0; length < out.size(); ++length) {
			auto cut = parse_handshake_response41(ByteSpan(out).first(length));
			if (length < SSL_REQUEST_LENGTH || (length == SSL_REQUEST_LENGTH && !(caps & CLIENT_SSL)))
				ck_assert_msg(!cut.ok(), "mask %u prefix %zu", mask, length);
			if (cut.ok())
				ck_assert(cut->is_ssl_request == (length == SSL_REQUEST_LENGTH) &&
					  cut->attrs.size() <= p.attrs.size());
			else
				ck_assert_uint_le(cut.error().offset, length);
		}
		if (caps & CLIENT_SSL) {
			std::vector<std::uint8_t> ssl;
			ck_assert(build_ssl_request(ssl, p));
			auto request = parse_handshake_response41(ssl);
			ck_assert(request.ok() && request->is_ssl_request);
			ck_assert_uint_eq(request->capabilities, caps);
			ck_assert_uint_eq(request->mariadb_capabilities, p.mariadb_capabilities);
		}
	}
}
END_TEST

START_TEST(test_build_rejects)
{
	HandshakeResponse41Params good;
	good.capabilities = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH |
			    CLIENT_CONNECT_WITH_DB | CLIENT_CONNECT_ATTRS;
	good.user = "u";
	good.database = "d";
	good.auth_plugin_name = "mysql_native_password";
	good.attrs = REAL_ATTRS;
	std::vector<std::uint8_t> out;
	ck_assert(build_handshake_response41(out, good));

	auto rejected = [](const HandshakeResponse41Params &p) {
		std::vector<std::uint8_t> buffer = {9};
		const bool built = build_handshake_response41(buffer, p);
		ck_assert(built || buffer.size() == 1);
		return !built;
	};
	HandshakeResponse41Params p = good;
	p.capabilities &= ~CLIENT_PROTOCOL_41;
	ck_assert(rejected(p));
	p = good;
	p.user = std::string_view("a\0b", 3);
	ck_assert(rejected(p));
	p = good;
	p.database = std::string_view("a\0b", 3);
	ck_assert(rejected(p));
	p = good;
	p.auth_plugin_name = std::string_view("a\0b", 3);
	ck_assert(rejected(p));
	p = good;
	p.capabilities &= ~CLIENT_CONNECT_WITH_DB;
	ck_assert(rejected(p));
	p = good;
	p.capabilities &= ~CLIENT_PLUGIN_AUTH;
	ck_assert(rejected(p));
	p = good;
	p.capabilities &= ~CLIENT_CONNECT_ATTRS;
	ck_assert(rejected(p));
	p = good;
	p.capabilities |= CLIENT_LONG_PASSWORD;
	p.mariadb_capabilities = 4;
	ck_assert(rejected(p));
	const std::string auth256(256, 'x');
	p = good;
	p.auth_response = bytes_of(auth256);
	ck_assert(rejected(p));
	p.capabilities |= CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;
	ck_assert(!rejected(p));
	p = good;
	p.capabilities &= ~CLIENT_SECURE_CONNECTION;
	p.auth_response = bytes_of(std::string_view("a\0", 2));
	ck_assert(rejected(p));

	std::vector<std::uint8_t> ssl;
	ck_assert(!build_ssl_request(ssl, good)); /* no CLIENT_SSL */
	ck_assert(ssl.empty());
}
END_TEST

static Suite *handshake_response41_suite()
{
	Suite *s = suite_create("handshake_response41");
	TCase *real = tcase_create("real");
	tcase_add_test(real, test_real_response);
	tcase_add_test(real, test_build_reproduces_real_response);
	tcase_add_test(real, test_real_ssl_request);
	tcase_add_test(real, test_real_response_every_prefix);
	suite_add_tcase(s, real);
	TCase *layout = tcase_create("layout");
	tcase_add_test(layout, test_auth_response_encodings);
	tcase_add_test(layout, test_database_needs_nul_unless_absent);
	tcase_add_test(layout, test_plugin_name_without_nul);
	tcase_add_test(layout, test_round_trip_all_flag_combinations);
	suite_add_tcase(s, layout);
	TCase *hostile = tcase_create("hostile");
	tcase_add_test(hostile, test_32_bytes_without_ssl_is_not_a_request);
	tcase_add_test(hostile, test_pre41_client_rejected);
	tcase_add_test(hostile, test_user_without_nul);
	tcase_add_test(hostile, test_attrs_hostile);
	tcase_add_test(hostile, test_attrs_error_offset_is_in_payload);
	tcase_add_test(hostile, test_attrs_cap);
	tcase_add_test(hostile, test_build_rejects);
	suite_add_tcase(s, hostile);
	return s;
}

int main()
{
	return run_check_suites({handshake_response41_suite()});
}
