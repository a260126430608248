// OK packet; see ok_packet.hpp.
#include "ok_packet.hpp"

#include "byte_writer.hpp"
#include "lenenc.hpp"
#include "mysql_capabilities.hpp"

namespace myproxy {

ParseResult<OkPacket> parse_ok_packet(ByteSpan payload, std::uint32_t capabilities) noexcept
{
	ByteReader r(payload);
	OkPacket ok;
	ok.header = r.u8("OK: header past end");
	if (r.ok() && ok.header != OK_HEADER && ok.header != OK_EOF_HEADER)
		return ParseError{"OK: header is not 0x00 or 0xFE", 0};
	ok.affected_rows = read_lenenc_int(r, "OK: affected rows bad or past end");
	ok.last_insert_id = read_lenenc_int(r, "OK: last insert id bad or past end");
	if (capabilities & CLIENT_PROTOCOL_41) {
		ok.status_flags = r.u16("OK: status flags past end");
		ok.warnings = r.u16("OK: warnings past end");
	} else if (capabilities & CLIENT_TRANSACTIONS) {
		ok.status_flags = r.u16("OK: status flags past end");
	}
	if (!r.ok())
		return r.error();

	if (capabilities & CLIENT_SESSION_TRACK) {
		if (!r.at_end())
			ok.info = read_lenenc_string(r, "OK: info bad or past end");
		if ((ok.status_flags & SERVER_SESSION_STATE_CHANGED) && !r.at_end()) {
			const std::string_view state = read_lenenc_string(r, "OK: session state info bad or past end");
			ok.session_state_info = ByteSpan(reinterpret_cast<const std::uint8_t *>(state.data()), state.size());
		}
	} else {
		ok.info = r.rest_string();
	}
	if (!r.ok())
		return r.error();
	return ok;
}

void build_ok_packet(std::vector<std::uint8_t> &out, const OkPacket &ok, std::uint32_t capabilities)
{
	ByteWriter w(out);
	w.u8(ok.header);
	write_lenenc_int(w, ok.affected_rows);
	write_lenenc_int(w, ok.last_insert_id);
	if (capabilities & CLIENT_PROTOCOL_41) {
		w.u16(ok.status_flags);
		w.u16(ok.warnings);
	} else if (capabilities & CLIENT_TRANSACTIONS) {
		w.u16(ok.status_flags);
	}
	if (capabilities & CLIENT_SESSION_TRACK) {
		const bool state_changed = (ok.status_flags & SERVER_SESSION_STATE_CHANGED) != 0;
		if (state_changed || !ok.info.empty())
			write_lenenc_string(w, ok.info);
		if (state_changed) {
			write_lenenc_int(w, ok.session_state_info.size());
			w.bytes(ok.session_state_info);
		}
	} else {
		w.string(ok.info);
	}
}

bool is_ok_packet(ByteSpan payload) noexcept
{
	return !payload.empty() && payload[0] == OK_HEADER;
}

} // namespace myproxy
