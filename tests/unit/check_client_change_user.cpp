// Unit tests for ClientLogin::change_user (common/client_login): COM_CHANGE_USER toward a backend
// with every plugin a login speaks: mysql_native_password (checked by ServerLogin, the server
// machine), caching_sha2_password's fast and full paths, client_ed25519 after the server's switch,
// mysql_clear_password under the login's rules, and hostile replies.
#include "common/auth_switch.hpp"
#include "common/caching_sha2_password.hpp"
#include "common/change_user_packet.hpp"
#include "common/client_login.hpp"
#include "common/ed25519_password.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/native_password.hpp"
#include "tests/check_main.hpp"
#include "tests/unit/packet_test_util.hpp"

#include <string>
#include <vector>

using namespace myproxy;

using Bytes = std::vector<std::uint8_t>;

static const Bytes NONCE = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
static const Bytes OK_PACKET = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00};

static ClientLoginSuccess session(bool tls = false)
{
	ClientLoginSuccess s;
	s.server_version = "10.11.19-MariaDB";
	s.capabilities = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS |
			 CLIENT_CONNECT_WITH_DB | CLIENT_TRANSACTIONS;
	s.auth_plugin = MYSQL_NATIVE_PASSWORD;
	s.nonce = NONCE;
	s.tls = tls;
	return s;
}

static ClientLoginParams bob(std::string_view plugin)
{
	ClientLoginParams params;
	params.user = "bob";
	params.password = "secret";
	params.database = "books";
	params.initial_plugin = plugin;
	return params;
}

/* The one packet in @out: its sequence id and the parsed COM_CHANGE_USER. */
static ChangeUserCommand sent_command(const Bytes &out)
{
	Packet packet;
	PacketIterator it(out);
	ck_assert(it.next(packet));
	ck_assert(it.remaining().empty());
	ck_assert_uint_eq(packet.header.sequence_id, 0);
	auto command = parse_change_user(packet.payload, session().capabilities);
	ck_assert_msg(command.ok(), "%s", command.ok() ? "" : command.error().what);
	return *command;
}

static Bytes only_payload(const Bytes &out, std::uint8_t sequence_id)
{
	Packet packet;
	PacketIterator it(out);
	ck_assert(it.next(packet));
	ck_assert_uint_eq(packet.header.sequence_id, sequence_id);
	return Bytes(packet.payload.begin(), packet.payload.end());
}

START_TEST(test_native)
{
	ClientLogin login(bob(MYSQL_NATIVE_PASSWORD));
	Bytes out;
	ck_assert(login.change_user(session(), out) == ClientLoginStatus::CONTINUE);
	const Bytes copy = out;
	const ChangeUserCommand command = sent_command(copy);
	ck_assert(command.user == "bob" && command.database == "books");
	ck_assert(command.auth_plugin_name == MYSQL_NATIVE_PASSWORD);
	const auto stored = native_password_stored_hash("secret");
	ck_assert(native_password_verify(*stored, NONCE, command.auth_response).has_value());
	out.clear();
	ck_assert(login.feed(OK_PACKET, 1, out) == ClientLoginStatus::SUCCEEDED);
	ck_assert(out.empty());
	ck_assert(login.success().server_version == "10.11.19-MariaDB");
	ck_assert(login.success().auth_plugin == MYSQL_NATIVE_PASSWORD);
	ck_assert(login.success().nonce == NONCE);

	/* With only SHA1(password), as a verified script hands it on. */
	ClientLoginParams sha1_only = bob(MYSQL_NATIVE_PASSWORD);
	sha1_only.password = {};
	sha1_only.password_sha1 = native_password_sha1("secret");
	ClientLogin from_sha1(sha1_only);
	out.clear();
	ck_assert(from_sha1.change_user(session(), out) == ClientLoginStatus::CONTINUE);
	ck_assert(native_password_verify(*stored, NONCE, sent_command(out).auth_response).has_value());
}
END_TEST

