// Unit tests for worker/compressed_link over a real socketpair: a frame that arrives in parts gives
// EAGAIN until it is whole, wire bytes the login read ahead (preload) are inflated without reading
// the socket, EOF and a fault end the link (and a fault stays), and a peer that does not read makes
// write() keep framed bytes pending (short write, then EAGAIN) until it reads, while a peer that
// hung up makes write() fail.  Causes only: return values, errno, the bytes the peer sees.
#include "worker/compressed_link.hpp"
#include "worker/relay_buffer_pool.hpp"

#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <vector>
// Last: <check.h> must follow the standard headers.
#include "tests/check_main.hpp"

using namespace myproxy;

namespace {

using Bytes = std::vector<std::uint8_t>;

/* A MySQL packet with @payload, sequence id 0 (a new command). */
Bytes command_packet(const Bytes &payload)
{
	Bytes out(4 + payload.size(), 0);
	out[0] = std::uint8_t(payload.size());
	out[1] = std::uint8_t(payload.size() >> 8);
	out[2] = std::uint8_t(payload.size() >> 16);
	std::copy(payload.begin(), payload.end(), out.begin() + 4);
	return out;
}

/* A compressed frame as a MySQL client builds it (zlib's compress()), sequence id 0. */
Bytes client_frame(const Bytes &plain)
{
	uLongf size = compressBound(plain.size());
	Bytes body(size);
	ck_assert_int_eq(compress(body.data(), &size, plain.data(), plain.size()), Z_OK);
	body.resize(size);
	Bytes frame(7 + body.size(), 0);
	for (int i = 0; i < 3; ++i) {
		frame[i] = std::uint8_t(body.size() >> (8 * i));
		frame[4 + i] = std::uint8_t(plain.size() >> (8 * i));
	}
	std::copy(body.begin(), body.end(), frame.begin() + 7);
	return frame;
}

Bytes query_packet(std::size_t length)
{
	Bytes payload(length, 'x');
	payload[0] = 0x03; /* COM_QUERY */
	return command_packet(payload);
}

/* A socketpair: fds[0] for the link, fds[1] for the peer; returns fds[1]. */
int socket_pair(int fds[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	return fds[1];
}

/* The link's side (a StreamSocket, which closes it) and the peer's plain fd. */
struct LinkPair {
	int fds[2] = {-1, -1};
	int peer;
	StreamSocket stream;
	LinkPair() : peer(socket_pair(fds)), stream(fds[0]) {}
	~LinkPair()
	{
		if (peer >= 0)
			close(peer);
	}
	void send(const std::uint8_t *bytes, std::size_t size) const
	{
		ck_assert_int_eq(::write(peer, bytes, size), ssize_t(size));
	}
};

} // namespace

/* A frame in two parts: nothing plain from the first (EAGAIN), the packet whole after the second. */
START_TEST(test_frame_in_parts)
{
	RelayBufferPool pool;
	CompressedLink link(pool, CompressedRole::server);
	LinkPair pair;
	const Bytes plain = query_packet(300);
	const Bytes frame = client_frame(plain);
	std::uint8_t out[4096];
	pair.send(frame.data(), 5); /* not even the header */
	errno = 0;
	ck_assert_int_eq(link.read(pair.stream, out, sizeof(out)), -1);
	ck_assert_int_eq(errno, EAGAIN);
	pair.send(frame.data() + 5, frame.size() - 5);
	const ssize_t n = link.read(pair.stream, out, sizeof(out));
	ck_assert_int_eq(n, ssize_t(plain.size()));
	ck_assert(Bytes(out, out + n) == plain);
	ck_assert(!link.input_buffered());
	ck_assert_uint_eq(pool.idle_count(), 1); /* the in window went back once empty */
}
END_TEST

/* Bytes the login read behind its last packet are inflated without touching the socket; what
 * does not fit a window is refused; nothing is fine. */
START_TEST(test_preload)
{
	RelayBufferPool pool;
	CompressedLink link(pool, CompressedRole::server);
	LinkPair pair;
	const Bytes plain = query_packet(100);
	const Bytes frame = client_frame(plain);
	ck_assert(link.preload(ByteSpan()));
	ck_assert(link.preload(ByteSpan(frame.data(), frame.size())));
	ck_assert(link.input_buffered());
	std::uint8_t out[4096];
	const ssize_t n = link.read(pair.stream, out, sizeof(out));
	ck_assert_int_eq(n, ssize_t(plain.size()));
	ck_assert(Bytes(out, out + n) == plain);

	const Bytes too_much(RelayBufferPool::buffer_size + 1, 0);
	ck_assert(!link.preload(ByteSpan(too_much.data(), too_much.size())));
}
END_TEST

/* The peer's EOF is the read's 0; a corrupt frame is EPROTO with its fault, and stays so. */
START_TEST(test_eof_and_fault)
{
	RelayBufferPool pool;
	std::uint8_t out[4096];
	{
		CompressedLink link(pool, CompressedRole::server);
		LinkPair pair;
		shutdown(pair.peer, SHUT_WR);
		ck_assert_int_eq(link.read(pair.stream, out, sizeof(out)), 0);
		ck_assert(link.fault() == CompressedFault::none);
	}
	CompressedLink link(pool, CompressedRole::server);
	LinkPair pair;
	/* A header declaring 10 compressed bytes inflating to 20, then bytes that are no zlib stream. */
	const Bytes corrupt = {10, 0, 0, 0, 20, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01};
	pair.send(corrupt.data(), corrupt.size());
	errno = 0;
	ck_assert_int_eq(link.read(pair.stream, out, sizeof(out)), -1);
	ck_assert_int_eq(errno, EPROTO);
	ck_assert(link.fault() == CompressedFault::corrupt);
	const Bytes good = client_frame(query_packet(60));
	pair.send(good.data(), good.size());
	errno = 0;
	ck_assert_int_eq(link.read(pair.stream, out, sizeof(out)), -1);
	ck_assert_int_eq(errno, EPROTO);
}
END_TEST

/* A peer that does not read: write() frames what the socket takes, keeps the rest pending (a short
 * write), then takes nothing more (EAGAIN inside, 0 taken) until the peer reads; every plain byte
 * arrives, inflated, in order.  A peer that hung up: -1. */
START_TEST(test_backpressure_and_hangup)
{
	RelayBufferPool pool;
	CompressedLink link(pool, CompressedRole::client);
	LinkPair pair;
	const int small = 4096;
	ck_assert_int_eq(setsockopt(pair.stream.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	ck_assert_int_eq(setsockopt(pair.peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	/* Random bytes do not compress: the frames are about as large as the plain data. */
	std::mt19937 random(12345);
	Bytes payload(200'000);
	for (auto &byte : payload)
		byte = std::uint8_t(random());
	payload[0] = 0x03;
	const Bytes plain = command_packet(payload);

	ssize_t taken = link.write(pair.stream, plain.data(), plain.size());
	ck_assert_int_ge(taken, 1);
	ck_assert_int_lt(taken, ssize_t(plain.size()));
	ck_assert(link.output_pending());
	ck_assert_int_eq(link.write(pair.stream, plain.data() + taken, plain.size() - std::size_t(taken)), 0);
	ck_assert(link.output_pending());

	/* The peer reads (and inflates) while the link writes the rest. */
	RelayBufferPool peer_pool;
	CompressedFraming peer(CompressedRole::server);
	Bytes received;
	std::vector<std::uint8_t> wire(1 << 16), inflated(1 << 16);
	Bytes unread;
	for (int round = 0; round < 100000 && received.size() < plain.size(); ++round) {
		const ssize_t n = ::recv(pair.peer, wire.data(), wire.size(), MSG_DONTWAIT);
		if (n > 0)
			unread.insert(unread.end(), wire.begin(), wire.begin() + n);
		std::size_t offset = 0;
		for (;;) {
			const CompressedFraming::Step step =
				peer.decode(ByteSpan(unread.data() + offset, unread.size() - offset), inflated);
			ck_assert(step.fault == CompressedFault::none);
			offset += step.consumed;
			received.insert(received.end(), inflated.begin(), inflated.begin() + step.produced);
			if (step.produced == 0)
				break;
		}
		unread.erase(unread.begin(), unread.begin() + offset);
		if (std::size_t(taken) < plain.size() || link.output_pending()) {
			const ssize_t more = link.write(pair.stream, plain.data() + taken, plain.size() - std::size_t(taken));
			ck_assert_int_ge(more, 0);
			taken += more;
		}
	}
	ck_assert_uint_eq(std::size_t(taken), plain.size());
	ck_assert(received == plain);

	close(pair.peer);
	pair.peer = -1;
	const Bytes last = query_packet(20);
	ssize_t result = 0;
	for (int attempt = 0; attempt < 3 && result >= 0; ++attempt)
		result = link.write(pair.stream, last.data(), last.size());
	ck_assert_int_eq(result, -1);
	ck_assert(errno == EPIPE || errno == ECONNRESET);
}
END_TEST

int main()
{
	Suite *suite = suite_create("compressed_link");
	TCase *tc = tcase_create("link");
	tcase_add_test(tc, test_frame_in_parts);
	tcase_add_test(tc, test_preload);
	tcase_add_test(tc, test_eof_and_fault);
	tcase_add_test(tc, test_backpressure_and_hangup);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
