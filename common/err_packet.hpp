// ERR packet: parse (backend errors, relayed with code and SQLSTATE) and build (myproxy's own errors,
// from the ServerError table in mysql_errors.hpp).  Payload only: the caller frames it.  Parsing never
// allocates and never reads past the payload.
#pragma once

#include "byte_reader.hpp"
#include "mysql_errors.hpp"
#include "parse_result.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace myproxy {

constexpr std::uint8_t ERR_HEADER = 0xFF;
constexpr std::size_t SQLSTATE_LENGTH = 5;

struct ErrPacket {
	std::uint16_t error_code = 0;
	/* Five characters, or empty when the packet carries no '#' marker (pre-handshake errors). */
	std::string_view sql_state;
	std::string_view message;
};

/* Parses an ERR packet.  With CLIENT_PROTOCOL_41 the '#' + SQLSTATE marker is optional (servers leave
 * it out before the handshake, when the client's capabilities are not yet known); without it there is
 * never a marker.  To parse an error that arrives instead of a server's Handshake V10, pass
 * CLIENT_PROTOCOL_41: MySQL and MariaDB differ in whether they send the marker there.
 * Error code 0xFFFF (MariaDB progress report) is parsed like any other; it only comes when the client
 * announced MARIADB_CLIENT_PROGRESS, which myproxy never does. */
ParseResult<ErrPacket> parse_err_packet(ByteSpan payload, std::uint32_t capabilities) noexcept;

/* Appends an ERR payload.  The marker is written when @capabilities has CLIENT_PROTOCOL_41 and
 * @err.sql_state is five characters (so a relayed backend ERR keeps its exact shape). */
void build_err_packet(std::vector<std::uint8_t> &out, const ErrPacket &err, std::uint32_t capabilities);

/* Appends an ERR payload for one of myproxy's own errors, with its SQLSTATE when @capabilities has
 * CLIENT_PROTOCOL_41. */
void build_err_packet(std::vector<std::uint8_t> &out, const ServerError &error, std::string_view message,
		      std::uint32_t capabilities);

/* Appends an ERR payload for the handshake phase, before the client's capabilities are known (e.g.
 * too many connections, host blocked): no SQLSTATE marker, as servers send it. */
void build_handshake_err_packet(std::vector<std::uint8_t> &out, const ServerError &error,
				std::string_view message);

/* True if @payload starts with 0xFF.  No other reply starts with 0xFF (0xFF is never a lenenc prefix),
 * except data in a continuation packet, which callers never classify. */
bool is_err_packet(ByteSpan payload) noexcept;

} // namespace myproxy
