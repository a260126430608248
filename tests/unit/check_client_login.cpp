// Unit tests for common/client_login: logins replayed from packets captured from MariaDB 10.11
// (native password, wrong password, unknown database, AuthSwitchRequest) and hostile servers.
#include "common/auth_switch.hpp"
#include "common/client_login.hpp"
#include "common/err_packet.hpp"
#include "common/handshake_response41.hpp"
#include "common/handshake_v10.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "tests/check_main.hpp"
#include "tests/unit/packet_test_util.hpp"

#include <string>
#include <vector>

using namespace myproxy;
using packet_test::from_hex;

using Bytes = std::vector<std::uint8_t>;

/* ck_assert_str_eq() keeps its pointers past the full expression: copy temporaries first. */
#define ck_assert_string(actual, expected)                                                               \
	do {                                                                                             \
		const std::string ck_actual_ = (actual);                                                 \
		const std::string ck_expected_ = (expected);                                             \
		ck_assert_str_eq(ck_actual_.c_str(), ck_expected_.c_str());                              \
	} while (0)

/* Greetings of MariaDB 10.11.19 (connection ids 7 and 6); the first one's nonce is
 * 647e6d287d5f4476 44336f584a4a722455616760. */
static const char *const GREETING =
	"0a352e352e352d31302e31312e31392d4d6172696144422d302b646562313275310007000000647e6d287d5f447600fef7080200"
	"ff81150000000000001d00000044336f584a4a722455616760006d7973716c5f6e61746976655f70617373776f726400";
static const char *const GREETING_6 =
	"0a352e352e352d31302e31312e31392d4d6172696144422d302b6465623132753100060000007a51637d6d2a292c00fef7080200"
	"ff81150000000000001d00000042477d62525225603527623a006d7973716c5f6e61746976655f70617373776f726400";
/* mysql_native_password("secret") for GREETING's nonce, and ("wrong") for GREETING_6's. */
static const char *const SCRAMBLE_SECRET = "8b42ef2f6dcd05cc5dc1a28281c5845b68855efa";
static const char *const SCRAMBLE_WRONG_6 = "7e4cd9d47616534e44d0d9eac53eaf07365a2a4c";
static const char *const SHA1_SECRET = "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4";
/* The server's replies. */
static const char *const OK_AUTOCOMMIT = "00000002000000";
static const char *const ERR_ACCESS_DENIED =
	"ff15042332383030304163636573732064656e69656420666f72207573657220276e61742740276c6f63616c686f73742720"
	"287573696e672070617373776f72643a2059455329";
static const char *const ERR_BAD_DB = "ff1904233432303030556e6b6e6f776e20646174616261736520276e6f646227";
/* AuthSwitchRequest to mysql_native_password, after a response that named client_ed25519. */
static const char *const SWITCH_TO_NATIVE =
	"fe6d7973716c5f6e61746976655f70617373776f726400647e6d287d5f447644336f584a4a72245561676000";

static constexpr std::uint32_t WANTED = CLIENT_LONG_FLAG | CLIENT_TRANSACTIONS | CLIENT_MULTI_STATEMENTS |
	CLIENT_MULTI_RESULTS | CLIENT_DEPRECATE_EOF;

static ClientLoginParams secret_params()
{
	ClientLoginParams params;
	params.user = "nat";
	params.password = "secret";
	params.capabilities = WANTED;
	return params;
}

/* The packets in @out, each checked to be complete. */
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

static ClientLoginStatus feed_hex(ClientLogin &login, const char *payload_hex, std::uint8_t sequence_id, Bytes &out)
{
	const Bytes payload = from_hex(payload_hex);
	return login.feed(payload, sequence_id, out);
}

/* Feeds GREETING and returns our parsed HandshakeResponse41 (views into @out). */
static HandshakeResponse41 respond_to_greeting(ClientLogin &login, Bytes &out, const char *greeting = GREETING)
{
	ck_assert(feed_hex(login, greeting, 0, out) == ClientLoginStatus::CONTINUE);
	const auto packets = packets_of(out);
	ck_assert_uint_eq(packets.size(), 1);
	ck_assert_uint_eq(packets[0].header.sequence_id, 1);
	auto response = parse_handshake_response41(packets[0].payload);
	ck_assert(response.ok());
	return *response;
}

