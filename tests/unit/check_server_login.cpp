// Unit tests for common/server_login: ClientLogin (myproxy's own client machine) logs in to it with
// every plugin and path (clear, native, caching_sha2_password fast and full over a private transport
// or RSA, a plugin switch, TLS, COM_CHANGE_USER), and hostile clients: truncation at every byte,
// oversized lengths, wrong sequence ids, a second HandshakeResponse41, unknown plugins.  The script
// is played by the test: it accepts "secret" only, checking scrambles as verify_*() would.
#include "common/auth_switch.hpp"
#include "common/caching_sha2_password.hpp"
#include "common/change_user_packet.hpp"
#include "common/client_login.hpp"
#include "common/err_packet.hpp"
#include "common/handshake_response41.hpp"
#include "common/handshake_v10.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/native_password.hpp"
#include "common/server_login.hpp"
#include "tests/check_main.hpp"
#include "tests/unit/packet_test_util.hpp"

#include <string>
#include <vector>

using namespace myproxy;

using Bytes = std::vector<std::uint8_t>;

static constexpr std::uint32_t OFFERED = CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB |
	CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS |
	CLIENT_MULTI_RESULTS | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
	CLIENT_DEPRECATE_EOF;
static constexpr std::array<std::uint8_t, 20> NONCE = {0x64, 0x7e, 0x6d, 0x28, 0x7d, 0x5f, 0x44, 0x76, 0x44, 0x33,
						      0x6f, 0x58, 0x4a, 0x4a, 0x72, 0x24, 0x55, 0x61, 0x67, 0x60};
static constexpr ClientAuthPlugin ALL_PLUGINS[] = {ClientAuthPlugin::clear_password,
						   ClientAuthPlugin::native_password,
						   ClientAuthPlugin::caching_sha2_password};

static const RsaKeyPair &test_key()
{
	static const RsaKeyPair key = [] {
		std::string problem;
		auto pair = generate_rsa_key_pair(2048, problem);
		ck_assert_msg(pair.has_value(), "%s", problem.c_str());
		return *pair;
	}();
	return key;
}

static ServerLoginParams server_params(std::span<const ClientAuthPlugin> plugins)
{
	ServerLoginParams params;
	params.plugins = plugins;
	params.rsa = &test_key();
	params.server_version = "10.11.99-MariaDB-myproxy";
	params.connection_id = 7;
	params.nonce = NONCE;
	params.capabilities = OFFERED;
	return params;
}

/* The script: "secret" as a password, or a scramble of it that verifies. */
static ScriptDecision judge(const ServerLoginCredentials &c)
{
	ScriptDecision decision;
	decision.verdict = ScriptDecision::Verdict::refuse;
	decision.message = "Access denied for the test";
	if (c.password) {
		if (*c.password == "secret")
			decision.verdict = ScriptDecision::Verdict::connect;
		return decision;
	}
	if (c.verify == ServerLoginCredentials::Verify::native_password) {
		const auto stored = native_password_stored_hash("secret");
		if (native_password_verify(*stored, c.nonce, c.scramble))
			decision = {ScriptDecision::Verdict::connect, true, {}};
	} else if (c.verify == ServerLoginCredentials::Verify::caching_sha2_password) {
		const auto stored = caching_sha2_stored_hash("secret");
		if (caching_sha2_verify(*stored, c.nonce, c.scramble))
			decision = {ScriptDecision::Verdict::connect, true, {}};
		else
			decision.verdict = ScriptDecision::Verdict::pass; /* ask for the password */
	}
	return decision;
}

/* Runs ClientLogin against ServerLogin until one side ends.  TLS is pretended (both told it is up). */
struct Conversation {
	ServerLogin server;
	ClientLogin client;
	int script_runs = 0;
	bool tls_started = false;
	ServerLoginStatus server_status = ServerLoginStatus::CONTINUE;
	ClientLoginStatus client_status = ClientLoginStatus::CONTINUE;

	Conversation(const ServerLoginParams &s, const ClientLoginParams &c) : server(s), client(c) {}

