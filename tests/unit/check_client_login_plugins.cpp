// Unit tests for the auth plugins of common/client_login beyond mysql_native_password: the exchanges
// of caching_sha2_password (fast path, full path over a secure transport, with the server's RSA key
// asked for or configured), client_ed25519, mysql_clear_password over a secure transport, and hostile
// AuthMoreData.  The expected scrambles are the vectors of check_auth_plugins.cpp (python3-computed).
#include "common/auth_switch.hpp"
#include "common/caching_sha2_password.hpp"
#include "common/client_login.hpp"
#include "common/ed25519_password.hpp"
#include "common/handshake_response41.hpp"
#include "common/mysql_packet.hpp"
#include "common/rsa_key.hpp"
#include "tests/check_main.hpp"
#include "tests/unit/packet_test_util.hpp"

#include <string>
#include <vector>

using namespace myproxy;
using packet_test::from_hex;

using Bytes = std::vector<std::uint8_t>;

#define ck_assert_string(actual, expected)                                                               \
	do {                                                                                             \
		const std::string ck_actual_ = (actual);                                                 \
		const std::string ck_expected_ = (expected);                                             \
		ck_assert_str_eq(ck_actual_.c_str(), ck_expected_.c_str());                              \
	} while (0)

/* A MariaDB 10.11 greeting (see check_client_login.cpp). */
static const char *const GREETING =
	"0a352e352e352d31302e31312e31392d4d6172696144422d302b646562313275310007000000647e6d287d5f447600fef7080200"
	"ff81150000000000001d00000044336f584a4a722455616760006d7973716c5f6e61746976655f70617373776f726400";
static const char *const OK_AUTOCOMMIT = "00000002000000";
static const Bytes NONCE_1_TO_20 = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
/* caching_sha2_scramble("secret", 01..14), from auth_vectors.py. */
static const char *const SHA2_SCRAMBLE_SECRET = "746ebe205d56a0707acb3e796e834e0dd7b1d61743b26bd5202c7a623230c7c9";

static ClientLoginParams secret_params()
{
	ClientLoginParams params;
	params.user = "u";
	params.password = "secret";
	return params;
}

static std::vector<Packet> packets_of(const Bytes &out)
{
	std::vector<Packet> packets;
	PacketIterator it(out);
	Packet packet;
	while (it.next(packet))
		packets.push_back(packet);
	ck_assert_uint_eq(it.remaining().size(), 0);
	return packets;
}

static Bytes switch_request(std::string_view plugin, ByteSpan data)
{
	Bytes payload;
	build_auth_switch_request(payload, plugin, data);
	return payload;
}

static Bytes more_data(ByteSpan data)
{
	Bytes payload;
	build_auth_more_data(payload, data);
	return payload;
}

static Bytes more_data(std::string_view text)
{
	return more_data(ByteSpan(reinterpret_cast<const std::uint8_t *>(text.data()), text.size()));
}

/* Feeds the greeting, then @request (sequence id 2); returns our one reply's payload (sequence 3). */
static Bytes reply_to_switch(ClientLogin &login, const Bytes &request)
{
	Bytes out;
	ck_assert(login.feed(from_hex(GREETING), 0, out) == ClientLoginStatus::CONTINUE);
	out.clear();
	ck_assert(login.feed(request, 2, out) == ClientLoginStatus::CONTINUE);
	const auto packets = packets_of(out);
	ck_assert_uint_eq(packets.size(), 1);
	ck_assert_uint_eq(packets[0].header.sequence_id, 3);
	return Bytes(packets[0].payload.begin(), packets[0].payload.end());
}

/* Feeds @payload with @sequence_id; returns the one reply's payload, checking its sequence id. */
static Bytes feed_for_reply(ClientLogin &login, const Bytes &payload, std::uint8_t sequence_id)
{
	Bytes out;
	ck_assert(login.feed(payload, sequence_id, out) == ClientLoginStatus::CONTINUE);
	const auto packets = packets_of(out);
	ck_assert_uint_eq(packets.size(), 1);
	ck_assert_uint_eq(packets[0].header.sequence_id, sequence_id + 1);
	return Bytes(packets[0].payload.begin(), packets[0].payload.end());
}

