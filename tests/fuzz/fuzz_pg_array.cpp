// Fuzz target for common/pg_array.hpp: parses the input as a PostgreSQL array text; a parsed array
// is encoded again and must parse to the same encoding (the encoder's quoting is the parser's
// inverse), and a failure must point inside the input.
#include "common/pg_array.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <string>
#include <string_view>

using namespace myproxy;

static void touch_tree(const PgArrayElement &element, unsigned depth)
{
	FUZZ_CHECK(depth <= pg_array_max_depth);
	fuzz::touch(element.text);
	for (const PgArrayElement &child : element.elements)
		touch_tree(child, depth + (child.kind == PgArrayElement::Kind::array ? 1 : 0));
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const std::string_view text(reinterpret_cast<const char *>(data), size);
	auto parsed = parse_pg_array(text);
	if (!parsed.ok()) {
		FUZZ_CHECK(parsed.error().offset <= size);
		return 0;
	}
	touch_tree(*parsed, 1);
	const std::string encoded = encode_pg_array(*parsed);
	auto again = parse_pg_array(encoded);
	FUZZ_CHECK(again.ok());
	FUZZ_CHECK(encode_pg_array(*again) == encoded);
	return 0;
}
