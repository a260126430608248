// Unit tests for worker/relay: the command-phase relay between two socketpairs, driven by poll():
// round trips, 20 MiB payloads both ways, back-pressure, COM_QUIT, intercepted commands (drop,
// replace, answer), captures, LOCAL INFILE (with and without CLIENT_LOCAL_FILES), a backend that
// closes after its last words, and that an idle relay holds no buffer.
#include "worker/relay.hpp"
#include "worker/session_ending.hpp"
#include "tests/check_main.hpp"

#include "common/command_packet.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_errors.hpp"
#include "common/mysql_packet.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

using namespace myproxy;

namespace {

struct Pair {
	int app = -1, proxy = -1;
	Pair()
	{
		int fds[2];
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
		app = fds[0];
		proxy = fds[1];
	}
	~Pair()
	{
		if (app >= 0)
			close(app);
		close(proxy);
	}
};

std::vector<std::uint8_t> packet(std::uint8_t sequence_id, std::vector<std::uint8_t> payload)
{
	std::vector<std::uint8_t> out;
	append_packet(out, payload, sequence_id);
	return out;
}

std::vector<std::uint8_t> command(std::uint8_t cmd, std::string_view arg = {}, std::uint8_t sequence_id = 0)
{
	std::vector<std::uint8_t> payload{cmd};
	payload.insert(payload.end(), arg.begin(), arg.end());
	return packet(sequence_id, payload);
}

/* One end of the test: bytes still to write into the app side, bytes read from it. */
struct Endpoint {
	int fd;
	std::vector<std::uint8_t> to_send;
	std::size_t sent = 0;
	std::vector<std::uint8_t> received;
	bool reading = true;
	/* Bytes read per pump() at most: a small value makes a slow consumer. */
	std::size_t read_chunk = 65536;

	void pump()
	{
		while (sent < to_send.size()) {
			const ssize_t n = ::send(fd, to_send.data() + sent, to_send.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n <= 0)
				break;
			sent += std::size_t(n);
		}
		for (std::size_t got = 0; reading && got < read_chunk;) {
			std::uint8_t buffer[65536];
			const ssize_t n = ::recv(fd, buffer, std::min(sizeof(buffer), read_chunk - got), MSG_DONTWAIT);
			if (n <= 0)
				break;
			received.insert(received.end(), buffer, buffer + n);
			got += std::size_t(n);
		}
	}
	void send(const std::vector<std::uint8_t> &bytes) { to_send.insert(to_send.end(), bytes.begin(), bytes.end()); }
};

struct Harness {
	RelayBufferPool pool;
	Pair client, backend;
	StreamSocket client_stream{client.proxy}, backend_stream{backend.proxy};
	Relay relay;
	Endpoint client_app{client.app, {}, 0, {}, true};
	Endpoint backend_app{backend.app, {}, 0, {}, true};

	explicit Harness(bool local_files = true)
		: relay(pool, client_stream, backend_stream, local_files)
	{
	}

	/* Runs until @done or an event; returns the event (kind none when @done). */
	template<typename Done>
	RelayEvent run(Done done, int max_rounds = 200000)
	{
		for (int round = 0; round < max_rounds; ++round) {
			client_app.pump();
			backend_app.pump();
			if (done())
				return {};
			pollfd fds[2] = {{client.proxy, short(relay.wanted_client_events()), 0},
					 {backend.proxy, short(relay.wanted_backend_events()), 0}};
			const int n = poll(fds, 2, 2);
			ck_assert_int_ge(n, 0);
			RelayEvent event;
			if (fds[0].revents != 0)
				event = relay.handle_client(std::uint32_t(fds[0].revents));
			if (event.kind == RelayEvent::Kind::none && fds[1].revents != 0)
				event = relay.handle_backend(std::uint32_t(fds[1].revents));
			if (event.kind != RelayEvent::Kind::none)
				return event;
		}
		ck_abort_msg("relay made no progress");
		return {};
	}

	RelayEvent run_until_event()
	{
		return run([] { return false; });
	}
};

} // namespace

