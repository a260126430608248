// caching_sha2_password; see caching_sha2_password.hpp.  SHA256(password) is as good as the password
// for the fast path, so every buffer holding it (or the cleartext) is wiped before it goes out of scope.
#include "caching_sha2_password.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>

namespace myproxy {

static bool sha256(ByteSpan a, ByteSpan b, Sha256Digest &out) noexcept
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == nullptr)
		return false;
	unsigned int length = 0;
	const bool ok = EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
			EVP_DigestUpdate(ctx, a.data(), a.size()) == 1 && EVP_DigestUpdate(ctx, b.data(), b.size()) == 1 &&
			EVP_DigestFinal_ex(ctx, out.data(), &length) == 1 && length == SHA256_LENGTH;
	EVP_MD_CTX_free(ctx);
	return ok;
}

static ByteSpan as_bytes(std::string_view s) noexcept
{
	return {reinterpret_cast<const std::uint8_t *>(s.data()), s.size()};
}

std::optional<Sha256Digest> caching_sha2_stored_hash(std::string_view password) noexcept
{
	Sha256Digest stage1, stage2;
	const bool ok = sha256(as_bytes(password), {}, stage1) && sha256(stage1, {}, stage2);
	if (!ok)
		return std::nullopt;
	return stage2;
}

std::optional<Sha256Digest> caching_sha2_scramble(std::string_view password, ByteSpan nonce) noexcept
{
	Sha256Digest stage1, stage2, mask;
	bool ok = sha256(as_bytes(password), {}, stage1) && sha256(stage1, {}, stage2) && sha256(stage2, nonce, mask);
	if (ok)
		for (std::size_t i = 0; i < SHA256_LENGTH; ++i)
			mask[i] ^= stage1[i];
	if (!ok)
		return std::nullopt;
	return mask;
}

bool caching_sha2_auth_response(std::vector<std::uint8_t> &out, std::string_view password, ByteSpan nonce)
{
	if (password.empty())
		return true;
	auto scramble = caching_sha2_scramble(password, nonce);
	if (!scramble)
		return false;
	out.insert(out.end(), scramble->begin(), scramble->end());
	return true;
}

bool caching_sha2_verify(std::span<const std::uint8_t, SHA256_LENGTH> stored_hash, ByteSpan nonce,
			 ByteSpan response) noexcept
{
	if (response.size() != SHA256_LENGTH)
		return false;
	/* response XOR SHA256(stored + nonce) is the client's SHA256(password); its SHA256 must be stored. */
	Sha256Digest mask, candidate_stage2;
	if (!sha256(stored_hash, nonce, mask))
		return false;
	for (std::size_t i = 0; i < SHA256_LENGTH; ++i)
		mask[i] ^= response[i];
	const bool hashed = sha256(mask, {}, candidate_stage2);
	return hashed && CRYPTO_memcmp(candidate_stage2.data(), stored_hash.data(), SHA256_LENGTH) == 0;
}

namespace {

struct PkeyFree {
	void operator()(EVP_PKEY *key) const noexcept { EVP_PKEY_free(key); }
};
struct PkeyCtxFree {
	void operator()(EVP_PKEY_CTX *ctx) const noexcept { EVP_PKEY_CTX_free(ctx); }
};
struct BioFree {
	void operator()(BIO *bio) const noexcept { BIO_free(bio); }
};

/* (password + NUL) XOR nonce, the nonce repeated as often as needed. */
SecretBytes xor_with_nonce(ByteSpan text, ByteSpan nonce)
{
	SecretBytes out(text.begin(), text.end());
	if (!nonce.empty())
		for (std::size_t i = 0; i < out.size(); ++i)
			out[i] ^= nonce[i % nonce.size()];
	return out;
}

} // namespace

std::size_t rsa_ciphertext_size(EVP_PKEY *key) noexcept
{
	if (key == nullptr || EVP_PKEY_base_id(key) != EVP_PKEY_RSA)
		return 0;
	const int size = EVP_PKEY_get_size(key);
	return size > 0 ? std::size_t(size) : 0;
}

bool caching_sha2_rsa_encrypt_password(std::vector<std::uint8_t> &out, std::string_view public_key_pem,
				       std::string_view password, ByteSpan nonce, std::string &problem)
{
	std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(public_key_pem.data(), int(public_key_pem.size())));
	if (!bio) {
		problem = "caching_sha2_password: out of memory";
		return false;
	}
	std::unique_ptr<EVP_PKEY, PkeyFree> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
	if (!key || EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
		problem = "caching_sha2_password: the server's public key is not an RSA key in PEM form";
		return false;
	}
	SecretBytes plain(password.size() + 1, 0);
	std::copy(password.begin(), password.end(), plain.begin());
	const SecretBytes masked = xor_with_nonce(plain, nonce);
	wipe(plain);

	std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(key.get(), nullptr));
	std::size_t length = 0;
	bool ok = ctx && EVP_PKEY_encrypt_init(ctx.get()) == 1 &&
		  EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) == 1 &&
		  EVP_PKEY_encrypt(ctx.get(), nullptr, &length, masked.data(), masked.size()) == 1;
	if (ok) {
		const std::size_t start = out.size();
		out.resize(start + length);
		ok = EVP_PKEY_encrypt(ctx.get(), out.data() + start, &length, masked.data(), masked.size()) == 1;
		out.resize(ok ? start + length : start);
	}
	if (!ok)
		problem = "caching_sha2_password: RSA encryption failed (password too long for the server's key?)";
	return ok;
}

std::optional<std::string> caching_sha2_rsa_decrypt_password(EVP_PKEY *private_key, ByteSpan nonce,
							     ByteSpan ciphertext)
{
	if (rsa_ciphertext_size(private_key) != ciphertext.size())
		return std::nullopt;
	std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(private_key, nullptr));
	std::size_t length = 0;
	if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_decrypt(ctx.get(), nullptr, &length, ciphertext.data(), ciphertext.size()) != 1)
		return std::nullopt;
	SecretBytes masked(length);
	const bool ok = EVP_PKEY_decrypt(ctx.get(), masked.data(), &length, ciphertext.data(), ciphertext.size()) == 1;
	masked.resize(ok ? length : 0);
	const SecretBytes plain = xor_with_nonce(masked, nonce);
	wipe(masked);
	std::optional<std::string> password;
	if (ok && !plain.empty() && plain.back() == 0)
		password.emplace(plain.begin(), plain.end() - 1);
	return password;
}

} // namespace myproxy