static void expect_ok(ClientLogin &login, std::uint8_t sequence_id)
{
	Bytes out;
	ck_assert(login.feed(from_hex(OK_AUTOCOMMIT), sequence_id, out) == ClientLoginStatus::SUCCEEDED);
	ck_assert(out.empty());
	ck_assert_string(login.success().auth_plugin, "caching_sha2_password");
	ck_assert(login.success().auth_switched);
}

START_TEST(test_sha2_fast_path)
{
	ClientLogin login(secret_params());
	const Bytes reply = reply_to_switch(login, switch_request(CACHING_SHA2_PASSWORD, NONCE_1_TO_20));
	ck_assert(reply == from_hex(SHA2_SCRAMBLE_SECRET));
	Bytes out;
	ck_assert(login.feed(more_data(from_hex("03")), 4, out) == ClientLoginStatus::CONTINUE);
	ck_assert(out.empty());
	expect_ok(login, 5);
}
END_TEST

START_TEST(test_sha2_full_path_secure)
{
	ClientLoginParams params = secret_params();
	params.secure_transport = true;
	ClientLogin login(params);
	(void)reply_to_switch(login, switch_request(CACHING_SHA2_PASSWORD, NONCE_1_TO_20));
	ck_assert(feed_for_reply(login, more_data(from_hex("04")), 4) == from_hex("73656372657400"));
	expect_ok(login, 6);
}
END_TEST

/* TLS established through the login counts as a private channel: the password goes as it is. */
START_TEST(test_sha2_full_path_tls)
{
	std::string greeting(GREETING);
	/* The same greeting with CLIENT_SSL (0x0800) in the lower capability flags. */
	const std::size_t at = greeting.find("00fef7");
	ck_assert(at != std::string::npos);
	greeting.replace(at, 6, "00feff");
	ClientLoginParams params = secret_params();
	params.ssl = true;
	ClientLogin login(params);
	Bytes out;
	ck_assert(login.feed(from_hex(greeting), 0, out) == ClientLoginStatus::START_TLS);
	out.clear();
	ck_assert(login.tls_established(out) == ClientLoginStatus::CONTINUE);
	ck_assert(login.secure_transport());
	out.clear();
	ck_assert(login.feed(switch_request(CACHING_SHA2_PASSWORD, NONCE_1_TO_20), 3, out) == ClientLoginStatus::CONTINUE);
	out.clear();
	ck_assert(login.feed(more_data(from_hex("04")), 5, out) == ClientLoginStatus::CONTINUE);
	const auto packets = packets_of(out);
	ck_assert_uint_eq(packets.size(), 1);
	ck_assert(Bytes(packets[0].payload.begin(), packets[0].payload.end()) == from_hex("73656372657400"));
}
END_TEST

START_TEST(test_sha2_full_path_rsa)
{
	std::string problem;
	auto pair = generate_rsa_key_pair(2048, problem);
	ck_assert(pair.has_value());
	/* Without a key: ask the server for it, then encrypt with it. */
	{
		ClientLogin login(secret_params());
		(void)reply_to_switch(login, switch_request(CACHING_SHA2_PASSWORD, NONCE_1_TO_20));
		ck_assert(feed_for_reply(login, more_data(from_hex("04")), 4) == from_hex("02"));
		const Bytes encrypted = feed_for_reply(login, more_data(pair->public_pem), 6);
		ck_assert_uint_eq(encrypted.size(), 256);
		auto password = caching_sha2_rsa_decrypt_password(pair->key.get(), NONCE_1_TO_20, encrypted);
		ck_assert(password && *password == "secret");
		expect_ok(login, 8);
	}
	/* With a configured key: no request. */
	{
		ClientLoginParams params = secret_params();
		params.server_public_key = pair->public_pem;
		ClientLogin login(params);
		(void)reply_to_switch(login, switch_request(CACHING_SHA2_PASSWORD, NONCE_1_TO_20));
		const Bytes encrypted = feed_for_reply(login, more_data(from_hex("04")), 4);
		auto password = caching_sha2_rsa_decrypt_password(pair->key.get(), NONCE_1_TO_20, encrypted);
		ck_assert(password && *password == "secret");
		expect_ok(login, 6);
	}
}
END_TEST