	/* Delivers every packet of @bytes to the client; false when it is done. */
	bool to_client(const Bytes &bytes, Bytes &reply)
	{
		PacketIterator it(bytes);
		Packet packet;
		while (it.next(packet)) {
			client_status = client.feed(packet.payload, packet.header.sequence_id, reply);
			if (client_status == ClientLoginStatus::START_TLS) {
				tls_started = true;
				ck_assert(server_deliver(reply));
				ck_assert(server_status == ServerLoginStatus::START_TLS);
				ck_assert(server.tls_established() == ServerLoginStatus::CONTINUE);
				reply.clear();
				client_status = client.tls_established(reply);
			}
			if (client_status == ClientLoginStatus::FAILED || client_status == ClientLoginStatus::SUCCEEDED)
				return false;
		}
		return true;
	}

	/* Delivers every packet of @bytes to the server, running the script when asked; the server's
	 * answers pile up in pending. */
	Bytes pending;
	bool server_deliver(const Bytes &bytes)
	{
		PacketIterator it(bytes);
		Packet packet;
		while (it.next(packet)) {
			server_status = server.feed(packet.payload, packet.header.sequence_id, pending);
			while (server_status == ServerLoginStatus::ASK_SCRIPT) {
				++script_runs;
				server_status = server.script_decided(judge(server.credentials()), pending);
			}
		}
		return true;
	}

	/* The whole login; the final OK is what the session would send after the backend login. */
	void run()
	{
		ck_assert(server.greeting(pending) == ServerLoginStatus::CONTINUE);
		for (int round = 0; round < 10; ++round) {
			Bytes to_client_bytes;
			to_client_bytes.swap(pending);
			if (server_status == ServerLoginStatus::AUTHENTICATED) {
				std::uint8_t id = server.next_sequence_id();
				const std::size_t start = begin_packet(to_client_bytes);
				to_client_bytes.insert(to_client_bytes.end(), {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00});
				finish_packet(to_client_bytes, start, id);
			}
			Bytes reply;
			if (!to_client(to_client_bytes, reply))
				return;
			if (server_status == ServerLoginStatus::FAILED)
				return;
			server_deliver(reply);
		}
		ck_abort_msg("the login did not end");
	}
};

static ClientLoginParams client_params(std::string_view plugin, std::string_view password = "secret")
{
	ClientLoginParams params;
	params.user = "alice";
	params.password = password;
	params.database = "shop";
	params.initial_plugin = plugin;
	params.capabilities = CLIENT_DEPRECATE_EOF | CLIENT_MULTI_STATEMENTS;
	return params;
}

static void expect_login(std::span<const ClientAuthPlugin> offered, std::string_view client_plugin,
			 std::string_view password, bool accepted, int script_runs, bool local = false, bool ssl = false)
{
	ServerLoginParams s = server_params(offered);
	s.local_transport = local;
	s.tls_offered = ssl;
	ClientLoginParams c = client_params(client_plugin, password);
	c.secure_transport = local;
	c.allow_clear_password = true;
	c.ssl = ssl;
	Conversation conversation(s, c);
	conversation.run();
	if (accepted) {
		ck_assert_msg(conversation.client_status == ClientLoginStatus::SUCCEEDED, "client: %s",
			      conversation.client.failure().message.c_str());
		ck_assert(conversation.server.authenticated());
	} else {
		ck_assert(!conversation.server.authenticated());
		ck_assert(conversation.client_status == ClientLoginStatus::FAILED);
		ck_assert_uint_eq(conversation.client.failure().error_code, ER_ACCESS_DENIED.code);
	}
	ck_assert_int_eq(conversation.script_runs, script_runs);
	ck_assert(conversation.tls_started == ssl);
}

START_TEST(test_every_plugin_logs_in)
{
	const ClientAuthPlugin clear[] = {ClientAuthPlugin::clear_password};
	const ClientAuthPlugin native[] = {ClientAuthPlugin::native_password};
	const ClientAuthPlugin sha2[] = {ClientAuthPlugin::caching_sha2_password};
	/* The client names the plugin the server offers. */
	expect_login(clear, MYSQL_CLEAR_PASSWORD, "secret", true, 1);
	expect_login(native, MYSQL_NATIVE_PASSWORD, "secret", true, 1);
	expect_login(native, MYSQL_NATIVE_PASSWORD, "wrong", false, 1);
	/* caching_sha2_password: the fast path, then the full path after a wrong scramble. */
	expect_login(sha2, CACHING_SHA2_PASSWORD, "secret", true, 1);
	expect_login(sha2, CACHING_SHA2_PASSWORD, "wrong", false, 2);
	/* The full path over a local socket (password as it is) and over TLS. */
	expect_login(sha2, CACHING_SHA2_PASSWORD, "wrong", false, 2, true);
	expect_login(sha2, CACHING_SHA2_PASSWORD, "wrong", false, 2, false, true);
	/* An empty caching_sha2_password response: the empty password, no full path. */
	expect_login(sha2, CACHING_SHA2_PASSWORD, "", false, 1);
}
END_TEST

