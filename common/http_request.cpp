// Parsing an HTTP/1.x request head (see http_request.hpp).  RFC 9112's grammar, narrowed to what
// the exporter accepts: a token method, an origin-form target of visible ASCII, "HTTP/1.0" or
// "HTTP/1.1", CRLF (or a bare LF, which RFC 9112 lets a server accept) line ends.
#include "common/http_request.hpp"

#include <algorithm>

namespace myproxy {

namespace {

constexpr std::size_t method_max = 16;
constexpr std::size_t target_max = 1024;

bool is_token_char(char c) noexcept
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return true;
	return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_visible(char c) noexcept
{
	return c > 0x20 && c < 0x7f;
}

/* Where the head ends (just past the blank line), or 0 when it has not arrived. */
std::size_t find_head_end(std::string_view text) noexcept
{
	for (std::size_t i = 0; i < text.size(); ++i) {
		if (text[i] != '\n')
			continue;
		if (i + 1 < text.size() && text[i + 1] == '\n')
			return i + 2;
		if (i + 2 < text.size() && text[i + 1] == '\r' && text[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

HttpRequestHead bad(const char *problem) noexcept
{
	HttpRequestHead head;
	head.status = HttpRequestHead::Status::bad;
	head.problem = problem;
	return head;
}

/* One line without its end; strips the CR of a CRLF. */
std::string_view strip_cr(std::string_view line) noexcept
{
	if (!line.empty() && line.back() == '\r')
		line.remove_suffix(1);
	return line;
}

bool header_line_ok(std::string_view line) noexcept
{
	const std::size_t colon = line.find(':');
	if (colon == 0 || colon == std::string_view::npos)
		return false;
	if (!std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(colon), is_token_char))
		return false;
	return std::all_of(line.begin() + static_cast<std::ptrdiff_t>(colon) + 1, line.end(),
			   [](char c) { return c == '\t' || (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f); });
}

} // namespace

HttpRequestHead parse_http_request_head(ByteSpan received) noexcept
{
	const std::string_view all(reinterpret_cast<const char *>(received.data()), received.size());
	const std::string_view window = all.substr(0, http_request_head_max);
	if (window.find('\0') != std::string_view::npos)
		return bad("NUL byte in the request head");
	/* Robustness (RFC 9112 2.2): empty lines before the request line are skipped. */
	std::size_t start = 0;
	while (start < window.size() && (window[start] == '\r' || window[start] == '\n'))
		++start;
	const std::size_t end = find_head_end(window.substr(start));
	if (end == 0) {
		HttpRequestHead head;
		head.status = all.size() >= http_request_head_max ? HttpRequestHead::Status::too_large
								   : HttpRequestHead::Status::incomplete;
		return head;
	}
	const std::string_view text = window.substr(start, end);

	const std::size_t line_end = text.find('\n');
	const std::string_view request_line = strip_cr(text.substr(0, line_end));
	const std::size_t first_space = request_line.find(' ');
	if (first_space == std::string_view::npos || first_space == 0 || first_space > method_max)
		return bad("bad method in the request line");
	const std::string_view method = request_line.substr(0, first_space);
	if (!std::all_of(method.begin(), method.end(), is_token_char))
		return bad("bad method in the request line");
	const std::size_t second_space = request_line.find(' ', first_space + 1);
	if (second_space == std::string_view::npos)
		return bad("no HTTP version in the request line");
	const std::string_view target = request_line.substr(first_space + 1, second_space - first_space - 1);
	if (target.empty() || target.size() > target_max || target.front() != '/' ||
	    !std::all_of(target.begin(), target.end(), is_visible))
		return bad("bad request target");
	const std::string_view version = request_line.substr(second_space + 1);
	if (version != "HTTP/1.0" && version != "HTTP/1.1")
		return bad("not HTTP/1.0 or HTTP/1.1");

	std::string_view rest = text.substr(line_end + 1);
	for (;;) {
		const std::size_t eol = rest.find('\n');
		const std::string_view line = strip_cr(rest.substr(0, eol));
		if (line.empty())
			break;
		if (!header_line_ok(line))
			return bad("malformed header field");
		rest.remove_prefix(eol + 1);
	}

	HttpRequestHead head;
	head.status = HttpRequestHead::Status::complete;
	head.method = method;
	head.target = target;
	head.minor_version = version.back() - '0';
	head.head_length = start + end;
	return head;
}

std::string_view http_target_path(std::string_view target) noexcept
{
	return target.substr(0, target.find('?'));
}

} // namespace myproxy