START_TEST(test_sha2_initial_plugin)
{
	ClientLoginParams params = secret_params();
	params.initial_plugin = CACHING_SHA2_PASSWORD;
	ClientLogin login(params);
	Bytes out;
	ck_assert(login.feed(from_hex(GREETING), 0, out) == ClientLoginStatus::CONTINUE);
	const auto packets = packets_of(out);
	auto response = parse_handshake_response41(packets[0].payload);
	ck_assert(response.ok());
	ck_assert_string(std::string(response->auth_plugin_name), "caching_sha2_password");
	/* The greeting's nonce, 647e6d287d5f4476 44336f584a4a722455616760. */
	auto expected = caching_sha2_scramble("secret", from_hex("647e6d287d5f447644336f584a4a722455616760"));
	ck_assert(expected && Bytes(response->auth_response.begin(), response->auth_response.end()) ==
				      Bytes(expected->begin(), expected->end()));
	out.clear();
	ck_assert(login.feed(more_data(from_hex("03")), 2, out) == ClientLoginStatus::CONTINUE);
	ck_assert(login.feed(from_hex(OK_AUTOCOMMIT), 3, out) == ClientLoginStatus::SUCCEEDED);
	ck_assert(!login.success().auth_switched);
}
END_TEST

START_TEST(test_sha2_hostile)
{
	struct Case {
		std::vector<Bytes> server; /* after the switch request, sequence ids 4, 6, ... */
		const char *message;
	};
	const Case cases[] = {
		{{more_data(from_hex("05"))}, "caching_sha2_password: unexpected AuthMoreData of 1 bytes"},
		{{more_data(from_hex(""))}, "caching_sha2_password: unexpected AuthMoreData of 0 bytes"},
		{{more_data(from_hex("0304"))}, "caching_sha2_password: unexpected AuthMoreData of 2 bytes"},
		{{more_data(from_hex("04")), more_data("not a key")},
		 "caching_sha2_password: the server's public key is not an RSA key in PEM form"},
		{{more_data(from_hex("04")), more_data(from_hex("")), more_data(from_hex("03"))},
		 "caching_sha2_password: the server's public key is not an RSA key in PEM form"},
	};
	for (const Case &c : cases) {
		ClientLogin login(secret_params());
		(void)reply_to_switch(login, switch_request(CACHING_SHA2_PASSWORD, NONCE_1_TO_20));
		std::uint8_t sequence_id = 4;
		ClientLoginStatus status = ClientLoginStatus::CONTINUE;
		for (const Bytes &packet : c.server) {
			Bytes out;
			status = login.feed(packet, sequence_id, out);
			if (status == ClientLoginStatus::FAILED)
				break;
			sequence_id = std::uint8_t(sequence_id + 2);
		}
		ck_assert(status == ClientLoginStatus::FAILED);
		ck_assert(login.failure().kind == ClientLoginFailure::Kind::PROTOCOL_ERROR);
		ck_assert_string(login.failure().message, c.message);
	}
	/* More data after the fast-auth success, or after the password went out. */
	{
		ClientLogin login(secret_params());
		(void)reply_to_switch(login, switch_request(CACHING_SHA2_PASSWORD, NONCE_1_TO_20));
		Bytes out;
		ck_assert(login.feed(more_data(from_hex("03")), 4, out) == ClientLoginStatus::CONTINUE);
		ck_assert(login.feed(more_data(from_hex("04")), 5, out) == ClientLoginStatus::FAILED);
		ck_assert_string(login.failure().message, "unexpected AuthMoreData for auth plugin 'caching_sha2_password'");
	}
	{
		ClientLoginParams params = secret_params();
		params.secure_transport = true;
		ClientLogin login(params);
		(void)reply_to_switch(login, switch_request(CACHING_SHA2_PASSWORD, NONCE_1_TO_20));
		(void)feed_for_reply(login, more_data(from_hex("04")), 4);
		Bytes out;
		ck_assert(login.feed(more_data(from_hex("04")), 6, out) == ClientLoginStatus::FAILED);
		ck_assert(out.empty());
	}
	/* Only SHA1(password) known. */
	{
		ClientLoginParams params = secret_params();
		params.password = {};
		params.password_sha1 = Sha1Digest{};
		ClientLogin login(params);
		Bytes out;
		ck_assert(login.feed(from_hex(GREETING), 0, out) == ClientLoginStatus::CONTINUE);
		out.clear();
		ck_assert(login.feed(switch_request(CACHING_SHA2_PASSWORD, NONCE_1_TO_20), 2, out) ==
			  ClientLoginStatus::FAILED);
		ck_assert_string(login.failure().message,
				 "caching_sha2_password needs the password, but only its SHA1 is known");
	}
}
END_TEST