START_TEST(test_switches)
{
	const ClientAuthPlugin clear[] = {ClientAuthPlugin::clear_password};
	const ClientAuthPlugin sha2[] = {ClientAuthPlugin::caching_sha2_password};
	const ClientAuthPlugin native_first[] = {ClientAuthPlugin::native_password, ClientAuthPlugin::clear_password};
	/* A client on another plugin is switched to the first one offered. */
	expect_login(clear, MYSQL_NATIVE_PASSWORD, "secret", true, 1);
	expect_login(native_first, CACHING_SHA2_PASSWORD, "secret", true, 1);
	expect_login(native_first, "client_ed25519", "wrong", false, 1);
	expect_login(sha2, MYSQL_NATIVE_PASSWORD, "secret", true, 1);
	/* Full path after a switch, with the RSA key fetched from the server. */
	expect_login(sha2, MYSQL_NATIVE_PASSWORD, "wrong", false, 2);
	/* A listener offering all three keeps the client's choice. */
	expect_login(ALL_PLUGINS, MYSQL_NATIVE_PASSWORD, "secret", true, 1);
	expect_login(ALL_PLUGINS, CACHING_SHA2_PASSWORD, "secret", true, 1);
	expect_login(ALL_PLUGINS, MYSQL_CLEAR_PASSWORD, "secret", true, 1);
	/* TLS first, then the switch. */
	expect_login(clear, MYSQL_NATIVE_PASSWORD, "secret", true, 1, false, true);
}
END_TEST

START_TEST(test_credentials_shown)
{
	const ClientAuthPlugin native[] = {ClientAuthPlugin::native_password};
	ServerLogin server(server_params(native));
	Bytes out;
	ck_assert(server.greeting(out) == ServerLoginStatus::CONTINUE);
	ClientLoginParams c = client_params(MYSQL_NATIVE_PASSWORD);
	const ConnectAttr attrs[] = {{"_client_name", "unit"}};
	c.attrs = attrs;
	ClientLogin client(c);
	Bytes response;
	Packet greeting;
	PacketIterator(out).next(greeting);
	ck_assert(client.feed(greeting.payload, 0, response) == ClientLoginStatus::CONTINUE);
	Packet packet;
	PacketIterator(response).next(packet);
	Bytes answer;
	ck_assert(server.feed(packet.payload, packet.header.sequence_id, answer) == ServerLoginStatus::ASK_SCRIPT);
	ck_assert(answer.empty());
	const ServerLoginCredentials &shown = server.credentials();
	ck_assert(shown.user == "alice");
	ck_assert(shown.database == "shop");
	ck_assert(shown.auth_plugin == MYSQL_NATIVE_PASSWORD);
	ck_assert(!shown.password);
	ck_assert(shown.verify == ServerLoginCredentials::Verify::native_password);
	ck_assert_uint_eq(shown.scramble.size(), 20);
	auto parsed = parse_connect_attrs(shown.attrs);
	ck_assert(parsed && parsed->find("_client_name") == "unit");
	ck_assert(server.script_may_pass() == false);
	ck_assert(server.capabilities() & CLIENT_DEPRECATE_EOF);
	ck_assert(!(server.capabilities() & CLIENT_SSL));
	/* nil outside the fast path is a script failure. */
	ck_assert(server.script_decided({ScriptDecision::Verdict::pass, false, {}}, answer) == ServerLoginStatus::FAILED);
	Packet err_packet;
	PacketIterator(answer).next(err_packet);
	ck_assert_uint_eq(err_packet.header.sequence_id, 2);
	auto err = parse_err_packet(err_packet.payload, server.capabilities());
	ck_assert(err && err->error_code == ER_UNKNOWN_ERROR.code);
}
END_TEST