START_TEST(test_caching_sha2_fast_and_full)
{
	ClientLogin login(bob(CACHING_SHA2_PASSWORD));
	Bytes out;
	ck_assert(login.change_user(session(), out) == ClientLoginStatus::CONTINUE);
	const auto stored = caching_sha2_stored_hash("secret");
	ck_assert(caching_sha2_verify(*stored, NONCE, sent_command(out).auth_response));
	/* Fast path. */
	out.clear();
	const Bytes fast_ok = {AUTH_MORE_DATA_HEADER, CACHING_SHA2_FAST_AUTH_SUCCESS};
	ck_assert(login.feed(fast_ok, 1, out) == ClientLoginStatus::CONTINUE);
	ck_assert(out.empty());
	ck_assert(login.feed(OK_PACKET, 2, out) == ClientLoginStatus::SUCCEEDED);

	/* Full path over TLS: the password as it is. */
	ClientLogin full(bob(CACHING_SHA2_PASSWORD));
	out.clear();
	ck_assert(full.change_user(session(true), out) == ClientLoginStatus::CONTINUE);
	out.clear();
	const Bytes full_auth = {AUTH_MORE_DATA_HEADER, CACHING_SHA2_PERFORM_FULL_AUTH};
	ck_assert(full.feed(full_auth, 1, out) == ClientLoginStatus::CONTINUE);
	ck_assert(only_payload(out, 2) == packet_test::bytes_of(std::string_view("secret\0", 7)));
	out.clear();
	ck_assert(full.feed(OK_PACKET, 3, out) == ClientLoginStatus::SUCCEEDED);
	ck_assert(full.success().tls);

	/* Full path in the open: the server's key is asked for. */
	ClientLogin open(bob(CACHING_SHA2_PASSWORD));
	out.clear();
	ck_assert(open.change_user(session(), out) == ClientLoginStatus::CONTINUE);
	out.clear();
	ck_assert(open.feed(full_auth, 1, out) == ClientLoginStatus::CONTINUE);
	ck_assert(only_payload(out, 2) == Bytes{CACHING_SHA2_REQUEST_PUBLIC_KEY});
}
END_TEST

START_TEST(test_ed25519_after_switch)
{
	ClientLogin login(bob(CLIENT_ED25519));
	Bytes out;
	ck_assert(login.change_user(session(), out) == ClientLoginStatus::CONTINUE);
	const ChangeUserCommand command = sent_command(out);
	ck_assert(command.auth_plugin_name == CLIENT_ED25519);
	ck_assert_uint_eq(command.auth_response.size(), 0);
	/* The server's switch carries a 32-byte nonce; the answer is the signature. */
	const Bytes ed_nonce(32, 0x5A);
	Bytes request;
	build_auth_switch_request(request, CLIENT_ED25519, ed_nonce);
	out.clear();
	ck_assert(login.feed(request, 1, out) == ClientLoginStatus::CONTINUE);
	const Bytes signature = only_payload(out, 2);
	const auto expected = ed25519_password_sign("secret", ed_nonce);
	ck_assert(expected && Bytes(expected->begin(), expected->end()) == signature);
	out.clear();
	ck_assert(login.feed(OK_PACKET, 3, out) == ClientLoginStatus::SUCCEEDED);
	ck_assert(login.success().auth_switched);
	ck_assert(login.success().auth_plugin == CLIENT_ED25519);
}
END_TEST

START_TEST(test_clear_password_rules)
{
	/* Neither TLS, nor a local socket, nor allow_cleartext: refused before anything is sent. */
	ClientLogin refused(bob(MYSQL_CLEAR_PASSWORD));
	Bytes out;
	ck_assert(refused.change_user(session(), out) == ClientLoginStatus::FAILED);
	ck_assert(out.empty());
	/* A switch to it is refused as at login. */
	ClientLogin switched(bob(MYSQL_NATIVE_PASSWORD));
	ck_assert(switched.change_user(session(), out) == ClientLoginStatus::CONTINUE);
	Bytes request;
	build_auth_switch_request(request, MYSQL_CLEAR_PASSWORD, {});
	out.clear();
	ck_assert(switched.feed(request, 1, out) == ClientLoginStatus::FAILED);
	ck_assert(out.empty());
	/* Over TLS it goes. */
	ClientLogin allowed(bob(MYSQL_CLEAR_PASSWORD));
	ck_assert(allowed.change_user(session(true), out) == ClientLoginStatus::CONTINUE);
	ck_assert(ByteReader::as_string(sent_command(out).auth_response) == std::string_view("secret\0", 7));
}
END_TEST

