// AuthSwitchRequest and AuthMoreData; see auth_switch.hpp.
#include "auth_switch.hpp"

#include "byte_writer.hpp"

namespace myproxy {

const char *const AUTH_SWITCH_OLD_STYLE_ERROR =
	"AuthSwitchRequest: old-style request without plugin name (mysql_old_password) not supported";

bool auth_plugin_data_has_trailing_nul(std::string_view plugin_name) noexcept
{
	return plugin_name == "mysql_native_password" || plugin_name == "caching_sha2_password";
}

ParseResult<AuthSwitchRequest> parse_auth_switch_request(ByteSpan payload) noexcept
{
	ByteReader r(payload);
	AuthSwitchRequest request;
	const std::uint8_t header = r.u8("AuthSwitchRequest: header past end");
	if (r.ok() && header != AUTH_SWITCH_REQUEST_HEADER)
		return ParseError{"AuthSwitchRequest: header is not 0xFE", 0};
	if (r.ok() && r.at_end())
		return ParseError{AUTH_SWITCH_OLD_STYLE_ERROR, 1};
	request.plugin_name = r.null_terminated("AuthSwitchRequest: plugin name without NUL");
	if (r.ok() && request.plugin_name.empty())
		return ParseError{"AuthSwitchRequest: empty plugin name", 1};
	request.plugin_data = r.rest();
	if (!r.ok())
		return r.error();
	if (auth_plugin_data_has_trailing_nul(request.plugin_name) && !request.plugin_data.empty() &&
	    request.plugin_data.back() == 0)
		request.plugin_data = request.plugin_data.first(request.plugin_data.size() - 1);
	return request;
}

void build_auth_switch_request(std::vector<std::uint8_t> &out, std::string_view plugin_name,
			       ByteSpan plugin_data)
{
	ByteWriter w(out);
	w.u8(AUTH_SWITCH_REQUEST_HEADER);
	w.null_terminated(plugin_name);
	w.bytes(plugin_data);
	if (auth_plugin_data_has_trailing_nul(plugin_name))
		w.u8(0);
}

bool is_auth_switch_request(ByteSpan payload) noexcept
{
	return !payload.empty() && payload[0] == AUTH_SWITCH_REQUEST_HEADER;
}

ParseResult<AuthMoreData> parse_auth_more_data(ByteSpan payload) noexcept
{
	ByteReader r(payload);
	const std::uint8_t header = r.u8("AuthMoreData: header past end");
	if (r.ok() && header != AUTH_MORE_DATA_HEADER)
		return ParseError{"AuthMoreData: header is not 0x01", 0};
	AuthMoreData more;
	more.data = r.rest();
	if (!r.ok())
		return r.error();
	return more;
}

void build_auth_more_data(std::vector<std::uint8_t> &out, ByteSpan data)
{
	ByteWriter w(out);
	w.u8(AUTH_MORE_DATA_HEADER);
	w.bytes(data);
}

bool is_auth_more_data(ByteSpan payload) noexcept
{
	return !payload.empty() && payload[0] == AUTH_MORE_DATA_HEADER;
}

} // namespace myproxy
