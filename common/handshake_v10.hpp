// Handshake V10, the server greeting: parsed when myproxy logs in to a backend, built when myproxy
// greets a client.  Payload only (the caller frames it and checks for an ERR packet, 0xFF, that a
// server sends instead of a greeting).  Parsing never allocates and never reads past the payload.
#pragma once

#include "byte_reader.hpp"
#include "parse_result.hpp"

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace myproxy {

constexpr std::uint8_t HANDSHAKE_V10_PROTOCOL_VERSION = 10;
/* The nonce ("scramble") length that every current auth plugin expects in the greeting. */
constexpr std::size_t HANDSHAKE_SCRAMBLE_LENGTH = 20;

struct HandshakeV10 {
	std::uint8_t protocol_version = HANDSHAKE_V10_PROTOCOL_VERSION;
	std::string_view server_version;
	std::uint32_t connection_id = 0;
	/* The scramble in its two wire pieces: part 1 is always 8 bytes; part 2 (only with
	 * CLIENT_SECURE_CONNECTION) has its trailing NUL removed, as that byte is not scramble data.
	 * handshake_v10_scramble20() joins them. */
	ByteSpan auth_plugin_data_1;
	ByteSpan auth_plugin_data_2;
	/* The lower and upper 16 bits joined. */
	std::uint32_t capabilities = 0;
	/* MariaDB's extended capabilities, as on the wire; 0 unless CLIENT_LONG_PASSWORD is clear. */
	std::uint32_t mariadb_capabilities = 0;
	std::uint8_t character_set = 0;
	std::uint16_t status_flags = 0;
	/* Empty without CLIENT_PLUGIN_AUTH (the client then assumes mysql_native_password). */
	std::string_view auth_plugin_name;

	/* capabilities | MariaDB's extended ones shifted up by 32, to test MARIADB_CLIENT_* flags. */
	std::uint64_t all_capabilities() const noexcept
	{
		return std::uint64_t(mariadb_capabilities) << 32 | capabilities;
	}
};

/* Parses a greeting.  Tolerated, as real servers send them: auth-plugin-data-len 0 (or any value)
 * without CLIENT_PLUGIN_AUTH; a plugin name without its NUL running to the end of the payload (MySQL
 * bug #59453); bytes after the plugin name (ignored, for fields a later server may add).  Rejected:
 * a protocol version other than 10, and every field that runs past the end of the payload. */
ParseResult<HandshakeV10> parse_handshake_v10(ByteSpan payload) noexcept;

/* The first 20 scramble bytes (part 1 + part 2), the nonce for mysql_native_password and
 * caching_sha2_password.  Fails when the greeting carries fewer (a pre-4.1 server, or a hostile
 * one); more are ignored, as clients do.  The error offset is always 0. */
ParseResult<std::array<std::uint8_t, HANDSHAKE_SCRAMBLE_LENGTH>>
handshake_v10_scramble20(const HandshakeV10 &handshake) noexcept;

struct HandshakeV10Params {
	std::string_view server_version;
	std::uint32_t connection_id = 0;
	/* With CLIENT_SECURE_CONNECTION: 20 bytes, or 20..254 with CLIENT_PLUGIN_AUTH (whose length
	 * byte announces it); without it: the 8 bytes of part 1 alone. */
	ByteSpan scramble;
	std::uint32_t capabilities = 0;
	/* Sent only when CLIENT_LONG_PASSWORD is clear; must be 0 otherwise. */
	std::uint32_t mariadb_capabilities = 0;
	std::uint8_t character_set = 0;
	std::uint16_t status_flags = 0;
	/* Sent only with CLIENT_PLUGIN_AUTH; must be empty otherwise. */
	std::string_view auth_plugin_name;
};

/* Appends a greeting's payload.  Returns false, appending nothing, when @params cannot be encoded:
 * a NUL inside server_version or auth_plugin_name, a scramble of the wrong size, or a field given
 * that its capability flag would drop (so a caller's mistake is never silently lost). */
[[nodiscard]] bool build_handshake_v10(std::vector<std::uint8_t> &payload, const HandshakeV10Params &params);

} // namespace myproxy
