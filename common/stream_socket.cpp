// StreamSocket (see stream_socket.hpp).  TLS runs over a small BIO of our own instead of OpenSSL's
// socket BIO for two reasons: the bytes a client sent right behind its SSLRequest were already read
// into the login buffer and must reach OpenSSL first, and send() with MSG_NOSIGNAL is the same
// syscall the plain path makes (recvfrom/sendto), so the sandbox's list stays short.
#include "common/stream_socket.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cstring>
#include <new>

namespace myproxy {

struct StreamSocketBio {
	static int read(BIO *bio, char *buffer, int size) noexcept
	{
		auto *stream = static_cast<StreamSocket *>(BIO_get_data(bio));
		BIO_clear_retry_flags(bio);
		if (size <= 0)
			return 0;
		StreamSocket::TlsExtras *extras = stream->extras.get();
		if (extras != nullptr && extras->early_read < extras->early_copy.size()) {
			const std::size_t n = std::min(extras->early_copy.size() - extras->early_read, std::size_t(size));
			std::memcpy(buffer, extras->early_copy.data() + extras->early_read, n);
			extras->early_read += n;
			if (extras->early_read == extras->early_copy.size()) {
				extras->early_copy.clear();
				extras->early_copy.shrink_to_fit();
				extras->early_read = 0;
			}
			return int(n);
		}
		ssize_t n;
		do
			n = ::recv(stream->fd_, buffer, std::size_t(size), MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno == EAGAIN)
			BIO_set_retry_read(bio);
		return int(n);
	}

	static int write(BIO *bio, const char *buffer, int size) noexcept
	{
		auto *stream = static_cast<StreamSocket *>(BIO_get_data(bio));
		BIO_clear_retry_flags(bio);
		if (size <= 0)
			return 0;
		ssize_t n;
		do
			n = ::send(stream->fd_, buffer, std::size_t(size), MSG_DONTWAIT | MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno == EAGAIN)
			BIO_set_retry_write(bio);
		return int(n);
	}

	static long ctrl(BIO *, int command, long, void *) noexcept
	{
		/* Writes go straight to the socket: nothing to flush.  Everything else (kTLS, datagram
		 * controls, ...) is not supported. */
		return command == BIO_CTRL_FLUSH ? 1 : 0;
	}

	static int create(BIO *bio) noexcept
	{
		BIO_set_init(bio, 1);
		return 1;
	}

	static BIO_METHOD *method() noexcept
	{
		/* Built once per process, on first use (the master's first TLS check, or a worker's first
		 * TLS connection; a worker forked later inherits the master's). */
		static BIO_METHOD *const instance = [] {
			BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "myproxy stream");
			if (m != nullptr) {
				BIO_meth_set_read(m, read);
				BIO_meth_set_write(m, write);
				BIO_meth_set_ctrl(m, ctrl);
				BIO_meth_set_create(m, create);
			}
			return m;
		}();
		return instance;
	}
};

StreamSocket::~StreamSocket() noexcept
{
	detach();
}

void StreamSocket::attach(int fd) noexcept
{
	detach();
	fd_ = fd;
}

void StreamSocket::detach() noexcept
{
	if (ssl != nullptr) {
		if (handshake_done && !broken) {
			/* close_notify, best effort: one try, never waiting for the peer's. */
			ERR_clear_error();
			(void)SSL_shutdown(ssl);
		}
		SSL_free(ssl);
		ssl = nullptr;
		ERR_clear_error();
	}
	handshake_done = broken = false;
	read_wait = write_wait = handshake_wait = 0;
	if (extras) {
		extras->early_copy.clear();
		extras->early_copy.shrink_to_fit();
		extras->early_read = 0;
	}
	fd_ = -1;
}

StreamSocket::TlsExtras *StreamSocket::tls_extras() noexcept
{
	if (!extras)
		extras.reset(new (std::nothrow) TlsExtras);
	return extras.get();
}

const std::string &StreamSocket::tls_error() const noexcept
{
	static const std::string none;
	return extras ? extras->error_text : none;
}

void StreamSocket::set_error(const char *text) noexcept
{
	if (TlsExtras *x = tls_extras()) {
		try {
			x->error_text = text;
		} catch (...) {
		}
	}
}

void StreamSocket::record_error(const char *operation) noexcept
{
	TlsExtras *x = tls_extras();
	if (x == nullptr) {
		ERR_clear_error();
		return;
	}
	std::string &error_text = x->error_text;
	try {
		error_text = operation;
		error_text += ": ";
		const long verify = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
		const unsigned long code = ERR_peek_last_error();
		if (verify != X509_V_OK) {
			error_text += "certificate verification failed: ";
			error_text += X509_verify_cert_error_string(verify);
		} else if (code != 0) {
			char text[256];
			ERR_error_string_n(code, text, sizeof(text));
			error_text += text;
		} else {
			error_text += "TLS protocol error";
		}
	} catch (...) {
	}
	ERR_clear_error();
}

