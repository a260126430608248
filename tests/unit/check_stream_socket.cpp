// Unit tests for common/stream_socket: the plain path, and TLS between two StreamSockets over a
// non-blocking socketpair (certificates from the openssl command-line tool): handshake, bytes
// already read before start_tls(), data larger than a TLS record read through a small buffer
// (pending()), verification failures with their reason, close_notify and EOF.
#include "tests/tls_certificates.hpp"
#include "common/stream_socket.hpp"
#include "tests/check_main.hpp"

#include <openssl/ssl.h>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace myproxy;
using namespace myproxy::test;

static char temp_dir[] = "/tmp/check_stream_socket.XXXXXX";
static TestCertificates certs;
static SSL_CTX *server_context = nullptr;
static SSL_CTX *client_context = nullptr;

struct Pair {
	int fds[2] = {-1, -1};
	Pair() { ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0); }
	~Pair()
	{
		close(fds[0]);
		close(fds[1]);
	}
};

/* Runs both handshakes until each is done or failed; returns {server, client} results. */
static std::pair<int, int> handshake(StreamSocket &server, StreamSocket &client)
{
	int s = 0, c = 0;
	for (int i = 0; i < 1000 && (s == 0 || c == 0); ++i) {
		if (c == 0)
			c = client.handshake();
		if (s == 0)
			s = server.handshake();
		if (s < 0 || c < 0)
			break;
	}
	return {s, c};
}

