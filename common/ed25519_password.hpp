// client_ed25519, the client side of MariaDB's ed25519 authentication plugin: the server sends a
// 32-byte nonce and the client answers with an Ed25519 signature of it, made with a key derived from
// the password.  Pure computation with libsodium; never logs or keeps the password.
#pragma once

#include "byte_reader.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace myproxy {

constexpr std::string_view CLIENT_ED25519 = "client_ed25519";
constexpr std::size_t ED25519_NONCE_LENGTH = 32;
constexpr std::size_t ED25519_SIGNATURE_LENGTH = 64;
constexpr std::size_t ED25519_PUBLIC_KEY_LENGTH = 32;

/* MariaDB's plugin/auth_ed25519/ref10 crypto_sign() with the password where Ed25519 has its 32-byte
 * seed: az = SHA512(password) (any length), the scalar a = clamp(az[0..32]), r = SHA512(az[32..64] +
 * nonce) mod L, R = r*B, S = r + SHA512(R + A + nonce) * a mod L; the signature is R + S.  It is
 * NOT libsodium's crypto_sign_detached(), whose seed is exactly 32 bytes; the same curve operations
 * are composed here from libsodium's primitives.  nullopt if @nonce is not 32 bytes or libsodium
 * fails. */
std::optional<std::array<std::uint8_t, ED25519_SIGNATURE_LENGTH>> ed25519_password_sign(std::string_view password,
										      ByteSpan nonce) noexcept;

/* A = a*B, what MariaDB's PASSWORD() of the ed25519 plugin shows (base64 of these 32 bytes). */
std::optional<std::array<std::uint8_t, ED25519_PUBLIC_KEY_LENGTH>> ed25519_password_public_key(std::string_view password) noexcept;

} // namespace myproxy