START_TEST(test_round_trip)
{
	Harness h;
	const auto query = command(COM_QUERY, "SELECT 1");
	const auto reply = packet(1, {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00});
	for (int i = 0; i < 3; ++i) {
		h.client_app.send(query);
		RelayEvent e = h.run([&] { return h.backend_app.received.size() == query.size() * std::size_t(i + 1); });
		ck_assert(e.kind == RelayEvent::Kind::none);
		h.backend_app.send(reply);
		e = h.run([&] { return h.client_app.received.size() == reply.size() * std::size_t(i + 1); });
		ck_assert(e.kind == RelayEvent::Kind::none);
	}
	ck_assert_uint_eq(h.relay.counters().commands, 3);
	ck_assert_uint_eq(h.relay.counters().bytes_from_client, 3 * query.size());
	ck_assert_uint_eq(h.relay.counters().bytes_from_backend, 3 * reply.size());
	/* An idle relay holds no buffer. */
	ck_assert_uint_eq(h.pool.in_use(), 0);
	ck_assert(h.relay.idle());
}
END_TEST

START_TEST(test_large_payloads_both_ways)
{
	/* A 20 MiB COM_QUERY (two continuation packets whose first bytes look like commands) and a
	 * 20 MiB reply, each arriving in pieces, never buffered whole. */
	Harness h;
	h.relay.intercept_command(COM_INIT_DB);
	std::vector<std::uint8_t> payload(20u << 20, 'x');
	payload[0] = COM_QUERY;
	payload[MAX_PACKET_PAYLOAD] = COM_QUIT;
	std::vector<std::uint8_t> up;
	std::uint8_t seq = 0;
	append_packet(up, payload, seq);
	const auto ping = command(COM_PING);
	up.insert(up.end(), ping.begin(), ping.end());
	h.client_app.send(up);
	RelayEvent e = h.run([&] { return h.backend_app.received.size() == up.size(); });
	ck_assert(e.kind == RelayEvent::Kind::none);
	ck_assert(h.backend_app.received == up);
	ck_assert_uint_eq(h.relay.counters().commands, 2);

	std::vector<std::uint8_t> down;
	seq = 1;
	append_packet(down, payload, seq);
	h.backend_app.send(down);
	e = h.run([&] { return h.client_app.received.size() == down.size(); });
	ck_assert(e.kind == RelayEvent::Kind::none);
	ck_assert(h.client_app.received == down);
	ck_assert_uint_le(h.pool.in_use(), 0);
}
END_TEST

START_TEST(test_back_pressure)
{
	/* The backend does not read: the relay stops reading the client once its buffer is full. */
	Harness h;
	h.backend_app.reading = false;
	std::vector<std::uint8_t> payload(8u << 20, 'q');
	payload[0] = COM_QUERY;
	std::vector<std::uint8_t> up;
	std::uint8_t seq = 0;
	append_packet(up, payload, seq);
	h.client_app.send(up);
	int stalled_rounds = 0;
	RelayEvent e = h.run([&] {
		if (h.relay.wanted_client_events() & EPOLLIN)
			return false;
		return ++stalled_rounds > 5;
	});
	ck_assert(e.kind == RelayEvent::Kind::none);
	ck_assert(h.relay.wanted_backend_events() & EPOLLOUT);
	ck_assert_uint_lt(h.client_app.sent, up.size());
	h.backend_app.reading = true;
	e = h.run([&] { return h.backend_app.received.size() == up.size(); });
	ck_assert(e.kind == RelayEvent::Kind::none);
	ck_assert(h.backend_app.received == up);
}
END_TEST

/* A slow consumer and many pipelined commands of a size that does not divide the buffer: the
   buffer's end is reached while its start still holds unsent bytes, so it compacts, and packets
   straddle its end (the tracker must find each command start across the compaction).  Every byte
   arrives in order and every command is counted. */
START_TEST(test_compaction_slow_consumer)
{
	Harness h;
	h.backend_app.read_chunk = 700;
	std::vector<std::uint8_t> up;
	constexpr std::size_t commands = 400;
	for (std::size_t i = 0; i < commands; ++i) {
		std::string text = "SELECT '" + std::string(760 + i % 13, char('a' + i % 26)) + "'";
		const auto query = command(COM_QUERY, text);
		up.insert(up.end(), query.begin(), query.end());
	}
	ck_assert_uint_gt(up.size(), 8 * RelayBufferPool::buffer_size);
	h.client_app.send(up);
	const RelayEvent e = h.run([&] { return h.backend_app.received.size() == up.size(); });
	ck_assert(e.kind == RelayEvent::Kind::none);
	ck_assert(h.backend_app.received == up);
	ck_assert_uint_eq(h.relay.counters().commands, commands);
}
END_TEST