START_TEST(test_native_login)
{
	ClientLogin login(secret_params());
	Bytes out;
	const HandshakeResponse41 response = respond_to_greeting(login, out);
	ck_assert_string(std::string(response.user), "nat");
	ck_assert(packet_test::same(response.auth_response, from_hex(SCRAMBLE_SECRET)));
	ck_assert_string(std::string(response.auth_plugin_name), "mysql_native_password");
	ck_assert(response.database.empty());
	ck_assert_uint_eq(response.character_set, CLIENT_LOGIN_DEFAULT_CHARACTER_SET);
	/* What was wanted and offered, plus what the login needs; MariaDB does not offer
	 * CLIENT_LONG_PASSWORD (it announces extended capabilities that way). */
	const std::uint32_t expected = WANTED | CLIENT_LOGIN_REQUIRED_CAPABILITIES;
	ck_assert_uint_eq(response.capabilities, expected);
	ck_assert(!login.succeeded());

	out.clear();
	ck_assert(feed_hex(login, OK_AUTOCOMMIT, 2, out) == ClientLoginStatus::SUCCEEDED);
	ck_assert(out.empty());
	ck_assert(login.succeeded());
	const ClientLoginSuccess &success = login.success();
	ck_assert_string(success.server_version, "5.5.5-10.11.19-MariaDB-0+deb12u1");
	ck_assert_uint_eq(success.connection_id, 7);
	ck_assert_uint_eq(success.capabilities, expected);
	ck_assert_uint_eq(success.server_capabilities & CLIENT_DEPRECATE_EOF, CLIENT_DEPRECATE_EOF);
	ck_assert_uint_eq(success.status_flags, SERVER_STATUS_AUTOCOMMIT);
	ck_assert_string(success.auth_plugin, "mysql_native_password");
	ck_assert(!success.auth_switched);
}
END_TEST

START_TEST(test_password_sha1_login)
{
	ClientLoginParams params = secret_params();
	params.password = {};
	Sha1Digest sha1;
	const Bytes digest = from_hex(SHA1_SECRET);
	std::copy(digest.begin(), digest.end(), sha1.begin());
	params.password_sha1 = sha1;
	ClientLogin login(params);
	Bytes out;
	const HandshakeResponse41 response = respond_to_greeting(login, out);
	ck_assert(packet_test::same(response.auth_response, from_hex(SCRAMBLE_SECRET)));
	out.clear();
	ck_assert(feed_hex(login, OK_AUTOCOMMIT, 2, out) == ClientLoginStatus::SUCCEEDED);
}
END_TEST

START_TEST(test_empty_password)
{
	ClientLoginParams params = secret_params();
	params.password = {};
	ClientLogin login(params);
	Bytes out;
	const HandshakeResponse41 response = respond_to_greeting(login, out);
	ck_assert_uint_eq(response.auth_response.size(), 0);
}
END_TEST

START_TEST(test_wrong_password)
{
	ClientLoginParams params = secret_params();
	params.password = "wrong";
	ClientLogin login(params);
	Bytes out;
	const HandshakeResponse41 response = respond_to_greeting(login, out, GREETING_6);
	ck_assert(packet_test::same(response.auth_response, from_hex(SCRAMBLE_WRONG_6)));
	out.clear();
	ck_assert(feed_hex(login, ERR_ACCESS_DENIED, 2, out) == ClientLoginStatus::FAILED);
	ck_assert(login.failed());
	const ClientLoginFailure &failure = login.failure();
	ck_assert(failure.kind == ClientLoginFailure::Kind::SERVER_ERROR);
	ck_assert_uint_eq(failure.error_code, 1045);
	ck_assert_string(failure.sql_state, "28000");
	ck_assert_string(failure.message, "Access denied for user 'nat'@'localhost' (using password: YES)");
}
END_TEST

