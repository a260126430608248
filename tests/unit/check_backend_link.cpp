// Unit tests for common/backend_link with common/backend_handshake and common/node_check: the one road
// to a backend, over real sockets.  A scripted server on a UNIX socket in a private directory (a
// MariaDB 10.11 greeting captured from a real server, then OK, then a one-value result) answers the
// link's connect; the link must log in (the worker's case), carry a whole node check (the master's
// case, COM_QUIT included), and report every way the connection can fail: nothing listening, the
// server hanging up mid-login, a refusal, garbage, and TLS asked of a server that does not offer it.
#include "common/backend_link.hpp"
#include "common/command_packet.hpp"
#include "common/handshake_response41.hpp"
#include "common/mysql_packet.hpp"
#include "common/node_check.hpp"
#include "common/unique_fd.hpp"
#include "tests/check_main.hpp"
#include "tests/unit/packet_test_util.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace myproxy;
using Bytes = std::vector<std::uint8_t>;

namespace {

const char *const GREETING =
	"0a352e352e352d31302e31312e31392d4d6172696144422d302b646562313275310007000000647e6d287d5f447600fef7080200"
	"ff81150000000000001d00000044336f584a4a722455616760006d7973716c5f6e61746976655f70617373776f726400";
const char *const OK_AUTOCOMMIT = "00000002000000";
const char *const ERR_ACCESS_DENIED =
	"ff15042332383030304163636573732064656e69656420666f72207573657220276e61742740276c6f63616c686f73742720"
	"287573696e672070617373776f72643a2059455329";

/* A listening UNIX socket in a private directory: the scripted server. */
struct Server {
	std::string directory;
	SocketAddress address;
	UniqueFd listener;
	UniqueFd peer;

	Server()
	{
		char pattern[] = "/tmp/check_backend_link.XXXXXX";
		ck_assert_ptr_nonnull(mkdtemp(pattern));
		directory = pattern;
		sockaddr_un un{};
		un.sun_family = AF_UNIX;
		std::snprintf(un.sun_path, sizeof(un.sun_path), "%s/server.sock", pattern);
		std::memcpy(&address.storage, &un, sizeof(un));
		address.length = sizeof(un);
		listener = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
		ck_assert(listener);
		ck_assert_int_eq(::bind(listener.get(), address.get(), address.length), 0);
		ck_assert_int_eq(::listen(listener.get(), 4), 0);
	}
	~Server()
	{
		peer.reset();
		listener.reset();
		::unlink((directory + "/server.sock").c_str());
		::rmdir(directory.c_str());
	}