/* The same, with a held command (COM_INIT_DB, reported whole) straddling the buffer's end: the
   relay compacts to make the whole packet fit, reports it, and relays what follows. */
START_TEST(test_compaction_held_packet_straddles_end)
{
	Harness h;
	h.relay.intercept_command(COM_INIT_DB);
	h.backend_app.read_chunk = 500;
	std::vector<std::uint8_t> up;
	const std::size_t filler_size = RelayBufferPool::buffer_size - 300;
	std::vector<std::uint8_t> filler_payload(filler_size - PACKET_HEADER_SIZE, 'f');
	filler_payload[0] = COM_QUERY;
	const auto filler = packet(0, filler_payload);
	up.insert(up.end(), filler.begin(), filler.end());
	const auto init_db = command(COM_INIT_DB, std::string(1000, 'd'));
	up.insert(up.end(), init_db.begin(), init_db.end());
	h.client_app.send(up);
	RelayEvent e = h.run([&] { return false; });
	ck_assert_msg(e.kind == RelayEvent::Kind::command, "event kind %d", int(e.kind));
	ck_assert(std::vector<std::uint8_t>(e.packet.begin(), e.packet.end()) == init_db);
	ck_assert(h.backend_app.received.size() <= filler.size());
	h.relay.forward_packet(RelaySide::client);
	ck_assert(h.relay.resume().kind == RelayEvent::Kind::none);
	e = h.run([&] { return h.backend_app.received.size() == up.size(); });
	ck_assert(e.kind == RelayEvent::Kind::none);
	ck_assert(h.backend_app.received == up);
}
END_TEST

START_TEST(test_quit)
{
	Harness h;
	const auto quit = command(COM_QUIT);
	h.client_app.send(quit);
	const RelayEvent e = h.run_until_event();
	ck_assert(e.kind == RelayEvent::Kind::closed);
	ck_assert(e.close_reason == RelayEvent::CloseReason::client_quit);
	h.backend_app.pump();
	ck_assert(h.backend_app.received == quit);
}
END_TEST

START_TEST(test_client_close)
{
	Harness h;
	close(h.client.app);
	h.client.app = -1;
	h.client_app.fd = -1;
	pollfd fd = {h.client.proxy, POLLIN, 0};
	ck_assert_int_eq(poll(&fd, 1, 1000), 1);
	const RelayEvent e = h.relay.handle_client(std::uint32_t(fd.revents));
	ck_assert(e.kind == RelayEvent::Kind::closed);
	ck_assert(e.close_reason == RelayEvent::CloseReason::client_closed);
}
END_TEST

START_TEST(test_intercept_answer_and_replace)
{
	Harness h;
	h.relay.intercept_command(COM_INIT_DB);
	/* Refused: the client gets our ERR, the backend nothing. */
	h.client_app.send(command(COM_INIT_DB, "forbidden"));
	RelayEvent e = h.run_until_event();
	ck_assert(e.kind == RelayEvent::Kind::command);
	ck_assert_uint_eq(e.start.first_byte, COM_INIT_DB);
	ck_assert(e.start.complete);
	ck_assert_uint_eq(e.packet.size(), PACKET_HEADER_SIZE + 10);
	ck_assert(!h.relay.idle());
	h.relay.drop_packet(RelaySide::client);
	const auto err = packet(1, {0xFF, 0x14, 0x04, '#', '4', '2', '0', '0', '0', 'n', 'o'});
	ck_assert(h.relay.send_to_client(err));
	e = h.relay.resume();
	ck_assert(e.kind == RelayEvent::Kind::none);
	e = h.run([&] { return h.client_app.received.size() == err.size(); });
	ck_assert(h.client_app.received == err);
	ck_assert_uint_eq(h.backend_app.received.size(), 0);

	/* Renamed: the backend gets the new packet, then what followed in the same read. */
	const auto ping = command(COM_PING);
	auto both = command(COM_INIT_DB, "alias");
	both.insert(both.end(), ping.begin(), ping.end());
	h.client_app.send(both);
	e = h.run_until_event();
	ck_assert(e.kind == RelayEvent::Kind::command);
	const auto renamed = command(COM_INIT_DB, "other_db");
	ck_assert(h.relay.replace_packet(RelaySide::client, renamed));
	e = h.relay.resume();
	ck_assert(e.kind == RelayEvent::Kind::none);
	std::vector<std::uint8_t> expected = renamed;
	expected.insert(expected.end(), ping.begin(), ping.end());
	e = h.run([&] { return h.backend_app.received.size() == expected.size(); });
	ck_assert(h.backend_app.received == expected);
	ck_assert_uint_eq(h.relay.counters().commands, 1); /* the ping; replaced packets are ours */

	/* Forwarded unchanged. */
	const auto db = command(COM_INIT_DB, "app");
	h.client_app.send(db);
	e = h.run_until_event();
	ck_assert(e.kind == RelayEvent::Kind::command);
	h.relay.forward_packet(RelaySide::client);
	e = h.relay.resume();
	e = h.run([&] { return h.backend_app.received.size() == expected.size() + db.size(); });
	ck_assert(e.kind == RelayEvent::Kind::none);
}
END_TEST

