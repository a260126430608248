// Handshake V10 parse and build; see handshake_v10.hpp.  The layout is fixed up to the reserved
// bytes; what follows depends on the capability flags, which is where servers and versions differ.
#include "handshake_v10.hpp"

#include "byte_writer.hpp"
#include "mysql_capabilities.hpp"

#include <algorithm>

namespace myproxy {

/* Part 1 of the scramble, then at least 13 bytes of part 2 (12 of data and a NUL). */
constexpr std::size_t SCRAMBLE_PART_1_LENGTH = 8;
constexpr std::size_t SCRAMBLE_PART_2_MIN_LENGTH = 13;
/* Between the auth-plugin-data length and part 2: 6 zero bytes, then MariaDB's extended
 * capabilities (or 4 more zeros). */
constexpr std::size_t RESERVED_LENGTH = 6;

static bool contains_nul(std::string_view s) noexcept
{
	return s.find('\0') != std::string_view::npos;
}

ParseResult<HandshakeV10> parse_handshake_v10(ByteSpan payload) noexcept
{
	ByteReader r(payload);
	HandshakeV10 h;

	h.protocol_version = r.u8("HandshakeV10: protocol version past end");
	if (r.ok() && h.protocol_version != HANDSHAKE_V10_PROTOCOL_VERSION)
		return ParseError{"HandshakeV10: protocol version is not 10", 0};
	h.server_version = r.null_terminated("HandshakeV10: server version without NUL");
	h.connection_id = r.u32("HandshakeV10: connection id past end");
	h.auth_plugin_data_1 = r.bytes(SCRAMBLE_PART_1_LENGTH, "HandshakeV10: auth-plugin-data-part-1 past end");
	r.skip(1, "HandshakeV10: filler past end");
	const std::uint32_t capabilities_low = r.u16("HandshakeV10: capability flags past end");
	h.character_set = r.u8("HandshakeV10: character set past end");
	h.status_flags = r.u16("HandshakeV10: status flags past end");
	const std::uint32_t capabilities_high = r.u16("HandshakeV10: upper capability flags past end");
	h.capabilities = capabilities_high << 16 | capabilities_low;
	/* Meaningful only with CLIENT_PLUGIN_AUTH; servers without it send 0, and we do not insist. */
	const std::size_t auth_plugin_data_length = r.u8("HandshakeV10: auth-plugin-data-len past end");
	r.skip(RESERVED_LENGTH, "HandshakeV10: reserved bytes past end");
	const std::uint32_t extended = r.u32("HandshakeV10: reserved bytes past end");
	if ((h.capabilities & CLIENT_LONG_PASSWORD) == 0)
		h.mariadb_capabilities = extended;

	if (h.capabilities & CLIENT_SECURE_CONNECTION) {
		std::size_t length = SCRAMBLE_PART_2_MIN_LENGTH;
		if (h.capabilities & CLIENT_PLUGIN_AUTH && auth_plugin_data_length > SCRAMBLE_PART_1_LENGTH)
			length = std::max(length, auth_plugin_data_length - SCRAMBLE_PART_1_LENGTH);
		ByteSpan part2 = r.bytes(length, "HandshakeV10: auth-plugin-data-part-2 past end");
		/* The terminating NUL is part of the announced length but not of the nonce. */
		if (!part2.empty() && part2.back() == 0)
			part2 = part2.first(part2.size() - 1);
		h.auth_plugin_data_2 = part2;
	}

	if (h.capabilities & CLIENT_PLUGIN_AUTH) {
		/* Some servers (MySQL bug #59453) end the packet without the name's NUL. */
		const ByteSpan rest = r.rest();
		const auto nul = std::find(rest.begin(), rest.end(), std::uint8_t(0));
		h.auth_plugin_name = ByteReader::as_string(rest.first(std::size_t(nul - rest.begin())));
	}

	if (!r.ok())
		return r.error();
	return h;
}

ParseResult<std::array<std::uint8_t, HANDSHAKE_SCRAMBLE_LENGTH>>
handshake_v10_scramble20(const HandshakeV10 &handshake) noexcept
{
	const ByteSpan part1 = handshake.auth_plugin_data_1;
	const ByteSpan part2 = handshake.auth_plugin_data_2;
	if (part1.size() + part2.size() < HANDSHAKE_SCRAMBLE_LENGTH)
		return ParseError{"HandshakeV10: scramble shorter than 20 bytes", 0};
	std::array<std::uint8_t, HANDSHAKE_SCRAMBLE_LENGTH> scramble{};
	const std::size_t from1 = std::min(part1.size(), scramble.size());
	std::copy_n(part1.begin(), from1, scramble.begin());
	std::copy_n(part2.begin(), scramble.size() - from1, scramble.begin() + from1);
	return scramble;
}

static bool scramble_length_fits(const HandshakeV10Params &params) noexcept
{
	const std::size_t length = params.scramble.size();
	if ((params.capabilities & CLIENT_SECURE_CONNECTION) == 0)
		return length == SCRAMBLE_PART_1_LENGTH;
	if ((params.capabilities & CLIENT_PLUGIN_AUTH) == 0)
		return length == HANDSHAKE_SCRAMBLE_LENGTH;
	/* The length byte counts the scramble and part 2's NUL. */
	return length >= HANDSHAKE_SCRAMBLE_LENGTH && length + 1 <= 0xFF;
}

bool build_handshake_v10(std::vector<std::uint8_t> &payload, const HandshakeV10Params &params)
{
	const bool secure = params.capabilities & CLIENT_SECURE_CONNECTION;
	const bool plugin = params.capabilities & CLIENT_PLUGIN_AUTH;
	if (contains_nul(params.server_version) || contains_nul(params.auth_plugin_name))
		return false;
	if (!plugin && !params.auth_plugin_name.empty())
		return false;
	if (params.capabilities & CLIENT_LONG_PASSWORD && params.mariadb_capabilities != 0)
		return false;
	if (!scramble_length_fits(params))
		return false;

	ByteWriter w(payload);
	w.u8(HANDSHAKE_V10_PROTOCOL_VERSION);
	w.null_terminated(params.server_version);
	w.u32(params.connection_id);
	w.bytes(params.scramble.first(SCRAMBLE_PART_1_LENGTH));
	w.u8(0);
	w.u16(std::uint16_t(params.capabilities));
	w.u8(params.character_set);
	w.u16(params.status_flags);
	w.u16(std::uint16_t(params.capabilities >> 16));
	w.u8(plugin ? std::uint8_t(params.scramble.size() + 1) : 0);
	w.zeros(RESERVED_LENGTH);
	w.u32(params.mariadb_capabilities);
	if (secure) {
		w.bytes(params.scramble.subspan(SCRAMBLE_PART_1_LENGTH));
		w.u8(0);
	}
	if (plugin)
		w.null_terminated(params.auth_plugin_name);
	return true;
}

} // namespace myproxy
