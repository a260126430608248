// Unit tests for common/compressed_framing: frames zlib's own compress() made decode (what a MySQL
// client sends), our frames inflate with zlib's uncompress() (what a client reads), round trips in
// tiny and odd chunks, the sequence ids of both roles, and the hostile frames: a bomb, a short or
// corrupt stream, trailing bytes, a length the frame cannot produce, a sequence id out of turn.
#include "common/compressed_framing.hpp"
#include "tests/check_main.hpp"

#include <zlib.h>

#include <algorithm>
#include <vector>

using namespace myproxy;

using Bytes = std::vector<std::uint8_t>;

/* A frame as a MySQL client builds it: @plain deflated by compress() (stored when @store). */
static Bytes client_frame(const Bytes &plain, std::uint8_t sequence, bool store = false, std::size_t declared = 0)
{
	Bytes body;
	if (store) {
		body = plain;
	} else {
		uLongf size = compressBound(plain.size());
		body.resize(size);
		ck_assert_int_eq(compress(body.data(), &size, plain.data(), plain.size()), Z_OK);
		body.resize(size);
	}
	const std::size_t plain_length = store ? 0 : (declared != 0 ? declared : plain.size());
	Bytes frame = {std::uint8_t(body.size()), std::uint8_t(body.size() >> 8), std::uint8_t(body.size() >> 16),
		       sequence, std::uint8_t(plain_length), std::uint8_t(plain_length >> 8),
		       std::uint8_t(plain_length >> 16)};
	frame.insert(frame.end(), body.begin(), body.end());
	return frame;
}

/* A MySQL packet: header (length, sequence id) and @payload. */
static Bytes packet(const Bytes &payload, std::uint8_t sequence)
{
	Bytes out = {std::uint8_t(payload.size()), std::uint8_t(payload.size() >> 8), std::uint8_t(payload.size() >> 16),
		     sequence};
	out.insert(out.end(), payload.begin(), payload.end());
	return out;
}

static Bytes text(std::size_t size, std::uint32_t seed)
{
	Bytes out(size);
	for (std::size_t i = 0; i < size; ++i) {
		seed = seed * 1103515245u + 12345u;
		/* Half compressible, half noise. */
		out[i] = (i / 1000) % 2 == 0 ? std::uint8_t('a' + i % 7) : std::uint8_t(seed >> 16);
	}
	return out;
}

static Bytes random_bytes(std::size_t size, std::uint32_t seed)
{
	Bytes out(size);
	for (auto &byte : out) {
		seed = seed * 1103515245u + 12345u;
		byte = std::uint8_t(seed >> 16);
	}
	return out;
}

/* Decodes @wire fed in pieces of @in_chunk into outputs of @out_chunk; stops at a fault. */
static Bytes decode_all(CompressedFraming &framing, const Bytes &wire, std::size_t in_chunk, std::size_t out_chunk,
			CompressedFault &fault)
{
	Bytes plain;
	std::size_t at = 0;
	fault = CompressedFault::none;
	for (int guard = 0; guard < 10'000'000; ++guard) {
		const std::size_t n = std::min(in_chunk, wire.size() - at);
		Bytes out(out_chunk);
		const auto step = framing.decode(ByteSpan(wire.data() + at, n), out);
		ck_assert_uint_le(step.consumed, n);
		ck_assert_uint_le(step.produced, out_chunk);
		at += step.consumed;
		plain.insert(plain.end(), out.begin(), out.begin() + std::ptrdiff_t(step.produced));
		if (step.fault != CompressedFault::none) {
			fault = step.fault;
			return plain;
		}
		if (at == wire.size() && step.produced == 0 && !framing.plain_pending())
			return plain;
	}
	ck_abort_msg("decode made no progress");
	return plain;
}

static Bytes encode_all(CompressedFraming &framing, const Bytes &plain)
{
	Bytes wire;
	std::size_t at = 0;
	while (at < plain.size()) {
		Bytes frame(CompressedFraming::frame_wire_max);
		const auto step = framing.encode(ByteSpan(plain.data() + at, plain.size() - at), frame);
		ck_assert_uint_gt(step.consumed, 0);
		ck_assert_uint_le(step.consumed, CompressedFraming::frame_payload_max);
		at += step.consumed;
		wire.insert(wire.end(), frame.begin(), frame.begin() + std::ptrdiff_t(step.produced));
	}
	return wire;
}