bool StreamSocket::start_tls(SSL_CTX *context, bool server_side, const std::uint8_t *early, std::size_t early_size,
			     const std::string &server_name, bool verify) noexcept
{
	ERR_clear_error();
	BIO_METHOD *method = StreamSocketBio::method();
	if (method == nullptr || context == nullptr || fd_ < 0) {
		set_error("TLS setup failed");
		return false;
	}
	ssl = SSL_new(context);
	BIO *bio = ssl != nullptr ? BIO_new(method) : nullptr;
	if (bio == nullptr) {
		record_error("SSL_new");
		return false;
	}
	BIO_set_data(bio, this);
	SSL_set_bio(ssl, bio, bio);
	/* Partial writes and a moving buffer: the relay's buffers compact while a write waits.
	 * Buffers are freed while idle: most proxied connections are idle most of the time. */
	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				  SSL_MODE_RELEASE_BUFFERS);
	/* The MySQL protocol frames itself: a peer that closes without close_notify cannot truncate
	 * a packet unnoticed, and many clients do exactly that after COM_QUIT. */
	SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (early_size > 0) {
		TlsExtras *x = tls_extras();
		try {
			if (x == nullptr)
				throw std::bad_alloc();
			x->early_copy.assign(reinterpret_cast<const char *>(early), early_size);
			x->early_read = 0;
		} catch (...) {
			set_error("out of memory");
			return false;
		}
	}
	if (server_side) {
		SSL_set_accept_state(ssl);
	} else {
		SSL_set_connect_state(ssl);
		if (!server_name.empty()) {
			unsigned char address[16];
			const bool literal = inet_pton(AF_INET, server_name.c_str(), address) == 1 ||
					     inet_pton(AF_INET6, server_name.c_str(), address) == 1;
			/* SNI carries host names only (RFC 6066). */
			if (!literal && SSL_set_tlsext_host_name(ssl, server_name.c_str()) != 1) {
				record_error("SNI");
				return false;
			}
			if (verify) {
				const int set = literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
											server_name.c_str())
							: SSL_set1_host(ssl, server_name.c_str());
				if (set != 1) {
					record_error("server name");
					return false;
				}
			}
		}
		SSL_set_verify(ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
	}
	handshake_wait = server_side ? EPOLLIN : EPOLLOUT;
	return true;
}

ssize_t StreamSocket::tls_failure(int result, std::uint32_t &wait) noexcept
{
	const int saved_errno = errno;
	switch (SSL_get_error(ssl, result)) {
	case SSL_ERROR_WANT_READ:
		wait = EPOLLIN;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		wait = EPOLLOUT;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify (or, with SSL_OP_IGNORE_UNEXPECTED_EOF, a plain EOF). */
		return 0;
	case SSL_ERROR_SYSCALL:
		broken = true;
		if (ERR_peek_error() != 0) {
			record_error("TLS");
			errno = tls_errno;
		} else {
			errno = saved_errno != 0 ? saved_errno : ECONNRESET;
		}
		return -1;
	default:
		broken = true;
		record_error("TLS");
		errno = tls_errno;
		return -1;
	}
}

int StreamSocket::handshake() noexcept
{
	if (ssl == nullptr)
		return -1;
	if (handshake_done)
		return 1;
	ERR_clear_error();
	const int result = SSL_do_handshake(ssl);
	if (result == 1) {
		handshake_done = true;
		handshake_wait = 0;
		return 1;
	}
	const ssize_t status = tls_failure(result, handshake_wait);
	if (status < 0 && errno == EAGAIN)
		return 0;
	broken = true;
	if (status == 0 || errno != tls_errno) {
		/* The peer closed or the socket failed mid-handshake: say so, not "TLS protocol error". */
		const int error = status == 0 ? ECONNRESET : errno;
		const std::string text = std::string("TLS handshake: ") +
					 (status == 0 ? "the peer closed the connection" : std::strerror(error));
		set_error(text.c_str());
		errno = error;
	} else if (extras) {
		extras->error_text.replace(0, 3, "TLS handshake");
	}
	return -1;
}

ssize_t StreamSocket::tls_read(void *buffer, std::size_t size) noexcept
{
	if (!handshake_done) {
		errno = EAGAIN;
		return -1;
	}
	ERR_clear_error();
	std::size_t n = 0;
	if (SSL_read_ex(ssl, buffer, size, &n) == 1) {
		read_wait = 0;
		return ssize_t(n);
	}
	return tls_failure(0, read_wait);
}

ssize_t StreamSocket::tls_write(const void *buffer, std::size_t size) noexcept
{
	if (!handshake_done) {
		errno = EAGAIN;
		return -1;
	}
	/* With partial writes, SSL_write_ex() returns after each record: go on until the socket
	 * would block, so a short count means "wait for the wait events", as with send(). */
	std::size_t total = 0;
	while (total < size) {
		ERR_clear_error();
		std::size_t n = 0;
		if (SSL_write_ex(ssl, static_cast<const std::uint8_t *>(buffer) + total, size - total, &n) != 1) {
			const ssize_t status = tls_failure(0, write_wait);
			if (total > 0 && status < 0 && errno == EAGAIN)
				break;
			if (status == 0) {
				errno = EPIPE;
				return -1;
			}
			return status;
		}
		write_wait = 0;
		total += n;
	}
	return ssize_t(total);
}

bool StreamSocket::tls_pending() const noexcept
{
	return handshake_done && SSL_pending(ssl) > 0;
}

std::uint32_t StreamSocket::tls_poll_events(std::uint32_t wanted) const noexcept
{
	if (!handshake_done)
		return handshake_wait;
	std::uint32_t mask = 0;
	if (wanted & EPOLLIN)
		mask |= read_wait != 0 ? read_wait : std::uint32_t(EPOLLIN);
	if (wanted & EPOLLOUT)
		mask |= write_wait != 0 ? write_wait : std::uint32_t(EPOLLOUT);
	return mask;
}

std::uint32_t StreamSocket::tls_ready_events(std::uint32_t revents) const noexcept
{
	std::uint32_t events = revents & (EPOLLHUP | EPOLLERR);
	if (!handshake_done)
		return (revents & handshake_wait) != 0 ? events | EPOLLIN : events;
	if (revents & (read_wait != 0 ? read_wait : std::uint32_t(EPOLLIN)))
		events |= EPOLLIN;
	if (revents & (write_wait != 0 ? write_wait : std::uint32_t(EPOLLOUT)))
		events |= EPOLLOUT;
	return events;
}

} // namespace myproxy