/* A fast-path scramble the script did not verify must never be answered with FAST_AUTH_SUCCESS. */
START_TEST(test_fast_path_needs_proof)
{
	const ClientAuthPlugin sha2[] = {ClientAuthPlugin::caching_sha2_password};
	ServerLogin server(server_params(sha2));
	Bytes out;
	(void)server.greeting(out);
	ClientLogin client(client_params(CACHING_SHA2_PASSWORD));
	Packet packet;
	PacketIterator(out).next(packet);
	Bytes response;
	(void)client.feed(packet.payload, 0, response);
	PacketIterator(response).next(packet);
	Bytes answer;
	ck_assert(server.feed(packet.payload, 1, answer) == ServerLoginStatus::ASK_SCRIPT);
	ck_assert(server.script_may_pass());
	ck_assert(server.credentials().verify == ServerLoginCredentials::Verify::caching_sha2_password);
	/* connect without proof: the full path, not success. */
	ck_assert(server.script_decided({ScriptDecision::Verdict::connect, false, {}}, answer) ==
		  ServerLoginStatus::CONTINUE);
	ck_assert(!server.authenticated());
	PacketIterator(answer).next(packet);
	ck_assert_uint_eq(packet.payload.size(), 2);
	ck_assert_uint_eq(packet.payload[1], CACHING_SHA2_PERFORM_FULL_AUTH);
	/* A garbage "encrypted" password over a public transport is refused. */
	const Bytes garbage(256, 0x41);
	answer.clear();
	ck_assert(server.feed(garbage, 3, answer) == ServerLoginStatus::FAILED);
	ck_assert_uint_eq(server.failure().error.code, ER_ACCESS_DENIED.code);
}
END_TEST

/* The HandshakeResponse41 of a real login with every optional field. */
static Bytes sample_response()
{
	ClientLoginParams c = client_params(MYSQL_NATIVE_PASSWORD);
	const ConnectAttr attrs[] = {{"_client_name", "unit"}, {"_pid", "42"}};
	c.attrs = attrs;
	const ClientAuthPlugin native[] = {ClientAuthPlugin::native_password};
	ServerLogin server(server_params(native));
	Bytes greeting;
	(void)server.greeting(greeting);
	ClientLogin client(c);
	Packet packet;
	PacketIterator(greeting).next(packet);
	Bytes response;
	(void)client.feed(packet.payload, 0, response);
	PacketIterator(response).next(packet);
	return Bytes(packet.payload.begin(), packet.payload.end());
}

static ServerLoginStatus feed_fresh(std::span<const ClientAuthPlugin> plugins, ByteSpan payload, std::uint8_t id,
				    Bytes &answer, ServerLoginParams *tweak = nullptr)
{
	ServerLoginParams params = tweak ? *tweak : server_params(plugins);
	ServerLogin server(params);
	Bytes greeting;
	(void)server.greeting(greeting);
	return server.feed(payload, id, answer);
}

/* Every prefix of a valid HandshakeResponse41 either asks the script with what it has or is a clean
 * "Bad handshake" with sequence id 2: never an authentication. */
START_TEST(test_truncated_response)
{
	const Bytes full = sample_response();
	std::size_t refused = 0;
	for (std::size_t length = 0; length < full.size(); ++length) {
		const Bytes prefix(full.begin(), full.begin() + std::ptrdiff_t(length));
		Bytes answer;
		const ServerLoginStatus status = feed_fresh(ALL_PLUGINS, prefix, 1, answer);
		ck_assert(status == ServerLoginStatus::FAILED || status == ServerLoginStatus::ASK_SCRIPT ||
			  status == ServerLoginStatus::CONTINUE);
		if (status == ServerLoginStatus::FAILED) {
			++refused;
			Packet packet;
			ck_assert(PacketIterator(answer).next(packet));
			ck_assert_uint_eq(packet.header.sequence_id, 2);
			ck_assert(parse_err_packet(packet.payload, CLIENT_PROTOCOL_41).ok());
		}
	}
	/* Everything up to the user's NUL at least is malformed. */
	ck_assert_uint_ge(refused, 33);
}
END_TEST