START_TEST(test_plain)
{
	Pair pair;
	StreamSocket a(pair.fds[0]), b(pair.fds[1]);
	ck_assert(!a.tls());
	ck_assert_uint_eq(a.poll_events(EPOLLIN | EPOLLOUT), EPOLLIN | EPOLLOUT);
	ck_assert_uint_eq(a.ready_events(EPOLLOUT | EPOLLHUP), EPOLLOUT | EPOLLHUP);
	char buffer[16];
	ck_assert_int_eq(b.read(buffer, sizeof(buffer)), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(a.write("hello", 5), 5);
	ck_assert_int_eq(b.read(buffer, sizeof(buffer)), 5);
	ck_assert(!b.pending());
	shutdown(pair.fds[0], SHUT_WR);
	ck_assert_int_eq(b.read(buffer, sizeof(buffer)), 0);
}
END_TEST

START_TEST(test_tls_transfer)
{
	Pair pair;
	StreamSocket server(pair.fds[0]), client(pair.fds[1]);
	ck_assert(server.start_tls(server_context, true, nullptr, 0));
	ck_assert(client.start_tls(client_context, false, nullptr, 0, "myproxy.test", true));
	ck_assert(!client.secure());
	/* The client speaks first: it waits for writability, the server for input. */
	ck_assert_uint_eq(client.poll_events(0), EPOLLOUT);
	ck_assert_uint_eq(server.poll_events(EPOLLOUT), EPOLLIN);
	const auto [s, c] = handshake(server, client);
	ck_assert_msg(s == 1 && c == 1, "handshake %d/%d: %s / %s", s, c, server.tls_error().c_str(),
		      client.tls_error().c_str());
	ck_assert(server.secure() && client.secure());

	/* 1 MiB through the socket buffer: partial writes, reads through a 1000-byte buffer. */
	std::string data(1u << 20, '\0');
	for (std::size_t i = 0; i < data.size(); ++i)
		data[i] = char(i * 31 + (i >> 12));
	std::string received;
	std::size_t sent = 0;
	bool saw_pending = false;
	for (int round = 0; round < 100000 && received.size() < data.size(); ++round) {
		if (sent < data.size()) {
			const ssize_t n = client.write(data.data() + sent, data.size() - sent);
			if (n < 0)
				ck_assert_msg(errno == EAGAIN, "write: %s", client.tls_error().c_str());
			else
				sent += std::size_t(n);
		}
		char buffer[1000];
		const ssize_t n = server.read(buffer, sizeof(buffer));
		if (n < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			ck_assert(!server.pending());
			continue;
		}
		ck_assert_int_gt(n, 0);
		received.append(buffer, std::size_t(n));
		/* A record is up to 16 KiB: the rest waits inside OpenSSL, where epoll cannot see it. */
		saw_pending = saw_pending || server.pending();
	}
	ck_assert(received == data);
	ck_assert(saw_pending);

	/* close_notify: the peer reads EOF. */
	client.detach();
	char byte;
	ssize_t n = -1;
	for (int i = 0; i < 100 && n < 0; ++i)
		n = server.read(&byte, 1);
	ck_assert_int_eq(n, 0);
}
END_TEST

/* What was read from the socket before start_tls() (the ClientHello behind an SSLRequest) is
 * handed over and used first. */
START_TEST(test_early_bytes)
{
	Pair pair;
	StreamSocket server(pair.fds[0]), client(pair.fds[1]);
	ck_assert(client.start_tls(client_context, false, nullptr, 0, "127.0.0.1", true));
	ck_assert_int_eq(client.handshake(), 0);
	std::vector<std::uint8_t> early(65536);
	const ssize_t n = recv(pair.fds[0], early.data(), early.size(), 0);
	ck_assert_int_gt(n, 0);
	ck_assert(server.start_tls(server_context, true, early.data(), std::size_t(n)));
	const auto [s, c] = handshake(server, client);
	ck_assert_msg(s == 1 && c == 1, "handshake %d/%d: %s / %s", s, c, server.tls_error().c_str(),
		      client.tls_error().c_str());
	ck_assert_int_eq(server.write("ok", 2), 2);
	char buffer[4];
	ssize_t got = -1;
	for (int i = 0; i < 100 && got < 0; ++i)
		got = client.read(buffer, sizeof(buffer));
	ck_assert_int_eq(got, 2);
}
END_TEST

START_TEST(test_verification_failures)
{
	{
		Pair pair;
		StreamSocket server(pair.fds[0]), client(pair.fds[1]);
		ck_assert(server.start_tls(server_context, true, nullptr, 0));
		ck_assert(client.start_tls(client_context, false, nullptr, 0, "other.test", true));
		const auto [s, c] = handshake(server, client);
		ck_assert_int_eq(c, -1);
		ck_assert_int_eq(errno, tls_errno);
		ck_assert_msg(client.tls_error().find("certificate verification failed: hostname mismatch") !=
				      std::string::npos,
			      "%s", client.tls_error().c_str());
		ck_assert(s <= 0);
	}
	{
		/* Without verification any name goes (and no CA is needed). */
		Pair pair;
		StreamSocket server(pair.fds[0]), client(pair.fds[1]);
		SSL_CTX *no_ca = SSL_CTX_new(TLS_client_method());
		ck_assert(server.start_tls(server_context, true, nullptr, 0));
		ck_assert(client.start_tls(no_ca, false, nullptr, 0, "other.test", false));
		const auto [s, c] = handshake(server, client);
		ck_assert_int_eq(s, 1);
		ck_assert_int_eq(c, 1);
		client.detach();
		SSL_CTX_free(no_ca);
	}
	{
		/* A peer that is no TLS server. */
		Pair pair;
		StreamSocket client(pair.fds[1]);
		ck_assert(client.start_tls(client_context, false, nullptr, 0, "myproxy.test", true));
		ck_assert_int_eq(client.handshake(), 0);
		ck_assert_int_eq(write(pair.fds[0], "HTTP/1.0 400 Bad Request\r\n\r\n", 28), 28);
		ck_assert_int_eq(client.handshake(), -1);
		ck_assert(!client.tls_error().empty());
	}
}
END_TEST

static Suite *stream_socket_suite()
{
	Suite *s = suite_create("stream_socket");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_plain);
	tcase_add_test(tc, test_tls_transfer);
	tcase_add_test(tc, test_early_bytes);
	tcase_add_test(tc, test_verification_failures);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	if (mkdtemp(temp_dir) == nullptr) {
		std::perror("mkdtemp");
		return EXIT_FAILURE;
	}
	int status = EXIT_FAILURE;
	try {
		certs = make_test_certificates(temp_dir);
		server_context = SSL_CTX_new(TLS_server_method());
		client_context = SSL_CTX_new(TLS_client_method());
		if (SSL_CTX_use_certificate_chain_file(server_context, certs.proxy_cert().c_str()) == 1 &&
		    SSL_CTX_use_PrivateKey_file(server_context, certs.proxy_key().c_str(), SSL_FILETYPE_PEM) == 1 &&
		    SSL_CTX_load_verify_file(client_context, certs.ca().c_str()) == 1)
			status = run_check_suites({stream_socket_suite()});
		else
			std::fprintf(stderr, "cannot load the test certificates\n");
	} catch (const std::exception &e) {
		std::fprintf(stderr, "%s\n", e.what());
	}
	SSL_CTX_free(server_context);
	SSL_CTX_free(client_context);
	const std::string cleanup = std::string("rm -rf '") + temp_dir + "'";
	if (std::system(cleanup.c_str()) != 0)
		std::fprintf(stderr, "cannot remove %s\n", temp_dir);
	return status;
}
