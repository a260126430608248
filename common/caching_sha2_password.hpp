// caching_sha2_password (MySQL 8's default plugin), both sides: the client's fast-path scramble, the
// server's check of it, and the full path's password transport (cleartext over a secure channel, or
// XOR-ed with the nonce and RSA-OAEP encrypted).  Pure computation with OpenSSL; never logs, never
// keeps a password or a hash, and never touches a file (keys arrive as PEM text or EVP_PKEY).
#pragma once

#include "byte_reader.hpp"
#include "secret.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

typedef struct evp_pkey_st EVP_PKEY;

namespace myproxy {

constexpr std::string_view CACHING_SHA2_PASSWORD = "caching_sha2_password";

constexpr std::size_t SHA256_LENGTH = 32;
using Sha256Digest = SecretArray<SHA256_LENGTH>;

/* The one-byte AuthMoreData messages of the exchange (MySQL's sha2_password.h). */
constexpr std::uint8_t CACHING_SHA2_REQUEST_PUBLIC_KEY = 0x02;	 /* client -> server, plain byte */
constexpr std::uint8_t CACHING_SHA2_FAST_AUTH_SUCCESS = 0x03;	 /* server -> client, AuthMoreData */
constexpr std::uint8_t CACHING_SHA2_PERFORM_FULL_AUTH = 0x04;	 /* server -> client, AuthMoreData */

/* SHA256(SHA256(password)): what a server keeps in its fast-path cache, and what scripts give
 * handshake_response:verify_caching_sha2_password(). */
std::optional<Sha256Digest> caching_sha2_stored_hash(std::string_view password) noexcept;

/* XOR(SHA256(password), SHA256(SHA256(SHA256(password)) + nonce)), the fast-path scramble.  The nonce
 * is the greeting's (20 bytes in practice, any length accepted). */
std::optional<Sha256Digest> caching_sha2_scramble(std::string_view password, ByteSpan nonce) noexcept;

/* What a client sends for the fast path: nothing for an empty password, else the scramble. */
[[nodiscard]] bool caching_sha2_auth_response(std::vector<std::uint8_t> &out, std::string_view password,
					      ByteSpan nonce);

/* The server's fast-path check: does @response (32 bytes) prove knowledge of the password whose
 * SHA256(SHA256()) is @stored_hash?  Constant-time comparison.  False for any other length. */
bool caching_sha2_verify(std::span<const std::uint8_t, SHA256_LENGTH> stored_hash, ByteSpan nonce,
			 ByteSpan response) noexcept;

/* The full path without a secure channel: (password + NUL) XOR nonce (repeated), encrypted with the
 * server's RSA public key (PEM, "BEGIN PUBLIC KEY") using RSA_PKCS1_OAEP_PADDING, as MySQL clients
 * do.  Appends the ciphertext to @out; on failure appends nothing and sets @problem.  Needs random
 * bytes (getrandom). */
[[nodiscard]] bool caching_sha2_rsa_encrypt_password(std::vector<std::uint8_t> &out, std::string_view public_key_pem,
						     std::string_view password, ByteSpan nonce, std::string &problem);

/* The server's side of that: decrypts @ciphertext with @private_key, XORs with @nonce and strips the
 * trailing NUL.  nullopt when it does not decrypt or has no NUL at the end. */
std::optional<std::string> caching_sha2_rsa_decrypt_password(EVP_PKEY *private_key, ByteSpan nonce,
							     ByteSpan ciphertext);

/* The size in bytes of an RSA ciphertext for @key (256 for a 2048-bit key), 0 if it is not RSA. */
std::size_t rsa_ciphertext_size(EVP_PKEY *key) noexcept;

} // namespace myproxy
