// Fuzz target for handshake_v10.hpp: parses a server greeting, touches every view it hands out, joins
// the scramble, and, when build_handshake_v10() accepts the parsed fields, builds the greeting again
// and parses that: every field must come back the same.
#include "common/handshake_v10.hpp"
#include "common/mysql_capabilities.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <vector>

using namespace myproxy;

static bool same_greeting(const HandshakeV10 &a, const HandshakeV10 &b)
{
	return a.protocol_version == b.protocol_version && a.server_version == b.server_version &&
	       a.connection_id == b.connection_id && fuzz::same(a.auth_plugin_data_1, b.auth_plugin_data_1) &&
	       fuzz::same(a.auth_plugin_data_2, b.auth_plugin_data_2) && a.capabilities == b.capabilities &&
	       a.mariadb_capabilities == b.mariadb_capabilities && a.character_set == b.character_set &&
	       a.status_flags == b.status_flags && a.auth_plugin_name == b.auth_plugin_name;
}

static void check_round_trip(const HandshakeV10 &greeting)
{
	std::vector<std::uint8_t> scramble(greeting.auth_plugin_data_1.begin(), greeting.auth_plugin_data_1.end());
	scramble.insert(scramble.end(), greeting.auth_plugin_data_2.begin(), greeting.auth_plugin_data_2.end());
	HandshakeV10Params params;
	params.server_version = greeting.server_version;
	params.connection_id = greeting.connection_id;
	params.scramble = scramble;
	params.capabilities = greeting.capabilities;
	params.mariadb_capabilities = greeting.mariadb_capabilities;
	params.character_set = greeting.character_set;
	params.status_flags = greeting.status_flags;
	params.auth_plugin_name = greeting.auth_plugin_name;

	std::vector<std::uint8_t> out;
	if (!build_handshake_v10(out, params)) {
		/* Refusing must append nothing.  Only a part 2 can have a size the builder cannot announce
		 * (e.g. 13 bytes without a NUL when there is no length byte). */
		FUZZ_CHECK(out.empty());
		FUZZ_CHECK(greeting.capabilities & CLIENT_SECURE_CONNECTION);
		return;
	}
	const auto again = parse_handshake_v10(out);
	FUZZ_CHECK(again.ok());
	FUZZ_CHECK(same_greeting(greeting, *again));
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const ByteSpan input(data, size);
	const auto greeting = parse_handshake_v10(input);
	if (!greeting.ok()) {
		FUZZ_CHECK(fuzz::error_ok(greeting.error(), input));
		return 0;
	}
	FUZZ_CHECK(greeting->protocol_version == HANDSHAKE_V10_PROTOCOL_VERSION);
	FUZZ_CHECK(fuzz::view_ok(greeting->server_version, input));
	FUZZ_CHECK(fuzz::view_ok(greeting->auth_plugin_data_1, input));
	FUZZ_CHECK(fuzz::view_ok(greeting->auth_plugin_data_2, input));
	FUZZ_CHECK(fuzz::view_ok(greeting->auth_plugin_name, input));
	FUZZ_CHECK(greeting->auth_plugin_data_1.size() == 8);
	FUZZ_CHECK(greeting->server_version.find('\0') == std::string_view::npos);
	FUZZ_CHECK(greeting->auth_plugin_name.find('\0') == std::string_view::npos);
	if (greeting->capabilities & CLIENT_LONG_PASSWORD)
		FUZZ_CHECK(greeting->mariadb_capabilities == 0);

	const auto scramble = handshake_v10_scramble20(*greeting);
	const std::size_t scramble_size = greeting->auth_plugin_data_1.size() + greeting->auth_plugin_data_2.size();
	FUZZ_CHECK(scramble.ok() == (scramble_size >= HANDSHAKE_SCRAMBLE_LENGTH));
	if (scramble.ok())
		fuzz::touch(*scramble);

	check_round_trip(*greeting);
	return 0;
}
