// Fuzz target for common/socket_address.hpp: parse_numeric_address() on hostile text (a config.lua
// string, a Lua argument in a worker).  An address that parses is formatted, and the text parses
// back to the same bytes and formats to the same text (the round trip the log lines rely on), unless
// it is an abstract name with bytes the formatter escapes (\xNN, which the parser does not take);
// an error is a NUL-terminated message inside its fixed buffer.
#include "common/socket_address.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <string_view>

using namespace myproxy;

/* An abstract name with a byte format_socket_address() writes as \xNN. */
static bool escaped_abstract_name(const SocketAddress &address)
{
	if (address.family() != AF_UNIX)
		return false;
	const auto *sun = reinterpret_cast<const sockaddr_un *>(&address.storage);
	const std::size_t base = offsetof(sockaddr_un, sun_path);
	if (address.length <= base || sun->sun_path[0] != '\0')
		return false;
	for (std::size_t i = 1; i < address.length - base; ++i) {
		const auto c = static_cast<unsigned char>(sun->sun_path[i]);
		if (c < 0x20 || c >= 0x7f || c == '\\')
			return true;
	}
	return false;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size == 0)
		return 0;
	/* First byte: the default port (every caller has one, 1..65535; 0 selects MySQL's). */
	const std::uint16_t default_port = data[0] == 0 ? mysql_default_port : std::uint16_t(data[0] * 257u);
	const std::string_view text(reinterpret_cast<const char *>(data) + 1, size - 1);
	const AddressResult parsed = parse_numeric_address(text, default_port);
	if (!parsed) {
		const char *error = parsed.error();
		FUZZ_CHECK(std::memchr(error, '\0', sizeof(AddressError::text)) != nullptr);
		FUZZ_CHECK(error[0] != '\0');
		return 0;
	}
	const SocketAddress &address = parsed.value();
	FUZZ_CHECK(address.defined());
	FUZZ_CHECK(address.length <= sizeof(address.storage));
	char formatted[socket_address_text_max];
	const std::size_t length = format_socket_address(address, formatted, sizeof(formatted));
	FUZZ_CHECK(length < sizeof(formatted) && formatted[length] == '\0');
	if (escaped_abstract_name(address))
		return 0;
	const AddressResult again = parse_numeric_address(std::string_view(formatted, length), default_port);
	FUZZ_CHECK(again.ok());
	FUZZ_CHECK(again.value() == address);
	char formatted_again[socket_address_text_max];
	const std::size_t length_again = format_socket_address(again.value(), formatted_again, sizeof(formatted_again));
	FUZZ_CHECK(std::string_view(formatted, length) == std::string_view(formatted_again, length_again));
	return 0;
}
