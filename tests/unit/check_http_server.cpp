// Unit tests for master/http_server on a real sd-event loop in this process, with plain sockets as
// clients: every answer (200, HEAD, 404, 405, 400, 431, 500 when rendering throws), a body larger
// than the socket buffer written as the client reads, the connection cap (the 17th is closed at
// accept), clients that hang up early, and the deadline for a client that never sends.
#include "master/http_server.hpp"

#include <systemd/sd-event.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

/* Last: check.h defines macros (fail) that <chrono> would trip over. */
#include "tests/check_main.hpp"

using namespace myproxy;

namespace {

struct Harness {
	sd_event *event = nullptr;
	sockaddr_in address{};
	std::string body = "myproxy_up 1\n";
	bool render_throws = false;
	std::unique_ptr<HttpServer> server;

	Harness()
	{
		ck_assert_int_ge(sd_event_new(&event), 0);
		UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
		address.sin_family = AF_INET;
		address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ck_assert_int_eq(bind(listener.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)), 0);
		socklen_t length = sizeof(address);
		ck_assert_int_eq(getsockname(listener.get(), reinterpret_cast<sockaddr *>(&address), &length), 0);
		ck_assert_int_eq(listen(listener.get(), 64), 0);
		server = std::make_unique<HttpServer>(event, std::move(listener), "test", [this] {
			if (render_throws)
				throw std::runtime_error("render failed on purpose");
			return body;
		});
		ck_assert_int_ge(server->start(), 0);
	}
	~Harness()
	{
		server.reset();
		sd_event_unref(event);
	}

	UniqueFd connect_client()
	{
		UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
		ck_assert_int_eq(connect(fd.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)), 0);
		return fd;
	}

	void pump(int rounds = 1)
	{
		for (int i = 0; i < rounds; ++i)
			ck_assert_int_ge(sd_event_run(event, 1'000), 0);
	}

	/* Reads what the server sends until it closes, running the loop meanwhile. */
	std::string read_all(int fd, std::chrono::seconds limit = std::chrono::seconds(20))
	{
		std::string text;
		const auto until = std::chrono::steady_clock::now() + limit;
		while (std::chrono::steady_clock::now() < until) {
			pump();
			char buffer[65536];
			const ssize_t n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
			if (n == 0)
				return text;
			if (n > 0)
				text.append(buffer, std::size_t(n));
			else if (errno != EAGAIN)
				return text + "<recv error>";
		}
		return text + "<no end>";
	}

	std::string exchange(const std::string &request)
	{
		UniqueFd fd = connect_client();
		ck_assert_int_eq(send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL), ssize_t(request.size()));
		return read_all(fd.get());
	}
};

bool starts_with(const std::string &text, const char *prefix)
{
	return text.rfind(prefix, 0) == 0;
}

} // namespace

START_TEST(test_answers)
{
	Harness h;
	const std::string ok = h.exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_msg(starts_with(ok, "HTTP/1.1 200 OK\r\n"), "%s", ok.c_str());
	ck_assert(ok.ends_with("\r\n\r\nmyproxy_up 1\n"));
	const std::string head = h.exchange("HEAD /metrics HTTP/1.1\r\n\r\n");
	ck_assert(starts_with(head, "HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"));
	ck_assert(head.find("Content-Length: 13\r\n") != std::string::npos);
	ck_assert(starts_with(h.exchange("GET /other HTTP/1.1\r\n\r\n"), "HTTP/1.1 404 Not Found\r\n"));
	const std::string post = h.exchange("POST /metrics HTTP/1.1\r\n\r\n");
	ck_assert(starts_with(post, "HTTP/1.1 405 Method Not Allowed\r\n"));
	ck_assert(post.find("Allow: GET, HEAD\r\n") != std::string::npos);
	ck_assert(starts_with(h.exchange("\x01\x02 nonsense\r\n\r\n"), "HTTP/1.1 400 Bad Request\r\n"));
	const std::string huge = "GET /metrics HTTP/1.1\r\nX: " + std::string(8192, 'a') + "\r\n\r\n";
	ck_assert(starts_with(h.exchange(huge), "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
	h.render_throws = true;
	ck_assert(starts_with(h.exchange("GET /metrics HTTP/1.1\r\n\r\n"), "HTTP/1.1 500 Internal Server Error\r\n"));
}
END_TEST

START_TEST(test_large_body_to_a_slow_reader)
{
	Harness h;
	h.body = std::string(8 << 20, 'm'); /* more than the socket buffers hold */
	UniqueFd fd = h.connect_client();
	const std::string request = "GET /metrics HTTP/1.1\r\n\r\n";
	ck_assert_int_eq(send(fd.get(), request.data(), request.size(), 0), ssize_t(request.size()));
	h.pump(20); /* the server fills the socket and waits for EPOLLOUT */
	const std::string answer = h.read_all(fd.get());
	ck_assert(starts_with(answer, "HTTP/1.1 200 OK\r\n"));
	ck_assert_msg(answer.ends_with(std::string(1000, 'm')), "%zu bytes, ending %s", answer.size(),
		      answer.substr(answer.size() > 20 ? answer.size() - 20 : 0).c_str());
	ck_assert_uint_eq(answer.size() - answer.find("\r\n\r\n") - 4, h.body.size());
}
END_TEST

START_TEST(test_connection_cap_and_hang_ups)
{
	Harness h;
	std::vector<UniqueFd> idle;
	for (unsigned i = 0; i < http_max_connections; ++i)
		idle.push_back(h.connect_client());
	h.pump(5);
	/* The 17th is closed at once, without an answer. */
	UniqueFd extra = h.connect_client();
	const std::string refused = h.read_all(extra.get());
	ck_assert_msg(refused.empty(), "%s", refused.c_str());
	/* Clients that hang up, before or in the middle of their head, free their places. */
	idle[0].reset();
	ck_assert_int_eq(send(idle[1].get(), "GET /met", 8, 0), 8);
	h.pump(3);
	idle[1].reset();
	h.pump(5);
	const std::string ok = h.exchange("GET /metrics HTTP/1.0\r\n\r\n");
	ck_assert_msg(starts_with(ok, "HTTP/1.1 200 OK\r\n"), "%s", ok.c_str());
	h.server->stop();
}
END_TEST

START_TEST(test_deadline)
{
	Harness h;
	UniqueFd silent = h.connect_client();
	/* Half a head, then nothing: closed at the deadline (5 s), without an answer. */
	const std::string half = "GET /metrics HTTP/1.1\r\n";
	ck_assert_int_eq(send(silent.get(), half.data(), half.size(), 0), ssize_t(half.size()));
	const auto start = std::chrono::steady_clock::now();
	const std::string answer = h.read_all(silent.get(), std::chrono::seconds(30));
	ck_assert_msg(answer.empty(), "%s", answer.c_str());
	ck_assert(std::chrono::steady_clock::now() - start >= std::chrono::microseconds(http_deadline_usec - 200'000));
}
END_TEST

static Suite *http_server_suite()
{
	Suite *s = suite_create("http_server");
	TCase *tc = tcase_create("server");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_answers);
	tcase_add_test(tc, test_large_body_to_a_slow_reader);
	tcase_add_test(tc, test_connection_cap_and_hang_ups);
	tcase_add_test(tc, test_deadline);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({http_server_suite()});
}