START_TEST(test_database_and_attributes)
{
	ClientLoginParams params = secret_params();
	params.database = "nodb";
	const ConnectAttr attrs[] = {{"_client_name", "myproxy"}, {"program_name", "check"}};
	params.attrs = attrs;
	/* Unsupported wishes are dropped. */
	params.capabilities |= CLIENT_SSL | CLIENT_COMPRESS | CLIENT_QUERY_ATTRIBUTES;
	ClientLogin login(params);
	Bytes out;
	const HandshakeResponse41 response = respond_to_greeting(login, out);
	ck_assert_string(std::string(response.database), "nodb");
	ck_assert_uint_eq(response.capabilities & (CLIENT_SSL | CLIENT_COMPRESS | CLIENT_QUERY_ATTRIBUTES), 0);
	ck_assert_uint_eq(response.capabilities & (CLIENT_CONNECT_WITH_DB | CLIENT_CONNECT_ATTRS),
			  CLIENT_CONNECT_WITH_DB | CLIENT_CONNECT_ATTRS);
	ck_assert_uint_eq(response.attrs.size(), 2);
	auto program = response.attrs.find("program_name");
	ck_assert(program.has_value());
	ck_assert_string(std::string(*program), "check");
	out.clear();
	ck_assert(feed_hex(login, ERR_BAD_DB, 2, out) == ClientLoginStatus::FAILED);
	ck_assert_uint_eq(login.failure().error_code, 1049);
	ck_assert_string(login.failure().sql_state, "42000");
	ck_assert_string(login.failure().message, "Unknown database 'nodb'");
}
END_TEST

START_TEST(test_switch_to_native)
{
	ClientLoginParams params = secret_params();
	params.initial_plugin = "client_ed25519";
	ClientLogin login(params);
	Bytes out;
	const HandshakeResponse41 response = respond_to_greeting(login, out);
	ck_assert_string(std::string(response.auth_plugin_name), "client_ed25519");
	ck_assert_uint_eq(response.auth_response.size(), 0);
	out.clear();
	ck_assert(feed_hex(login, SWITCH_TO_NATIVE, 2, out) == ClientLoginStatus::CONTINUE);
	const auto packets = packets_of(out);
	ck_assert_uint_eq(packets.size(), 1);
	ck_assert_uint_eq(packets[0].header.sequence_id, 3);
	ck_assert(packet_test::same(packets[0].payload, from_hex(SCRAMBLE_SECRET)));
	out.clear();
	ck_assert(feed_hex(login, OK_AUTOCOMMIT, 4, out) == ClientLoginStatus::SUCCEEDED);
	ck_assert_string(login.success().auth_plugin, "mysql_native_password");
	ck_assert(login.success().auth_switched);
}
END_TEST

static Bytes switch_request(std::string_view plugin, std::string_view data)
{
	Bytes payload;
	build_auth_switch_request(payload, plugin,
				  ByteSpan(reinterpret_cast<const std::uint8_t *>(data.data()), data.size()));
	return payload;
}

/* Logs in up to the AuthSwitchRequest @request and returns the status it gave. */
static ClientLoginStatus after_switch(ClientLogin &login, const Bytes &request, Bytes &out)
{
	(void)respond_to_greeting(login, out);
	out.clear();
	return login.feed(request, 2, out);
}

