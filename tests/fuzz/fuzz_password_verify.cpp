// Fuzz target for the password proofs (common/native_password, caching_sha2_password,
// ed25519_password) and caching_sha2's RSA path: the input is a password, a nonce and a forged
// proof.  The proof made from the password must be accepted, the forged one only if it is that very
// proof, and the right proof for another nonce or with one byte changed never.  The RSA path must
// give the password back from its own ciphertext and nothing from a changed one.
#include "common/caching_sha2_password.hpp"
#include "common/ed25519_password.hpp"
#include "common/native_password.hpp"
#include "common/rsa_key.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

using namespace myproxy;

namespace {

struct Input {
	std::uint8_t flags = 0;
	std::string_view password;
	std::vector<std::uint8_t> nonce; /* 32 bytes; native and caching_sha2 use the first 20 */
	ByteSpan forged;
	std::size_t flip_at = 0;
};

/* Byte 0: flags (bit 0: the RSA path); byte 1: password length; byte 2: the byte to change; then
   the password, 32 nonce bytes (zeros when short), the rest the forged proof. */
bool split(const std::uint8_t *data, std::size_t size, Input &in)
{
	if (size < 3)
		return false;
	in.flags = data[0];
	const std::size_t password_length = std::min<std::size_t>(data[1], size - 3);
	in.flip_at = data[2];
	in.password = std::string_view(reinterpret_cast<const char *>(data) + 3, password_length);
	std::size_t at = 3 + password_length;
	in.nonce.assign(32, 0);
	const std::size_t nonce_bytes = std::min<std::size_t>(32, size - at);
	std::memcpy(in.nonce.data(), data + at, nonce_bytes);
	at += nonce_bytes;
	in.forged = ByteSpan(data + at, size - at);
	return true;
}

template <std::size_t N>
bool same(ByteSpan a, const std::array<std::uint8_t, N> &b)
{
	return a.size() == N && std::equal(a.begin(), a.end(), b.begin());
}

void check_native(const Input &in)
{
	const ByteSpan nonce(in.nonce.data(), NATIVE_PASSWORD_NONCE_LENGTH);
	const auto stored = native_password_stored_hash(in.password);
	const auto proof = native_password_scramble(in.password, nonce);
	const auto sha1 = native_password_sha1(in.password);
	FUZZ_CHECK(stored && proof && sha1);
	const auto accepted = native_password_verify(*stored, nonce, ByteSpan(*proof));
	FUZZ_CHECK(accepted && *accepted == *sha1);
	const bool forged_ok = native_password_verify(*stored, nonce, in.forged).has_value();
	FUZZ_CHECK(forged_ok == same(in.forged, *proof));
	auto changed = *proof;
	changed[in.flip_at % changed.size()] ^= 0x01;
	FUZZ_CHECK(!native_password_verify(*stored, nonce, ByteSpan(changed)));
	const ByteSpan other_nonce(in.nonce.data() + 12, NATIVE_PASSWORD_NONCE_LENGTH);
	if (!std::equal(nonce.begin(), nonce.end(), other_nonce.begin()))
		FUZZ_CHECK(!native_password_verify(*stored, other_nonce, ByteSpan(*proof)));
}

void check_caching_sha2(const Input &in)
{
	const ByteSpan nonce(in.nonce.data(), 20);
	const auto stored = caching_sha2_stored_hash(in.password);
	const auto proof = caching_sha2_scramble(in.password, nonce);
	FUZZ_CHECK(stored && proof);
	FUZZ_CHECK(caching_sha2_verify(*stored, nonce, ByteSpan(*proof)));
	FUZZ_CHECK(caching_sha2_verify(*stored, nonce, in.forged) == same(in.forged, *proof));
	auto changed = *proof;
	changed[in.flip_at % changed.size()] ^= 0x80;
	FUZZ_CHECK(!caching_sha2_verify(*stored, nonce, ByteSpan(changed)));
}

/* MariaDB's server checks the client_ed25519 signature with a standard Ed25519 verification against
   the stored public key; libsodium's is that verification. */
void check_ed25519(const Input &in)
{
	const ByteSpan nonce(in.nonce.data(), ED25519_NONCE_LENGTH);
	const auto signature = ed25519_password_sign(in.password, nonce);
	const auto public_key = ed25519_password_public_key(in.password);
	FUZZ_CHECK(signature && public_key);
	const auto verifies = [&](const std::uint8_t *sig, ByteSpan message) {
		return crypto_sign_verify_detached(sig, message.data(), message.size(), public_key->data()) == 0;
	};
	FUZZ_CHECK(verifies(signature->data(), nonce));
	if (in.forged.size() >= ED25519_SIGNATURE_LENGTH &&
	    verifies(in.forged.data(), nonce))
		FUZZ_CHECK(std::equal(signature->begin(), signature->end(), in.forged.begin()));
	auto changed = *signature;
	changed[in.flip_at % changed.size()] ^= 0x01;
	FUZZ_CHECK(!verifies(changed.data(), nonce));
	std::vector<std::uint8_t> other_nonce(in.nonce);
	other_nonce[in.flip_at % other_nonce.size()] ^= 0x01;
	FUZZ_CHECK(!verifies(signature->data(), ByteSpan(other_nonce)));
}

void check_rsa(const Input &in)
{
	/* One key for the whole run: generating one per input would be all the fuzzer did. */
	static const auto pair = [] {
		std::string problem;
		auto generated = generate_rsa_key_pair(2048, problem);
		FUZZ_CHECK(generated.has_value());
		return *generated;
	}();
	const ByteSpan nonce(in.nonce.data(), 20);
	/* Whatever the ciphertext, decryption answers without crashing; nearly always with nothing. */
	const auto forged = caching_sha2_rsa_decrypt_password(pair.key.get(), nonce, in.forged);
	if (forged)
		fuzz::touch(*forged);
	if (in.password.find('\0') != std::string_view::npos || in.password.size() > 200)
		return; /* the wire format ends the password at its NUL; OAEP bounds the length */
	std::vector<std::uint8_t> ciphertext;
	std::string problem;
	FUZZ_CHECK(caching_sha2_rsa_encrypt_password(ciphertext, pair.public_pem, in.password, nonce, problem));
	const auto decrypted = caching_sha2_rsa_decrypt_password(pair.key.get(), nonce, ByteSpan(ciphertext));
	FUZZ_CHECK(decrypted && *decrypted == in.password);
	ciphertext[in.flip_at % ciphertext.size()] ^= 0x01;
	const auto tampered = caching_sha2_rsa_decrypt_password(pair.key.get(), nonce, ByteSpan(ciphertext));
	FUZZ_CHECK(!tampered || *tampered != in.password);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	Input in;
	if (!split(data, size, in))
		return 0;
	check_native(in);
	check_caching_sha2(in);
	check_ed25519(in);
	if (in.flags & 1)
		check_rsa(in);
	return 0;
}
