// One link to a backend server: the non-blocking connect, the conversation's bytes over the socket,
// and TLS toward the server when the conversation asks for it (after the SSLRequest).  The worker's
// sessions carry a BackendHandshake over it (the login; the relay then takes the stream), the
// master's cluster monitor a NodeCheck (login, then the read-only query).  The caller owns the
// event source: it polls fd() for poll_events() and hands every wake-up to handle().  Never blocks,
// never logs: failures come back with their errno or TLS text.
#pragma once

#include "backend_handshake.hpp"
#include "socket_address.hpp"
#include "stream_socket.hpp"
#include "unique_fd.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;

namespace myproxy {

/* TLS toward the server, used when the conversation says START_TLS. */
struct BackendLinkTls {
	SSL_CTX *context = nullptr;
	bool verify = true;
	/* SNI and the name to verify; empty with verify: the IP address connected to (a UNIX socket
	 * gets no name check). */
	std::string server_name;
};

struct BackendLinkFailure {
	enum class Kind : std::uint8_t {
		CONNECT,	/* socket() or connect() failed: error */
		SEND,		/* error; tls_errno: reason holds the TLS text */
		RECEIVE,	/* error; tls_errno: reason holds the TLS text */
		CLOSED,		/* the server closed the connection */
		TLS_START,	/* the SSLRequest did not go out at once, or TLS could not start: reason */
		TLS_HANDSHAKE,	/* reason: OpenSSL's text or the verification result */
		OUT_OF_MEMORY,
	};
	Kind kind = Kind::CONNECT;
	int error = 0;
	std::string reason;
};

class BackendLink {
public:
	enum class Event : std::uint8_t {
		/* Poll for poll_events() and call handle() again. */
		WAITING,
		/* TLS with the server is up (for the caller's log and counters); otherwise as WAITING. */
		TLS_ESTABLISHED,
		/* The conversation said DONE: ask it how it went.  The stream stays usable. */
		DONE,
		/* failure() says why; the link is of no further use. */
		FAILED,
	};

	/* @conversation must outlive the link. */
	BackendLink(LinkConversation &conversation, BackendLinkTls tls) noexcept;
	~BackendLink() noexcept;

	BackendLink(const BackendLink &) = delete;
	BackendLink &operator=(const BackendLink &) = delete;

	/* Starts the connect to @address: WAITING or FAILED. */
	Event connect(const SocketAddress &address) noexcept;
	/* The fd's epoll @revents: moves the connect, the TLS handshake and the conversation on. */
	Event handle(std::uint32_t revents) noexcept;
	/* What to poll fd() for now (before DONE). */
	std::uint32_t poll_events() const noexcept;

	bool connecting() const noexcept { return phase == Phase::connecting; }
	int fd() const noexcept { return socket.get(); }
	/* The byte stream (plain or TLS) once DONE: the relay reads and writes it from then on. */
	StreamSocket &stream() noexcept { return byte_stream; }
	const BackendLinkFailure &failure() const noexcept { return error; }

private:
	enum class Phase : std::uint8_t { idle, connecting, conversation, tls_handshake, done, failed };

	LinkConversation &conversation;
	/* What only the way to DONE needs (the connect, the start of TLS): freed then, so that a link
	 * the relay uses or the pool keeps does not carry it (doc/performance.md, "Memory per idle
	 * connection").  Null also when it could not be allocated: connect() fails. */
	struct Setup {
		BackendLinkTls tls;
		SocketAddress address;
	};
	std::unique_ptr<Setup> setup;
	UniqueFd socket;
	/* Declared after the fd: a TLS stream sends its close_notify on the fd when it goes. */
	StreamSocket byte_stream;
	std::vector<std::uint8_t> out;
	Phase phase = Phase::idle;
	BackendLinkFailure error;

	Event fail(BackendLinkFailure::Kind kind, int error_number, std::string reason = {}) noexcept;
	Event fail_io(BackendLinkFailure::Kind kind, int error_number) noexcept;
	Event read_conversation() noexcept;
	Event step(LinkStatus status) noexcept;
	Event start_tls() noexcept;
	Event continue_tls() noexcept;
	bool flush() noexcept;
	Event finish() noexcept;
};

} // namespace myproxy
