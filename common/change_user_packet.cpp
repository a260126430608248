// COM_CHANGE_USER parser and builder; see change_user_packet.hpp.
#include "change_user_packet.hpp"

#include "byte_writer.hpp"
#include "command_packet.hpp"
#include "lenenc.hpp"
#include "mysql_capabilities.hpp"

namespace myproxy {

ParseResult<ChangeUserCommand> parse_change_user(ByteSpan payload, std::uint32_t capabilities) noexcept
{
	ByteReader r(payload);
	if (r.u8("COM_CHANGE_USER: empty packet") != COM_CHANGE_USER && r.ok()) {
		r.fail("COM_CHANGE_USER: wrong command byte");
		return r.error();
	}
	ChangeUserCommand command;
	command.user = r.null_terminated("COM_CHANGE_USER: user without NUL");
	if (capabilities & CLIENT_SECURE_CONNECTION) {
		const std::uint8_t length = r.u8("COM_CHANGE_USER: auth response length past end");
		command.auth_response = r.bytes(length, "COM_CHANGE_USER: auth response past end");
	} else {
		const std::string_view auth = r.null_terminated("COM_CHANGE_USER: auth response without NUL");
		command.auth_response = ByteSpan(reinterpret_cast<const std::uint8_t *>(auth.data()), auth.size());
	}
	command.database = r.null_terminated("COM_CHANGE_USER: database without NUL");
	if (!r.ok())
		return r.error();

	if (r.remaining() >= 2)
		command.character_set = r.u16("COM_CHANGE_USER: character set past end");
	else if (!r.at_end())
		return ParseError{"COM_CHANGE_USER: character set cut short", r.offset()};

	if (auto tail_error = read_login_tail(r, capabilities, command.auth_plugin_name, command.attrs))
		return *tail_error;
	return command;
}

static bool has_nul(std::string_view s) noexcept
{
	return s.find('\0') != std::string_view::npos;
}

bool build_change_user(std::vector<std::uint8_t> &out, const ChangeUserParams &params, std::uint32_t capabilities)
{
	const std::uint32_t required = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
	if ((capabilities & required) != required || has_nul(params.user) || has_nul(params.database) ||
	    has_nul(params.auth_plugin_name) || params.auth_response.size() > 255 ||
	    params.attrs.size() > MAX_CONNECT_ATTRS)
		return false;

	ByteWriter w(out);
	w.u8(COM_CHANGE_USER);
	w.null_terminated(params.user);
	w.u8(std::uint8_t(params.auth_response.size()));
	w.bytes(params.auth_response);
	w.null_terminated(params.database);
	w.u16(params.character_set);
	w.null_terminated(params.auth_plugin_name);
	if ((capabilities & CLIENT_CONNECT_ATTRS) && !params.attrs.empty()) {
		std::size_t total = 0;
		for (const ConnectAttr &attr : params.attrs)
			total += lenenc_int_size(attr.key.size()) + attr.key.size() + lenenc_int_size(attr.value.size()) +
				 attr.value.size();
		write_lenenc_int(w, total);
		for (const ConnectAttr &attr : params.attrs) {
			write_lenenc_string(w, attr.key);
			write_lenenc_string(w, attr.value);
		}
	}
	return true;
}

} // namespace myproxy
