// Unit tests for common/mysql_packet (framing, scanning, reassembly, builders) and the capability
// names of common/mysql_capabilities.  Byte sequences were captured from MariaDB 10.11.
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "tests/check_main.hpp"
#include "tests/unit/packet_test_util.hpp"

#include <cstring>
#include <set>
#include <string>
#include <vector>

using namespace myproxy;
using packet_test::from_hex;

/* COM_QUERY "select 1" as the mariadb client sends it, then the server's column count packet. */
static const char QUERY_PACKET[] = "09000000 0373656c6563742031";
static const char TWO_PACKETS[] = "09000000 0373656c6563742031 02000001 0101";

static std::vector<std::uint8_t> payload_of_size(std::size_t n)
{
	std::vector<std::uint8_t> payload(n);
	for (std::size_t i = 0; i < n; ++i)
		payload[i] = std::uint8_t(i * 7 + i / 251);
	return payload;
}

START_TEST(test_header_round_trip)
{
	const auto bytes = from_hex("ffffff07");
	auto header = decode_packet_header(bytes);
	ck_assert(header.ok());
	ck_assert_uint_eq(header->payload_length, MAX_PACKET_PAYLOAD);
	ck_assert_uint_eq(header->sequence_id, 7);
	std::uint8_t out[PACKET_HEADER_SIZE];
	encode_packet_header(out, {0x123456, 0xAB});
	ck_assert(packet_test::same(out, from_hex("563412ab")));
	for (std::size_t n = 0; n < PACKET_HEADER_SIZE; ++n) {
		const std::vector<std::uint8_t> prefix(bytes.begin(), bytes.begin() + std::ptrdiff_t(n));
		auto r = decode_packet_header(prefix);
		ck_assert(!r.ok());
		ck_assert_uint_le(r.error().offset, n);
	}
}
END_TEST

START_TEST(test_scan_byte_by_byte)
{
	const auto wire = from_hex(QUERY_PACKET);
	for (std::size_t n = 0; n <= wire.size(); ++n) {
		const std::vector<std::uint8_t> prefix(wire.begin(), wire.begin() + std::ptrdiff_t(n));
		const PacketScan scan = scan_packet(prefix);
		if (n < PACKET_HEADER_SIZE) {
			ck_assert(!scan.header_complete);
			ck_assert(!scan.complete);
			ck_assert_uint_eq(scan.bytes_missing, PACKET_HEADER_SIZE - n);
			ck_assert_uint_eq(scan.payload_present, 0);
			ck_assert_uint_eq(scan.wire_size, 0);
			continue;
		}
		ck_assert(scan.header_complete);
		ck_assert_uint_eq(scan.header.payload_length, 9);
		ck_assert_uint_eq(scan.header.sequence_id, 0);
		ck_assert_uint_eq(scan.wire_size, 13);
		ck_assert_uint_eq(scan.payload_present, n - PACKET_HEADER_SIZE);
		ck_assert_uint_eq(scan.bytes_missing, wire.size() - n);
		ck_assert(scan.complete == (n == wire.size()));
		ck_assert(!scan.continued);
	}
}
END_TEST

START_TEST(test_scan_stops_at_first_packet)
{
	const auto wire = from_hex(TWO_PACKETS);
	const PacketScan scan = scan_packet(wire);
	ck_assert(scan.complete);
	ck_assert_uint_eq(scan.payload_present, 9);
	ck_assert_uint_eq(scan.wire_size, 13);
	ck_assert_uint_eq(scan.bytes_missing, 0);
	const PacketScan second = scan_packet(ByteSpan(wire).subspan(scan.wire_size));
	ck_assert(second.complete);
	ck_assert_uint_eq(second.header.sequence_id, 1);
	ck_assert_uint_eq(second.header.payload_length, 2);
}
END_TEST

