// Fuzz target for handshake_response41.hpp: parses a client's HandshakeResponse41 (or SSLRequest),
// touches every view including each connection attribute, and, when the builder accepts the parsed
// fields, builds the packet again and parses that: every field must come back the same.
#include "common/handshake_response41.hpp"
#include "common/mysql_capabilities.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <vector>

using namespace myproxy;

static std::vector<ConnectAttr> attr_list(const ConnectAttrs &attrs)
{
	return {attrs.begin(), attrs.end()};
}

static bool same_attrs(const ConnectAttrs &a, const ConnectAttrs &b)
{
	const auto list_a = attr_list(a);
	const auto list_b = attr_list(b);
	if (a.size() != b.size() || list_a.size() != list_b.size())
		return false;
	for (std::size_t i = 0; i < list_a.size(); ++i)
		if (list_a[i].key != list_b[i].key || list_a[i].value != list_b[i].value)
			return false;
	return true;
}

static bool same_response(const HandshakeResponse41 &a, const HandshakeResponse41 &b)
{
	return a.capabilities == b.capabilities && a.max_packet_size == b.max_packet_size &&
	       a.character_set == b.character_set && a.mariadb_capabilities == b.mariadb_capabilities &&
	       a.is_ssl_request == b.is_ssl_request && a.user == b.user &&
	       fuzz::same(a.auth_response, b.auth_response) && a.database == b.database &&
	       a.auth_plugin_name == b.auth_plugin_name && same_attrs(a.attrs, b.attrs);
}

static void check_attrs(const ConnectAttrs &attrs, ByteSpan input)
{
	FUZZ_CHECK(fuzz::view_ok(attrs.bytes(), input));
	FUZZ_CHECK(attrs.size() <= MAX_CONNECT_ATTRS && attrs.empty() == (attrs.size() == 0));
	std::size_t count = 0;
	for (const ConnectAttr &attr : attrs) {
		FUZZ_CHECK(fuzz::view_ok(attr.key, attrs.bytes()));
		FUZZ_CHECK(fuzz::view_ok(attr.value, attrs.bytes()));
		/* find() returns the first pair with a key; it is this one or an earlier one. */
		const auto found = attrs.find(attr.key);
		FUZZ_CHECK(found.has_value());
		FUZZ_CHECK(found->data() <= attr.value.data());
		++count;
	}
	FUZZ_CHECK(count == attrs.size());
}

static void check_round_trip(const HandshakeResponse41 &response)
{
	const std::vector<ConnectAttr> attrs = attr_list(response.attrs);
	HandshakeResponse41Params params;
	params.capabilities = response.capabilities;
	params.max_packet_size = response.max_packet_size;
	params.character_set = response.character_set;
	params.mariadb_capabilities = response.mariadb_capabilities;
	params.user = response.user;
	params.auth_response = response.auth_response;
	params.database = response.database;
	params.auth_plugin_name = response.auth_plugin_name;
	params.attrs = attrs;

	std::vector<std::uint8_t> out;
	const bool built = response.is_ssl_request ? build_ssl_request(out, params)
						   : build_handshake_response41(out, params);
	/* Whatever the parser accepted, the builder can encode: it uses the same length encodings. */
	FUZZ_CHECK(built);
	const auto again = parse_handshake_response41(out);
	FUZZ_CHECK(again.ok());
	FUZZ_CHECK(same_response(response, *again));
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const ByteSpan input(data, size);
	const auto response = parse_handshake_response41(input);
	if (!response.ok()) {
		FUZZ_CHECK(fuzz::error_ok(response.error(), input));
		return 0;
	}
	FUZZ_CHECK(response->capabilities & CLIENT_PROTOCOL_41);
	FUZZ_CHECK(!response->is_ssl_request || (size == SSL_REQUEST_LENGTH && (response->capabilities & CLIENT_SSL)));
	if (response->capabilities & CLIENT_LONG_PASSWORD)
		FUZZ_CHECK(response->mariadb_capabilities == 0);
	FUZZ_CHECK(fuzz::view_ok(response->user, input));
	FUZZ_CHECK(fuzz::view_ok(response->auth_response, input));
	FUZZ_CHECK(fuzz::view_ok(response->database, input));
	FUZZ_CHECK(fuzz::view_ok(response->auth_plugin_name, input));
	FUZZ_CHECK(response->user.find('\0') == std::string_view::npos);
	FUZZ_CHECK(response->database.find('\0') == std::string_view::npos);
	FUZZ_CHECK(response->auth_plugin_name.find('\0') == std::string_view::npos);
	check_attrs(response->attrs, input);

	check_round_trip(*response);
	return 0;
}
