// Unit tests for worker/packet_tracker: the relay's packet boundaries on synthetic streams cut at
// every byte position, 16 MiB payloads with continuation packets, LOCAL INFILE sequence ids, held
// commands, captures, and hostile streams.
#include "worker/packet_tracker.hpp"
#include "tests/check_main.hpp"

#include <algorithm>
#include <functional>
#include <vector>

using namespace myproxy;

namespace {

struct Report {
	std::size_t offset; /* in the input stream */
	std::uint8_t sequence_id;
	std::uint8_t first_byte;
	bool complete;
	std::size_t wire_size;
};

struct DriveResult {
	std::vector<std::uint8_t> out;
	std::vector<Report> reports;
	/* Bytes left unclassified at the end. */
	std::size_t leftover = 0;
};

/* What to do with a reported packet: true skips it, false passes it. */
using Policy = std::function<bool(const PacketStart &, PacketTracker &)>;

bool pass_all(const PacketStart &, PacketTracker &)
{
	return false;
}

/* Feeds @input in chunks of @chunk bytes (the last one shorter) as the relay would: the tracker
 * sees everything received and not yet classified, which never exceeds @window bytes beyond
 * what was classified. */
DriveResult drive(PacketTracker &tracker, const std::vector<std::uint8_t> &input, std::size_t chunk,
		  const Policy &policy = pass_all)
{
	DriveResult result;
	result.out.reserve(input.size());
	std::size_t received = 0, consumed = 0;
	while (true) {
		while (consumed < received) {
			const ByteSpan data(input.data() + consumed, received - consumed);
			const TrackerStep step = tracker.step(data);
			if (step.kind == TrackerStep::Kind::need_more) {
				ck_assert_uint_gt(step.length, data.size());
				break;
			}
			if (step.kind == TrackerStep::Kind::pass) {
				ck_assert_uint_gt(step.length, 0);
				ck_assert_uint_le(step.length, data.size());
				result.out.insert(result.out.end(), data.begin(), data.begin() + std::ptrdiff_t(step.length));
				consumed += step.length;
				continue;
			}
			const PacketStart &start = step.start;
			ck_assert_uint_eq(step.length, start.wire_size);
			ck_assert(!tracker.at_boundary());
			if (start.complete)
				ck_assert_uint_ge(data.size(), start.wire_size);
			result.reports.push_back({consumed, start.header.sequence_id, start.first_byte, start.complete,
						  start.wire_size});
			if (policy(start, tracker)) {
				ck_assert(start.complete);
				ck_assert(tracker.skip_packet());
				consumed += start.wire_size;
			} else {
				tracker.pass_packet();
			}
		}
		if (received == input.size())
			break;
		received += std::min(chunk, input.size() - received);
	}
	result.leftover = received - consumed;
	return result;
}

void append_packet_raw(std::vector<std::uint8_t> &out, std::uint8_t sequence_id, const std::vector<std::uint8_t> &payload)
{
	const std::size_t n = payload.size();
	out.push_back(std::uint8_t(n));
	out.push_back(std::uint8_t(n >> 8));
	out.push_back(std::uint8_t(n >> 16));
	out.push_back(sequence_id);
	out.insert(out.end(), payload.begin(), payload.end());
}

std::vector<std::uint8_t> command(std::uint8_t cmd, std::string_view arg = {})
{
	/* Sized first: GCC 12 at -O2 warns (-Warray-bounds, falsely) about inserting into {cmd}. */
	std::vector<std::uint8_t> payload(1 + arg.size());
	payload[0] = cmd;
	std::copy(arg.begin(), arg.end(), payload.begin() + 1);
	return payload;
}

/* A client session: queries, a ping, an init_db, a prepared statement, a quit. */
std::vector<std::uint8_t> client_stream()
{
	std::vector<std::uint8_t> s;
	append_packet_raw(s, 0, command(0x03, "SELECT 1"));
	append_packet_raw(s, 0, command(0x0e));
	append_packet_raw(s, 0, command(0x02, "app"));
	append_packet_raw(s, 0, command(0x16, "SELECT ?"));
	append_packet_raw(s, 0, {});	/* an empty packet: reported with first byte 0 */
	append_packet_raw(s, 0, command(0x03, std::string(300, 'x')));
	append_packet_raw(s, 0, command(0x01));
	return s;
}

} // namespace