START_TEST(test_scan_empty_and_continued)
{
	const auto empty = from_hex("00000003");
	const PacketScan e = scan_packet(empty);
	ck_assert(e.header_complete && e.complete && !e.continued);
	ck_assert_uint_eq(e.wire_size, PACKET_HEADER_SIZE);

	/* Cut-through: only the header and 3 payload bytes of a 16 MiB packet have arrived. */
	const auto big = from_hex("ffffff00 030303");
	const PacketScan b = scan_packet(big);
	ck_assert(b.header_complete && !b.complete && b.continued);
	ck_assert_uint_eq(b.payload_present, 3);
	ck_assert_uint_eq(b.wire_size, PACKET_HEADER_SIZE + MAX_PACKET_PAYLOAD);
	ck_assert_uint_eq(b.bytes_missing, MAX_PACKET_PAYLOAD - 3);
}
END_TEST

START_TEST(test_iterator)
{
	auto wire = from_hex(TWO_PACKETS);
	wire.push_back(0x05); /* the start of a third packet's header */
	PacketIterator it(wire);
	Packet packet;
	ck_assert(it.next(packet));
	ck_assert_uint_eq(packet.header.payload_length, 9);
	ck_assert_uint_eq(packet.payload[0], 0x03);
	ck_assert_ptr_eq(packet.payload.data(), wire.data() + 4);
	ck_assert(it.next(packet));
	ck_assert_uint_eq(packet.header.sequence_id, 1);
	ck_assert(packet_test::same(packet.payload, from_hex("0101")));
	ck_assert(!it.next(packet));
	ck_assert(!it.next(packet));
	ck_assert_uint_eq(it.consumed(), wire.size() - 1);
	ck_assert_uint_eq(it.remaining().size(), 1);

	for (std::size_t n = 0; n < wire.size(); ++n) {
		const std::vector<std::uint8_t> prefix(wire.begin(), wire.begin() + std::ptrdiff_t(n));
		PacketIterator p(prefix);
		std::size_t count = 0;
		while (p.next(packet))
			++count;
		ck_assert_uint_eq(count, n >= 19 ? 2 : n >= 13 ? 1 : 0);
		ck_assert_uint_eq(p.consumed() + p.remaining().size(), n);
	}
}
END_TEST

START_TEST(test_append_small)
{
	std::vector<std::uint8_t> out;
	std::uint8_t seq = 0;
	const auto payload = from_hex("0373656c6563742031");
	append_packet(out, payload, seq);
	ck_assert(out == from_hex(QUERY_PACKET));
	ck_assert_uint_eq(seq, 1);

	/* An empty payload is one empty packet. */
	append_packet(out, {}, seq);
	ck_assert_uint_eq(out.size(), 13 + 4);
	ck_assert(packet_test::same(ByteSpan(out).subspan(13), from_hex("00000001")));
	ck_assert_uint_eq(seq, 2);
}
END_TEST

START_TEST(test_begin_finish_small)
{
	std::vector<std::uint8_t> out = {0xAA}; /* packets are appended after what is there */
	std::uint8_t seq = 0;
	const std::size_t start = begin_packet(out);
	ck_assert_uint_eq(start, 1);
	out.push_back(0x03);
	const std::string query = "select 1";
	out.insert(out.end(), query.begin(), query.end());
	finish_packet(out, start, seq);
	ck_assert_uint_eq(seq, 1);
	ck_assert(packet_test::same(ByteSpan(out).subspan(1), from_hex(QUERY_PACKET)));
}
END_TEST

/* The framed form of @payload, checked packet by packet: sizes, sequence ids from @first_seq. */
static void check_framing(const std::vector<std::uint8_t> &wire, const std::vector<std::uint8_t> &payload,
			  std::uint8_t first_seq)
{
	ck_assert_uint_eq(wire.size(), framed_size(payload.size()));
	PacketIterator it(wire);
	Packet packet;
	std::size_t offset = 0;
	std::uint8_t seq = first_seq;
	std::size_t packets = 0;
	while (it.next(packet)) {
		ck_assert_uint_eq(packet.header.sequence_id, seq);
		const std::size_t expect = std::min(payload.size() - offset, std::size_t(MAX_PACKET_PAYLOAD));
		ck_assert_uint_eq(packet.header.payload_length, expect);
		ck_assert(std::memcmp(packet.payload.data(), payload.data() + offset, expect) == 0);
		offset += expect;
		++seq;
		++packets;
	}
	ck_assert_uint_eq(it.consumed(), wire.size());
	ck_assert_uint_eq(offset, payload.size());
	ck_assert_uint_eq(packets, payload.size() / MAX_PACKET_PAYLOAD + 1);
}

