// The exporter's HTTP server (see http_server.hpp).  Each connection: read until the request head
// is complete (common/http_request), answer once, write until done, close.  The deadline timer
// bounds a client that sends slowly or never reads; the connection cap bounds how many such
// clients hold memory.  Nothing here blocks: every socket is non-blocking and every wait is epoll.
#include "master/http_server.hpp"

#include "common/http_request.hpp"
#include "common/log.hpp"

#include <systemd/sd-event.h>

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <string_view>

namespace myproxy {

struct HttpServer::Connection {
	HttpServer *server;
	std::list<std::unique_ptr<Connection>>::iterator self;
	UniqueFd fd;
	EventSource io;
	EventSource deadline;
	std::string in;
	std::string out;
	std::size_t written = 0;
	bool responding = false;
};

HttpServer::HttpServer(sd_event *event_, UniqueFd listener_, std::string description_,
		       std::function<std::string()> render_)
	: event(event_), listener(std::move(listener_)), description(std::move(description_)), render(std::move(render_))
{
}

HttpServer::~HttpServer()
{
	connections.clear();
}

int HttpServer::start()
{
	const int r = sd_event_add_io(event, accept_source.out(), listener.get(), EPOLLIN, on_accept, this);
	if (r < 0)
		log_errno(LogLevel::error, -r, nullptr, "prometheus %s: sd_event_add_io", description.c_str());
	return r;
}

void HttpServer::stop() noexcept
{
	accept_source.reset();
	listener.reset();
}

int HttpServer::on_accept(sd_event_source *, int, std::uint32_t, void *userdata)
{
	static_cast<HttpServer *>(userdata)->accept_connections();
	return 0;
}

void HttpServer::accept_connections()
{
	for (unsigned i = 0; i < http_max_connections; ++i) {
		UniqueFd fd(accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
		if (!fd) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_errno(LogLevel::warning, errno, nullptr, "prometheus %s: accept4", description.c_str());
			return;
		}
		if (connections.size() >= http_max_connections) {
			/* Full: this client is closed at once rather than queued behind slow ones. */
			log_debug("prometheus %s: %u connections open; closing a new one", description.c_str(),
				  http_max_connections);
			continue;
		}
		auto connection = std::make_unique<Connection>();
		connection->server = this;
		connection->fd = std::move(fd);
		Connection &c = *connection;
		connections.push_front(std::move(connection));
		c.self = connections.begin();
		if (sd_event_add_io(event, c.io.out(), c.fd.get(), EPOLLIN, on_io, &c) < 0 ||
		    sd_event_add_time_relative(event, c.deadline.out(), CLOCK_MONOTONIC, http_deadline_usec, 100'000,
					       on_deadline, &c) < 0) {
			log_error("prometheus %s: cannot watch a connection", description.c_str());
			finish(c);
		}
	}
}

int HttpServer::on_io(sd_event_source *, int, std::uint32_t revents, void *userdata)
{
	Connection &c = *static_cast<Connection *>(userdata);
	if (c.responding) {
		if (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			c.server->write_some(c);
	} else {
		c.server->connection_readable(c);
	}
	return 0;
}

int HttpServer::on_deadline(sd_event_source *, std::uint64_t, void *userdata)
{
	Connection &c = *static_cast<Connection *>(userdata);
	log_debug("prometheus %s: a connection missed its deadline", c.server->description.c_str());
	c.server->finish(c);
	return 0;
}

void HttpServer::connection_readable(Connection &c)
{
	char buffer[2048];
	const ssize_t n = recv(c.fd.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		finish(c);
		return;
	}
	/* Never more than one head plus one read: the parser looks at http_request_head_max bytes. */
	if (c.in.size() < http_request_head_max)
		c.in.append(buffer, std::size_t(n));

	const auto head = parse_http_request_head(
		ByteSpan(reinterpret_cast<const std::uint8_t *>(c.in.data()), c.in.size()));
	switch (head.status) {
	case HttpRequestHead::Status::incomplete:
		return;
	case HttpRequestHead::Status::too_large:
		respond(c, 431, "Request Header Fields Too Large", "request head too large\n", false);
		return;
	case HttpRequestHead::Status::bad:
		log_debug("prometheus %s: bad request: %s", description.c_str(), head.problem);
		respond(c, 400, "Bad Request", std::string(head.problem) + "\n", false);
		return;
	case HttpRequestHead::Status::complete:
		break;
	}
	const bool head_only = head.method == "HEAD";
	if (head.method != "GET" && !head_only) {
		respond(c, 405, "Method Not Allowed", "only GET and HEAD\n", false, "Allow: GET, HEAD\r\n");
		return;
	}
	if (http_target_path(head.target) != "/metrics") {
		respond(c, 404, "Not Found", "metrics are at /metrics\n", head_only);
		return;
	}
	std::string body;
	try {
		body = render();
	} catch (const std::exception &e) {
		log_error("prometheus %s: %s", description.c_str(), e.what());
		respond(c, 500, "Internal Server Error", "internal error\n", head_only);
		return;
	}
	respond(c, 200, "OK", body, head_only, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n");
}

void HttpServer::respond(Connection &c, int status, const char *reason, const std::string &body, bool head_only,
			 const char *extra_headers)
{
	char header[256];
	std::snprintf(header, sizeof(header), "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
		      status, reason, body.size(), extra_headers);
	c.out = header;
	if (!head_only)
		c.out += body;
	c.in.clear();
	c.in.shrink_to_fit();
	c.responding = true;
	/* What the client sends from now on is ignored; its hang-up still ends the connection. */
	sd_event_source_set_io_events(c.io.get(), EPOLLOUT);
	write_some(c);
}

void HttpServer::write_some(Connection &c)
{
	while (c.written < c.out.size()) {
		const ssize_t n = send(c.fd.get(), c.out.data() + c.written, c.out.size() - c.written,
				       MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			finish(c);
			return;
		}
		c.written += std::size_t(n);
	}
	/* Half-close, so the client sees the end even if it keeps sending. */
	shutdown(c.fd.get(), SHUT_WR);
	finish(c);
}

void HttpServer::finish(Connection &c)
{
	/* Unref the sources before the fd closes (the destructor does both, in that order). */
	connections.erase(c.self);
}

} // namespace myproxy
