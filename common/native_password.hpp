// mysql_native_password: the client's scramble (toward backends), the server's check of it (toward
// clients), the '*HEX' stored-hash form of MySQL's PASSWORD(), and fresh nonces for our greetings.
// Pure computation with OpenSSL's SHA1 and libsodium's RNG; never logs or keeps a password or hash.
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

namespace myproxy {

constexpr std::size_t SHA1_LENGTH = 20;
constexpr std::size_t NATIVE_PASSWORD_NONCE_LENGTH = 20;
using Sha1Digest = SecretArray<SHA1_LENGTH>;

/* SHA1(password): the "stage 1" hash, which is all a client needs to log in (DESIGN: password_sha1). */
std::optional<Sha1Digest> native_password_sha1(std::string_view password) noexcept;

/* SHA1(SHA1(password)): what the server stores (mysql.user's authentication_string, without '*'). */
std::optional<Sha1Digest> native_password_stored_hash(std::string_view password) noexcept;

/* SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))).  nullopt when @nonce is not exactly 20
 * bytes (or SHA1 fails).  An empty password still yields 20 bytes here; what a client sends for it is
 * an empty auth response instead: see native_password_auth_response(). */
std::optional<Sha1Digest> native_password_scramble(std::string_view password, ByteSpan nonce) noexcept;

/* The same from the stage-1 hash alone, for accounts configured with password_sha1. */
std::optional<Sha1Digest> native_password_scramble_from_sha1(std::span<const std::uint8_t, SHA1_LENGTH> sha1_password,
							      ByteSpan nonce) noexcept;

/* What a client puts in HandshakeResponse41 (or an AuthSwitchResponse): nothing for an empty password
 * (that is how servers recognise an account without a password), else the 20-byte scramble.  Appends to
 * @out; false on a bad nonce, appending nothing. */
[[nodiscard]] bool native_password_auth_response(std::vector<std::uint8_t> &out, std::string_view password, ByteSpan nonce);

/* The server's check: does @client_response prove knowledge of the password whose stored hash is
 * @stored_hash?  On success returns SHA1(password), recovered from the response (enough to log in to
 * a backend with the same password).  nullopt for a wrong password, a response that is not 20 bytes
 * (an empty one means "no password", which never matches a stored hash), or a nonce that is not 20
 * bytes.  The final comparison is constant-time. */
std::optional<Sha1Digest> native_password_verify(std::span<const std::uint8_t, SHA1_LENGTH> stored_hash,
						 ByteSpan nonce, ByteSpan client_response) noexcept;

/* Parses PASSWORD()'s output, '*' followed by 40 hex digits (either case), into the stored hash.
 * nullopt for anything else, including '' (an account without a password: the caller's case). */
std::optional<Sha1Digest> parse_mysql_password_hash(std::string_view text) noexcept;

/* The inverse: '*' + 40 uppercase hex digits, as PASSWORD() prints it. */
std::string format_mysql_password_hash(std::span<const std::uint8_t, SHA1_LENGTH> stored_hash);

/* A fresh nonce for a greeting or AuthSwitchRequest: 20 random bytes (ChaCha20 under a key from
 * the kernel, drawn once per process and thread and again after fork(); no syscall per call), each in 1..127
 * and never '$'.  Clients copy the scramble as a C string, so a NUL would cut it short; MySQL servers
 * keep to 7-bit values and avoid '$', the separator of caching_sha2_password's stored hashes, and we
 * do the same so no client meets a nonce it has never seen.  That leaves 126 values per byte, about
 * 139 bits in all.  nullopt only if libsodium cannot be initialised. */
std::optional<std::array<std::uint8_t, NATIVE_PASSWORD_NONCE_LENGTH>> generate_scramble() noexcept;

} // namespace myproxy
