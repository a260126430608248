// AuthSwitchRequest (0xFE) and AuthMoreData (0x01) of the authentication phase: parse and build,
// payload only.  The data are views into the payload; what they mean is up to the auth plugin code.
// Never decides anything about authentication itself.
#pragma once

#include "byte_reader.hpp"
#include "parse_result.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace myproxy {

constexpr std::uint8_t AUTH_SWITCH_REQUEST_HEADER = 0xFE;
constexpr std::uint8_t AUTH_MORE_DATA_HEADER = 0x01;

/* The error text parse_auth_switch_request() returns for a bare 0xFE payload; compare the pointer. */
extern const char *const AUTH_SWITCH_OLD_STYLE_ERROR;

struct AuthSwitchRequest {
	std::string_view plugin_name;
	/* The plugin's data (the scramble), without the trailing NUL of the 20-byte-scramble plugins: see
	 * auth_plugin_data_has_trailing_nul(). */
	ByteSpan plugin_data;
};

/* mysql_native_password and caching_sha2_password send their 20-byte scramble followed by a NUL in an
 * AuthSwitchRequest (as in Handshake V10's auth-plugin-data).  The parser strips that one NUL, so
 * plugin_data is exactly the scramble, and the builder appends it again.  Other plugins' data
 * (client_ed25519's 32-byte nonce, ...) are taken verbatim. */
bool auth_plugin_data_has_trailing_nul(std::string_view plugin_name) noexcept;

/* Parses an AuthSwitchRequest: 0xFE, plugin name NUL-terminated, plugin data up to the end.
 * The old-style request, a payload of just 0xFE (switch to the pre-4.1 mysql_old_password with the
 * handshake's scramble), is not supported: it is reported as a ParseError whose `what` is
 * AUTH_SWITCH_OLD_STYLE_ERROR, so a caller can answer ER_NOT_SUPPORTED_AUTH_MODE.  An empty plugin
 * name is an error too. */
ParseResult<AuthSwitchRequest> parse_auth_switch_request(ByteSpan payload) noexcept;

void build_auth_switch_request(std::vector<std::uint8_t> &out, std::string_view plugin_name,
			       ByteSpan plugin_data);

/* True if @payload starts with 0xFE.  Only meaningful in the authentication phase. */
bool is_auth_switch_request(ByteSpan payload) noexcept;

struct AuthMoreData {
	ByteSpan data;
};

/* Parses AuthMoreData: 0x01 followed by the plugin's data (may be empty). */
ParseResult<AuthMoreData> parse_auth_more_data(ByteSpan payload) noexcept;

void build_auth_more_data(std::vector<std::uint8_t> &out, ByteSpan data);

/* True if @payload starts with 0x01.  Only meaningful in the authentication phase. */
bool is_auth_more_data(ByteSpan payload) noexcept;

} // namespace myproxy
