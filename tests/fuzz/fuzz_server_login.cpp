// Fuzz target for server_login.hpp: a hostile client logging in to myproxy.  The first input byte
// picks the listener (which plugins, TLS offered or required, a local socket) and the script (honest:
// it accepts only "secret" or a scramble of it that verifies; or reckless: it says connect to
// anything without a proof); the rest is the client's side as framed packets: HandshakeResponse41 or
// SSLRequest, the answer to a switch, caching_sha2_password's full path, then COM_CHANGE_USER and its
// answers.  The oracle aborts if the machine reports an authenticated session without the script's
// "connect", sends FAST_AUTH_SUCCESS without a verified proof, lets an honest script's session in
// without valid credentials, writes a broken packet, or goes on after it failed.
#include "common/auth_switch.hpp"
#include "common/caching_sha2_password.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/native_password.hpp"
#include "common/server_login.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <string>
#include <vector>

using namespace myproxy;

/* The listener's key, fixed so seeds can carry ciphertexts.  1024 bits, the least myproxy accepts:
 * decrypting is the costliest step of a run, and a smaller key lets the fuzzer try more inputs. */
static constexpr char PRIVATE_KEY[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIICdwIBADANBgkqhkiG9w0BAQEFAASCAmEwggJdAgEAAoGBANdHNG7f2KOgMwQR\n"
	"otzvHKlXuvrR/r+Mpd7lqdwEgJ7/+xpMPc1l9EA2ARKXW0W8xSjepH5Tgz1bh1xl\n"
	"MzKDh0MyXcakI2S6vLKTJmac+25yYaoRRM3ksRx2b6+eKso38DqMig5CFreuheou\n"
	"Hsa+kZGCLfYQkV9e72LIsOOTwY3BAgMBAAECgYBWpAmuNdjywZ7GnHJ3iKR4Yx6V\n"
	"o75rSSfYtYXPTuCVHWDqDJUy/T14OkPkP5Y0UuzmrfR2AxZms1efD/uy8MyWuYxZ\n"
	"CNKsdcpRkakCFLxqX4mpbHfnNcIu47lxKSU7xOmooZ9kY/fnwbgQA3DAKMYdbyls\n"
	"fOENZxUUlVs8LsYioQJBAPd8yx/cP2DIjBJ/hDNE2egTh1c2z5lINeZFJ7h/LJR9\n"
	"fc0GIS3jpdwELfPNhKfsadDa5W5H9XXIf+RZsc2ayUsCQQDersxB7pPqT2QdePWJ\n"
	"LLBgfgi7wAAuR2PTtxnY39L17v7LFZwjiCJEfk1QmDElkeqIphxz4M1L+LqR4cc5\n"
	"R0mjAkEAjbtuKITd1vODJGTatPHNSVdFvvCo20O7enBIWySZx0BG9093WOxyZBoQ\n"
	"pvsf6Xs+7lkt44ZaUGXOuFuVtAXdGQJALU2Yho1YEGJIduqF4XtzAp6BfljocIHb\n"
	"oFXu7z1R+PC/a2ehFWV7uz2K0yuzS/ZspZJN1ZFVkvAuXMF3O4LySwJBAKMEkaSP\n"
	"wlWVpHYoATE4d2Le3FfmLOzvPVjyZBrHdT13g+bj/yNr/o2T56uUZrXA2Wp57NJx\n"
	"SSSxk1JMRnybR3g=\n"
	"-----END PRIVATE KEY-----\n";

static constexpr std::array<std::uint8_t, 20> NONCE = {0x64, 0x7e, 0x6d, 0x28, 0x7d, 0x5f, 0x44, 0x76, 0x44, 0x33,
						      0x6f, 0x58, 0x4a, 0x4a, 0x72, 0x24, 0x55, 0x61, 0x67, 0x60};
/* Part of what a worker offers while nothing is known (common/backend_offer.hpp's default_announced_capabilities). */
static constexpr std::uint32_t OFFERED = CLIENT_LONG_PASSWORD | CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG |
	CLIENT_CONNECT_WITH_DB | CLIENT_LOCAL_FILES | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS |
	CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS | CLIENT_PLUGIN_AUTH |
	CLIENT_CONNECT_ATTRS | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_SESSION_TRACK | CLIENT_DEPRECATE_EOF;

static const RsaKeyPair &listener_key()
{
	static const RsaKeyPair key = [] {
		std::string problem;
		auto pair = parse_rsa_private_key(PRIVATE_KEY, problem);
		FUZZ_CHECK(pair.has_value());
		return *pair;
	}();
	return key;
}

/* Bits 0-1: the plugins (one of them, or all three in two orders); 2: TLS offered; 3: TLS required;
 * 4: a local socket; 5: the reckless script. */
static std::vector<ClientAuthPlugin> plugins_from(std::uint8_t selector)
{
	switch (selector & 3) {
	case 0:
		return {ClientAuthPlugin::clear_password};
	case 1:
		return {ClientAuthPlugin::native_password};
	case 2:
		return {ClientAuthPlugin::caching_sha2_password};
	}
	return {ClientAuthPlugin::caching_sha2_password, ClientAuthPlugin::native_password,
		ClientAuthPlugin::clear_password};
}

static bool credentials_valid(const ServerLoginCredentials &c)
{
	if (c.password)
		return *c.password == "secret";
	if (c.verify == ServerLoginCredentials::Verify::native_password) {
		const auto stored = native_password_stored_hash("secret");
		return native_password_verify(*stored, c.nonce, c.scramble).has_value();
	}
	if (c.verify == ServerLoginCredentials::Verify::caching_sha2_password) {
		const auto stored = caching_sha2_stored_hash("secret");
		return caching_sha2_verify(*stored, c.nonce, c.scramble);
	}
	return false;
}

static ScriptDecision script(const ServerLoginCredentials &c, bool reckless, bool may_pass)
{
	fuzz::touch(c.user);
	fuzz::touch(c.database);
	fuzz::touch(c.auth_plugin);
	fuzz::touch(c.attrs);
	if (reckless)
		return {ScriptDecision::Verdict::connect, false, {}};
	if (credentials_valid(c))
		return {ScriptDecision::Verdict::connect, !c.password.has_value(), {}};
	if (may_pass)
		return {ScriptDecision::Verdict::pass, false, {}};
	return {ScriptDecision::Verdict::refuse, false, "denied"};
}

/* What the machine appended from @from on: complete packets only; true if one is FAST_AUTH_SUCCESS. */
static bool check_written(const std::vector<std::uint8_t> &out, std::size_t from)
{
	PacketIterator it(ByteSpan(out).subspan(from));
	Packet packet;
	bool fast_auth_success = false;
	while (it.next(packet)) {
		fuzz::touch(packet.payload);
		FUZZ_CHECK(!packet.payload.empty());
		if (packet.payload.size() == 2 && packet.payload[0] == AUTH_MORE_DATA_HEADER &&
		    packet.payload[1] == CACHING_SHA2_FAST_AUTH_SUCCESS)
			fast_auth_success = true;
	}
	FUZZ_CHECK(it.remaining().empty());
	return fast_auth_success;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size == 0)
		return 0;
	const std::uint8_t selector = data[0];
	const std::vector<ClientAuthPlugin> plugins = plugins_from(selector);
	const bool reckless = selector & 32;
	ServerLoginParams params;
	params.plugins = plugins;
	params.rsa = &listener_key();
	params.server_version = "10.11.99-MariaDB-myproxy";
	params.connection_id = 1;
	params.nonce = NONCE;
	params.capabilities = OFFERED;
	params.tls_offered = selector & 4;
	params.tls_required = selector & 8;
	params.local_transport = selector & 16;
	ServerLogin login(params);
	std::vector<std::uint8_t> out;
	FUZZ_CHECK(login.greeting(out) == ServerLoginStatus::CONTINUE);
	check_written(out, 0);

	PacketIterator client(ByteSpan(data + 1, size - 1));
	Packet packet;
	while (client.next(packet)) {
		std::size_t written = out.size();
		ServerLoginStatus status = login.authenticated()
			? login.change_user(packet.payload, packet.header.sequence_id, out)
			: login.feed(packet.payload, packet.header.sequence_id, out);
		check_written(out, written);
		if (status == ServerLoginStatus::START_TLS) {
			FUZZ_CHECK(params.tls_offered && !login.tls_active_now());
			status = login.tls_established();
			FUZZ_CHECK(login.tls_active_now());
		}
		while (status == ServerLoginStatus::ASK_SCRIPT) {
			const ServerLoginCredentials &c = login.credentials();
			const bool valid = credentials_valid(c);
			const ScriptDecision decision = script(c, reckless, login.script_may_pass());
			written = out.size();
			status = login.script_decided(decision, out);
			const bool fast_auth_success = check_written(out, written);
			/* The oracle. */
			if (fast_auth_success)
				FUZZ_CHECK(decision.verdict == ScriptDecision::Verdict::connect && decision.proof_verified);
			if (status == ServerLoginStatus::AUTHENTICATED) {
				FUZZ_CHECK(decision.verdict == ScriptDecision::Verdict::connect);
				FUZZ_CHECK(reckless || valid);
				FUZZ_CHECK(login.authenticated());
			} else {
				FUZZ_CHECK(!login.authenticated() || status == ServerLoginStatus::REFUSED);
			}
		}
		if (status == ServerLoginStatus::FAILED) {
			FUZZ_CHECK(!login.authenticated());
			fuzz::touch(login.failure().reason);
			/* Over is over. */
			const std::size_t before = out.size();
			FUZZ_CHECK(login.feed(packet.payload, packet.header.sequence_id, out) == ServerLoginStatus::FAILED);
			FUZZ_CHECK(out.size() == before && !login.authenticated());
			break;
		}
		if (params.tls_required && login.authenticated())
			FUZZ_CHECK(login.tls_active_now());
	}
	return 0;
}