START_TEST(test_switch_to_clear_password)
{
	const Bytes request = switch_request("mysql_clear_password", "");
	{
		ClientLogin login(secret_params());
		Bytes out;
		ck_assert(after_switch(login, request, out) == ClientLoginStatus::FAILED);
		ck_assert(out.empty());
		ck_assert(login.failure().kind == ClientLoginFailure::Kind::PROTOCOL_ERROR);
		ck_assert_string(login.failure().message, "mysql_clear_password is not allowed for this login (neither "
							  "TLS nor a local socket, and allow_cleartext is not set)");
	}
	{
		ClientLoginParams params = secret_params();
		params.allow_clear_password = true;
		ClientLogin login(params);
		Bytes out;
		ck_assert(after_switch(login, request, out) == ClientLoginStatus::CONTINUE);
		const auto packets = packets_of(out);
		ck_assert_uint_eq(packets.size(), 1);
		ck_assert_uint_eq(packets[0].header.sequence_id, 3);
		ck_assert(packet_test::same(packets[0].payload, from_hex("73656372657400"))); /* "secret\0" */
		out.clear();
		ck_assert(feed_hex(login, OK_AUTOCOMMIT, 4, out) == ClientLoginStatus::SUCCEEDED);
		ck_assert_string(login.success().auth_plugin, "mysql_clear_password");
	}
	{
		ClientLoginParams params = secret_params();
		params.allow_clear_password = true;
		params.password = {};
		params.password_sha1 = Sha1Digest{};
		ClientLogin login(params);
		Bytes out;
		ck_assert(after_switch(login, request, out) == ClientLoginStatus::FAILED);
		ck_assert_string(login.failure().message,
				 "mysql_clear_password needs the password, but only its SHA1 is known");
	}
	{
		/* Offered from the start. */
		ClientLoginParams params = secret_params();
		params.allow_clear_password = true;
		params.initial_plugin = MYSQL_CLEAR_PASSWORD;
		ClientLogin login(params);
		Bytes out;
		const HandshakeResponse41 response = respond_to_greeting(login, out);
		ck_assert(packet_test::same(response.auth_response, from_hex("73656372657400")));
	}
}
END_TEST

START_TEST(test_unsupported_plugins)
{
	struct Case {
		Bytes request;
		std::string message;
	};
	const Case cases[] = {
		{switch_request("sha256_password", "01234567890123456789"),
		 "the server asks for the unsupported auth plugin 'sha256_password'"},
		{switch_request("client_ed25519", "0123456789abcdef0123456789abcde"),
		 "client_ed25519: the server's nonce is not 32 bytes"},
		{switch_request("bad\x01name\x7f", ""), "the server asks for the unsupported auth plugin 'bad?name?'"},
		{switch_request(std::string(100, 'p'), ""),
		 "the server asks for the unsupported auth plugin '" + std::string(64, 'p') + "...'"},
		{from_hex("fe"), "the server asks for the unsupported auth plugin 'mysql_old_password'"},
		{switch_request("mysql_native_password", "short"),
		 "mysql_native_password: the server's nonce is not 20 bytes"},
	};
	for (const Case &c : cases) {
		ClientLogin login(secret_params());
		Bytes out;
		ck_assert(after_switch(login, c.request, out) == ClientLoginStatus::FAILED);
		ck_assert(out.empty());
		ck_assert(login.failure().kind == ClientLoginFailure::Kind::PROTOCOL_ERROR);
		ck_assert_string(login.failure().message, c.message.c_str());
	}
}
END_TEST

START_TEST(test_unexpected_packets)
{
	struct Case {
		const char *payload;
		const char *message;
	};
	const Case cases[] = {
		{"", "an empty packet during authentication"},
		{"01", "unexpected AuthMoreData for auth plugin 'mysql_native_password'"},
		{"0104", "unexpected AuthMoreData for auth plugin 'mysql_native_password'"},
		{"05", "unexpected packet during authentication (header byte 5)"},
	};
	for (const Case &c : cases) {
		ClientLogin login(secret_params());
		Bytes out;
		(void)respond_to_greeting(login, out);
		out.clear();
		ck_assert(feed_hex(login, c.payload, 2, out) == ClientLoginStatus::FAILED);
		ck_assert(login.failure().kind == ClientLoginFailure::Kind::PROTOCOL_ERROR);
		ck_assert_string(login.failure().message, c.message);
	}

	/* A second AuthSwitchRequest. */
	ClientLoginParams params = secret_params();
	params.initial_plugin = "client_ed25519";
	ClientLogin login(params);
	Bytes out;
	(void)respond_to_greeting(login, out);
	ck_assert(feed_hex(login, SWITCH_TO_NATIVE, 2, out) == ClientLoginStatus::CONTINUE);
	ck_assert(feed_hex(login, SWITCH_TO_NATIVE, 4, out) == ClientLoginStatus::FAILED);
	ck_assert_string(login.failure().message, "a second AuthSwitchRequest");

	/* Anything after the end. */
	ClientLogin done(secret_params());
	Bytes more;
	(void)respond_to_greeting(done, more);
	ck_assert(feed_hex(done, OK_AUTOCOMMIT, 2, more) == ClientLoginStatus::SUCCEEDED);
	ck_assert(feed_hex(done, OK_AUTOCOMMIT, 3, more) == ClientLoginStatus::FAILED);
	ck_assert_string(done.failure().message, "a packet after the login was over");
}
END_TEST