START_TEST(test_oversized_lengths)
{
	Bytes response = sample_response();
	/* The auth response's lenenc length (after the 32-byte fixed part and "alice\0") claims 16 MiB. */
	const std::size_t length_at = 32 + 6;
	ck_assert_uint_eq(response[length_at], 20);
	response[length_at] = 0xFD;
	response.insert(response.begin() + std::ptrdiff_t(length_at) + 1, {0xFF, 0xFF});
	Bytes answer;
	ck_assert(feed_fresh(ALL_PLUGINS, response, 1, answer) == ServerLoginStatus::FAILED);
	Packet packet;
	ck_assert(PacketIterator(answer).next(packet));
	auto err = parse_err_packet(packet.payload, CLIENT_PROTOCOL_41);
	ck_assert(err && err->error_code == ER_HANDSHAKE_ERROR.code);
	/* The attributes claim more than there is. */
	Bytes attrs_long = sample_response();
	const std::size_t attrs_at = attrs_long.size() - (1 + 12 + 1 + 4 + 1 + 4 + 1 + 2) - 1;
	ck_assert_uint_eq(attrs_long[attrs_at], 1 + 12 + 1 + 4 + 1 + 4 + 1 + 2);
	attrs_long[attrs_at] = 0xFC;
	attrs_long.insert(attrs_long.begin() + std::ptrdiff_t(attrs_at) + 1, {0xFF, 0x7F});
	answer.clear();
	ck_assert(feed_fresh(ALL_PLUGINS, attrs_long, 1, answer) == ServerLoginStatus::FAILED);
}
END_TEST

START_TEST(test_sequence_ids)
{
	const Bytes response = sample_response();
	Bytes answer;
	ck_assert(feed_fresh(ALL_PLUGINS, response, 0, answer) == ServerLoginStatus::FAILED);
	Packet packet;
	ck_assert(PacketIterator(answer).next(packet));
	ck_assert_uint_eq(packet.header.sequence_id, 1);
	answer.clear();
	ck_assert(feed_fresh(ALL_PLUGINS, response, 5, answer) == ServerLoginStatus::FAILED);
	ck_assert(PacketIterator(answer).next(packet));
	ck_assert_uint_eq(packet.header.sequence_id, 6);
}
END_TEST

START_TEST(test_second_response_and_out_of_turn)
{
	const ClientAuthPlugin clear[] = {ClientAuthPlugin::clear_password};
	ServerLogin server(server_params(clear));
	Bytes out;
	(void)server.greeting(out);
	ClientLoginParams c = client_params(MYSQL_CLEAR_PASSWORD);
	c.allow_clear_password = true;
	ClientLogin client(c);
	Packet packet;
	PacketIterator(out).next(packet);
	Bytes response;
	(void)client.feed(packet.payload, 0, response);
	PacketIterator(response).next(packet);
	const Bytes payload(packet.payload.begin(), packet.payload.end());
	Bytes answer;
	ck_assert(server.feed(payload, 1, answer) == ServerLoginStatus::ASK_SCRIPT);
	ck_assert(server.credentials().password == "secret");
	/* While the script runs, the client has no turn. */
	ck_assert(server.feed(payload, 2, answer) == ServerLoginStatus::FAILED);
	ck_assert(!server.authenticated());
	ck_assert(server.script_decided({ScriptDecision::Verdict::connect, false, {}}, answer) ==
		  ServerLoginStatus::FAILED);

	ServerLogin again(server_params(clear));
	(void)again.greeting(out);
	ck_assert(again.feed(payload, 1, answer) == ServerLoginStatus::ASK_SCRIPT);
	ck_assert(again.script_decided({ScriptDecision::Verdict::connect, false, {}}, answer) ==
		  ServerLoginStatus::AUTHENTICATED);
	/* A second HandshakeResponse41 after the login. */
	answer.clear();
	ck_assert(again.feed(payload, 3, answer) == ServerLoginStatus::FAILED);
	ck_assert(!again.authenticated());
	ck_assert(PacketIterator(answer).next(packet));
	ck_assert_uint_eq(packet.header.sequence_id, 4);
}
END_TEST