	void accept_client()
	{
		peer = UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
		ck_assert(peer);
	}
	void send_packet(const char *hex, std::uint8_t sequence_id)
	{
		Bytes out;
		append_packet(out, packet_test::from_hex(hex), sequence_id);
		ck_assert_int_eq(::send(peer.get(), out.data(), out.size(), MSG_NOSIGNAL), ssize_t(out.size()));
	}
	/* Every packet the link wrote so far. */
	std::vector<Packet> received(Bytes &storage)
	{
		std::uint8_t buffer[4096];
		const ssize_t n = ::recv(peer.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
		if (n > 0)
			storage.insert(storage.end(), buffer, buffer + n);
		std::vector<Packet> packets;
		PacketIterator it(storage);
		Packet packet;
		while (it.next(packet))
			packets.push_back(packet);
		return packets;
	}
};

ClientLoginParams monitor_params()
{
	ClientLoginParams params;
	params.user = "monitor";
	params.password = "secret";
	return params;
}

} // namespace

/* The worker's case: connect, greeting, HandshakeResponse41, OK: logged in, the stream usable. */
START_TEST(test_login)
{
	Server server;
	BackendHandshake handshake(monitor_params(), false, 64 * 1024);
	BackendLink link(handshake, {});
	ck_assert(link.connect(server.address) == BackendLink::Event::WAITING);
	ck_assert(!link.connecting()); /* a UNIX connect completes at once */
	ck_assert_uint_eq(link.poll_events(), EPOLLIN);
	server.accept_client();
	/* Nothing to read yet: the link waits. */
	ck_assert(link.handle(EPOLLIN) == BackendLink::Event::WAITING);
	server.send_packet(GREETING, 0);
	ck_assert(link.handle(EPOLLIN) == BackendLink::Event::WAITING);
	Bytes storage;
	const auto packets = server.received(storage);
	ck_assert_uint_eq(packets.size(), 1);
	ck_assert_uint_eq(packets[0].header.sequence_id, 1);
	auto response = parse_handshake_response41(packets[0].payload);
	ck_assert(response.ok());
	ck_assert(std::string(response->user) == "monitor");
	server.send_packet(OK_AUTOCOMMIT, 2);
	ck_assert(link.handle(EPOLLIN) == BackendLink::Event::DONE);
	ck_assert(handshake.logged_in());
	ck_assert(handshake.success().server_version.find("MariaDB") != std::string::npos);
	/* The stream stays the link's: a COM_QUIT goes through it. */
	const Bytes quit = packet_test::from_hex("0100000001");
	ck_assert_int_eq(link.stream().write(quit.data(), quit.size()), ssize_t(quit.size()));
}
END_TEST

/* The master's case: the whole node check over the link, the verdict from the query. */
START_TEST(test_node_check)
{
	Server server;
	NodeCheck check("monitor", "secret");
	BackendLink link(check, {});
	ck_assert(link.connect(server.address) == BackendLink::Event::WAITING);
	server.accept_client();
	server.send_packet(GREETING, 0);
	ck_assert(link.handle(EPOLLIN) == BackendLink::Event::WAITING);
	server.send_packet(OK_AUTOCOMMIT, 2);
	ck_assert(link.handle(EPOLLIN) == BackendLink::Event::WAITING);
	/* One column, its definition, EOF, the row "1", EOF: sequence ids 1 to 5. */
	std::uint8_t sequence_id = 1;
	for (const char *hex : {"01", "036465660000000131000c3f0001000000038100000000", "fe00000200", "0131",
				"fe00000200"})
		server.send_packet(hex, sequence_id++);
	ck_assert(link.handle(EPOLLIN) == BackendLink::Event::DONE);
	ck_assert(check.done());
	ck_assert_msg(check.state() == NodeState::read_only, "%s", check.detail().c_str());
	/* The login, the query, and the COM_QUIT written at the end. */
	Bytes storage;
	const auto packets = server.received(storage);
	ck_assert_uint_eq(packets.size(), 3);
	ck_assert_uint_eq(packets[2].payload.size(), 1);
	ck_assert_uint_eq(packets[2].payload[0], COM_QUIT);
}
END_TEST

/* Without a user the check ends at the greeting and writes nothing. */
START_TEST(test_greeting_only)
{
	Server server;
	NodeCheck check("", "");
	BackendLink link(check, {});
	ck_assert(link.connect(server.address) == BackendLink::Event::WAITING);
	server.accept_client();
	server.send_packet(GREETING, 0);
	ck_assert(link.handle(EPOLLIN) == BackendLink::Event::DONE);
	ck_assert(check.state() == NodeState::alive);
	Bytes storage;
	ck_assert_uint_eq(server.received(storage).size(), 0);
}
END_TEST

/* Nothing listens: a connect failure with its errno, before any socket is polled. */
START_TEST(test_connect_refused)
{
	SocketAddress address;
	{
		Server server;
		address = server.address;
	}
	BackendHandshake handshake(monitor_params(), false, 64 * 1024);
	BackendLink link(handshake, {});
	ck_assert(link.connect(address) == BackendLink::Event::FAILED);
	ck_assert(link.failure().kind == BackendLinkFailure::Kind::CONNECT);
	ck_assert(link.failure().error == ENOENT || link.failure().error == ECONNREFUSED);
	/* An address that names nothing. */
	BackendLink unnamed(handshake, {});
	ck_assert(unnamed.connect(SocketAddress{}) == BackendLink::Event::FAILED);
	ck_assert_int_eq(unnamed.failure().error, EDESTADDRREQ);
}
END_TEST

/* The server hangs up mid-login, refuses, or sends garbage. */
START_TEST(test_server_failures)
{
	{
		Server server;
		BackendHandshake handshake(monitor_params(), false, 64 * 1024);
		BackendLink link(handshake, {});
		ck_assert(link.connect(server.address) == BackendLink::Event::WAITING);
		server.accept_client();
		server.send_packet(GREETING, 0);
		ck_assert(link.handle(EPOLLIN) == BackendLink::Event::WAITING);
		/* Read the HandshakeResponse41 first: a close with unread data would be a reset. */
		Bytes storage;
		ck_assert_uint_eq(server.received(storage).size(), 1);
		server.peer.reset();
		ck_assert(link.handle(EPOLLIN | EPOLLHUP) == BackendLink::Event::FAILED);
		ck_assert(link.failure().kind == BackendLinkFailure::Kind::CLOSED);
	}
	{
		Server server;
		BackendHandshake handshake(monitor_params(), false, 64 * 1024);
		BackendLink link(handshake, {});
		ck_assert(link.connect(server.address) == BackendLink::Event::WAITING);
		server.accept_client();
		server.send_packet(GREETING, 0);
		ck_assert(link.handle(EPOLLIN) == BackendLink::Event::WAITING);
		server.send_packet(ERR_ACCESS_DENIED, 2);
		ck_assert(link.handle(EPOLLIN) == BackendLink::Event::DONE);
		ck_assert(!handshake.logged_in());
		ck_assert(handshake.failure().kind == BackendHandshakeFailure::Kind::LOGIN);
		ck_assert(handshake.failure().login.kind == ClientLoginFailure::Kind::SERVER_ERROR);
		ck_assert_uint_eq(handshake.failure().login.error_code, 1045);
	}
	{
		Server server;
		BackendHandshake handshake(monitor_params(), false, 64 * 1024);
		BackendLink link(handshake, {});
		ck_assert(link.connect(server.address) == BackendLink::Event::WAITING);
		server.accept_client();
		const std::string garbage = "HTTP/1.1 400 Bad Request\r\n\r\n";
		ck_assert_int_eq(::send(server.peer.get(), garbage.data(), garbage.size(), 0), ssize_t(garbage.size()));
		ck_assert(link.handle(EPOLLIN) == BackendLink::Event::DONE);
		ck_assert(!handshake.logged_in());
		ck_assert(handshake.failure().kind == BackendHandshakeFailure::Kind::MALFORMED_PACKET);
	}
}
END_TEST

/* ssl asked for, but the greeting has no CLIENT_SSL: the login fails, nothing goes out in clear. */
START_TEST(test_tls_unavailable)
{
	Server server;
	ClientLoginParams params = monitor_params();
	params.ssl = true;
	BackendHandshake handshake(params, false, 64 * 1024);
	BackendLink link(handshake, {});
	ck_assert(link.connect(server.address) == BackendLink::Event::WAITING);
	server.accept_client();
	server.send_packet(GREETING, 0);
	ck_assert(link.handle(EPOLLIN) == BackendLink::Event::DONE);
	ck_assert(handshake.failure().kind == BackendHandshakeFailure::Kind::LOGIN);
	ck_assert(handshake.failure().login.kind == ClientLoginFailure::Kind::TLS_UNAVAILABLE);
	Bytes storage;
	ck_assert_uint_eq(server.received(storage).size(), 0);
}
END_TEST

static Suite *backend_link_suite()
{
	Suite *s = suite_create("backend_link");
	TCase *tc = tcase_create("link");
	tcase_add_test(tc, test_login);
	tcase_add_test(tc, test_node_check);
	tcase_add_test(tc, test_greeting_only);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_server_failures);
	tcase_add_test(tc, test_tls_unavailable);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({backend_link_suite()});
}
