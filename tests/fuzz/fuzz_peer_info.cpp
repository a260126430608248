// Fuzz target for master/peer_info.hpp's parse_cgroup_v2_path(): a /proc/PID/cgroup text, which a
// client can shape (cgroup names are its choice).  A path that parses is a view into the input,
// absolute, bounded, NUL-free, and the input has exactly one "0::" line, which carries it.
#include "common/channel_protocol.hpp"
#include "master/peer_info.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <string>
#include <string_view>

using namespace myproxy;

/* Lines starting with "0::", complete ones (ending in '\n') only. */
static std::size_t v2_lines(std::string_view text, std::string_view &last_path)
{
	std::size_t count = 0;
	std::size_t start = 0;
	for (std::size_t end; (end = text.find('\n', start)) != std::string_view::npos; start = end + 1) {
		const std::string_view line = text.substr(start, end - start);
		if (line.starts_with("0::")) {
			++count;
			last_path = line.substr(3);
		}
	}
	return count;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const std::string_view text(reinterpret_cast<const char *>(data), size);
	const auto parsed = parse_cgroup_v2_path(text);
	if (!parsed.ok()) {
		FUZZ_CHECK(parsed.error().offset <= size);
		return 0;
	}
	const std::string_view path = parsed.value();
	fuzz::touch(path);
	FUZZ_CHECK(fuzz::within(path, ByteSpan(data, size)));
	FUZZ_CHECK(!path.empty() && path.front() == '/');
	FUZZ_CHECK(path.size() <= channel_max_cgroup_path);
	FUZZ_CHECK(path.find('\0') == std::string_view::npos);
	FUZZ_CHECK(text.find('\0') == std::string_view::npos);
	std::string_view line_path;
	FUZZ_CHECK(v2_lines(text, line_path) == 1);
	FUZZ_CHECK(line_path == path);
	return 0;
}
