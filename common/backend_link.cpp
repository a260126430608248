// One link to a backend server (see backend_link.hpp).
#include "backend_link.hpp"

#include "connect_socket.hpp"
#include "secret.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>

#include <cerrno>
#include <new>

namespace myproxy {

namespace {

/* The numeric IP address of @address, or "" (a UNIX socket). */
std::string address_name(const SocketAddress &address)
{
	char text[INET6_ADDRSTRLEN] = "";
	const sockaddr *sa = reinterpret_cast<const sockaddr *>(&address.storage);
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in *>(sa)->sin_addr, text, sizeof(text));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6 *>(sa)->sin6_addr, text, sizeof(text));
	return text;
}

} // namespace

BackendLink::BackendLink(LinkConversation &conversation_, BackendLinkTls tls_) noexcept
	: conversation(conversation_), setup(new (std::nothrow) Setup{std::move(tls_), SocketAddress{}})
{
}

BackendLink::~BackendLink() noexcept
{
	/* Login packets may hold a password (mysql_clear_password). */
	wipe(out);
}

BackendLink::Event BackendLink::fail(BackendLinkFailure::Kind kind, int error_number, std::string reason) noexcept
{
	phase = Phase::failed;
	error.kind = kind;
	error.error = error_number;
	error.reason = std::move(reason);
	return Event::FAILED;
}

BackendLink::Event BackendLink::fail_io(BackendLinkFailure::Kind kind, int error_number) noexcept
{
	try {
		return fail(kind, error_number, error_number == tls_errno ? byte_stream.tls_error() : std::string());
	} catch (const std::bad_alloc &) {
		return fail(kind, error_number);
	}
}

BackendLink::Event BackendLink::connect(const SocketAddress &to) noexcept
{
	if (!setup)
		return fail(BackendLinkFailure::Kind::OUT_OF_MEMORY, ENOMEM);
	setup->address = to;
	ConnectStart started = start_connect(setup->address);
	if (started.error != 0)
		return fail(BackendLinkFailure::Kind::CONNECT, started.error);
	socket = std::move(started.fd);
	byte_stream.attach(socket.get());
	phase = started.in_progress ? Phase::connecting : Phase::conversation;
	return Event::WAITING;
}

std::uint32_t BackendLink::poll_events() const noexcept
{
	switch (phase) {
	case Phase::connecting:
		return EPOLLOUT;
	case Phase::tls_handshake:
		return byte_stream.poll_events(0);
	case Phase::conversation:
		return byte_stream.poll_events(out.empty() ? std::uint32_t(EPOLLIN) : std::uint32_t(EPOLLIN | EPOLLOUT));
	default:
		return 0;
	}
}

BackendLink::Event BackendLink::handle(std::uint32_t revents) noexcept
{
	switch (phase) {
	case Phase::connecting:
		if (const int failed = finish_connect(socket.get()); failed != 0)
			return fail(BackendLinkFailure::Kind::CONNECT, failed);
		/* The server speaks first: wait for its greeting. */
		phase = Phase::conversation;
		return Event::WAITING;
	case Phase::tls_handshake:
		return continue_tls();
	case Phase::conversation:
		break;
	case Phase::done:
		return Event::DONE;
	case Phase::idle:
	case Phase::failed:
		return Event::FAILED;
	}
	const std::uint32_t events = byte_stream.ready_events(revents);
	if ((events & EPOLLOUT) && !flush())
		return Event::FAILED;
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return Event::WAITING;
	return read_conversation();
}

/* Reads until the conversation waits for the server and nothing more can be there: in clear, a
 * read shorter than the buffer took all the kernel held, and what comes later epoll announces
 * (level-triggered), so a second read would only fail with EAGAIN (one syscall per login).  With
 * TLS, OpenSSL may hold decrypted bytes epoll cannot see: read until the socket would block. */
