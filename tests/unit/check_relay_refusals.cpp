// Unit tests for what worker/relay refuses to queue, so that the session's code answers a client
// or ends the session instead of corrupting the stream: bytes that cannot fit its buffer, a packet
// queued while an intercepted command still waits for its answer, a replacement with nothing to
// replace or too large for the buffer, a preload past the buffer.  The refused call changes
// nothing: what was queued before still arrives whole.
#include "worker/relay.hpp"

#include "common/command_packet.hpp"
#include "common/mysql_packet.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>
// Last: <check.h> must follow the standard headers.
#include "tests/check_main.hpp"

using namespace myproxy;

namespace {

constexpr std::size_t buffer_size = RelayBufferPool::buffer_size;

std::vector<std::uint8_t> command(std::uint8_t cmd, std::size_t argument_size = 0, std::uint8_t sequence_id = 0)
{
	std::vector<std::uint8_t> payload(1 + argument_size, 'a');
	payload[0] = cmd;
	std::vector<std::uint8_t> out;
	append_packet(out, payload, sequence_id);
	return out;
}

/* A relay between two socketpairs; the test holds the client's and the backend's far ends. */
struct Bench {
	int client_end = -1, client_proxy = -1, backend_end = -1, backend_proxy = -1;
	RelayBufferPool pool;
	std::unique_ptr<StreamSocket> client_stream, backend_stream;
	std::unique_ptr<Relay> relay;

	Bench()
	{
		int fds[2];
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
		client_end = fds[0];
		client_proxy = fds[1];
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
		backend_end = fds[0];
		backend_proxy = fds[1];
		client_stream = std::make_unique<StreamSocket>(client_proxy);
		backend_stream = std::make_unique<StreamSocket>(backend_proxy);
		relay = std::make_unique<Relay>(pool, *client_stream, *backend_stream, false);
	}
	~Bench()
	{
		relay.reset();
		for (int fd : {client_end, client_proxy, backend_end, backend_proxy})
			close(fd);
	}

	/* Feeds the relay the client's bytes until it reports an event (the safety net: 1000 rounds). */
	RelayEvent until_event()
	{
		for (int round = 0; round < 1000; ++round) {
			pollfd p{client_proxy, POLLIN, 0};
			if (poll(&p, 1, 10) > 0) {
				const RelayEvent event = relay->handle_client(std::uint32_t(p.revents));
				if (event.kind != RelayEvent::Kind::none)
					return event;
			}
		}
		return {};
	}

	/* Everything the backend end can read now and within a short safety net. */
	std::vector<std::uint8_t> backend_reads(std::size_t wanted)
	{
		std::vector<std::uint8_t> got;
		for (int round = 0; round < 1000 && got.size() < wanted; ++round) {
			(void)relay->resume();
			std::uint8_t buffer[65536];
			const ssize_t n = recv(backend_end, buffer, sizeof(buffer), MSG_DONTWAIT);
			if (n > 0)
				got.insert(got.end(), buffer, buffer + n);
			else
				poll(nullptr, 0, 1);
		}
		return got;
	}
};

} // namespace

/* Nothing to replace, nothing that large: refused, and a fresh relay queues nothing. */
START_TEST(test_refused_on_a_fresh_relay)
{
	Bench b;
	const auto ping = command(COM_PING);
	ck_assert(!b.relay->replace_packet(RelaySide::client, ping));
	ck_assert(!b.relay->send_to_client(std::vector<std::uint8_t>(buffer_size + 1, 0)));
	ck_assert(!b.relay->preload(RelaySide::client, std::vector<std::uint8_t>(buffer_size + 1, 0)));
	ck_assert(b.relay->idle());
	/* What fits is queued and arrives. */
	ck_assert(b.relay->send_to_backend(ping));
	ck_assert(b.backend_reads(ping.size()) == ping);
}
END_TEST

/* While an intercepted command waits for the session's decision, nothing more may be queued
   toward the backend (it would land in the middle of the client's stream), and a replacement
   that cannot fit the buffer is refused; the command itself still goes through unchanged. */
START_TEST(test_refused_while_a_command_waits)
{
	Bench b;
	b.relay->intercept_command(COM_INIT_DB);
	const auto init_db = command(COM_INIT_DB, 8);
	ck_assert(write(b.client_end, init_db.data(), init_db.size()) == ssize_t(init_db.size()));
	const RelayEvent event = b.until_event();
	ck_assert(event.kind == RelayEvent::Kind::command);
	ck_assert_uint_eq(event.start.first_byte, COM_INIT_DB);
	ck_assert(!b.relay->send_to_backend(command(COM_PING)));
	ck_assert(!b.relay->replace_packet(RelaySide::client, command(COM_INIT_DB, buffer_size)));
	b.relay->forward_packet(RelaySide::client);
	ck_assert(b.backend_reads(init_db.size()) == init_db);
}
END_TEST

int main()
{
	Suite *suite = suite_create("relay_refusals");
	TCase *tc = tcase_create("refusals");
	tcase_add_test(tc, test_refused_on_a_fresh_relay);
	tcase_add_test(tc, test_refused_while_a_command_waits);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
