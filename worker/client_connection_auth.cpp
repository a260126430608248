// Server-side authentication of a client connection (worker side): which plugin the client uses
// (the listener's auth_plugins), the AuthSwitchRequest when it named another, and
// caching_sha2_password's extra rounds (fast-auth result, full authentication with the password
// over a secure transport or RSA-encrypted with the listener's key, the public key on request).
// What the script decides stays in on_handshake_response; this file only moves bytes and proofs.
#include "client_connection.hpp"

#include "worker/connection_util.hpp"
#include "worker/worker_loop.hpp"

#include "common/auth_switch.hpp"
#include "common/caching_sha2_password.hpp"
#include "common/log.hpp"
#include "common/mysql_packet.hpp"
#include "lua/lua_auth_verify.hpp"

namespace myproxy {

/* Whether the client's bytes cannot be read by others: TLS, or a local socket (the master got the
 * peer's credentials, which only UNIX sockets give). */
bool ClientConnection::client_transport_secure() const noexcept
{
	return client_stream.secure() || attributes.has_credentials;
}

void ClientConnection::send_auth_more_data(ByteSpan data)
{
	std::vector<std::uint8_t> out;
	const std::size_t start = begin_packet(out);
	build_auth_more_data(out, data);
	finish_packet(out, start, client_sequence);
	send_client(out);
}

/* The HandshakeResponse41 is in: keep the client's plugin if the listener offers it, else switch the
 * client to the listener's first plugin. */
void ClientConnection::choose_client_auth(const HandshakeResponse41 &response)
{
	const auto named = parse_client_auth_plugin(response.auth_plugin_name);
	if (named && listener_auth->offers(*named)) {
		client_plugin = *named;
		accept_client_auth_data(response.auth_response);
		return;
	}
	client_plugin = listener_auth->plugins.front();
	const std::string_view name = client_auth_plugin_name(client_plugin);
	std::vector<std::uint8_t> out;
	const std::size_t start = begin_packet(out);
	/* mysql_clear_password has no nonce; the others answer the greeting's again. */
	build_auth_switch_request(out, name,
				  client_plugin == ClientAuthPlugin::clear_password ? ByteSpan() : ByteSpan(greeting_nonce));
	finish_packet(out, start, client_sequence);
	phase = Phase::auth_switch_sent;
	client_auth_step = ClientAuthStep::response;
	send_client(out);
}

/* The plugin's first data from the client: the password, or a scramble for the script to verify. */
void ClientConnection::accept_client_auth_data(ByteSpan data)
{
	switch (client_plugin) {
	case ClientAuthPlugin::clear_password:
		client_password = cleartext_password(data);
		client_password_given = true;
		break;
	case ClientAuthPlugin::native_password:
		client_scramble.assign(data.begin(), data.end());
		break;
	case ClientAuthPlugin::caching_sha2_password:
		if (data.empty()) {
			/* How a client says its password is empty; it expects OK or ERR next, not a
			 * request for the full path. */
			client_password.clear();
			client_password_given = true;
			break;
		}
		client_scramble.assign(data.begin(), data.end());
		sha2_fast_phase = true;
		break;
	}
	run_handshake_response_script();
}

/* A client packet while phase is auth_switch_sent. */
void ClientConnection::client_auth_packet(std::vector<std::uint8_t> &payload)
{
	if (client_auth_step == ClientAuthStep::response) {
		accept_client_auth_data(payload);
		wipe(payload);
		return;
	}
	/* caching_sha2_password's full authentication. */
	const RsaKeyPair &rsa = *listener_auth->rsa;
	if (client_auth_step == ClientAuthStep::full_auth && payload.size() == 1 &&
	    payload[0] == CACHING_SHA2_REQUEST_PUBLIC_KEY) {
		client_auth_step = ClientAuthStep::public_key_sent;
		send_auth_more_data(ByteSpan(reinterpret_cast<const std::uint8_t *>(rsa.public_pem.data()),
					     rsa.public_pem.size()));
		return;
	}
	std::optional<std::string> password;
	if (client_auth_step == ClientAuthStep::full_auth && client_transport_secure())
		password.emplace(cleartext_password(payload));
	else
		/* Not secure, or the client chose RSA anyway: only an encrypted password is accepted. */
		password = caching_sha2_rsa_decrypt_password(rsa.key.get(), greeting_nonce, payload);
	wipe(payload);
	if (!password) {
		log(LogLevel::info, "caching_sha2_password: the client's password is not encrypted with our key");
		fail_login(ER_ACCESS_DENIED, "Access denied: caching_sha2_password needs TLS, a local socket or "
					     "the server's RSA key");
		return;
	}
	client_password = std::move(*password);
	wipe(*password);
	client_password_given = true;
	run_handshake_response_script();
}

/* Called first with on_handshake_response's outcome.  Returns true when it took over: after a
 * caching_sha2_password fast path that returned nil or a connect without a successful
 * verify_caching_sha2_password(), myproxy asks for the password (full authentication) and the script
 * runs again with it.  A fast path the script verified gets FAST_AUTH_SUCCESS before the
 * rest of the login; refusals and failures go on as usual. */
bool ClientConnection::client_auth_outcome(CallbackOutcome &outcome)
{
	const bool verified = auth_proof_verified(worker.lua(), auth_proof_ref);
	release_auth_proof(worker.lua(), auth_proof_ref);
	if (!sha2_fast_phase)
		return false;
	sha2_fast_phase = false;
	/* nil (allowed in this phase only) or an unverified connect: ask for the password. */
	const bool refused = outcome.kind == CallbackOutcome::Kind::failed ||
			     outcome.kind == CallbackOutcome::Kind::absent ||
			     (outcome.action && std::holds_alternative<ErrAction>(*outcome.action));
	if (refused || verified) {
		wipe(login_packet);
		release(login_packet);
		if (!refused) {
			static constexpr std::uint8_t fast_auth_success[] = {CACHING_SHA2_FAST_AUTH_SUCCESS};
			send_auth_more_data(fast_auth_success);
		}
		/* A failed send closed the connection: nothing more to do. */
		return phase == Phase::closed;
	}
	static constexpr std::uint8_t perform_full_auth[] = {CACHING_SHA2_PERFORM_FULL_AUTH};
	client_auth_step = ClientAuthStep::full_auth;
	phase = Phase::auth_switch_sent;
	send_auth_more_data(perform_full_auth);
	return true;
}

} // namespace myproxy