START_TEST(test_commands_every_chunk_size)
{
	const auto input = client_stream();
	for (std::size_t chunk = 1; chunk <= input.size(); ++chunk) {
		PacketTracker tracker(true);
		const DriveResult r = drive(tracker, input, chunk);
		ck_assert(r.out == input);
		ck_assert_uint_eq(r.leftover, 0);
		ck_assert_uint_eq(r.reports.size(), 7);
		const std::uint8_t expected[] = {0x03, 0x0e, 0x02, 0x16, 0x00, 0x03, 0x01};
		for (std::size_t i = 0; i < 7; ++i) {
			ck_assert_uint_eq(r.reports[i].first_byte, expected[i]);
			ck_assert_uint_eq(r.reports[i].sequence_id, 0);
		}
		ck_assert(tracker.at_boundary());
	}
}
END_TEST

START_TEST(test_split_at_every_position)
{
	/* Two chunks, cut at every byte: the reports never depend on where a read ended. */
	const auto input = client_stream();
	PacketTracker whole(true);
	const DriveResult reference = drive(whole, input, input.size());
	for (std::size_t cut = 1; cut < input.size(); ++cut) {
		PacketTracker tracker(true);
		std::vector<std::uint8_t> out;
		std::size_t consumed = 0;
		std::vector<std::size_t> offsets;
		for (std::size_t received : {cut, input.size()}) {
			while (consumed < received) {
				const TrackerStep step = tracker.step(ByteSpan(input.data() + consumed, received - consumed));
				if (step.kind == TrackerStep::Kind::need_more)
					break;
				if (step.kind == TrackerStep::Kind::pass) {
					consumed += step.length;
					continue;
				}
				offsets.push_back(consumed);
				tracker.pass_packet();
			}
		}
		ck_assert_uint_eq(consumed, input.size());
		ck_assert_uint_eq(offsets.size(), reference.reports.size());
		for (std::size_t i = 0; i < offsets.size(); ++i)
			ck_assert_uint_eq(offsets[i], reference.reports[i].offset);
	}
}
END_TEST

START_TEST(test_backend_side_reports_nothing)
{
	const auto input = client_stream();
	PacketTracker tracker(false);
	const DriveResult r = drive(tracker, input, 7);
	ck_assert(r.out == input);
	ck_assert_uint_eq(r.reports.size(), 0);
}
END_TEST

START_TEST(test_held_command_reported_whole)
{
	const auto input = client_stream();
	for (std::size_t chunk = 1; chunk <= input.size(); ++chunk) {
		PacketTracker tracker(true);
		tracker.hold_command(0x02);
		tracker.hold_command(0x03);
		const DriveResult r = drive(tracker, input, chunk);
		ck_assert(r.out == input);
		for (const Report &report : r.reports) {
			if (report.first_byte == 0x02 || report.first_byte == 0x03)
				ck_assert(report.complete);
		}
	}
}
END_TEST

START_TEST(test_need_more_announces_wire_size)
{
	std::vector<std::uint8_t> input;
	append_packet_raw(input, 0, command(0x02, std::string(100, 'd')));
	PacketTracker tracker(true);
	tracker.hold_command(0x02);
	TrackerStep step = tracker.step(ByteSpan(input.data(), 2));
	ck_assert(step.kind == TrackerStep::Kind::need_more);
	ck_assert_uint_eq(step.length, PACKET_HEADER_SIZE);
	step = tracker.step(ByteSpan(input.data(), 4));
	ck_assert(step.kind == TrackerStep::Kind::need_more);
	ck_assert_uint_eq(step.length, 5);
	step = tracker.step(ByteSpan(input.data(), 50));
	ck_assert(step.kind == TrackerStep::Kind::need_more);
	ck_assert_uint_eq(step.length, input.size());
	step = tracker.step(input);
	ck_assert(step.kind == TrackerStep::Kind::packet_start);
	ck_assert(step.start.complete);
}
END_TEST