START_TEST(test_hostile_replies)
{
	/* The server's ERR is relayed as it is. */
	ClientLogin login(bob(MYSQL_NATIVE_PASSWORD));
	Bytes out;
	ck_assert(login.change_user(session(), out) == ClientLoginStatus::CONTINUE);
	Bytes err = {0xFF, 0x15, 0x04, '#', '2', '8', '0', '0', '0', 'n', 'o'};
	out.clear();
	ck_assert(login.feed(err, 1, out) == ClientLoginStatus::FAILED);
	ck_assert(login.failure().kind == ClientLoginFailure::Kind::SERVER_ERROR);
	ck_assert_uint_eq(login.failure().error_code, 1045);
	/* Wrong sequence id, an unknown plugin, a second switch. */
	ClientLogin wrong_id(bob(MYSQL_NATIVE_PASSWORD));
	ck_assert(wrong_id.change_user(session(), out) == ClientLoginStatus::CONTINUE);
	ck_assert(wrong_id.feed(OK_PACKET, 0, out) == ClientLoginStatus::FAILED);
	ClientLogin unknown(bob(MYSQL_NATIVE_PASSWORD));
	ck_assert(unknown.change_user(session(), out) == ClientLoginStatus::CONTINUE);
	Bytes request;
	build_auth_switch_request(request, "dialog", NONCE);
	out.clear();
	ck_assert(unknown.feed(request, 1, out) == ClientLoginStatus::FAILED);
	ck_assert(out.empty());
	ClientLogin twice(bob(MYSQL_NATIVE_PASSWORD));
	ck_assert(twice.change_user(session(), out) == ClientLoginStatus::CONTINUE);
	request.clear();
	build_auth_switch_request(request, MYSQL_NATIVE_PASSWORD, NONCE);
	out.clear();
	ck_assert(twice.feed(request, 1, out) == ClientLoginStatus::CONTINUE);
	ck_assert(twice.feed(request, 3, out) == ClientLoginStatus::FAILED);
	/* A session without plugin auth, and a change_user() on a login that has begun. */
	ClientLoginSuccess old = session();
	old.capabilities &= ~CLIENT_PLUGIN_AUTH;
	ClientLogin no_plugin(bob(MYSQL_NATIVE_PASSWORD));
	ck_assert(no_plugin.change_user(old, out) == ClientLoginStatus::FAILED);
	ClientLogin again(bob(MYSQL_NATIVE_PASSWORD));
	ck_assert(again.change_user(session(), out) == ClientLoginStatus::CONTINUE);
	ck_assert(again.change_user(session(), out) == ClientLoginStatus::FAILED);
	/* Every truncated OK or switch: refused or waiting, never SUCCEEDED on a broken packet. */
	for (std::size_t length = 0; length < request.size(); ++length) {
		ClientLogin cut(bob(MYSQL_NATIVE_PASSWORD));
		Bytes sink;
		(void)cut.change_user(session(), sink);
		const Bytes prefix(request.begin(), request.begin() + std::ptrdiff_t(length));
		ck_assert(cut.feed(prefix, 1, sink) != ClientLoginStatus::SUCCEEDED);
	}
}
END_TEST

static Suite *client_change_user_suite()
{
	Suite *s = suite_create("client_change_user");
	TCase *plugins = tcase_create("plugins");
	tcase_add_test(plugins, test_native);
	tcase_add_test(plugins, test_caching_sha2_fast_and_full);
	tcase_add_test(plugins, test_ed25519_after_switch);
	tcase_add_test(plugins, test_clear_password_rules);
	suite_add_tcase(s, plugins);
	TCase *hostile = tcase_create("hostile");
	tcase_add_test(hostile, test_hostile_replies);
	suite_add_tcase(s, hostile);
	return s;
}

int main()
{
	return run_check_suites({client_change_user_suite()});
}