START_TEST(test_large_payload_split_and_reassembled)
{
	const std::size_t sizes[] = {MAX_PACKET_PAYLOAD - 1, MAX_PACKET_PAYLOAD, MAX_PACKET_PAYLOAD + 1,
				     std::size_t(16) << 20 | 100, 2 * std::size_t(MAX_PACKET_PAYLOAD)};
	std::vector<std::uint8_t> reassembled;
	for (std::size_t size : sizes) {
		const auto payload = payload_of_size(size);
		std::vector<std::uint8_t> appended;
		std::uint8_t seq = 3;
		append_packet(appended, payload, seq);
		ck_assert_uint_eq(seq, std::uint8_t(3 + size / MAX_PACKET_PAYLOAD + 1));
		check_framing(appended, payload, 3);

		/* begin/finish split in place to the same bytes. */
		std::vector<std::uint8_t> built;
		std::uint8_t seq2 = 3;
		const std::size_t start = begin_packet(built);
		built.insert(built.end(), payload.begin(), payload.end());
		finish_packet(built, start, seq2);
		ck_assert_uint_eq(seq2, seq);
		ck_assert(built == appended);

		auto result = reassemble_payload(appended, reassembled, size);
		ck_assert(result.ok());
		ck_assert(result->complete);
		ck_assert_uint_eq(result->wire_size, appended.size());
		ck_assert_uint_eq(result->packet_count, size / MAX_PACKET_PAYLOAD + 1);
		ck_assert_uint_eq(result->first_sequence_id, 3);
		ck_assert_uint_eq(result->last_sequence_id, std::uint8_t(seq - 1));
		ck_assert(reassembled == payload);
	}
}
END_TEST

START_TEST(test_exact_max_payload_ends_with_empty_packet)
{
	const auto payload = payload_of_size(MAX_PACKET_PAYLOAD);
	std::vector<std::uint8_t> wire;
	std::uint8_t seq = 0;
	append_packet(wire, payload, seq);
	ck_assert_uint_eq(seq, 2);
	ck_assert_uint_eq(wire.size(), MAX_PACKET_PAYLOAD + 2 * PACKET_HEADER_SIZE);
	ck_assert(packet_test::same(ByteSpan(wire).first(4), from_hex("ffffff00")));
	ck_assert(packet_test::same(ByteSpan(wire).last(4), from_hex("00000001")));
	const PacketScan first = scan_packet(wire);
	ck_assert(first.complete && first.continued);
}
END_TEST

START_TEST(test_sequence_wraps)
{
	const auto payload = payload_of_size(MAX_PACKET_PAYLOAD + 10);
	std::vector<std::uint8_t> wire;
	std::uint8_t seq = 255;
	append_packet(wire, payload, seq);
	ck_assert_uint_eq(seq, 1);
	ck_assert_uint_eq(wire[3], 255);
	ck_assert_uint_eq(wire[PACKET_HEADER_SIZE + MAX_PACKET_PAYLOAD + 3], 0);
	std::vector<std::uint8_t> out;
	auto result = reassemble_payload(wire, out, payload.size());
	ck_assert(result.ok() && result->complete);
	ck_assert_uint_eq(result->first_sequence_id, 255);
	ck_assert_uint_eq(result->last_sequence_id, 0);
	ck_assert(out == payload);

	/* A small packet wraps too. */
	std::vector<std::uint8_t> small;
	std::uint8_t s = 255;
	append_packet(small, from_hex("0e"), s);
	ck_assert_uint_eq(s, 0);
	ck_assert(small == from_hex("010000ff0e"));
}
END_TEST

