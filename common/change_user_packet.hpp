// COM_CHANGE_USER: parsed when a client sends it in the command phase (ServerLogin), built when
// myproxy sends the script's credentials to a backend (ClientLogin).  Payload only, views into it, no
// allocation while parsing, never reads past the payload; the tail it shares with HandshakeResponse41
// (plugin name, attributes) is read by read_login_tail().
#pragma once

#include "byte_reader.hpp"
#include "handshake_response41.hpp"
#include "parse_result.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace myproxy {

struct ChangeUserCommand {
	std::string_view user;
	ByteSpan auth_response;
	/* Empty: no default schema. */
	std::string_view database;
	/* Absent in pre-4.1 packets and when the client ended the packet after the database. */
	std::optional<std::uint16_t> character_set;
	/* Empty without CLIENT_PLUGIN_AUTH or when the client left it out. */
	std::string_view auth_plugin_name;
	ConnectAttrs attrs;
};

/* Parses COM_CHANGE_USER (0x11 included) as sent by a client with @capabilities negotiated:
 * CLIENT_SECURE_CONNECTION selects a 1-byte auth length (else NUL-terminated auth data), also with
 * CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, which only HandshakeResponse41 obeys (so mysqld and the
 * client libraries: longer auth data goes in an AuthSwitchResponse),
 * CLIENT_PLUGIN_AUTH a plugin name, CLIENT_CONNECT_ATTRS an attribute block.  Like mysqld, the
 * fields after the database are optional: a packet may end before any of them. */
ParseResult<ChangeUserCommand> parse_change_user(ByteSpan payload, std::uint32_t capabilities) noexcept;

struct ChangeUserParams {
	std::string_view user;
	ByteSpan auth_response;
	std::string_view database;
	std::uint16_t character_set = 0;
	std::string_view auth_plugin_name;
	std::span<const ConnectAttr> attrs;
};

/* Appends a COM_CHANGE_USER payload for a server with @capabilities negotiated (CLIENT_PROTOCOL_41,
 * CLIENT_SECURE_CONNECTION and CLIENT_PLUGIN_AUTH are required; attributes are sent only with
 * CLIENT_CONNECT_ATTRS).  Returns false, appending nothing, when it cannot be encoded: a missing
 * capability, a NUL in a NUL-terminated field, auth data over 255 bytes, too many attributes. */
[[nodiscard]] bool build_change_user(std::vector<std::uint8_t> &out, const ChangeUserParams &params,
				     std::uint32_t capabilities);

} // namespace myproxy