START_TEST(test_ed25519)
{
	Bytes nonce;
	for (int i = 1; i <= 32; ++i)
		nonce.push_back(std::uint8_t(i));
	ClientLogin login(secret_params());
	const Bytes reply = reply_to_switch(login, switch_request(CLIENT_ED25519, nonce));
	ck_assert(reply == from_hex("60a0f4f8bcb6396043e44b2a25521af16f0815ff6369cc541c281e2c4455c823"
				    "2b79b21ee5bb933507725db2f2919ea09e676f6abee19c5c7b98b40a627a9707"));
	Bytes out;
	ck_assert(login.feed(from_hex(OK_AUTOCOMMIT), 4, out) == ClientLoginStatus::SUCCEEDED);
	ck_assert_string(login.success().auth_plugin, "client_ed25519");

	ClientLoginParams params = secret_params();
	params.password = {};
	params.password_sha1 = Sha1Digest{};
	ClientLogin sha1_only(params);
	ck_assert(sha1_only.feed(from_hex(GREETING), 0, out) == ClientLoginStatus::CONTINUE);
	ck_assert(sha1_only.feed(switch_request(CLIENT_ED25519, nonce), 2, out) == ClientLoginStatus::FAILED);
	ck_assert_string(sha1_only.failure().message, "client_ed25519 needs the password, but only its SHA1 is known");
}
END_TEST

START_TEST(test_clear_password_secure_transport)
{
	ClientLoginParams params = secret_params();
	params.secure_transport = true;
	ClientLogin login(params);
	ck_assert(reply_to_switch(login, switch_request(MYSQL_CLEAR_PASSWORD, {})) == from_hex("73656372657400"));
}
END_TEST

static Suite *client_login_plugins_suite()
{
	Suite *s = suite_create("client_login_plugins");
	TCase *tc = tcase_create("caching_sha2_password");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_sha2_fast_path);
	tcase_add_test(tc, test_sha2_full_path_secure);
	tcase_add_test(tc, test_sha2_full_path_tls);
	tcase_add_test(tc, test_sha2_full_path_rsa);
	tcase_add_test(tc, test_sha2_initial_plugin);
	tcase_add_test(tc, test_sha2_hostile);
	suite_add_tcase(s, tc);
	tc = tcase_create("others");
	tcase_add_test(tc, test_ed25519);
	tcase_add_test(tc, test_clear_password_secure_transport);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({client_login_plugins_suite()});
}