START_TEST(test_intercept_waits_for_backend_boundary)
{
	/* A command arriving while half of a backend reply has been relayed is announced only once
	 * the reply is complete, so an answer of ours cannot cut into it. */
	Harness h;
	h.relay.intercept_command(COM_INIT_DB);
	const auto reply = packet(1, std::vector<std::uint8_t>(1000, 'r'));
	h.backend_app.send(std::vector<std::uint8_t>(reply.begin(), reply.begin() + 500));
	RelayEvent e = h.run([&] { return h.client_app.received.size() == 500; });
	ck_assert(e.kind == RelayEvent::Kind::none);
	h.client_app.send(command(COM_INIT_DB, "db"));
	int rounds = 0;
	e = h.run([&] { return h.relay.counters().bytes_from_client > 0 && ++rounds > 20; });
	ck_assert(e.kind == RelayEvent::Kind::none);
	h.backend_app.send(std::vector<std::uint8_t>(reply.begin() + 500, reply.end()));
	e = h.run_until_event();
	ck_assert(e.kind == RelayEvent::Kind::command);
	h.client_app.pump();
	ck_assert_uint_eq(h.client_app.received.size(), reply.size());
}
END_TEST

START_TEST(test_capture_backend_reply)
{
	Harness h;
	h.relay.hold_client(true);
	const auto reset = command(COM_RESET_CONNECTION);
	ck_assert(h.relay.send_to_backend(reset));
	h.relay.capture_next(RelaySide::backend);
	RelayEvent e = h.relay.resume();
	ck_assert(e.kind == RelayEvent::Kind::none);
	e = h.run([&] { return h.backend_app.received.size() == reset.size(); });
	ck_assert(h.backend_app.received == reset);
	const auto ok = packet(1, {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00});
	h.backend_app.send(ok);
	e = h.run_until_event();
	ck_assert(e.kind == RelayEvent::Kind::captured);
	ck_assert(e.side == RelaySide::backend);
	ck_assert(e.start.complete);
	std::vector<std::uint8_t> renumbered(e.packet.begin(), e.packet.end());
	renumbered[3] = 3;
	h.relay.drop_packet(RelaySide::backend);
	ck_assert(h.relay.send_to_client(renumbered));
	h.relay.hold_client(false);
	e = h.relay.resume();
	e = h.run([&] { return h.client_app.received.size() == renumbered.size(); });
	ck_assert(h.client_app.received == renumbered);
	ck_assert_uint_eq(h.relay.counters().commands, 0);
}
END_TEST

START_TEST(test_capture_client_packet)
{
	Harness h;
	h.relay.capture_next(RelaySide::client);
	const auto response = packet(2, {'p', 'w', 0});
	h.client_app.send(response);
	RelayEvent e = h.run_until_event();
	ck_assert(e.kind == RelayEvent::Kind::captured);
	ck_assert(e.side == RelaySide::client);
	ck_assert_uint_eq(e.start.header.sequence_id, 2);
	h.relay.drop_packet(RelaySide::client);
	e = h.relay.resume();
	ck_assert(e.kind == RelayEvent::Kind::none);
	ck_assert_uint_eq(h.backend_app.received.size(), 0);
}
END_TEST

