// Parsing and building control datagrams (see control_protocol.hpp).  Pure and bounded: one pass
// over the datagram, at most control_max_packets views kept.
#include "common/control_protocol.hpp"

namespace myproxy {

namespace {

std::uint32_t read_be32(ByteReader &r, const char *what) noexcept
{
	std::uint32_t value = 0;
	for (int i = 0; i < 4; ++i)
		value = (value << 8) | r.u8(what);
	return value;
}

std::uint16_t read_be16(ByteReader &r, const char *what) noexcept
{
	const std::uint16_t high = r.u8(what);
	return static_cast<std::uint16_t>((high << 8) | r.u8(what));
}

void append_be16(std::vector<std::uint8_t> &out, std::uint16_t value)
{
	out.push_back(static_cast<std::uint8_t>(value >> 8));
	out.push_back(static_cast<std::uint8_t>(value));
}

} // namespace

const char *control_command_name(std::uint16_t command) noexcept
{
	switch (static_cast<ControlCommand>(command)) {
	case ControlCommand::nop:
		return "NOP";
	case ControlCommand::verbose:
		return "VERBOSE";
	case ControlCommand::disconnect_database:
		return "DISCONNECT_DATABASE";
	case ControlCommand::fade_children:
		return "FADE_CHILDREN";
	case ControlCommand::flush_filter_cache:
		return "FLUSH_FILTER_CACHE";
	case ControlCommand::discard_session:
		return "DISCARD_SESSION";
	case ControlCommand::flush_http_cache:
		return "FLUSH_HTTP_CACHE";
	case ControlCommand::terminate_children:
		return "TERMINATE_CHILDREN";
	case ControlCommand::reset_limiter:
		return "RESET_LIMITER";
	case ControlCommand::reject_client:
		return "REJECT_CLIENT";
	case ControlCommand::tarpit_client:
		return "TARPIT_CLIENT";
	case ControlCommand::cancel_job:
		return "CANCEL_JOB";
	}
	return nullptr;
}

ParseResult<std::vector<ControlPacket>> parse_control_datagram(ByteSpan datagram)
{
	ByteReader r(datagram);
	const std::uint32_t magic = read_be32(r, "control datagram: shorter than its magic");
	if (!r.ok())
		return r.error();
	if (magic != control_magic)
		return ParseError{"control datagram: wrong magic", 0};

	std::vector<ControlPacket> packets;
	while (!r.at_end()) {
		if (packets.size() == control_max_packets)
			return ParseError{"control datagram: too many packets", r.offset()};
		const std::size_t start = r.offset();
		const std::uint16_t length = read_be16(r, "control packet: header past the end");
		const std::uint16_t command = read_be16(r, "control packet: header past the end");
		const ByteSpan payload = r.bytes(length, "control packet: payload past the end");
		const std::size_t padding = (4 - length % 4) % 4;
		const ByteSpan pad = r.bytes(padding, "control packet: padding past the end");
		if (!r.ok())
			return r.error();
		for (std::uint8_t byte : pad)
			if (byte != 0)
				return ParseError{"control packet: padding is not zero", start};
		packets.push_back({command, payload});
	}
	return packets;
}

void append_control_magic(std::vector<std::uint8_t> &out)
{
	append_be16(out, static_cast<std::uint16_t>(control_magic >> 16));
	append_be16(out, static_cast<std::uint16_t>(control_magic & 0xffff));
}

bool append_control_packet(std::vector<std::uint8_t> &out, std::uint16_t command, ByteSpan payload)
{
	if (payload.size() > 0xffff)
		return false;
	append_be16(out, static_cast<std::uint16_t>(payload.size()));
	append_be16(out, command);
	out.insert(out.end(), payload.begin(), payload.end());
	out.resize(out.size() + (4 - payload.size() % 4) % 4, 0);
	return true;
}

} // namespace myproxy
