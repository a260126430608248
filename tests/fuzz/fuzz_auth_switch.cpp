// Fuzz target for auth_switch.hpp: the input is one authentication-phase payload, given to both
// parse_auth_switch_request() and parse_auth_more_data().  Every view is touched; whatever parses is
// built again and must parse to the same plugin name and data (the scramble's trailing NUL included).
#include "common/auth_switch.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <vector>

using namespace myproxy;

static void check_switch(ByteSpan payload)
{
	const auto request = parse_auth_switch_request(payload);
	if (!request.ok()) {
		FUZZ_CHECK(fuzz::error_ok(request.error(), payload));
		FUZZ_CHECK((request.error().what == AUTH_SWITCH_OLD_STYLE_ERROR) ==
			   (payload.size() == 1 && payload[0] == AUTH_SWITCH_REQUEST_HEADER));
		return;
	}
	FUZZ_CHECK(is_auth_switch_request(payload));
	FUZZ_CHECK(fuzz::view_ok(request->plugin_name, payload));
	FUZZ_CHECK(fuzz::view_ok(request->plugin_data, payload));
	FUZZ_CHECK(!request->plugin_name.empty() && request->plugin_name.find('\0') == std::string_view::npos);

	std::vector<std::uint8_t> out;
	build_auth_switch_request(out, request->plugin_name, request->plugin_data);
	const auto again = parse_auth_switch_request(out);
	FUZZ_CHECK(again.ok());
	FUZZ_CHECK(again->plugin_name == request->plugin_name && fuzz::same(again->plugin_data, request->plugin_data));
}

static void check_more_data(ByteSpan payload)
{
	const auto more = parse_auth_more_data(payload);
	if (!more.ok()) {
		FUZZ_CHECK(fuzz::error_ok(more.error(), payload));
		FUZZ_CHECK(!is_auth_more_data(payload));
		return;
	}
	FUZZ_CHECK(is_auth_more_data(payload));
	FUZZ_CHECK(fuzz::view_ok(more->data, payload));
	FUZZ_CHECK(more->data.size() + 1 == payload.size());

	std::vector<std::uint8_t> out;
	build_auth_more_data(out, more->data);
	FUZZ_CHECK(fuzz::same(out, payload));
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const ByteSpan payload(data, size);
	check_switch(payload);
	check_more_data(payload);
	return 0;
}