BackendLink::Event BackendLink::read_conversation() noexcept
{
	for (;;) {
		std::uint8_t buffer[4096];
		const ssize_t n = byte_stream.read(buffer, sizeof(buffer));
		if (n < 0) {
			if (errno == EAGAIN)
				return Event::WAITING;
			return fail_io(BackendLinkFailure::Kind::RECEIVE, errno);
		}
		if (n == 0)
			return fail(BackendLinkFailure::Kind::CLOSED, 0);
		LinkStatus status;
		try {
			status = conversation.receive(ByteSpan(buffer, std::size_t(n)), out);
		} catch (const std::bad_alloc &) {
			wipe_secret(buffer, sizeof(buffer));
			return fail(BackendLinkFailure::Kind::OUT_OF_MEMORY, ENOMEM);
		}
		wipe_secret(buffer, sizeof(buffer));
		const Event event = step(status);
		if (event != Event::WAITING || phase != Phase::conversation)
			return event;
		if (!byte_stream.tls() && std::size_t(n) < sizeof(buffer))
			return event;
	}
}

/* Acts on what the conversation said. */
BackendLink::Event BackendLink::step(LinkStatus status) noexcept
{
	switch (status) {
	case LinkStatus::CONTINUE:
		return flush() ? Event::WAITING : Event::FAILED;
	case LinkStatus::START_TLS:
		return start_tls();
	case LinkStatus::DONE:
		break;
	}
	return finish();
}

BackendLink::Event BackendLink::finish() noexcept
{
	/* E.g. a node check's COM_QUIT: the server would log an aborted connection otherwise.  Once,
	 * best effort, and never in clear on a TLS stream still shaking hands. */
	if (!out.empty() && (!byte_stream.tls() || byte_stream.secure()))
		(void)byte_stream.write(out.data(), out.size());
	wipe(out);
	setup.reset();
	phase = Phase::done;
	return Event::DONE;
}

bool BackendLink::flush() noexcept
{
	while (!out.empty()) {
		const ssize_t n = byte_stream.write(out.data(), out.size());
		if (n < 0) {
			if (errno == EAGAIN)
				return true;
			fail_io(BackendLinkFailure::Kind::SEND, errno);
			return false;
		}
		wipe_secret(out.data(), std::size_t(n));
		out.erase(out.begin(), out.begin() + n);
	}
	return true;
}

BackendLink::Event BackendLink::start_tls() noexcept
{
	/* The SSLRequest goes out in clear before the handshake starts; 36 bytes to a socket that
	 * just delivered a greeting: the kernel always takes them, else the link is as good as dead. */
	if (!flush())
		return Event::FAILED;
	if (!out.empty())
		return fail(BackendLinkFailure::Kind::TLS_START, EMSGSIZE, "the SSLRequest could not be sent at once");
	if (!setup)
		return fail(BackendLinkFailure::Kind::TLS_START, EINVAL, "TLS after the login");
	try {
		const BackendLinkTls &tls = setup->tls;
		std::string name = tls.server_name;
		if (name.empty() && tls.verify)
			name = address_name(setup->address);
		if (!byte_stream.start_tls(tls.context, false, nullptr, 0, name, tls.verify))
			return fail(BackendLinkFailure::Kind::TLS_START, tls_errno, byte_stream.tls_error());
	} catch (const std::bad_alloc &) {
		return fail(BackendLinkFailure::Kind::OUT_OF_MEMORY, ENOMEM);
	}
	phase = Phase::tls_handshake;
	return continue_tls();
}

BackendLink::Event BackendLink::continue_tls() noexcept
{
	const int status = byte_stream.handshake();
	if (status < 0)
		return fail_io(BackendLinkFailure::Kind::TLS_HANDSHAKE, tls_errno);
	if (status == 0)
		return Event::WAITING;
	phase = Phase::conversation;
	LinkStatus next;
	try {
		next = conversation.tls_established(out);
	} catch (const std::bad_alloc &) {
		return fail(BackendLinkFailure::Kind::OUT_OF_MEMORY, ENOMEM);
	}
	const Event event = step(next);
	return event == Event::WAITING ? Event::TLS_ESTABLISHED : event;
}

} // namespace myproxy
