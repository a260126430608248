// The Prometheus exporter's HTTP/1.x server in the master: GET (or HEAD) /metrics answers with the
// text the callback renders; other paths 404, other methods 405, bad requests 400, oversized heads
// 431.  Non-blocking on the master's sd-event loop, one response per connection (Connection:
// close), bounded: at most http_max_connections at once (more are closed at accept), a head of at
// most http_request_head_max bytes, and one deadline per connection for reading and writing.  It
// must never block or stall the master, whatever a client sends or fails to read.
#pragma once

#include "common/event_source.hpp"
#include "common/unique_fd.hpp"

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;

namespace myproxy {

inline constexpr unsigned http_max_connections = 16;
inline constexpr std::uint64_t http_deadline_usec = 5'000'000;

class HttpServer {
public:
	/* @listener: a listening stream socket (non-blocking).  @render: the /metrics body. */
	HttpServer(sd_event *event, UniqueFd listener, std::string description, std::function<std::string()> render);
	~HttpServer();

	HttpServer(const HttpServer &) = delete;
	HttpServer &operator=(const HttpServer &) = delete;

	/* Returns 0 or a negative errno (logged). */
	int start();
	/* Stops accepting (shutdown); connections in flight finish or hit their deadline. */
	void stop() noexcept;

	struct Connection;

private:
	sd_event *event;
	UniqueFd listener;
	std::string description;
	std::function<std::string()> render;
	EventSource accept_source;
	std::list<std::unique_ptr<Connection>> connections;

	void accept_connections();
	void connection_readable(Connection &connection);
	void respond(Connection &connection, int status, const char *reason, const std::string &body,
		     bool head_only, const char *extra_headers = "");
	void write_some(Connection &connection);
	void finish(Connection &connection);

	static int on_accept(sd_event_source *, int, std::uint32_t, void *userdata);
	static int on_io(sd_event_source *, int, std::uint32_t revents, void *userdata);
	static int on_deadline(sd_event_source *, std::uint64_t, void *userdata);
};

} // namespace myproxy