static std::vector<std::uint8_t> infile_data(std::size_t packets)
{
	std::vector<std::uint8_t> data;
	std::uint8_t seq = 2;
	for (std::size_t i = 0; i < packets; ++i) {
		/* Chunks that start like COM_INIT_DB and COM_QUIT. */
		std::vector<std::uint8_t> chunk(300, 'd');
		chunk[0] = i % 2 ? COM_INIT_DB : COM_QUIT;
		append_packet(data, chunk, seq);
	}
	append_packet(data, {}, seq);
	return data;
}

START_TEST(test_local_infile)
{
	Harness h;
	h.relay.intercept_command(COM_INIT_DB);
	const auto query = command(COM_QUERY, "LOAD DATA LOCAL INFILE 'x' INTO TABLE t");
	h.client_app.send(query);
	RelayEvent e = h.run([&] { return h.backend_app.received.size() == query.size(); });
	const auto request = packet(1, {0xFB, 'x'});
	h.backend_app.send(request);
	e = h.run([&] { return h.client_app.received.size() == request.size(); });
	const auto data = infile_data(600);
	h.client_app.send(data);
	e = h.run([&] { return h.backend_app.received.size() == query.size() + data.size(); });
	ck_assert(e.kind == RelayEvent::Kind::none);
	ck_assert(std::equal(data.begin(), data.end(), h.backend_app.received.begin() + std::ptrdiff_t(query.size())));
	const auto ok = packet(std::uint8_t(2 + 601), {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00});
	h.backend_app.send(ok);
	e = h.run([&] { return h.client_app.received.size() == request.size() + ok.size(); });
	/* Commands are recognised again. */
	h.client_app.send(command(COM_INIT_DB, "db"));
	e = h.run_until_event();
	ck_assert(e.kind == RelayEvent::Kind::command);
}
END_TEST

START_TEST(test_local_infile_not_negotiated)
{
	Harness h(false);
	h.client_app.send(command(COM_QUERY, "LOAD DATA LOCAL INFILE 'x' INTO TABLE t"));
	RelayEvent e = h.run([&] { return !h.backend_app.received.empty(); });
	h.backend_app.send(packet(1, {0xFB, '/', 'e', 't', 'c'}));
	e = h.run_until_event();
	ck_assert(e.kind == RelayEvent::Kind::closed);
	ck_assert(e.close_reason == RelayEvent::CloseReason::protocol_error);
	ck_assert_uint_eq(h.client_app.received.size(), 0);
}
END_TEST

START_TEST(test_backend_last_words)
{
	/* The backend sends an ERR and closes: the client gets the ERR, then the relay ends. */
	Harness h;
	const auto err = packet(0, {0xFF, 0x87, 0x07, '#', '7', '0', '1', '0', '0', 'k', 'i', 'l', 'l', 'e', 'd'});
	h.backend_app.send(err);
	h.backend_app.pump();
	shutdown(h.backend.app, SHUT_RDWR);
	RelayEvent e = h.run_until_event();
	ck_assert(e.kind == RelayEvent::Kind::closed);
	ck_assert(e.close_reason == RelayEvent::CloseReason::backend_closed);
	h.client_app.pump();
	ck_assert(h.client_app.received == err);
}
END_TEST

/* The ERR worker/session_ending sends: its code and the sequence id the client expects. */
static void assert_final_err(const std::vector<std::uint8_t> &received, std::size_t offset, std::uint16_t code,
			     std::uint8_t sequence_id)
{
	ck_assert_uint_ge(received.size(), offset + 7);
	ck_assert_uint_eq(received[offset + 3], sequence_id);
	ck_assert_uint_eq(received[offset + 4], 0xFF);
	ck_assert_uint_eq(received[offset + 5] | (received[offset + 6] << 8), code);
	ck_assert_uint_eq(received[offset + 7], '#');
}

/* A LOCAL INFILE request the client did not allow: it never reaches the client; the client gets
   ERR 1158 in its place, as the answer (sequence id 1) to its COM_QUERY. */