START_TEST(test_skip_removes_packet)
{
	const auto input = client_stream();
	for (std::size_t chunk : {1, 3, 1000}) {
		PacketTracker tracker(true);
		tracker.hold_command(0x02);
		const DriveResult r = drive(tracker, input, chunk, [](const PacketStart &start, PacketTracker &) {
			return start.first_byte == 0x02;
		});
		ck_assert_uint_eq(r.out.size(), input.size() - (PACKET_HEADER_SIZE + 4));
		ck_assert_uint_eq(r.reports.size(), 7);
	}
}
END_TEST

START_TEST(test_large_payload_continuations_are_data)
{
	/* A 16 MiB + 10 byte COM_QUERY: the continuation packets carry sequence ids 1 and 2 and start
	 * with bytes that look like COM_QUIT and COM_INIT_DB; then a packet of exactly 0xFFFFFF with
	 * sequence id 255 (as after a long exchange) continued by one with sequence id 0. */
	std::vector<std::uint8_t> input;
	std::vector<std::uint8_t> big(MAX_PACKET_PAYLOAD, 'q');
	big[0] = 0x03;
	append_packet_raw(input, 0, big);
	append_packet_raw(input, 1, command(0x01, "123456789"));
	append_packet_raw(input, 0, command(0x0e));
	big[0] = 'z';
	append_packet_raw(input, 255, big);
	append_packet_raw(input, 0, command(0x02, "db"));
	append_packet_raw(input, 0, command(0x01));
	for (std::size_t chunk : {std::size_t(4096), std::size_t(32768), std::size_t(65537)}) {
		PacketTracker tracker(true);
		tracker.hold_command(0x02);
		const DriveResult r = drive(tracker, input, chunk);
		ck_assert(r.out == input);
		ck_assert_uint_eq(r.reports.size(), 3);
		ck_assert_uint_eq(r.reports[0].first_byte, 0x03);
		ck_assert(!r.reports[0].complete || chunk >= input.size());
		ck_assert_uint_eq(r.reports[1].first_byte, 0x0e);
		ck_assert_uint_eq(r.reports[2].first_byte, 0x01);
	}
}
END_TEST

START_TEST(test_exact_multiple_ends_with_empty_packet)
{
	/* A payload of exactly 0xFFFFFF bytes ends with an empty continuation packet, which is data,
	 * not an empty command. */
	std::vector<std::uint8_t> input;
	std::vector<std::uint8_t> big(MAX_PACKET_PAYLOAD, 0x01);
	append_packet_raw(input, 0, big);
	append_packet_raw(input, 1, {});
	append_packet_raw(input, 0, command(0x0e));
	PacketTracker tracker(true);
	const DriveResult r = drive(tracker, input, 40000);
	ck_assert(r.out == input);
	ck_assert_uint_eq(r.reports.size(), 2);
	ck_assert_uint_eq(r.reports[0].first_byte, 0x01);
	ck_assert_uint_eq(r.reports[1].first_byte, 0x0e);
	ck_assert(tracker.at_boundary());
}
END_TEST

START_TEST(test_continuation_needs_no_first_byte)
{
	/* A continuation packet header alone already passes: nothing waits for its payload. */
	std::vector<std::uint8_t> input;
	append_packet_raw(input, 0, std::vector<std::uint8_t>(MAX_PACKET_PAYLOAD, 'x'));
	const std::size_t second = input.size();
	append_packet_raw(input, 1, command(0x05, "abc"));
	PacketTracker tracker(true);
	std::size_t consumed = 0;
	while (consumed < second) {
		const TrackerStep step = tracker.step(ByteSpan(input.data() + consumed, second - consumed));
		if (step.kind == TrackerStep::Kind::packet_start)
			tracker.pass_packet();
		else
			consumed += step.length;
	}
	ck_assert(!tracker.at_boundary()); /* the logical payload continues */
	const TrackerStep step = tracker.step(ByteSpan(input.data() + second, PACKET_HEADER_SIZE));
	ck_assert(step.kind == TrackerStep::Kind::pass);
	ck_assert_uint_eq(step.length, PACKET_HEADER_SIZE);
}
END_TEST

