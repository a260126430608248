// client_ed25519; see ed25519_password.hpp.  The hash of the password is the secret key: it and every
// value derived from it but the public key and the signature are wiped before returning.
#include "ed25519_password.hpp"
#include "secret.hpp"

#include <sodium.h>

#include <cstring>

namespace myproxy {

namespace {

/* The secret half of the derivation: the clamped scalar and the nonce prefix. */
struct DerivedKey {
	unsigned char az[crypto_hash_sha512_BYTES];

	~DerivedKey() { wipe_secret(az, sizeof(az)); }
};

bool derive(std::string_view password, DerivedKey &key) noexcept
{
	if (sodium_init() < 0)
		return false;
	crypto_hash_sha512(key.az, reinterpret_cast<const unsigned char *>(password.data()), password.size());
	key.az[0] &= 248;
	key.az[31] &= 63;
	key.az[31] |= 64;
	return true;
}

} // namespace

std::optional<std::array<std::uint8_t, ED25519_PUBLIC_KEY_LENGTH>> ed25519_password_public_key(std::string_view password) noexcept
{
	DerivedKey key;
	std::array<std::uint8_t, ED25519_PUBLIC_KEY_LENGTH> a;
	if (!derive(password, key) || crypto_scalarmult_ed25519_base_noclamp(a.data(), key.az) != 0)
		return std::nullopt;
	return a;
}

std::optional<std::array<std::uint8_t, ED25519_SIGNATURE_LENGTH>> ed25519_password_sign(std::string_view password,
										      ByteSpan nonce) noexcept
{
	if (nonce.size() != ED25519_NONCE_LENGTH)
		return std::nullopt;
	DerivedKey key;
	if (!derive(password, key))
		return std::nullopt;

	unsigned char public_key[crypto_core_ed25519_BYTES];
	if (crypto_scalarmult_ed25519_base_noclamp(public_key, key.az) != 0)
		return std::nullopt;

	unsigned char hash[crypto_hash_sha512_BYTES];
	unsigned char r[crypto_core_ed25519_SCALARBYTES];
	crypto_hash_sha512_state state;
	crypto_hash_sha512_init(&state);
	crypto_hash_sha512_update(&state, key.az + 32, 32);
	crypto_hash_sha512_update(&state, nonce.data(), nonce.size());
	crypto_hash_sha512_final(&state, hash);
	crypto_core_ed25519_scalar_reduce(r, hash);

	std::array<std::uint8_t, ED25519_SIGNATURE_LENGTH> signature;
	bool ok = crypto_scalarmult_ed25519_base_noclamp(signature.data(), r) == 0;
	if (ok) {
		unsigned char k[crypto_core_ed25519_SCALARBYTES];
		unsigned char ka[crypto_core_ed25519_SCALARBYTES];
		crypto_hash_sha512_init(&state);
		crypto_hash_sha512_update(&state, signature.data(), 32);
		crypto_hash_sha512_update(&state, public_key, sizeof(public_key));
		crypto_hash_sha512_update(&state, nonce.data(), nonce.size());
		crypto_hash_sha512_final(&state, hash);
		crypto_core_ed25519_scalar_reduce(k, hash);
		/* S = k*a + r (mod L); the scalar functions reduce their 32-byte inputs. */
		crypto_core_ed25519_scalar_mul(ka, k, key.az);
		crypto_core_ed25519_scalar_add(signature.data() + 32, ka, r);
		wipe_secret(ka, sizeof(ka));
	}
	wipe_secret(r, sizeof(r));
	wipe_secret(hash, sizeof(hash));
	wipe_secret(&state, sizeof(state));
	if (!ok)
		return std::nullopt;
	return signature;
}

} // namespace myproxy