START_TEST(test_rogue_infile_gets_final_err)
{
	Harness h(false);
	h.client_app.send(command(COM_QUERY, "SELECT 1"));
	RelayEvent e = h.run([&] { return !h.backend_app.received.empty(); });
	h.backend_app.send(packet(1, {0xFB, '/', 'e', 't', 'c'}));
	e = h.run_until_event();
	ck_assert(e.close_reason == RelayEvent::CloseReason::protocol_error);
	ck_assert_uint_eq(final_err_sequence_id(h.relay), 1);
	ck_assert(send_final_err(h.relay, ER_NET_READ_ERROR, "rogue", CLIENT_PROTOCOL_41));
	h.client_app.pump();
	assert_final_err(h.client_app.received, 0, 1158, 1);
}
END_TEST

/* The backend dies while the client waits for the answer to its command: ERR 1927 with sequence
   id 1 (after the command's 0). */
START_TEST(test_backend_dies_during_command)
{
	Harness h;
	h.client_app.send(command(COM_QUERY, "SELECT SLEEP(10)"));
	RelayEvent e = h.run([&] { return !h.backend_app.received.empty(); });
	ck_assert(!relay_session_idle(h.relay));
	shutdown(h.backend.app, SHUT_RDWR);
	e = h.run_until_event();
	ck_assert(e.close_reason == RelayEvent::CloseReason::backend_closed);
	ck_assert(send_final_err(h.relay, ER_CONNECTION_KILLED, "lost", CLIENT_PROTOCOL_41));
	h.client_app.pump();
	assert_final_err(h.client_app.received, 0, 1927, 1);
}
END_TEST

/* An idle session (the answer complete) reads the ERR as the answer to its next command. */
START_TEST(test_idle_session_final_err)
{
	Harness h;
	h.client_app.send(command(COM_PING));
	RelayEvent e = h.run([&] { return !h.backend_app.received.empty(); });
	const auto ok = packet(1, {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00});
	h.backend_app.send(ok);
	e = h.run([&] { return h.client_app.received.size() == ok.size(); });
	ck_assert(relay_session_idle(h.relay));
	ck_assert_uint_eq(final_err_sequence_id(h.relay), 1);
	ck_assert(send_final_err(h.relay, ER_SERVER_SHUTDOWN, "bye", CLIENT_PROTOCOL_41));
	h.client_app.pump();
	assert_final_err(h.client_app.received, ok.size(), 1053, 1);
}
END_TEST

START_TEST(test_packet_too_large_to_hold)
{
	/* An intercepted command that cannot fit the buffer ends the relay instead of stalling. */
	Harness h;
	h.relay.intercept_command(COM_INIT_DB);
	h.client_app.send(command(COM_INIT_DB, std::string(RelayBufferPool::buffer_size, 'd')));
	const RelayEvent e = h.run_until_event();
	ck_assert(e.kind == RelayEvent::Kind::closed);
	ck_assert(e.close_reason == RelayEvent::CloseReason::packet_too_large);
}
END_TEST

START_TEST(test_preload)
{
	Harness h;
	const auto ping = command(COM_PING);
	ck_assert(h.relay.preload(RelaySide::client, ping));
	RelayEvent e = h.relay.resume();
	ck_assert(e.kind == RelayEvent::Kind::none);
	e = h.run([&] { return h.backend_app.received.size() == ping.size(); });
	ck_assert(h.backend_app.received == ping);
}
END_TEST

static Suite *relay_suite()
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_large_payloads_both_ways);
	tcase_add_test(tc, test_back_pressure);
	tcase_add_test(tc, test_compaction_slow_consumer);
	tcase_add_test(tc, test_compaction_held_packet_straddles_end);
	tcase_add_test(tc, test_quit);
	tcase_add_test(tc, test_client_close);
	tcase_add_test(tc, test_intercept_answer_and_replace);
	tcase_add_test(tc, test_intercept_waits_for_backend_boundary);
	tcase_add_test(tc, test_capture_backend_reply);
	tcase_add_test(tc, test_capture_client_packet);
	tcase_add_test(tc, test_local_infile);
	tcase_add_test(tc, test_local_infile_not_negotiated);
	tcase_add_test(tc, test_backend_last_words);
	tcase_add_test(tc, test_rogue_infile_gets_final_err);
	tcase_add_test(tc, test_backend_dies_during_command);
	tcase_add_test(tc, test_idle_session_final_err);
	tcase_add_test(tc, test_packet_too_large_to_hold);
	tcase_add_test(tc, test_preload);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({relay_suite()});
}
