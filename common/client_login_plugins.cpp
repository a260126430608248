// The auth plugins of myproxy's client login beyond the one-packet ones (see client_login.hpp):
// caching_sha2_password's full path and client_ed25519.  Only builds the bytes to send; the state
// table stays in client_login.cpp.  Everything appended may be secret: the caller wipes it.
#include "client_login.hpp"

#include "caching_sha2_password.hpp"
#include "ed25519_password.hpp"
#include "secret.hpp"


namespace myproxy {

/* The server asked for the full path (0x04): over a secure transport the password itself, else
 * RSA-encrypted with the configured key, or a request for the server's key first. */
bool ClientLogin::append_caching_sha2_full_auth(std::vector<std::uint8_t> &out, std::string &problem)
{
	if (private_channel()) {
		out.insert(out.end(), password.begin(), password.end());
		out.push_back(0);
		sha2_step = Sha2Step::PASSWORD_SENT;
		return true;
	}
	if (!server_public_key.empty())
		return append_caching_sha2_rsa(out, server_public_key, problem);
	out.push_back(CACHING_SHA2_REQUEST_PUBLIC_KEY);
	sha2_step = Sha2Step::KEY_REQUESTED;
	return true;
}

bool ClientLogin::append_caching_sha2_rsa(std::vector<std::uint8_t> &out, std::string_view pem, std::string &problem)
{
	if (!caching_sha2_rsa_encrypt_password(out, pem, password, nonce, problem))
		return false;
	sha2_step = Sha2Step::PASSWORD_SENT;
	return true;
}

bool ClientLogin::append_ed25519(std::vector<std::uint8_t> &out, ByteSpan ed25519_nonce, std::string &problem)
{
	if (password_sha1) {
		problem = "client_ed25519 needs the password, but only its SHA1 is known";
		return false;
	}
	auto signature = ed25519_password_sign(password, ed25519_nonce);
	if (!signature) {
		problem = "client_ed25519: the server's nonce is not 32 bytes";
		return false;
	}
	out.insert(out.end(), signature->begin(), signature->end());
	wipe_secret(*signature);
	return true;
}

} // namespace myproxy
