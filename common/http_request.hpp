// The head of an HTTP/1.x request, as the master's Prometheus exporter reads it: the request line
// and where the head ends.  Pure and bounded: no I/O, no allocation (views into the buffer).  The
// bytes come from anyone who can reach the exporter's socket: a head that is too long, a bad
// request line, a NUL or a bare control character are errors, never a read past the buffer.
// Header fields are checked for shape and then ignored: the exporter needs none of them.
#pragma once

#include "byte_reader.hpp"

#include <cstddef>
#include <string_view>

namespace myproxy {

/* The most bytes of request head the exporter reads before it gives up with 431. */
inline constexpr std::size_t http_request_head_max = 4096;

struct HttpRequestHead {
	enum class Status : unsigned char {
		incomplete, /* no blank line yet, and the head is still below the limit */
		complete,
		too_large,  /* no blank line within http_request_head_max bytes */
		bad,        /* not an HTTP/1.x request: see problem */
	};
	Status status = Status::incomplete;
	/* complete: "GET"; the request target ("/metrics?x=1"); 0 or 1 for HTTP/1.0 or HTTP/1.1. */
	std::string_view method;
	std::string_view target;
	int minor_version = 0;
	/* complete: bytes of the head, the blank line included (a body would follow). */
	std::size_t head_length = 0;
	/* bad: what is wrong, a static string. */
	const char *problem = nullptr;
};

/* Looks at what has arrived so far (@received, from the connection's first byte). */
HttpRequestHead parse_http_request_head(ByteSpan received) noexcept;

/* The path of a target without its query ("/metrics?x" -> "/metrics"). */
std::string_view http_target_path(std::string_view target) noexcept;

} // namespace myproxy
