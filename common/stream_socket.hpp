// One byte stream of a connection: plain, or TLS over the same non-blocking fd once start_tls() was
// called.  Used by the worker (the client's and the backend's socket) and by the master's cluster
// monitor (node checks); the SSL_CTX comes from config.lua (loaded before the fork), so nothing
// here opens a file, which the sandboxed worker could not.  The plain path is one recv()/send()
// per call, as before TLS existed; TLS maps OpenSSL's want-read/want-write onto epoll events, so the
// caller polls through poll_events() and translates wake-ups through ready_events().  Never logs:
// errors come back as errno values, and tls_error() keeps OpenSSL's text for the caller's log line.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace myproxy {

/* errno value of a failed TLS operation (handshake, record, verification): tls_error() says more. */
inline constexpr int tls_errno = EPROTO;

class StreamSocket {
public:
	StreamSocket() noexcept = default;
	explicit StreamSocket(int fd) noexcept : fd_(fd) {}
	~StreamSocket() noexcept;

	StreamSocket(const StreamSocket &) = delete;
	StreamSocket &operator=(const StreamSocket &) = delete;

	/* The socket to use from now on (not owned: the connection keeps its UniqueFd).  Drops TLS. */
	void attach(int fd) noexcept;
	/* Sends close_notify when TLS is up and healthy (best effort, never waits), frees the SSL. */
	void detach() noexcept;

	int fd() const noexcept { return fd_; }
	bool tls() const noexcept { return ssl != nullptr; }
	/* TLS is up: the handshake finished. */
	bool secure() const noexcept { return ssl != nullptr && handshake_done; }

	/* Starts TLS on the attached socket: @server_side for a listener (SSL_accept), else a client
	 * (SSL_connect).  @early holds bytes already read from the socket that belong to the TLS stream
	 * (a client sends its ClientHello right behind the SSLRequest); they are consumed first.  For
	 * a client, @server_name (may be empty) goes into SNI and, with @verify, into the hostname
	 * check; an IP address literal is checked against the certificate's IP addresses.  False on
	 * failure (out of memory, a bad name): tls_error() says why. */
	bool start_tls(SSL_CTX *context, bool server_side, const std::uint8_t *early, std::size_t early_size,
		       const std::string &server_name = {}, bool verify = false) noexcept;

	/* Drives the handshake: 1 done, 0 would block (poll for poll_events(0)), -1 failed
	 * (tls_error()).  */
	int handshake() noexcept;

	/* Like recv()/send() with MSG_DONTWAIT: bytes moved, 0 on orderly EOF (read only), or -1 with
	 * errno (EAGAIN: wait, tls_errno: see tls_error()).  Writes may be partial. */
	ssize_t read(void *buffer, std::size_t size) noexcept
	{
		if (ssl != nullptr)
			return tls_read(buffer, size);
		ssize_t n;
		do
			n = ::recv(fd_, buffer, size, MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		return n;
	}
	ssize_t write(const void *buffer, std::size_t size) noexcept
	{
		if (ssl != nullptr)
			return tls_write(buffer, size);
		ssize_t n;
		do
			n = ::send(fd_, buffer, size, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		return n;
	}

	/* Decrypted bytes waiting inside OpenSSL: epoll will not announce them, so a caller that
	 * wants to read must read now. */
	bool pending() const noexcept { return ssl != nullptr && tls_pending(); }

	/* The epoll mask for what the caller wants (EPOLLIN to read, EPOLLOUT to write); with TLS a
	 * read may wait for writability and a write for readability.  During the handshake pass 0. */
	std::uint32_t poll_events(std::uint32_t wanted) const noexcept
	{
		if (ssl == nullptr)
			return wanted;
		return tls_poll_events(wanted);
	}
	/* epoll's revents as the caller's logical events (EPOLLIN: try reading, EPOLLOUT: try writing;
	 * EPOLLHUP and EPOLLERR pass through). */
	std::uint32_t ready_events(std::uint32_t revents) const noexcept
	{
		if (ssl == nullptr)
			return revents;
		return tls_ready_events(revents);
	}

	/* The last TLS failure as one line (OpenSSL's reason, or the certificate verification result). */
	const std::string &tls_error() const noexcept;

private:
	ssize_t tls_read(void *buffer, std::size_t size) noexcept;
	ssize_t tls_write(const void *buffer, std::size_t size) noexcept;
	bool tls_pending() const noexcept;
	std::uint32_t tls_poll_events(std::uint32_t wanted) const noexcept;
	std::uint32_t tls_ready_events(std::uint32_t revents) const noexcept;
	/* Maps SSL_get_error() for @result: sets errno and the wait events, returns -1 or 0 (EOF). */
	ssize_t tls_failure(int result, std::uint32_t &wait) noexcept;
	void record_error(const char *operation) noexcept;
	/* Sets tls_error() to @text (dropped when even that cannot be allocated). */
	void set_error(const char *text) noexcept;

	int fd_ = -1;
	SSL *ssl = nullptr;
	bool handshake_done = false;
	/* A fatal TLS error or a broken socket: no close_notify then. */
	bool broken = false;
	/* What only TLS needs, made when it does: start_tls()'s early bytes (read by the BIO before the
	 * socket, from early_read on) and the last TLS failure.  A plain connection, most of them,
	 * does not carry it (doc/performance.md, "Memory per idle connection"). */
	struct TlsExtras {
		std::string early_copy;
		std::size_t early_read = 0;
		std::string error_text;
	};
	std::unique_ptr<TlsExtras> extras;
	TlsExtras *tls_extras() noexcept;

	friend struct StreamSocketBio;
	/* What the last read / write / handshake that would block waits for (EPOLLIN or EPOLLOUT). */
	std::uint32_t read_wait = 0, write_wait = 0, handshake_wait = 0;
};

} // namespace myproxy
