// Fuzz target for common/http_request: whatever arrives, the head parser returns one of its four
// answers; a complete head's views lie inside the input and within the head, and a head never
// completes past http_request_head_max bytes.
#include "common/http_request.hpp"
#include "tests/fuzz/fuzz_util.hpp"

using namespace myproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const ByteSpan input(data, size);
	const HttpRequestHead head = parse_http_request_head(input);
	switch (head.status) {
	case HttpRequestHead::Status::complete:
		FUZZ_CHECK(head.head_length <= size && head.head_length <= http_request_head_max);
		FUZZ_CHECK(fuzz::view_ok(head.method, input.first(head.head_length)));
		FUZZ_CHECK(fuzz::view_ok(head.target, input.first(head.head_length)));
		FUZZ_CHECK(!head.target.empty() && head.target.front() == '/');
		FUZZ_CHECK(head.minor_version == 0 || head.minor_version == 1);
		FUZZ_CHECK(fuzz::view_ok(http_target_path(head.target), input));
		break;
	case HttpRequestHead::Status::bad:
		FUZZ_CHECK(head.problem != nullptr);
		break;
	case HttpRequestHead::Status::too_large:
		FUZZ_CHECK(size >= http_request_head_max);
		break;
	case HttpRequestHead::Status::incomplete:
		FUZZ_CHECK(size < http_request_head_max);
		break;
	}
	return 0;
}
