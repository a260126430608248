// mysql_native_password; see native_password.hpp.  Intermediate buffers that hold SHA1(password),
// which is as good as the password for logging in, are wiped before they go out of scope.
#include "native_password.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>

namespace myproxy {

static bool sha1(ByteSpan input, Sha1Digest &out) noexcept
{
	unsigned int length = 0;
	return EVP_Digest(input.data(), input.size(), out.data(), &length, EVP_sha1(), nullptr) == 1 &&
	       length == SHA1_LENGTH;
}

static ByteSpan as_bytes(std::string_view s) noexcept
{
	return {reinterpret_cast<const std::uint8_t *>(s.data()), s.size()};
}

/* SHA1(nonce + stored_hash): the mask that hides SHA1(password) in the scramble. */
static bool scramble_mask(ByteSpan nonce, std::span<const std::uint8_t, SHA1_LENGTH> stored_hash,
			  Sha1Digest &mask) noexcept
{
	std::array<std::uint8_t, NATIVE_PASSWORD_NONCE_LENGTH + SHA1_LENGTH> input;
	std::copy(nonce.begin(), nonce.end(), input.begin());
	std::copy(stored_hash.begin(), stored_hash.end(), input.begin() + NATIVE_PASSWORD_NONCE_LENGTH);
	return sha1(input, mask);
}

std::optional<Sha1Digest> native_password_sha1(std::string_view password) noexcept
{
	Sha1Digest digest;
	if (!sha1(as_bytes(password), digest))
		return std::nullopt;
	return digest;
}

std::optional<Sha1Digest> native_password_stored_hash(std::string_view password) noexcept
{
	Sha1Digest stage1, stage2;
	const bool ok = sha1(as_bytes(password), stage1) && sha1(stage1, stage2);
	if (!ok)
		return std::nullopt;
	return stage2;
}

std::optional<Sha1Digest> native_password_scramble_from_sha1(std::span<const std::uint8_t, SHA1_LENGTH> sha1_password,
							      ByteSpan nonce) noexcept
{
	if (nonce.size() != NATIVE_PASSWORD_NONCE_LENGTH)
		return std::nullopt;
	Sha1Digest stored_hash, scramble;
	if (!sha1(sha1_password, stored_hash) || !scramble_mask(nonce, stored_hash, scramble))
		return std::nullopt;
	for (std::size_t i = 0; i < SHA1_LENGTH; ++i)
		scramble[i] ^= sha1_password[i];
	return scramble;
}

std::optional<Sha1Digest> native_password_scramble(std::string_view password, ByteSpan nonce) noexcept
{
	Sha1Digest stage1;
	if (!sha1(as_bytes(password), stage1))
		return std::nullopt;
	return native_password_scramble_from_sha1(stage1, nonce);
}

bool native_password_auth_response(std::vector<std::uint8_t> &out, std::string_view password, ByteSpan nonce)
{
	if (nonce.size() != NATIVE_PASSWORD_NONCE_LENGTH)
		return false;
	if (password.empty())
		return true;
	const auto scramble = native_password_scramble(password, nonce);
	if (!scramble)
		return false;
	out.insert(out.end(), scramble->begin(), scramble->end());
	return true;
}

std::optional<Sha1Digest> native_password_verify(std::span<const std::uint8_t, SHA1_LENGTH> stored_hash,
						 ByteSpan nonce, ByteSpan client_response) noexcept
{
	if (nonce.size() != NATIVE_PASSWORD_NONCE_LENGTH || client_response.size() != SHA1_LENGTH)
		return std::nullopt;
	Sha1Digest candidate, candidate_hash;
	if (!scramble_mask(nonce, stored_hash, candidate))
		return std::nullopt;
	for (std::size_t i = 0; i < SHA1_LENGTH; ++i)
		candidate[i] ^= client_response[i];
	if (!sha1(candidate, candidate_hash) ||
	    CRYPTO_memcmp(candidate_hash.data(), stored_hash.data(), SHA1_LENGTH) != 0)
		return std::nullopt;
	return candidate;
}

static int hex_digit_value(char c) noexcept
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

std::optional<Sha1Digest> parse_mysql_password_hash(std::string_view text) noexcept
{
	if (text.size() != 1 + 2 * SHA1_LENGTH || text[0] != '*')
		return std::nullopt;
	Sha1Digest hash;
	for (std::size_t i = 0; i < SHA1_LENGTH; ++i) {
		const int high = hex_digit_value(text[1 + 2 * i]);
		const int low = hex_digit_value(text[2 + 2 * i]);
		if (high < 0 || low < 0)
			return std::nullopt;
		hash[i] = std::uint8_t(high << 4 | low);
	}
	return hash;
}

std::string format_mysql_password_hash(std::span<const std::uint8_t, SHA1_LENGTH> stored_hash)
{
	static constexpr char digits[] = "0123456789ABCDEF";
	std::string text = "*";
	for (const std::uint8_t byte : stored_hash) {
		text += digits[byte >> 4];
		text += digits[byte & 0x0F];
	}
	return text;
}

/* Where scrambles come from: OpenSSL's DRBG, a user-space CSPRNG seeded from the kernel, which
 * reseeds itself after a fork and on its own schedule.  libsodium's randombytes_buf() is one
 * getrandom(2) per call, which showed in the syscall count of every login; a scramble is public
 * (the greeting carries it), what counts is that nobody can predict the next. */
static bool fill_from_drbg(std::span<std::uint8_t> out) noexcept
{
	return RAND_bytes(out.data(), int(out.size())) == 1;
}

std::optional<std::array<std::uint8_t, NATIVE_PASSWORD_NONCE_LENGTH>> generate_scramble() noexcept
{
	/* 1..127 without '$': 126 values.  Rejection sampling on the low 7 bits keeps them
	 * uniform; 64 candidates per block of the stream. */
	std::array<std::uint8_t, NATIVE_PASSWORD_NONCE_LENGTH> nonce;
	std::array<std::uint8_t, 64> pool;
	std::size_t used = pool.size();
	for (std::uint8_t &byte : nonce) {
		std::uint8_t candidate;
		do {
			if (used == pool.size()) {
				if (!fill_from_drbg(pool))
					return std::nullopt;
				used = 0;
			}
			candidate = pool[used++] & 0x7F;
		} while (candidate == 0 || candidate == '$');
		byte = candidate;
	}
	wipe_secret(pool);
	return nonce;
}

} // namespace myproxy