START_TEST(test_unknown_plugin_and_no_plugin_auth)
{
	/* An unknown plugin name: switched to the listener's first plugin. */
	ClientLoginParams c = client_params("dialog");
	ClientLogin client(c);
	const ClientAuthPlugin native[] = {ClientAuthPlugin::native_password};
	ServerLogin server(server_params(native));
	Bytes out;
	(void)server.greeting(out);
	Packet packet;
	PacketIterator(out).next(packet);
	Bytes response;
	(void)client.feed(packet.payload, 0, response);
	PacketIterator(response).next(packet);
	Bytes answer;
	ck_assert(server.feed(packet.payload, 1, answer) == ServerLoginStatus::CONTINUE);
	ck_assert(PacketIterator(answer).next(packet));
	auto request = parse_auth_switch_request(packet.payload);
	ck_assert(request && request->plugin_name == MYSQL_NATIVE_PASSWORD);
	ck_assert_uint_eq(request->plugin_data.size(), 20);

	/* Without CLIENT_PLUGIN_AUTH a client cannot be switched: refused. */
	HandshakeResponse41Params params;
	params.capabilities = OFFERED & ~(CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS | CLIENT_CONNECT_WITH_DB);
	params.user = "alice";
	Bytes old;
	ck_assert(build_handshake_response41(old, params));
	answer.clear();
	ck_assert(feed_fresh(native, old, 1, answer) == ServerLoginStatus::FAILED);
	PacketIterator(answer).next(packet);
	auto err = parse_err_packet(packet.payload, CLIENT_PROTOCOL_41);
	ck_assert(err && err->error_code == ER_NOT_SUPPORTED_AUTH_MODE.code);
}
END_TEST

START_TEST(test_tls_rules)
{
	const ClientAuthPlugin native[] = {ClientAuthPlugin::native_password};
	/* An SSLRequest to a listener without TLS. */
	HandshakeResponse41Params request;
	request.capabilities = CLIENT_PROTOCOL_41 | CLIENT_SSL;
	Bytes ssl_request;
	ck_assert(build_ssl_request(ssl_request, request));
	Bytes answer;
	ck_assert(feed_fresh(native, ssl_request, 1, answer) == ServerLoginStatus::FAILED);
	/* With TLS: START_TLS, then a second SSLRequest is a bad handshake. */
	ServerLoginParams params = server_params(native);
	params.tls_offered = true;
	ServerLogin server(params);
	Bytes out;
	(void)server.greeting(out);
	Packet packet;
	PacketIterator(out).next(packet);
	auto greeting = parse_handshake_v10(packet.payload);
	ck_assert(greeting && (greeting->capabilities & CLIENT_SSL));
	ck_assert(server.feed(ssl_request, 1, answer) == ServerLoginStatus::START_TLS);
	ck_assert(server.in_tls_handshake());
	ck_assert(server.feed(ssl_request, 2, answer) == ServerLoginStatus::FAILED);
	/* require_ssl: a response without TLS is refused. */
	params.tls_required = true;
	answer.clear();
	ck_assert(feed_fresh(native, sample_response(), 1, answer, &params) == ServerLoginStatus::FAILED);
	PacketIterator(answer).next(packet);
	auto err = parse_err_packet(packet.payload, CLIENT_PROTOCOL_41);
	ck_assert(err && err->error_code == ER_ACCESS_DENIED.code);
}
END_TEST

/* An established session and a COM_CHANGE_USER for @plugin with @auth; returns the status. */
static ServerLoginStatus change_user_on(ServerLogin &server, std::string_view plugin, ByteSpan auth, Bytes &answer)
{
	ClientLoginParams c = client_params(MYSQL_CLEAR_PASSWORD);
	c.allow_clear_password = true;
	ClientLogin client(c);
	Bytes out;
	(void)server.greeting(out);
	Packet packet;
	PacketIterator(out).next(packet);
	Bytes response;
	(void)client.feed(packet.payload, 0, response);
	PacketIterator(response).next(packet);
	ck_assert(server.feed(packet.payload, 1, answer) == ServerLoginStatus::ASK_SCRIPT);
	ck_assert(server.script_decided(judge(server.credentials()), answer) == ServerLoginStatus::AUTHENTICATED);
	Bytes command;
	ChangeUserParams params;
	params.user = "bob";
	params.auth_response = auth;
	params.database = "books";
	params.character_set = 45;
	params.auth_plugin_name = plugin;
	ck_assert(build_change_user(command, params, server.capabilities()));
	return server.change_user(command, 0, answer);
}