START_TEST(test_local_infile_sequence_wraps)
{
	/* After the backend's LOCAL INFILE request (sequence id 1) the client sends file data from
	 * sequence id 2 on; 300 chunks wrap the id through 0, and chunks start with command bytes.
	 * The empty packet ends the data; the next command is reported again. */
	std::vector<std::uint8_t> input;
	std::uint8_t seq = 2;
	for (int i = 0; i < 300; ++i)
		append_packet_raw(input, seq++, command(std::uint8_t(i % 3), "data,data\n"));
	append_packet_raw(input, seq, {});
	append_packet_raw(input, 0, command(0x03, "SELECT 2"));
	for (std::size_t chunk : {1, 5, 17, 4096}) {
		PacketTracker tracker(true);
		tracker.hold_command(0x02);
		tracker.start_infile();
		const DriveResult r = drive(tracker, input, chunk);
		ck_assert(r.out == input);
		ck_assert(!tracker.in_infile());
		ck_assert_uint_eq(r.reports.size(), 1);
		ck_assert_uint_eq(r.reports[0].first_byte, 0x03);
	}
}
END_TEST

START_TEST(test_sequence_zero_after_255_is_data)
{
	/* LOCAL INFILE data the relay did not see requested: a packet with sequence id 0 right
	 * after one with 255, the backend silent in between, is data.  Once the backend spoke,
	 * sequence id 0 starts a command again. */
	std::vector<std::uint8_t> first;
	append_packet_raw(first, 254, command(0x41));
	append_packet_raw(first, 255, command(0x42));
	append_packet_raw(first, 0, command(0x01, "looks like COM_QUIT"));
	append_packet_raw(first, 1, {});
	PacketTracker tracker(true);
	DriveResult r = drive(tracker, first, 3);
	ck_assert(r.out == first);
	ck_assert_uint_eq(r.reports.size(), 0);

	std::vector<std::uint8_t> second;
	append_packet_raw(second, 255, command(0x42));
	append_packet_raw(second, 0, command(0x0e));
	PacketTracker t2(true);
	const TrackerStep a = t2.step(second);
	ck_assert(a.kind == TrackerStep::Kind::pass);
	ck_assert_uint_eq(a.length, PACKET_HEADER_SIZE + 1);
	t2.note_peer_spoke();
	const TrackerStep b = t2.step(ByteSpan(second).subspan(a.length));
	ck_assert(b.kind == TrackerStep::Kind::packet_start);
	ck_assert_uint_eq(b.start.first_byte, 0x0e);
}
END_TEST

START_TEST(test_report_next_start)
{
	/* The backend's side: one report of the next logical start, whatever its sequence id; a
	 * capture holds it whole. */
	std::vector<std::uint8_t> input;
	append_packet_raw(input, 1, command(0xFB, "/tmp/file"));
	append_packet_raw(input, 2, command(0x00, "ok"));
	for (bool whole : {false, true}) {
		for (std::size_t chunk = 1; chunk <= input.size(); ++chunk) {
			PacketTracker tracker(false);
			tracker.report_next_start(whole);
			const DriveResult r = drive(tracker, input, chunk);
			ck_assert(r.out == input);
			ck_assert_uint_eq(r.reports.size(), 1);
			ck_assert_uint_eq(r.reports[0].first_byte, 0xFB);
			ck_assert_uint_eq(r.reports[0].sequence_id, 1);
			if (whole)
				ck_assert(r.reports[0].complete);
		}
	}
	PacketTracker cancelled(false);
	cancelled.report_next_start(false);
	cancelled.cancel_report_next();
	ck_assert_uint_eq(drive(cancelled, input, 3).reports.size(), 0);
}
END_TEST

