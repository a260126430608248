// Fuzz target for client_login.hpp: myproxy logging in to a hostile server.  The first input byte
// picks the login's parameters (initial plugin, clear-text permission and secure transport, password or
// its SHA1, database, attributes, wanted capabilities, a configured RSA key); the rest is the server's
// side as framed packets, fed in order with their sequence ids: greeting, AuthSwitchRequest,
// caching_sha2_password's AuthMoreData rounds (its public key included), OK or ERR.  Checks that what the login writes is well framed, that its HandshakeResponse41
// parses and announces only what the server offered and myproxy supports, and that a finished login
// stays finished.
#include "common/auth_switch.hpp"
#include "common/caching_sha2_password.hpp"
#include "common/ed25519_password.hpp"
#include "common/client_login.hpp"
#include "common/handshake_v10.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <string>
#include <vector>

using namespace myproxy;

static constexpr std::string_view INITIAL_PLUGINS[] = {
	MYSQL_NATIVE_PASSWORD, MYSQL_CLEAR_PASSWORD, "client_ed25519", "caching_sha2_password",
};
static constexpr std::string_view USER = "fuzz";
static constexpr std::string_view DATABASE = "d1";
static constexpr ConnectAttr ATTRS[] = {{"_client_name", "fuzz"}, {"_pid", "1"}};
static constexpr std::uint32_t WANTED = CLIENT_LONG_FLAG | CLIENT_TRANSACTIONS | CLIENT_MULTI_STATEMENTS |
	CLIENT_MULTI_RESULTS | CLIENT_DEPRECATE_EOF | CLIENT_SESSION_TRACK;