START_TEST(test_wrong_continuation_sequence)
{
	const auto payload = payload_of_size(MAX_PACKET_PAYLOAD + 10);
	std::vector<std::uint8_t> wire;
	std::uint8_t seq = 4;
	append_packet(wire, payload, seq);
	const std::size_t second_seq_at = PACKET_HEADER_SIZE + MAX_PACKET_PAYLOAD + 3;
	for (std::uint8_t bad : {std::uint8_t(4), std::uint8_t(6), std::uint8_t(0)}) {
		wire[second_seq_at] = bad;
		std::vector<std::uint8_t> out = {1, 2, 3};
		auto result = reassemble_payload(wire, out, payload.size());
		ck_assert(!result.ok());
		ck_assert_str_eq(result.error().what, "packet: continuation has wrong sequence id");
		ck_assert_uint_eq(result.error().offset, second_seq_at);
		/* Detected from the header alone, before the continuation's data arrived. */
		auto early = reassemble_payload(ByteSpan(wire).first(second_seq_at + 1), out, payload.size());
		ck_assert(!early.ok());
	}
}
END_TEST

START_TEST(test_size_cap)
{
	const auto wire = from_hex(TWO_PACKETS);
	std::vector<std::uint8_t> out;
	auto at_cap = reassemble_payload(wire, out, 9);
	ck_assert(at_cap.ok() && at_cap->complete);
	ck_assert_uint_eq(at_cap->wire_size, 13);
	ck_assert(out == from_hex("0373656c6563742031"));
	auto over = reassemble_payload(wire, out, 8);
	ck_assert(!over.ok());
	ck_assert_str_eq(over.error().what, "packet: payload larger than allowed");

	/* A hostile peer announcing 16 MiB: refused as soon as the header is in, no waiting for data. */
	const auto announced = from_hex("ffffff01");
	auto early = reassemble_payload(announced, out, 64 * 1024);
	ck_assert(!early.ok());
	ck_assert_uint_eq(early.error().offset, 0);

	/* The cap counts the whole logical payload, across continuation packets. */
	const auto payload = payload_of_size(MAX_PACKET_PAYLOAD + 10);
	std::vector<std::uint8_t> big;
	std::uint8_t seq = 0;
	append_packet(big, payload, seq);
	auto one_short = reassemble_payload(big, out, payload.size() - 1);
	ck_assert(!one_short.ok());
	ck_assert_uint_eq(one_short.error().offset, PACKET_HEADER_SIZE + MAX_PACKET_PAYLOAD);
}
END_TEST

START_TEST(test_reassemble_incomplete)
{
	auto wire = from_hex(TWO_PACKETS);
	std::vector<std::uint8_t> out;
	for (std::size_t n = 0; n < 13; ++n) {
		const std::vector<std::uint8_t> prefix(wire.begin(), wire.begin() + std::ptrdiff_t(n));
		auto result = reassemble_payload(prefix, out, 100);
		ck_assert(result.ok());
		ck_assert(!result->complete);
	}

	/* A 16 MiB+ payload truncated near each packet boundary and at a stride in between. */
	const auto payload = payload_of_size(MAX_PACKET_PAYLOAD + 10);
	std::vector<std::uint8_t> big;
	std::uint8_t seq = 0;
	append_packet(big, payload, seq);
	const std::size_t boundary = PACKET_HEADER_SIZE + MAX_PACKET_PAYLOAD;
	std::vector<std::size_t> cuts;
	for (std::size_t n = 0; n < 16; ++n)
		cuts.push_back(n);
	for (std::size_t n = boundary - 8; n < boundary + 12; ++n)
		cuts.push_back(n);
	for (std::size_t n = 16; n < boundary; n += 65537)
		cuts.push_back(n);
	cuts.push_back(big.size() - 1);
	for (std::size_t n : cuts) {
		auto result = reassemble_payload(ByteSpan(big).first(n), out, payload.size());
		ck_assert(result.ok());
		ck_assert(!result->complete);
	}
}
END_TEST