START_TEST(test_capture_on_client_side)
{
	/* The client's AuthSwitchResponse (sequence id 2) during COM_CHANGE_USER. */
	std::vector<std::uint8_t> input;
	append_packet_raw(input, 2, command('p', "assword"));
	PacketTracker tracker(true);
	tracker.report_next_start(true);
	const DriveResult r = drive(tracker, input, 3, [](const PacketStart &, PacketTracker &) { return true; });
	ck_assert_uint_eq(r.reports.size(), 1);
	ck_assert(r.reports[0].complete);
	ck_assert_uint_eq(r.out.size(), 0);
	ck_assert(tracker.at_boundary());
}
END_TEST

START_TEST(test_skip_refuses_continued_packet)
{
	std::vector<std::uint8_t> header = {0xFF, 0xFF, 0xFF, 0x00, 0x02};
	PacketTracker tracker(true);
	const TrackerStep step = tracker.step(header);
	ck_assert(step.kind == TrackerStep::Kind::packet_start);
	ck_assert(!step.start.complete);
	ck_assert(!tracker.skip_packet());
	tracker.pass_packet();
	const TrackerStep next = tracker.step(ByteSpan(header).subspan(0, 0));
	ck_assert(next.kind == TrackerStep::Kind::need_more);
}
END_TEST

START_TEST(test_hostile_streams)
{
	/* Pseudo-random bytes: the tracker never claims more than it was given, never asks for more
	 * than a header plus a maximal payload, and accounts for every byte it passes. */
	std::uint32_t state = 12345;
	auto next = [&state]() {
		state = state * 1103515245u + 12345u;
		return std::uint8_t(state >> 16);
	};
	for (int round = 0; round < 200; ++round) {
		std::vector<std::uint8_t> input(1 + next() * 4);
		for (auto &b : input)
			b = next();
		/* Keep lengths small now and then so packets complete inside the input. */
		if (round % 2 == 0)
			for (std::size_t i = 1; i + 2 < input.size(); i += 7)
				input[i] = input[i + 1] = 0;
		PacketTracker tracker(true);
		tracker.hold_command(0x02);
		tracker.hold_command(0x11);
		if (round % 3 == 0)
			tracker.start_infile();
		std::size_t consumed = 0, received = 0;
		while (received < input.size()) {
			received = std::min(input.size(), received + 1 + next() % 64);
			while (consumed < received) {
				const TrackerStep step = tracker.step(ByteSpan(input.data() + consumed, received - consumed));
				if (step.kind == TrackerStep::Kind::need_more) {
					ck_assert_uint_le(step.length, PACKET_HEADER_SIZE + MAX_PACKET_PAYLOAD);
					break;
				}
				if (step.kind == TrackerStep::Kind::pass) {
					ck_assert_uint_le(step.length, received - consumed);
					consumed += step.length;
				} else if (step.start.complete && next() % 2 && tracker.skip_packet()) {
					consumed += step.start.wire_size;
				} else {
					tracker.pass_packet();
				}
			}
		}
		ck_assert_uint_le(consumed, input.size());
	}
}
END_TEST

static Suite *packet_tracker_suite()
{
	Suite *s = suite_create("packet_tracker");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_commands_every_chunk_size);
	tcase_add_test(tc, test_split_at_every_position);
	tcase_add_test(tc, test_backend_side_reports_nothing);
	tcase_add_test(tc, test_held_command_reported_whole);
	tcase_add_test(tc, test_need_more_announces_wire_size);
	tcase_add_test(tc, test_skip_removes_packet);
	tcase_add_test(tc, test_large_payload_continuations_are_data);
	tcase_add_test(tc, test_exact_multiple_ends_with_empty_packet);
	tcase_add_test(tc, test_continuation_needs_no_first_byte);
	tcase_add_test(tc, test_local_infile_sequence_wraps);
	tcase_add_test(tc, test_sequence_zero_after_255_is_data);
	tcase_add_test(tc, test_report_next_start);
	tcase_add_test(tc, test_capture_on_client_side);
	tcase_add_test(tc, test_skip_refuses_continued_packet);
	tcase_add_test(tc, test_hostile_streams);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({packet_tracker_suite()});
}