START_TEST(test_sequence_ids)
{
	{
		ClientLogin login(secret_params());
		Bytes out;
		ck_assert(feed_hex(login, GREETING, 1, out) == ClientLoginStatus::FAILED);
		ck_assert(out.empty());
		ck_assert_string(login.failure().message, "packet sequence id 1 where 0 was expected");
	}
	{
		ClientLogin login(secret_params());
		Bytes out;
		(void)respond_to_greeting(login, out);
		ck_assert(feed_hex(login, OK_AUTOCOMMIT, 0, out) == ClientLoginStatus::FAILED);
		ck_assert_string(login.failure().message, "packet sequence id 0 where 2 was expected");
	}
}
END_TEST

START_TEST(test_err_instead_of_greeting)
{
	Bytes err;
	build_handshake_err_packet(err, ER_HOST_IS_BLOCKED, "Host '10.0.0.1' is blocked");
	ClientLogin login(secret_params());
	Bytes out;
	ck_assert(login.feed(err, 0, out) == ClientLoginStatus::FAILED);
	ck_assert(out.empty());
	const ClientLoginFailure &failure = login.failure();
	ck_assert(failure.kind == ClientLoginFailure::Kind::SERVER_ERROR);
	ck_assert_uint_eq(failure.error_code, 1129);
	ck_assert(failure.sql_state.empty());
	ck_assert_string(failure.message, "Host '10.0.0.1' is blocked");

	/* A broken ERR is a parse error. */
	ClientLogin broken(secret_params());
	ck_assert(feed_hex(broken, "ff15", 0, out) == ClientLoginStatus::FAILED);
	ck_assert(broken.failure().kind == ClientLoginFailure::Kind::PARSE_ERROR);
	ck_assert_string(broken.failure().message, "ERR: error code past end");
}
END_TEST

static Bytes greeting_with(std::uint32_t capabilities, std::size_t scramble_length)
{
	const Bytes scramble(scramble_length, 'n');
	HandshakeV10Params params;
	params.server_version = "8.0.99";
	params.connection_id = 42;
	params.scramble = scramble;
	params.capabilities = capabilities;
	params.character_set = 45;
	params.status_flags = SERVER_STATUS_AUTOCOMMIT;
	if (capabilities & CLIENT_PLUGIN_AUTH)
		params.auth_plugin_name = MYSQL_NATIVE_PASSWORD;
	Bytes payload;
	ck_assert(build_handshake_v10(payload, params));
	return payload;
}

START_TEST(test_server_capabilities)
{
	const std::uint32_t full = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION |
		CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_WITH_DB | CLIENT_TRANSACTIONS;
	{
		/* No protocol 4.1. */
		ClientLogin login(secret_params());
		Bytes out;
		ck_assert(login.feed(greeting_with(CLIENT_LONG_PASSWORD | CLIENT_SECURE_CONNECTION, 20), 0, out) ==
			  ClientLoginStatus::FAILED);
		ck_assert_string(login.failure().message,
				 "the server does not speak protocol 4.1 (no CLIENT_PROTOCOL_41)");
	}
	{
		/* Only what both sides have; no CLIENT_DEPRECATE_EOF from this server. */
		ClientLogin login(secret_params());
		Bytes out;
		ck_assert(login.feed(greeting_with(full, 20), 0, out) == ClientLoginStatus::CONTINUE);
		auto response = parse_handshake_response41(packets_of(out)[0].payload);
		ck_assert(response.ok());
		ck_assert_uint_eq(response->capabilities,
				  CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_TRANSACTIONS);
		out.clear();
		ck_assert(feed_hex(login, "0000000200", 2, out) == ClientLoginStatus::FAILED);
		ck_assert(login.failure().kind == ClientLoginFailure::Kind::PARSE_ERROR);
	}
	{
		/* A database, but the server cannot take one at login. */
		ClientLoginParams params = secret_params();
		params.database = "d1";
		ClientLogin login(params);
		Bytes out;
		ck_assert(login.feed(greeting_with(full & ~CLIENT_CONNECT_WITH_DB, 20), 0, out) ==
			  ClientLoginStatus::FAILED);
		ck_assert_string(login.failure().message,
				 "the server does not accept a database at login (no CLIENT_CONNECT_WITH_DB)");
	}
	{
		/* Another initial plugin, but the server cannot switch us. */
		ClientLoginParams params = secret_params();
		params.initial_plugin = "client_ed25519";
		ClientLogin login(params);
		Bytes out;
		ck_assert(login.feed(greeting_with(full & ~CLIENT_PLUGIN_AUTH, 20), 0, out) == ClientLoginStatus::FAILED);
		ck_assert_string(login.failure().message, "the server cannot switch auth plugins (no CLIENT_PLUGIN_AUTH)");
	}
}
END_TEST