START_TEST(test_decodes_client_frames)
{
	const Bytes row = packet(text(100'000, 1), 0);
	Bytes wire = client_frame(row, 0);
	const Bytes small = packet({0x0E}, 1);
	const Bytes stored = client_frame(small, 1, true);
	wire.insert(wire.end(), stored.begin(), stored.end());
	Bytes expected = row;
	expected.insert(expected.end(), small.begin(), small.end());
	for (std::size_t in_chunk : {std::size_t(1), std::size_t(7), std::size_t(4096), wire.size()})
		for (std::size_t out_chunk : {std::size_t(1), std::size_t(333), std::size_t(32768)}) {
			if (in_chunk == 1 && out_chunk == 1)
				continue; /* slow, and covered by the others */
			CompressedFraming framing(CompressedRole::server);
			CompressedFault fault;
			ck_assert(decode_all(framing, wire, in_chunk, out_chunk, fault) == expected);
			ck_assert(fault == CompressedFault::none);
			ck_assert(framing.at_frame_boundary());
			ck_assert_uint_eq(framing.next_sequence(), 2);
		}
}
END_TEST

/* zlib's uncompress() reads every frame of ours, and the header says what it holds. */
START_TEST(test_encoded_frames_inflate_with_zlib)
{
	Bytes plain = text(100'000, 2);
	const Bytes noise = random_bytes(40'000, 9);
	plain.insert(plain.end(), noise.begin(), noise.end());
	CompressedFraming framing(CompressedRole::server);
	const Bytes wire = encode_all(framing, plain);
	Bytes joined;
	std::size_t at = 0;
	std::uint8_t expected_sequence = 0;
	bool some_deflated = false, some_stored = false;
	while (at < wire.size()) {
		ck_assert_uint_ge(wire.size() - at, COMPRESSED_HEADER_SIZE);
		const std::size_t body = wire[at] | wire[at + 1] << 8 | wire[at + 2] << 16;
		const std::size_t plain_length = wire[at + 4] | wire[at + 5] << 8 | wire[at + 6] << 16;
		ck_assert_uint_eq(wire[at + 3], expected_sequence++);
		const std::uint8_t *data = wire.data() + at + COMPRESSED_HEADER_SIZE;
		if (plain_length == 0) {
			some_stored = true;
			joined.insert(joined.end(), data, data + body);
		} else {
			some_deflated = true;
			ck_assert_uint_lt(body, plain_length);
			Bytes out(plain_length);
			uLongf size = plain_length;
			ck_assert_int_eq(uncompress(out.data(), &size, data, body), Z_OK);
			ck_assert_uint_eq(size, plain_length);
			joined.insert(joined.end(), out.begin(), out.end());
		}
		at += COMPRESSED_HEADER_SIZE + body;
	}
	ck_assert(joined == plain);
	ck_assert(some_deflated);
	ck_assert(some_stored); /* the noise at the end does not shrink */
}
END_TEST

START_TEST(test_short_payload_goes_stored)
{
	CompressedFraming framing(CompressedRole::server);
	const Bytes ok = {7, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0};
	Bytes frame(CompressedFraming::frame_wire_max);
	const auto step = framing.encode(ok, frame);
	ck_assert_uint_eq(step.consumed, ok.size());
	ck_assert_uint_eq(step.produced, COMPRESSED_HEADER_SIZE + ok.size());
	ck_assert_uint_eq(frame[0], ok.size());
	ck_assert_uint_eq(frame[4] | frame[5] | frame[6], 0);
	ck_assert(std::equal(ok.begin(), ok.end(), frame.begin() + COMPRESSED_HEADER_SIZE));
}
END_TEST

START_TEST(test_round_trip_both_roles)
{
	Bytes plain;
	/* Numbered as an uncompressed client expects a reply: from 1 on. */
	for (std::uint8_t i = 0; i < 40; ++i) {
		const Bytes p = packet(text(3000 + i * 997, i), std::uint8_t(i + 1));
		plain.insert(plain.end(), p.begin(), p.end());
	}
	CompressedFraming server(CompressedRole::server), client(CompressedRole::client);
	CompressedFault fault;
	ck_assert(decode_all(client, encode_all(server, plain), 1000, 777, fault) == plain);
	ck_assert(fault == CompressedFault::none);
}
END_TEST

/* Toward a backend every command starts a frame of its own with sequence id 0; within an
 * exchange the numbering follows the backend's frames. */
START_TEST(test_client_role_numbers_commands)
{
	CompressedFraming framing(CompressedRole::client);
	Bytes two = packet({0x19, 1, 0, 0, 0}, 0); /* COM_STMT_CLOSE: no answer */
	const Bytes query = packet({0x03, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1'}, 0);
	two.insert(two.end(), query.begin(), query.end());

	Bytes frame(CompressedFraming::frame_wire_max);
	auto step = framing.encode(two, frame);
	ck_assert_uint_eq(step.consumed, 9);
	ck_assert_uint_eq(frame[3], 0);
	step = framing.encode(ByteSpan(two).subspan(9), frame);
	ck_assert_uint_eq(step.consumed, query.size());
	ck_assert_uint_eq(frame[3], 0);

	/* The backend answers with frames 1 and 2 (a LOCAL INFILE request, say); our data follows at 3. */
	const Bytes answer = client_frame(packet({0xFB, 'f'}, 1), 1, true);
	const Bytes more = client_frame(packet({0xFB, 'g'}, 2), 2, true);
	Bytes both = answer;
	both.insert(both.end(), more.begin(), more.end());
	CompressedFault fault;
	(void)decode_all(framing, both, 100, 100, fault);
	ck_assert(fault == CompressedFault::none);
	step = framing.encode(packet({'d', 'a', 't', 'a'}, 2), frame);
	ck_assert_uint_eq(frame[3], 3);
}
END_TEST

/* libmariadb numbers every packet of a compressed command 0, a compressed server's replies follow
 * its frame numbering: decoded, they are numbered as an uncompressed peer expects. */
START_TEST(test_inner_packets_renumbered)
{
	CompressedFraming server(CompressedRole::server);
	Bytes command = packet(Bytes(0xFFFFFF, 'q'), 0);
	const Bytes rest = packet({'r', 'e', 's', 't'}, 0);
	command.insert(command.end(), rest.begin(), rest.end());
	CompressedFault fault;
	/* A frame holds at most 16 MiB - 1: two of them. */
	const std::size_t half = command.size() / 2;
	Bytes wire = client_frame(Bytes(command.begin(), command.begin() + std::ptrdiff_t(half)), 0);
	const Bytes second = client_frame(Bytes(command.begin() + std::ptrdiff_t(half), command.end()), 1);
	wire.insert(wire.end(), second.begin(), second.end());
	Bytes plain = decode_all(server, wire, 65536, 65536, fault);
	ck_assert(fault == CompressedFault::none);
	ck_assert_uint_eq(plain.size(), command.size());
	ck_assert_uint_eq(plain[3], 0);
	ck_assert_uint_eq(plain[4 + 0xFFFFFF + 3], 1);

	CompressedFraming client(CompressedRole::client);
	Bytes frame(CompressedFraming::frame_wire_max);
	(void)client.encode(packet({0x03, 'S'}, 0), frame);
	Bytes reply = packet({1}, 5);
	const Bytes column = packet({'c'}, 6);
	reply.insert(reply.end(), column.begin(), column.end());
	plain = decode_all(client, client_frame(reply, 1), 3, 2, fault);
	ck_assert(fault == CompressedFault::none);
	ck_assert_uint_eq(plain[3], 1);
	ck_assert_uint_eq(plain[5 + 3], 2);
}
END_TEST

/* LOCAL INFILE data past 255 packets wraps to sequence id 0 while the backend is silent: that is
 * no new command, the frame numbering goes on. */
START_TEST(test_client_role_infile_wrap_is_no_command)
{
	CompressedFraming framing(CompressedRole::client);
	Bytes frame(CompressedFraming::frame_wire_max);
	(void)framing.encode(packet({0x03, 'L'}, 0), frame);
	CompressedFault fault;
	(void)decode_all(framing, client_frame(packet({0xFB, 'f'}, 1), 1, true), 100, 100, fault);
	Bytes data;
	for (int i = 2; i <= 256; ++i) {
		const Bytes p = packet({'x'}, std::uint8_t(i));
		data.insert(data.end(), p.begin(), p.end());
	}
	const auto step = framing.encode(data, frame);
	ck_assert_uint_eq(step.consumed, data.size()); /* no cut at the wrapped 0 */
	ck_assert_uint_eq(frame[3], 2);
}
END_TEST

START_TEST(test_server_role_sequence)
{
	CompressedFraming framing(CompressedRole::server);
	CompressedFault fault;
	const Bytes ping = packet({0x0E}, 0);
	(void)decode_all(framing, client_frame(ping, 0, true), 100, 100, fault);
	ck_assert(fault == CompressedFault::none);
	ck_assert_uint_eq(framing.next_sequence(), 1);
	/* A new command restarts at 0. */
	(void)decode_all(framing, client_frame(ping, 0, true), 100, 100, fault);
	ck_assert(fault == CompressedFault::none);
	/* Neither the next (1) nor 0. */
	(void)decode_all(framing, client_frame(ping, 5, true), 100, 100, fault);
	ck_assert(fault == CompressedFault::out_of_order);
	/* A fault sticks. */
	(void)decode_all(framing, client_frame(ping, 0, true), 100, 100, fault);
	ck_assert(fault == CompressedFault::out_of_order);
}
END_TEST

/* A stream that inflates past its declared length is cut off at the declared length: a bomb. */
START_TEST(test_bomb)
{
	const Bytes zeros(4 * 1024 * 1024, 0);
	const Bytes wire = client_frame(zeros, 0, false, 1000);
	CompressedFraming framing(CompressedRole::server);
	CompressedFault fault;
	const Bytes plain = decode_all(framing, wire, wire.size(), 65536, fault);
	ck_assert(fault == CompressedFault::corrupt);
	ck_assert_uint_le(plain.size(), 1000);
}
END_TEST

START_TEST(test_short_stream)
{
	const Bytes wire = client_frame(text(500, 3), 0, false, 2000);
	CompressedFraming framing(CompressedRole::server);
	CompressedFault fault;
	(void)decode_all(framing, wire, 64, 4096, fault);
	ck_assert(fault == CompressedFault::corrupt);
}
END_TEST

START_TEST(test_corrupt_stream)
{
	Bytes wire = client_frame(text(5000, 4), 0);
	for (std::size_t i = COMPRESSED_HEADER_SIZE; i < wire.size(); i += 3)
		wire[i] ^= 0x5A;
	CompressedFraming framing(CompressedRole::server);
	CompressedFault fault;
	(void)decode_all(framing, wire, 100, 1000, fault);
	ck_assert(fault == CompressedFault::corrupt);
}
END_TEST

START_TEST(test_truncated_frame_body)
{
	/* The header claims more body bytes than the stream has: the stream ends inside the frame. */
	Bytes wire = client_frame(text(5000, 5), 0);
	const std::size_t body = wire[0] | wire[1] << 8;
	wire[0] = std::uint8_t(body + 10);
	wire[1] = std::uint8_t((body + 10) >> 8);
	wire.insert(wire.end(), 10, 0);
	CompressedFraming framing(CompressedRole::server);
	CompressedFault fault;
	(void)decode_all(framing, wire, wire.size(), 100'000, fault);
	ck_assert(fault == CompressedFault::corrupt);
}
END_TEST

START_TEST(test_claims_more_than_it_can_hold)
{
	/* 10 bytes of stream cannot inflate to 16 MiB. */
	const Bytes wire = {10, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x78, 0x9C, 0, 0, 0, 0, 0, 0, 0, 0};
	CompressedFraming framing(CompressedRole::server);
	CompressedFault fault;
	const Bytes plain = decode_all(framing, wire, wire.size(), 4096, fault);
	ck_assert(fault == CompressedFault::too_large);
	ck_assert_uint_eq(plain.size(), 0);
	/* A deflated frame without body bytes. */
	const Bytes empty = {0, 0, 0, 0, 5, 0, 0};
	CompressedFraming other(CompressedRole::server);
	(void)decode_all(other, empty, empty.size(), 4096, fault);
	ck_assert(fault == CompressedFault::corrupt);
}
END_TEST

/* A highly compressed frame read a few bytes at a time: while the output was full, plain_pending()
 * says more may come, and decoding on (with what is left of the wire, maybe nothing) ends the frame
 * exactly, as the relay's link does. */
START_TEST(test_plain_pending)
{
	const Bytes zeros(200'000, 0);
	const Bytes wire = client_frame(zeros, 0);
	CompressedFraming framing(CompressedRole::server);
	Bytes out(1000);
	std::size_t at = 0, total = 0;
	bool pending_seen = false;
	do {
		const auto step = framing.decode(ByteSpan(wire).subspan(at), out);
		ck_assert(step.fault == CompressedFault::none);
		ck_assert(step.consumed > 0 || step.produced > 0);
		at += step.consumed;
		total += step.produced;
		pending_seen = pending_seen || framing.plain_pending();
	} while (at < wire.size() || framing.plain_pending());
	ck_assert(pending_seen);
	ck_assert_uint_eq(total, zeros.size());
	ck_assert(framing.at_frame_boundary());
}
END_TEST

static Suite *compressed_framing_suite()
{
	Suite *s = suite_create("compressed_framing");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60 * timeout_multiplier());
	tcase_add_test(tc, test_decodes_client_frames);
	tcase_add_test(tc, test_encoded_frames_inflate_with_zlib);
	tcase_add_test(tc, test_short_payload_goes_stored);
	tcase_add_test(tc, test_round_trip_both_roles);
	tcase_add_test(tc, test_client_role_numbers_commands);
	tcase_add_test(tc, test_client_role_infile_wrap_is_no_command);
	tcase_add_test(tc, test_inner_packets_renumbered);
	tcase_add_test(tc, test_server_role_sequence);
	tcase_add_test(tc, test_bomb);
	tcase_add_test(tc, test_short_stream);
	tcase_add_test(tc, test_corrupt_stream);
	tcase_add_test(tc, test_truncated_frame_body);
	tcase_add_test(tc, test_claims_more_than_it_can_hold);
	tcase_add_test(tc, test_plain_pending);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({compressed_framing_suite()});
}
