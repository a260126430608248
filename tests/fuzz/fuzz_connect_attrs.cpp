// Fuzz target for parse_connect_attrs() (handshake_response41.hpp): the input is one attribute block.
// Checks the iterator the parser promises cannot fail, that every key and value lies inside the
// block, and that the pairs written back as lenenc strings parse to the same pairs.
#include "common/handshake_response41.hpp"
#include "common/lenenc.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <vector>

using namespace myproxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const ByteSpan input(data, size);
	const auto attrs = parse_connect_attrs(input);
	if (!attrs.ok()) {
		FUZZ_CHECK(fuzz::error_ok(attrs.error(), input));
		return 0;
	}
	FUZZ_CHECK(attrs->size() <= MAX_CONNECT_ATTRS);
	FUZZ_CHECK(fuzz::same(attrs->bytes(), input));

	std::vector<std::uint8_t> rebuilt;
	ByteWriter w(rebuilt);
	std::vector<ConnectAttr> pairs;
	for (const ConnectAttr &attr : *attrs) {
		FUZZ_CHECK(fuzz::view_ok(attr.key, input));
		FUZZ_CHECK(fuzz::view_ok(attr.value, input));
		const auto found = attrs->find(attr.key);
		FUZZ_CHECK(found.has_value() && found->data() <= attr.value.data());
		write_lenenc_string(w, attr.key);
		write_lenenc_string(w, attr.value);
		pairs.push_back(attr);
	}
	FUZZ_CHECK(pairs.size() == attrs->size());
	/* The input may use longer lenenc forms than needed; the rebuilt block is never longer. */
	FUZZ_CHECK(rebuilt.size() <= input.size());

	const auto again = parse_connect_attrs(rebuilt);
	FUZZ_CHECK(again.ok() && again->size() == pairs.size());
	std::size_t i = 0;
	for (const ConnectAttr &attr : *again) {
		FUZZ_CHECK(attr.key == pairs[i].key && attr.value == pairs[i].value);
		++i;
	}
	return 0;
}