START_TEST(test_unencodable_params)
{
	ClientLoginParams params = secret_params();
	params.user = std::string_view("na\0t", 4);
	ClientLogin login(params);
	Bytes out = {1, 2, 3};
	ck_assert(feed_hex(login, GREETING, 0, out) == ClientLoginStatus::FAILED);
	ck_assert_uint_eq(out.size(), 3);
	ck_assert(login.failure().kind == ClientLoginFailure::Kind::PROTOCOL_ERROR);
}
END_TEST

/* Every proper prefix of each server packet: a clean failure or a valid step, never a crash. */
/* GREETING from a server with TLS (CLIENT_SSL added to the captured capabilities). */
static std::string tls_greeting()
{
	std::string greeting = GREETING;
	const std::size_t at = greeting.find("00fef708");
	ck_assert(at != std::string::npos);
	greeting.replace(at, 8, "00feff08");
	return greeting;
}

START_TEST(test_ssl_request)
{
	ClientLoginParams params = secret_params();
	params.ssl = true;
	ClientLogin login(params);
	Bytes out;
	const std::string greeting = tls_greeting();
	ck_assert(feed_hex(login, greeting.c_str(), 0, out) == ClientLoginStatus::START_TLS);
	auto packets = packets_of(out);
	ck_assert_uint_eq(packets.size(), 1);
	ck_assert_uint_eq(packets[0].header.sequence_id, 1);
	ck_assert_uint_eq(packets[0].payload.size(), SSL_REQUEST_LENGTH);
	auto request = parse_handshake_response41(packets[0].payload);
	ck_assert(request.ok());
	ck_assert(request->is_ssl_request);
	ck_assert_uint_eq(request->capabilities, WANTED | CLIENT_LOGIN_REQUIRED_CAPABILITIES | CLIENT_SSL);
	ck_assert(!login.secure_transport());

	out.clear();
	ck_assert(login.tls_established(out) == ClientLoginStatus::CONTINUE);
	ck_assert(login.secure_transport());
	packets = packets_of(out);
	ck_assert_uint_eq(packets.size(), 1);
	ck_assert_uint_eq(packets[0].header.sequence_id, 2);
	auto response = parse_handshake_response41(packets[0].payload);
	ck_assert(response.ok());
	ck_assert(!response->is_ssl_request);
	ck_assert_string(std::string(response->user), "nat");
	ck_assert(packet_test::same(response->auth_response, from_hex(SCRAMBLE_SECRET)));
	ck_assert_uint_eq(response->capabilities & CLIENT_SSL, CLIENT_SSL);

	out.clear();
	ck_assert(feed_hex(login, OK_AUTOCOMMIT, 3, out) == ClientLoginStatus::SUCCEEDED);
	ck_assert_uint_eq(login.success().capabilities & CLIENT_SSL, CLIENT_SSL);
}
END_TEST