/* tests/unit/vectors/rsa_test_key.pem's public half: a configured caching_sha2_password key. */
static constexpr char SERVER_PUBLIC_KEY[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArOMhs+8GgmmQ6aEj3KJ/\n"
	"CJTHV0B4g0erHKC0CgItsAtVgaag5P8C80iiaUZ4jWNkwP3V9Ft5Ciuwi81X+dPe\n"
	"8iO8WZdVkcsqSviqwECyxXCogCLMUHcf1y6SAyCJRXFBI3rP4hIqvIqZ1ImlkU3k\n"
	"dfLLveXg6vn2mBnYkuavVgZdyvvEHbYQ071lCWORWXk8LFeTGPVCaNGAnD7PTk+x\n"
	"lElswFbbNJHDlLjQgjXK7rqxsYxVoGLPevl890HBJwwbhUsr5K/dYpCY6Gi8xXIz\n"
	"q6EZGqWDfWanFAAKieoLcZEuFRbDiUivvDVfX3wlsAotYWql7UsHi+SDFH6sWbxz\n"
	"nwIDAQAB\n"
	"-----END PUBLIC KEY-----\n";

static ClientLoginParams params_from(std::uint8_t selector)
{
	ClientLoginParams params;
	params.user = USER;
	params.initial_plugin = INITIAL_PLUGINS[selector & 3];
	/* Bit 2: cleartext allowed, by the script and by a secure transport. */
	params.allow_clear_password = selector & 4;
	params.secure_transport = selector & 4;
	if (selector & 8)
		params.password_sha1 = native_password_sha1("secret");
	else
		params.password = "secret";
	if (selector & 16)
		params.database = DATABASE;
	if (selector & 32)
		params.attrs = ATTRS;
	if (selector & 64)
		params.capabilities |= WANTED;
	if (selector & 128)
		params.capabilities |= ~std::uint32_t(0);
	/* All capabilities and no secure transport: the RSA key is configured too. */
	if ((selector & (128 | 4)) == 128)
		params.server_public_key = SERVER_PUBLIC_KEY;
	return params;
}

/* The packets the login appended to @out from @from on: all complete, one each time it continues. */
static std::vector<Packet> written_packets(const std::vector<std::uint8_t> &out, std::size_t from)
{
	std::vector<Packet> packets;
	PacketIterator it(ByteSpan(out).subspan(from));
	Packet packet;
	while (it.next(packet)) {
		fuzz::touch(packet.payload);
		packets.push_back(packet);
	}
	FUZZ_CHECK(it.remaining().empty());
	return packets;
}

/* @packet, our answer to the greeting in @greeting_payload; returns the capabilities it announced. */
static std::uint32_t check_response(ByteSpan greeting_payload, const Packet &packet, const ClientLoginParams &params)
{
	const auto greeting = parse_handshake_v10(greeting_payload);
	FUZZ_CHECK(greeting.ok());
	const auto response = parse_handshake_response41(packet.payload);
	FUZZ_CHECK(response.ok() && !response->is_ssl_request);
	const std::uint32_t capabilities = response->capabilities;
	FUZZ_CHECK((capabilities & ~greeting->capabilities) == 0);
	FUZZ_CHECK((capabilities & CLIENT_LOGIN_UNSUPPORTED_CAPABILITIES) == 0);
	FUZZ_CHECK(capabilities & CLIENT_PROTOCOL_41);
	FUZZ_CHECK(response->user == params.user && response->database == params.database);
	FUZZ_CHECK(response->max_packet_size == params.max_packet_size);
	FUZZ_CHECK(response->character_set == params.character_set);
	if (capabilities & CLIENT_PLUGIN_AUTH)
		FUZZ_CHECK(response->auth_plugin_name == params.initial_plugin);
	FUZZ_CHECK(response->attrs.size() == ((capabilities & CLIENT_CONNECT_ATTRS) ? params.attrs.size() : 0));
	return capabilities;
}

/* What we answer an AuthSwitchRequest with: the password for clear text, a scramble of the plugin's
 * size (20 native, 32 caching_sha2_password, 64 client_ed25519); nothing else is spoken. */
static void check_switch_answer(ByteSpan request_payload, ByteSpan answer)
{
	const auto request = parse_auth_switch_request(request_payload);
	FUZZ_CHECK(request.ok());
	if (request->plugin_name == MYSQL_CLEAR_PASSWORD)
		FUZZ_CHECK(fuzz::as_string(answer) == std::string_view("secret", 7));
	else if (request->plugin_name == CACHING_SHA2_PASSWORD)
		FUZZ_CHECK(answer.size() == SHA256_LENGTH);
	else if (request->plugin_name == CLIENT_ED25519)
		FUZZ_CHECK(answer.size() == ED25519_SIGNATURE_LENGTH);
	else
		FUZZ_CHECK(request->plugin_name == MYSQL_NATIVE_PASSWORD && answer.size() == SHA1_LENGTH);
}

/* caching_sha2_password's answers to AuthMoreData: a request for the key, the password over a
 * secure transport, or an RSA ciphertext (the key's size: at least 64 bytes, as OAEP needs 42 bytes
 * of padding besides "secret" and its NUL). */
static void check_more_data_answer(ByteSpan answer, const ClientLoginParams &params)
{
	if (answer.size() == 1)
		FUZZ_CHECK(answer[0] == CACHING_SHA2_REQUEST_PUBLIC_KEY && params.server_public_key.empty() &&
			   !params.secure_transport);
	else if (params.secure_transport)
		FUZZ_CHECK(fuzz::as_string(answer) == std::string_view("secret", 7));
	else
		FUZZ_CHECK(answer.size() >= 64);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size == 0)
		return 0;
	const ClientLoginParams params = params_from(data[0]);
	ClientLogin login(params);
	std::vector<std::uint8_t> out;

	PacketIterator server(ByteSpan(data + 1, size - 1));
	Packet packet;
	bool greeted = false;
	std::uint32_t negotiated = 0;
	bool switched = false;
	while (server.next(packet)) {
		const std::size_t written = out.size();
		const ClientLoginStatus status = login.feed(packet.payload, packet.header.sequence_id, out);
		const std::vector<Packet> packets = written_packets(out, written);

		if (status == ClientLoginStatus::CONTINUE) {
			FUZZ_CHECK(!login.succeeded() && !login.failed());
			if (packets.empty()) {
				/* Only caching_sha2_password's "fast auth succeeded" needs no answer. */
				FUZZ_CHECK(greeted && packet.payload.size() == 2 && is_auth_more_data(packet.payload) &&
					   packet.payload[1] == CACHING_SHA2_FAST_AUTH_SUCCESS);
				continue;
			}
			FUZZ_CHECK(packets.size() == 1);
			FUZZ_CHECK(packets[0].header.sequence_id == std::uint8_t(packet.header.sequence_id + 1));
			if (!greeted) {
				greeted = true;
				negotiated = check_response(packet.payload, packets[0], params);
			} else if (is_auth_more_data(packet.payload)) {
				check_more_data_answer(packets[0].payload, params);
			} else {
				FUZZ_CHECK(!switched);
				switched = true;
				check_switch_answer(packet.payload, packets[0].payload);
			}
			continue;
		}

		FUZZ_CHECK(packets.empty());
		if (status == ClientLoginStatus::SUCCEEDED) {
			FUZZ_CHECK(greeted && login.succeeded() && !login.failed());
			const ClientLoginSuccess &success = login.success();
			fuzz::touch(success.server_version);
			fuzz::touch(success.auth_plugin);
			FUZZ_CHECK(success.capabilities == negotiated);
			FUZZ_CHECK((success.capabilities & ~success.server_capabilities) == 0);
			FUZZ_CHECK(success.auth_switched == switched);
		} else {
			FUZZ_CHECK(status == ClientLoginStatus::FAILED);
			FUZZ_CHECK(login.failed() && !login.succeeded());
			const ClientLoginFailure &failure = login.failure();
			fuzz::touch(failure.sql_state);
			fuzz::touch(failure.message);
			/* A server's message is relayed verbatim, even an empty one; ours always say why. */
			FUZZ_CHECK(failure.kind == ClientLoginFailure::Kind::SERVER_ERROR || !failure.message.empty());
			FUZZ_CHECK(failure.sql_state.empty() || failure.sql_state.size() == 5);
		}
		/* Over is over: whatever comes next is refused and nothing is written. */
		const std::size_t before = out.size();
		FUZZ_CHECK(login.feed(packet.payload, packet.header.sequence_id, out) == ClientLoginStatus::FAILED);
		FUZZ_CHECK(out.size() == before && login.failed());
		break;
	}
	return 0;
}