START_TEST(test_reassemble_leaves_following_packets)
{
	auto wire = from_hex("01000000 0e 05000000 0373656c65");
	std::vector<std::uint8_t> out = {9, 9, 9};
	auto result = reassemble_payload(wire, out, 100);
	ck_assert(result.ok() && result->complete);
	ck_assert_uint_eq(result->wire_size, 5);
	ck_assert_uint_eq(result->packet_count, 1);
	ck_assert(out == from_hex("0e"));

	/* An empty logical payload. */
	auto empty = from_hex("00000002");
	result = reassemble_payload(empty, out, 0);
	ck_assert(result.ok() && result->complete);
	ck_assert(out.empty());
	ck_assert_uint_eq(result->last_sequence_id, 2);
}
END_TEST

START_TEST(test_capability_names)
{
	ck_assert_str_eq(capability_name(CLIENT_SSL), "CLIENT_SSL");
	ck_assert_str_eq(capability_name(CLIENT_PROTOCOL_41), "CLIENT_PROTOCOL_41");
	ck_assert_str_eq(capability_name(CLIENT_DEPRECATE_EOF), "CLIENT_DEPRECATE_EOF");
	ck_assert_str_eq(capability_name(CLIENT_REMEMBER_OPTIONS), "CLIENT_REMEMBER_OPTIONS");
	ck_assert_str_eq(capability_name(CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA),
			 "CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA");
	ck_assert_str_eq(capability_name(0), "CLIENT_?");
	ck_assert_str_eq(capability_name(CLIENT_SSL | CLIENT_COMPRESS), "CLIENT_?");
	ck_assert_str_eq(capability_name64(MARIADB_CLIENT_PROGRESS), "MARIADB_CLIENT_PROGRESS");
	ck_assert_str_eq(capability_name64(MARIADB_CLIENT_BULK_UNIT_RESULTS), "MARIADB_CLIENT_BULK_UNIT_RESULTS");
	ck_assert_str_eq(capability_name64(1ull << 63), "CLIENT_?");
	std::set<std::string> names;
	for (int bit = 0; bit < 32; ++bit) {
		const std::string name = capability_name(std::uint32_t(1) << bit);
		ck_assert(name != "CLIENT_?");
		ck_assert(names.insert(name).second);
	}
	/* Values the protocol fixes; a typo here would break every handshake. */
	ck_assert_uint_eq(CLIENT_PROTOCOL_41, 0x200);
	ck_assert_uint_eq(CLIENT_SSL, 0x800);
	ck_assert_uint_eq(CLIENT_SECURE_CONNECTION, 0x8000);
	ck_assert_uint_eq(CLIENT_PLUGIN_AUTH, 0x80000);
	ck_assert_uint_eq(CLIENT_SESSION_TRACK, 0x800000);
	ck_assert_uint_eq(CLIENT_DEPRECATE_EOF, 0x1000000);
	ck_assert_uint_eq(SERVER_STATUS_AUTOCOMMIT, 2);
	ck_assert_uint_eq(SERVER_MORE_RESULTS_EXISTS, 8);
	ck_assert_uint_eq(SERVER_SESSION_STATE_CHANGED, 0x4000);
}
END_TEST

static Suite *packet_suite()
{
	Suite *s = suite_create("mysql_packet");
	TCase *tc = tcase_create("framing");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_header_round_trip);
	tcase_add_test(tc, test_scan_byte_by_byte);
	tcase_add_test(tc, test_scan_stops_at_first_packet);
	tcase_add_test(tc, test_scan_empty_and_continued);
	tcase_add_test(tc, test_iterator);
	tcase_add_test(tc, test_append_small);
	tcase_add_test(tc, test_begin_finish_small);
	tcase_add_test(tc, test_large_payload_split_and_reassembled);
	tcase_add_test(tc, test_exact_max_payload_ends_with_empty_packet);
	tcase_add_test(tc, test_sequence_wraps);
	tcase_add_test(tc, test_wrong_continuation_sequence);
	tcase_add_test(tc, test_size_cap);
	tcase_add_test(tc, test_reassemble_incomplete);
	tcase_add_test(tc, test_reassemble_leaves_following_packets);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *capabilities_suite()
{
	Suite *s = suite_create("mysql_capabilities");
	TCase *tc = tcase_create("names");
	tcase_add_test(tc, test_capability_names);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({packet_suite(), capabilities_suite()});
}