/* ssl, but no CLIENT_SSL in the greeting: nothing is sent, least of all the login. */
START_TEST(test_ssl_unavailable)
{
	ClientLoginParams params = secret_params();
	params.ssl = true;
	ClientLogin login(params);
	Bytes out;
	ck_assert(feed_hex(login, GREETING, 0, out) == ClientLoginStatus::FAILED);
	ck_assert(login.failure().kind == ClientLoginFailure::Kind::TLS_UNAVAILABLE);
	ck_assert(out.empty());

	/* Packets while TLS is being set up, tls_established() without START_TLS. */
	ClientLogin early(params);
	const std::string greeting = tls_greeting();
	ck_assert(feed_hex(early, greeting.c_str(), 0, out) == ClientLoginStatus::START_TLS);
	out.clear();
	ck_assert(feed_hex(early, OK_AUTOCOMMIT, 2, out) == ClientLoginStatus::FAILED);
	ck_assert_string(early.failure().message, "a packet before the TLS handshake was done");
	ck_assert(out.empty());
	ClientLogin plain(secret_params());
	ck_assert(plain.tls_established(out) == ClientLoginStatus::FAILED);

	/* A caller's CLIENT_SSL alone never starts TLS. */
	ClientLoginParams flagged = secret_params();
	flagged.capabilities |= CLIENT_SSL;
	ClientLogin no_tls(flagged);
	const HandshakeResponse41 response = respond_to_greeting(no_tls, out, greeting.c_str());
	ck_assert_uint_eq(response.capabilities & CLIENT_SSL, 0);
	ck_assert(!no_tls.secure_transport());
}
END_TEST

START_TEST(test_truncated_server_packets)
{
	const Bytes greeting = from_hex(GREETING);
	for (std::size_t n = 0; n < greeting.size(); ++n) {
		ClientLogin login(secret_params());
		Bytes out;
		const Bytes prefix(greeting.begin(), greeting.begin() + std::ptrdiff_t(n));
		const ClientLoginStatus status = login.feed(prefix, 0, out);
		if (status == ClientLoginStatus::FAILED) {
			ck_assert(login.failure().kind == ClientLoginFailure::Kind::PARSE_ERROR);
			ck_assert(out.empty());
		} else {
			/* Only the plugin name's NUL (or part of the name) may be missing. */
			ck_assert(status == ClientLoginStatus::CONTINUE);
			ck_assert_uint_ge(n, greeting.size() - 22);
		}
	}
	for (const char *reply : {OK_AUTOCOMMIT, ERR_ACCESS_DENIED, SWITCH_TO_NATIVE}) {
		const Bytes full = from_hex(reply);
		for (std::size_t n = 0; n < full.size(); ++n) {
			ClientLoginParams params = secret_params();
			params.initial_plugin = "client_ed25519";
			ClientLogin login(params);
			Bytes out;
			(void)respond_to_greeting(login, out);
			out.clear();
			const Bytes prefix(full.begin(), full.begin() + std::ptrdiff_t(n));
			const ClientLoginStatus status = login.feed(prefix, 2, out);
			ck_assert(status != ClientLoginStatus::SUCCEEDED);
			if (status == ClientLoginStatus::FAILED)
				ck_assert(out.empty());
		}
	}
}
END_TEST

static Suite *client_login_suite()
{
	Suite *s = suite_create("client_login");
	TCase *captured = tcase_create("captured");
	tcase_add_test(captured, test_native_login);
	tcase_add_test(captured, test_password_sha1_login);
	tcase_add_test(captured, test_empty_password);
	tcase_add_test(captured, test_wrong_password);
	tcase_add_test(captured, test_database_and_attributes);
	tcase_add_test(captured, test_switch_to_native);
	suite_add_tcase(s, captured);
	TCase *hostile = tcase_create("hostile");
	tcase_add_test(hostile, test_switch_to_clear_password);
	tcase_add_test(hostile, test_unsupported_plugins);
	tcase_add_test(hostile, test_unexpected_packets);
	tcase_add_test(hostile, test_sequence_ids);
	tcase_add_test(hostile, test_err_instead_of_greeting);
	tcase_add_test(hostile, test_server_capabilities);
	tcase_add_test(hostile, test_unencodable_params);
	tcase_add_test(hostile, test_truncated_server_packets);
	tcase_add_test(hostile, test_ssl_request);
	tcase_add_test(hostile, test_ssl_unavailable);
	suite_add_tcase(s, hostile);
	return s;
}

int main()
{
	return run_check_suites({client_login_suite()});
}