START_TEST(test_change_user)
{
	const ClientAuthPlugin both[] = {ClientAuthPlugin::clear_password, ClientAuthPlugin::native_password};
	/* mysql_clear_password: the script sees the password. */
	{
		ServerLogin server(server_params(both));
		Bytes answer;
		const Bytes secret = packet_test::bytes_of(std::string_view("secret\0", 7));
		ck_assert(change_user_on(server, MYSQL_CLEAR_PASSWORD, secret, answer) == ServerLoginStatus::ASK_SCRIPT);
		ck_assert(server.credentials().change_user);
		ck_assert(server.credentials().user == "bob");
		ck_assert(server.credentials().database == "books");
		ck_assert(server.credentials().password == "secret");
		ck_assert(server.script_decided(judge(server.credentials()), answer) == ServerLoginStatus::AUTHENTICATED);
		ck_assert_uint_eq(server.next_sequence_id(), 1);
	}
	/* mysql_native_password offered: the scramble of the greeting's nonce, verified. */
	{
		ServerLogin server(server_params(both));
		Bytes answer;
		auto scramble = native_password_scramble("secret", NONCE);
		ck_assert(change_user_on(server, MYSQL_NATIVE_PASSWORD, *scramble, answer) == ServerLoginStatus::ASK_SCRIPT);
		ck_assert(server.credentials().verify == ServerLoginCredentials::Verify::native_password);
		ck_assert(server.script_decided(judge(server.credentials()), answer) == ServerLoginStatus::AUTHENTICATED);
	}
	/* Another plugin: switched to mysql_clear_password; a refusal keeps the session. */
	{
		ServerLogin server(server_params(both));
		Bytes answer;
		const Bytes scramble(32, 7);
		ck_assert(change_user_on(server, CACHING_SHA2_PASSWORD, scramble, answer) == ServerLoginStatus::CONTINUE);
		Packet packet;
		ck_assert(PacketIterator(answer).next(packet));
		ck_assert_uint_eq(packet.header.sequence_id, 1);
		auto request = parse_auth_switch_request(packet.payload);
		ck_assert(request && request->plugin_name == MYSQL_CLEAR_PASSWORD);
		const Bytes wrong = packet_test::bytes_of(std::string_view("wrong\0", 6));
		answer.clear();
		ck_assert(server.feed(wrong, 2, answer) == ServerLoginStatus::ASK_SCRIPT);
		ck_assert(server.credentials().auth_plugin == MYSQL_CLEAR_PASSWORD);
		ck_assert(server.script_decided(judge(server.credentials()), answer) == ServerLoginStatus::REFUSED);
		ck_assert(server.authenticated());
		ck_assert(PacketIterator(answer).next(packet));
		ck_assert_uint_eq(packet.header.sequence_id, 3);
	}
	/* Malformed: every prefix of a COM_CHANGE_USER is parsed or refused cleanly. */
	{
		ServerLogin model(server_params(both));
		Bytes answer;
		const Bytes secret = packet_test::bytes_of(std::string_view("secret\0", 7));
		(void)change_user_on(model, MYSQL_CLEAR_PASSWORD, secret, answer);
		ChangeUserParams params;
		params.user = "bob";
		params.auth_response = secret;
		params.database = "books";
		params.auth_plugin_name = MYSQL_CLEAR_PASSWORD;
		Bytes command;
		ck_assert(build_change_user(command, params, model.capabilities()));
		for (std::size_t length = 0; length < command.size(); ++length) {
			ServerLogin server(server_params(both));
			Bytes ignored;
			(void)change_user_on(server, MYSQL_CLEAR_PASSWORD, secret, ignored);
			(void)server.script_decided(judge(server.credentials()), ignored);
			const Bytes prefix(command.begin(), command.begin() + std::ptrdiff_t(length));
			const ServerLoginStatus status = server.change_user(prefix, 0, ignored);
			ck_assert(status != ServerLoginStatus::AUTHENTICATED);
		}
	}
}
END_TEST

START_TEST(test_change_user_before_login)
{
	const ClientAuthPlugin clear[] = {ClientAuthPlugin::clear_password};
	ServerLogin server(server_params(clear));
	Bytes out;
	(void)server.greeting(out);
	const Bytes command{0x11, 'b', 0, 0, 0};
	ck_assert(server.change_user(command, 0, out) == ServerLoginStatus::FAILED);
	ck_assert(!server.authenticated());
}
END_TEST

