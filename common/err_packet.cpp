// ERR packet; see err_packet.hpp.
#include "err_packet.hpp"

#include "byte_writer.hpp"
#include "mysql_capabilities.hpp"

#include <cstring>

namespace myproxy {

ParseResult<ErrPacket> parse_err_packet(ByteSpan payload, std::uint32_t capabilities) noexcept
{
	ByteReader r(payload);
	ErrPacket err;
	const std::uint8_t header = r.u8("ERR: header past end");
	if (r.ok() && header != ERR_HEADER)
		return ParseError{"ERR: header is not 0xFF", 0};
	err.error_code = r.u16("ERR: error code past end");
	if ((capabilities & CLIENT_PROTOCOL_41) && r.ok() && !r.at_end() && r.peek("ERR: marker") == '#') {
		r.u8("ERR: marker");
		err.sql_state = r.string(SQLSTATE_LENGTH, "ERR: SQLSTATE past end");
	}
	err.message = r.rest_string();
	if (!r.ok())
		return r.error();
	return err;
}

static void write_err(std::vector<std::uint8_t> &out, std::uint16_t code, std::string_view sql_state,
		      std::string_view message, std::uint32_t capabilities)
{
	ByteWriter w(out);
	w.u8(ERR_HEADER);
	w.u16(code);
	if ((capabilities & CLIENT_PROTOCOL_41) && sql_state.size() == SQLSTATE_LENGTH) {
		w.u8('#');
		w.string(sql_state);
	}
	w.string(message);
}

void build_err_packet(std::vector<std::uint8_t> &out, const ErrPacket &err, std::uint32_t capabilities)
{
	write_err(out, err.error_code, err.sql_state, err.message, capabilities);
}

void build_err_packet(std::vector<std::uint8_t> &out, const ServerError &error, std::string_view message,
		      std::uint32_t capabilities)
{
	write_err(out, error.code, error.sqlstate, message, capabilities);
}

void build_handshake_err_packet(std::vector<std::uint8_t> &out, const ServerError &error,
				std::string_view message)
{
	write_err(out, error.code, {}, message, 0);
}

bool is_err_packet(ByteSpan payload) noexcept
{
	return !payload.empty() && payload[0] == ERR_HEADER;
}

} // namespace myproxy
