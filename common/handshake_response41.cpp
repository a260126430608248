// HandshakeResponse41 and SSLRequest parse and build; see handshake_response41.hpp.  The fixed
// 32-byte part is shared by both packets; the variable part is driven by the client's capabilities.
#include "handshake_response41.hpp"

#include "byte_writer.hpp"
#include "lenenc.hpp"
#include "mysql_capabilities.hpp"

#include <algorithm>

namespace myproxy {

/* 23 filler bytes; a MariaDB client uses the last 4 for its extended capabilities. */
constexpr std::size_t FILLER_ZERO_LENGTH = 19;

void ConnectAttrs::iterator::decode() noexcept
{
	if (rest.empty()) {
		current = {};
		current_size = 0;
		return;
	}
	/* parse_connect_attrs() checked the block, so these reads succeed. */
	ByteReader r(rest);
	current.key = read_lenenc_string(r, "connection attribute key");
	current.value = read_lenenc_string(r, "connection attribute value");
	current_size = r.offset();
}

std::optional<std::string_view> ConnectAttrs::find(std::string_view key) const noexcept
{
	for (const ConnectAttr &attr : *this)
		if (attr.key == key)
			return attr.value;
	return std::nullopt;
}

ParseResult<ConnectAttrs> parse_connect_attrs(ByteSpan block) noexcept
{
	ByteReader r(block);
	std::size_t count = 0;
	while (r.ok() && !r.at_end()) {
		if (count == MAX_CONNECT_ATTRS)
			return ParseError{"HandshakeResponse41: more than 64 connection attributes", r.offset()};
		(void)read_lenenc_string(r, "HandshakeResponse41: connection attribute key malformed or past attributes end");
		(void)read_lenenc_string(r, "HandshakeResponse41: connection attribute value malformed or past attributes end");
		++count;
	}
	if (!r.ok())
		return r.error();
	return ConnectAttrs(block, count);
}

static ByteSpan read_auth_response(ByteReader &r, std::uint32_t capabilities) noexcept
{
	if (capabilities & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
		const std::uint64_t length = read_lenenc_int(r, "HandshakeResponse41: auth response length malformed");
		return r.bytes(std::size_t(length), "HandshakeResponse41: auth response past end");
	}
	if (capabilities & CLIENT_SECURE_CONNECTION) {
		const std::size_t length = r.u8("HandshakeResponse41: auth response length past end");
		return r.bytes(length, "HandshakeResponse41: auth response past end");
	}
	const std::string_view text = r.null_terminated("HandshakeResponse41: auth response without NUL");
	return {reinterpret_cast<const std::uint8_t *>(text.data()), text.size()};
}

/* The plugin name runs up to the NUL or, lacking one, to the end of the payload (clients with MySQL
 * bug #59453). */
std::optional<ParseError> read_login_tail(ByteReader &r, std::uint32_t capabilities, std::string_view &auth_plugin_name,
					  ConnectAttrs &attrs) noexcept
{
	if (capabilities & CLIENT_PLUGIN_AUTH && !r.at_end()) {
		ByteReader probe = r;
		const ByteSpan rest = probe.rest();
		if (std::find(rest.begin(), rest.end(), std::uint8_t(0)) == rest.end())
			auth_plugin_name = r.rest_string();
		else
			auth_plugin_name = r.null_terminated("HandshakeResponse41: auth plugin name without NUL");
	}
	if (capabilities & CLIENT_CONNECT_ATTRS && !r.at_end()) {
		const std::uint64_t total = read_lenenc_int(r, "HandshakeResponse41: attributes length malformed");
		const std::size_t block_offset = r.offset();
		const ByteSpan block = r.bytes(std::size_t(total), "HandshakeResponse41: attributes past end");
		if (r.ok()) {
			auto parsed = parse_connect_attrs(block);
			if (!parsed)
				return ParseError{parsed.error().what, block_offset + parsed.error().offset};
			attrs = *parsed;
		}
	}
	if (!r.ok())
		return r.error();
	return std::nullopt;
}

ParseResult<HandshakeResponse41> parse_handshake_response41(ByteSpan payload) noexcept
{
	ByteReader r(payload);
	HandshakeResponse41 h;

	const std::uint32_t capabilities_low = r.u16("HandshakeResponse41: capability flags past end");
	if (r.ok() && (capabilities_low & CLIENT_PROTOCOL_41) == 0)
		return ParseError{"HandshakeResponse41: no CLIENT_PROTOCOL_41 (pre-4.1 client)", 0};
	const std::uint32_t capabilities_high = r.u16("HandshakeResponse41: capability flags past end");
	h.capabilities = capabilities_high << 16 | capabilities_low;
	h.max_packet_size = r.u32("HandshakeResponse41: max packet size past end");
	h.character_set = r.u8("HandshakeResponse41: character set past end");
	r.skip(FILLER_ZERO_LENGTH, "HandshakeResponse41: filler past end");
	const std::uint32_t extended = r.u32("HandshakeResponse41: filler past end");
	if ((h.capabilities & CLIENT_LONG_PASSWORD) == 0)
		h.mariadb_capabilities = extended;
	if (!r.ok())
		return r.error();
	if (payload.size() == SSL_REQUEST_LENGTH && h.capabilities & CLIENT_SSL) {
		h.is_ssl_request = true;
		return h;
	}

	h.user = r.null_terminated("HandshakeResponse41: user without NUL");
	h.auth_response = read_auth_response(r, h.capabilities);
	if (h.capabilities & CLIENT_CONNECT_WITH_DB && !r.at_end())
		h.database = r.null_terminated("HandshakeResponse41: database without NUL");
	if (!r.ok())
		return r.error();
	if (auto tail_error = read_login_tail(r, h.capabilities, h.auth_plugin_name, h.attrs))
		return *tail_error;
	return h;
}

static bool contains_nul(std::string_view s) noexcept
{
	return s.find('\0') != std::string_view::npos;
}

static bool fixed_part_encodable(const HandshakeResponse41Params &params) noexcept
{
	if ((params.capabilities & CLIENT_PROTOCOL_41) == 0)
		return false;
	return (params.capabilities & CLIENT_LONG_PASSWORD) == 0 || params.mariadb_capabilities == 0;
}

static void write_fixed_part(ByteWriter &w, const HandshakeResponse41Params &params)
{
	w.u32(params.capabilities);
	w.u32(params.max_packet_size);
	w.u8(params.character_set);
	w.zeros(FILLER_ZERO_LENGTH);
	w.u32(params.mariadb_capabilities);
}

static bool auth_response_encodable(ByteSpan auth_response, std::uint32_t capabilities) noexcept
{
	if (capabilities & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
		return true;
	if (capabilities & CLIENT_SECURE_CONNECTION)
		return auth_response.size() <= 0xFF;
	return std::find(auth_response.begin(), auth_response.end(), std::uint8_t(0)) == auth_response.end();
}

static bool variable_part_encodable(const HandshakeResponse41Params &params) noexcept
{
	const std::uint32_t caps = params.capabilities;
	if (contains_nul(params.user) || contains_nul(params.database) || contains_nul(params.auth_plugin_name))
		return false;
	if (!auth_response_encodable(params.auth_response, caps))
		return false;
	if ((caps & CLIENT_CONNECT_WITH_DB) == 0 && !params.database.empty())
		return false;
	if ((caps & CLIENT_PLUGIN_AUTH) == 0 && !params.auth_plugin_name.empty())
		return false;
	if ((caps & CLIENT_CONNECT_ATTRS) == 0 && !params.attrs.empty())
		return false;
	return params.attrs.size() <= MAX_CONNECT_ATTRS;
}

static std::size_t lenenc_string_size(std::string_view s) noexcept
{
	return lenenc_int_size(s.size()) + s.size();
}

bool build_handshake_response41(std::vector<std::uint8_t> &payload, const HandshakeResponse41Params &params)
{
	if (!fixed_part_encodable(params) || !variable_part_encodable(params))
		return false;
	const std::uint32_t caps = params.capabilities;

	ByteWriter w(payload);
	write_fixed_part(w, params);
	w.null_terminated(params.user);
	if (caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
		write_lenenc_int(w, params.auth_response.size());
		w.bytes(params.auth_response);
	} else if (caps & CLIENT_SECURE_CONNECTION) {
		w.u8(std::uint8_t(params.auth_response.size()));
		w.bytes(params.auth_response);
	} else {
		w.bytes(params.auth_response);
		w.u8(0);
	}
	if (caps & CLIENT_CONNECT_WITH_DB)
		w.null_terminated(params.database);
	if (caps & CLIENT_PLUGIN_AUTH)
		w.null_terminated(params.auth_plugin_name);
	if (caps & CLIENT_CONNECT_ATTRS) {
		std::size_t total = 0;
		for (const ConnectAttr &attr : params.attrs)
			total += lenenc_string_size(attr.key) + lenenc_string_size(attr.value);
		write_lenenc_int(w, total);
		for (const ConnectAttr &attr : params.attrs) {
			write_lenenc_string(w, attr.key);
			write_lenenc_string(w, attr.value);
		}
	}
	return true;
}

bool build_ssl_request(std::vector<std::uint8_t> &payload, const HandshakeResponse41Params &params)
{
	if (!fixed_part_encodable(params) || (params.capabilities & CLIENT_SSL) == 0)
		return false;
	ByteWriter w(payload);
	write_fixed_part(w, params);
	return true;
}

} // namespace myproxy