START_TEST(test_unencodable_greeting)
{
	const ClientAuthPlugin clear[] = {ClientAuthPlugin::clear_password};
	ServerLoginParams params = server_params(clear);
	params.server_version = std::string_view("bad\0version", 11);
	ServerLogin server(params);
	Bytes out;
	ck_assert(server.greeting(out) == ServerLoginStatus::FAILED);
	ck_assert(out.empty());
}
END_TEST

/* refuse_at_response(): the greeting goes out, TLS runs when the client asks for it, and the client's
 * HandshakeResponse41 gets the ERR (with its SQLSTATE and the sequence id it waits for: the client
 * checks both) without a script run; a malformed response is still a bad handshake. */
START_TEST(test_refusal_after_greeting)
{
	const ClientAuthPlugin native[] = {ClientAuthPlugin::native_password};
	for (const bool ssl : {false, true}) {
		ServerLoginParams s = server_params(native);
		s.tls_offered = ssl;
		s.tls_required = true; /* the refusal comes first: the client learns why it is refused */
		ClientLoginParams c = client_params(MYSQL_NATIVE_PASSWORD);
		c.ssl = ssl;
		Conversation conversation(s, c);
		conversation.server.refuse_at_response(ER_CON_COUNT_ERROR, "Too many connections");
		conversation.run();
		ck_assert(conversation.tls_started == ssl);
		ck_assert_int_eq(conversation.script_runs, 0);
		ck_assert(conversation.server_status == ServerLoginStatus::FAILED);
		ck_assert(conversation.client_status == ClientLoginStatus::FAILED);
		ck_assert_uint_eq(conversation.client.failure().error_code, ER_CON_COUNT_ERROR.code);
		ck_assert_str_eq(conversation.client.failure().sql_state.c_str(), "08004");
		ck_assert_str_eq(conversation.client.failure().message.c_str(), "Too many connections");
		ck_assert_str_eq(conversation.server.failure().reason.c_str(),
				 "refused after the greeting: Too many connections");
		ck_assert(!conversation.server.failure().protocol_violation);
	}
	/* The ERR answers the response in the packet it expects: 2 in the clear. */
	ServerLogin server(server_params(native));
	server.refuse_at_response(ER_ACCESS_DENIED, "go away");
	Bytes out, answer;
	(void)server.greeting(out);
	ck_assert(server.feed(sample_response(), 1, answer) == ServerLoginStatus::FAILED);
	Packet packet;
	ck_assert(PacketIterator(answer).next(packet));
	ck_assert_uint_eq(packet.header.sequence_id, 2);
	auto err = parse_err_packet(packet.payload, CLIENT_PROTOCOL_41);
	ck_assert(err && err->error_code == ER_ACCESS_DENIED.code && err->sql_state == "28000");
	/* Hostile input keeps its own answer. */
	ServerLogin hostile(server_params(native));
	hostile.refuse_at_response(ER_ACCESS_DENIED, "go away");
	answer.clear();
	(void)hostile.greeting(out);
	const Bytes garbage = {0x01, 0x02};
	ck_assert(hostile.feed(garbage, 1, answer) == ServerLoginStatus::FAILED);
	ck_assert(hostile.failure().protocol_violation);
}
END_TEST

static Suite *server_login_suite()
{
	Suite *s = suite_create("server_login");
	TCase *paths = tcase_create("paths");
	tcase_set_timeout(paths, 60);
	tcase_add_test(paths, test_every_plugin_logs_in);
	tcase_add_test(paths, test_switches);
	tcase_add_test(paths, test_credentials_shown);
	tcase_add_test(paths, test_fast_path_needs_proof);
	tcase_add_test(paths, test_change_user);
	tcase_add_test(paths, test_refusal_after_greeting);
	suite_add_tcase(s, paths);
	TCase *hostile = tcase_create("hostile");
	tcase_set_timeout(hostile, 60);
	tcase_add_test(hostile, test_truncated_response);
	tcase_add_test(hostile, test_oversized_lengths);
	tcase_add_test(hostile, test_sequence_ids);
	tcase_add_test(hostile, test_second_response_and_out_of_turn);
	tcase_add_test(hostile, test_unknown_plugin_and_no_plugin_auth);
	tcase_add_test(hostile, test_tls_rules);
	tcase_add_test(hostile, test_change_user_before_login);
	tcase_add_test(hostile, test_unencodable_greeting);
	suite_add_tcase(s, hostile);
	return s;
}

int main()
{
	return run_check_suites({server_login_suite()});
}
