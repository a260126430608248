// Unit tests for KILL by connection id: the statement parser (common/kill_statement) with the
// server's lexical rules and hostile input, the three KILL channel messages (round trips, every
// truncation, bad lengths, bad fields), the master's connection ids (order, wrap-around, who may
// release) and its KILL routing between workers (master/kill_router).
#include "common/channel_protocol.hpp"
#include "common/command_packet.hpp"
#include "common/kill_statement.hpp"
#include "common/mysql_packet.hpp"
#include "master/connection_ids.hpp"
#include "master/kill_router.hpp"
#include "tests/check_main.hpp"

#include <cstring>
#include <string>
#include <vector>

using namespace myproxy;

/* ---- the statement ------------------------------------------------------------------------ */

static std::vector<std::uint8_t> query_payload(const std::string &sql)
{
	std::vector<std::uint8_t> payload{COM_QUERY};
	payload.insert(payload.end(), sql.begin(), sql.end());
	return payload;
}

static std::optional<KillCommand> parse_sql(const std::string &sql)
{
	const auto payload = query_payload(sql);
	return parse_kill_command(ByteSpan(payload));
}

START_TEST(test_statements_accepted)
{
	struct Case {
		const char *sql;
		bool query;
		KillCommand::Force force;
		std::uint32_t id;
	} cases[] = {
		{"KILL 5", false, KillCommand::Force::none, 5},
		{"kill connection 17", false, KillCommand::Force::none, 17},
		{"Kill Query 4294967295", true, KillCommand::Force::none, 4294967295u},
		{"  \t\nKILL\r\n QUERY\f\v9 ;  ", true, KillCommand::Force::none, 9},
		{"/* why */ KILL /* x */ 12 -- the end", false, KillCommand::Force::none, 12},
		{"KILL 12 # the end\n", false, KillCommand::Force::none, 12},
		{"KILL/**/QUERY/**/3;", true, KillCommand::Force::none, 3},
		{"KILL HARD QUERY 8", true, KillCommand::Force::hard, 8},
		{"kill soft 8", false, KillCommand::Force::soft, 8},
		{"KILL 007", false, KillCommand::Force::none, 7},
		{"KILL 5--", false, KillCommand::Force::none, 5},
		{"KILL /*M comment */ 6", false, KillCommand::Force::none, 6},
	};
	for (const Case &c : cases) {
		const auto command = parse_sql(c.sql);
		ck_assert_msg(command.has_value(), "refused: %s", c.sql);
		ck_assert_msg(command->query == c.query && command->force == c.force && command->id == c.id &&
				      !command->binary,
			      "misread: %s", c.sql);
	}
}
END_TEST

START_TEST(test_statements_passed_on)
{
	/* Not a lone KILL of a numeric id the tokenizer is sure of: the server gets them unchanged. */
	const char *refused[] = {
		"",
		"KILL",
		"KILL ;",
		"KILL 0",
		"KILL 4294967296",
		"KILL 99999999999999999999999",
		"KILL -5",
		"KILL 5.0",
		"KILL 5e3",
		"KILL 0x1f",
		"KILL 12abc",
		"KILL5",
		"KILLQUERY 5",
		"KILL QUERY ID 5",
		"KILL USER bob",
		"KILL CONNECTION QUERY 5",
		"KILL 5 6",
		"KILL 5; SELECT 1",
		"KILL 5;;",
		"KILL 1+1",
		"KILL @id",
		"KILL (5)",
		"KILL /*! 5 */",
		"KILL /*M! 5 */ 6",
		"KILL /* unterminated 5",
		"KILL 5 --x",
		"SELECT 'KILL 5'",
		"KILLER 5",
		"KIL 5",
	};
	for (const char *sql : refused)
		ck_assert_msg(!parse_sql(sql).has_value(), "accepted: %s", sql);
	/* A NUL inside, and a statement longer than the relay looks at. */
	std::string nul("KILL 5");
	nul.insert(4, 1, '\0');
	ck_assert(!parse_sql(nul).has_value());
	std::string long_sql = "KILL " + std::string(kill_statement_max_payload, ' ') + "5";
	ck_assert(!parse_sql(long_sql).has_value());
	/* Other commands are never KILLs, whatever their bytes. */
	std::vector<std::uint8_t> ping{COM_PING, 'K', 'I', 'L', 'L', ' ', '5'};
	ck_assert(!parse_kill_command(ByteSpan(ping)).has_value());
	ck_assert(!parse_kill_command(ByteSpan()).has_value());
}
END_TEST

START_TEST(test_process_kill)
{
	const std::uint8_t good[] = {COM_PROCESS_KILL, 0x78, 0x56, 0x34, 0x12};
	const auto command = parse_kill_command(ByteSpan(good, sizeof(good)));
	ck_assert(command.has_value());
	ck_assert(command->binary && !command->query);
	ck_assert_uint_eq(command->id, 0x12345678u);
	/* Wrong lengths and id 0: the server's to answer. */
	for (std::size_t size = 1; size < sizeof(good); ++size)
		ck_assert(!parse_kill_command(ByteSpan(good, size)).has_value());
	const std::uint8_t longer[] = {COM_PROCESS_KILL, 1, 0, 0, 0, 0};
	ck_assert(!parse_kill_command(ByteSpan(longer, sizeof(longer))).has_value());
	const std::uint8_t zero[] = {COM_PROCESS_KILL, 0, 0, 0, 0};
	ck_assert(!parse_kill_command(ByteSpan(zero, sizeof(zero))).has_value());
}
END_TEST

static std::string built_sql(const KillCommand &command, std::uint32_t thread)
{
	std::vector<std::uint8_t> out;
	build_kill_command(out, command, thread);
	ck_assert_uint_ge(out.size(), PACKET_HEADER_SIZE + 1);
	ck_assert_uint_eq(out[3], 0); /* sequence id of a command */
	ck_assert_uint_eq(out[0] | (out[1] << 8) | (out[2] << 16), out.size() - PACKET_HEADER_SIZE);
	return std::string(out.begin() + PACKET_HEADER_SIZE, out.end());
}

START_TEST(test_rebuilt)
{
	KillCommand command = *parse_sql("kill hard query 77");
	const std::string hard = built_sql(command, 4242);
	ck_assert_str_eq(hard.c_str(), "\x03KILL HARD QUERY 4242");
	command = *parse_sql("KILL CONNECTION 77");
	const std::string plain = built_sql(command, 9);
	ck_assert_str_eq(plain.c_str(), "\x03KILL 9");
	/* The rebuilt statement parses back to the same request with the new id. */
	const std::string sql = built_sql(*parse_sql("KILL SOFT QUERY 1"), 123456);
	const auto again = parse_kill_command(ByteSpan(reinterpret_cast<const std::uint8_t *>(sql.data()), sql.size()));
	ck_assert(again.has_value() && again->query && again->force == KillCommand::Force::soft && again->id == 123456);

	const std::uint8_t binary[] = {COM_PROCESS_KILL, 5, 0, 0, 0};
	std::vector<std::uint8_t> out;
	build_kill_command(out, *parse_kill_command(ByteSpan(binary, 5)), 0x01020304);
	const std::vector<std::uint8_t> expected{5, 0, 0, 0, COM_PROCESS_KILL, 4, 3, 2, 1};
	ck_assert(out == expected);
}
END_TEST

/* ---- the channel messages --------------------------------------------------------------- */

template <typename Message>
static Message kill_message(std::uint64_t tag, KillOutcome outcome)
{
	Message m;
	m.tag = tag;
	m.target = 77;
	m.query = true;
	m.outcome = outcome;
	m.backend_thread = outcome == KillOutcome::same_server ? 4242 : 0;
	if (outcome == KillOutcome::pending) {
		m.server = "/run/mysqld/mysqld.sock";
		m.user = "app";
	}
	return m;
}

static std::vector<std::uint8_t> encode(const ChannelMessage &message)
{
	std::vector<std::uint8_t> out;
	const auto fds = encode_channel_message(out, message);
	ck_assert_msg(fds.ok(), "encode failed: %s", fds.ok() ? "" : fds.error().what);
	ck_assert_uint_eq(*fds, 0);
	return out;
}

START_TEST(test_kill_round_trips)
{
	const auto request = encode(kill_message<KillRequestMessage>(0x0102030405060708ull, KillOutcome::pending));
	auto decoded = decode_channel_message(ByteSpan(request), 0, ChannelDirection::worker_to_master);
	ck_assert(decoded.ok());
	const auto &r = std::get<KillRequestMessage>(*decoded);
	ck_assert(r.tag == 0x0102030405060708ull && r.target == 77 && r.query && r.server == "/run/mysqld/mysqld.sock" &&
		  r.user == "app");
	/* The wire layout: header, tag, target, query, outcome, thread, two strings. */
	ck_assert_uint_eq(request[0], 15);
	ck_assert_uint_eq(request.size(), 8 + 8 + 4 + 1 + 1 + 4 + 2 + 23 + 2 + 3);

	for (KillOutcome outcome : {KillOutcome::pending, KillOutcome::unknown, KillOutcome::same_server,
				    KillOutcome::not_owner, KillOutcome::done}) {
		const auto order = encode(kill_message<KillOrderMessage>(9, outcome));
		decoded = decode_channel_message(ByteSpan(order), 0, ChannelDirection::master_to_worker);
		ck_assert(decoded.ok());
		ck_assert(std::get<KillOrderMessage>(*decoded).outcome == outcome);
		ck_assert_uint_eq(order[0], 16);
		if (outcome == KillOutcome::pending)
			continue;
		const auto result = encode(kill_message<KillResultMessage>(9, outcome));
		decoded = decode_channel_message(ByteSpan(result), 0, ChannelDirection::worker_to_master);
		ck_assert(decoded.ok());
		ck_assert_uint_eq(std::get<KillResultMessage>(*decoded).backend_thread,
				  outcome == KillOutcome::same_server ? 4242 : 0);
		ck_assert_uint_eq(result[0], 17);
	}
	ck_assert_str_eq(channel_message_name(ChannelMessageType::kill_request), "KILL_REQUEST");
	ck_assert_str_eq(channel_message_name(ChannelMessageType::kill_order), "KILL_ORDER");
	ck_assert_str_eq(channel_message_name(ChannelMessageType::kill_result), "KILL_RESULT");
	/* Each has one direction. */
	decoded = decode_channel_message(ByteSpan(request), 0, ChannelDirection::master_to_worker);
	ck_assert(!decoded.ok());
}
END_TEST

START_TEST(test_kill_truncations_and_lengths)
{
	const auto bytes = encode(kill_message<KillRequestMessage>(1, KillOutcome::pending));
	/* Every truncation, with the header's length fixed to match (else the length check alone
	   would catch it) and left as it was. */
	for (std::size_t size = 0; size < bytes.size(); ++size) {
		std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + long(size));
		ck_assert(!decode_channel_message(ByteSpan(cut), 0, ChannelDirection::worker_to_master).ok());
		if (size >= channel_header_size) {
			const std::uint32_t length = std::uint32_t(size - channel_header_size);
			std::memcpy(cut.data() + 4, &length, 4);
			ck_assert_msg(!decode_channel_message(ByteSpan(cut), 0, ChannelDirection::worker_to_master).ok(),
				      "accepted a message cut to %zu bytes", size);
		}
	}
	/* A header length one off either way, a trailing byte. */
	for (int delta : {-1, 1}) {
		std::vector<std::uint8_t> wrong = bytes;
		const std::uint32_t length = std::uint32_t(int(bytes.size() - channel_header_size) + delta);
		std::memcpy(wrong.data() + 4, &length, 4);
		ck_assert(!decode_channel_message(ByteSpan(wrong), 0, ChannelDirection::worker_to_master).ok());
	}
	std::vector<std::uint8_t> trailing = bytes;
	trailing.push_back(0);
	const std::uint32_t length = std::uint32_t(trailing.size() - channel_header_size);
	std::memcpy(trailing.data() + 4, &length, 4);
	auto decoded = decode_channel_message(ByteSpan(trailing), 0, ChannelDirection::worker_to_master);
	ck_assert(!decoded.ok());
	ck_assert_str_eq(decoded.error().what, "KILL: trailing bytes");
	/* A string length past the end: the user's length says 200, 3 bytes follow. */
	std::vector<std::uint8_t> long_user = bytes;
	long_user[long_user.size() - 5] = 200;
	decoded = decode_channel_message(ByteSpan(long_user), 0, ChannelDirection::worker_to_master);
	ck_assert(!decoded.ok());
	ck_assert_str_eq(decoded.error().what, "KILL: user past end");
	/* An fd with it. */
	ck_assert(!decode_channel_message(ByteSpan(bytes), 1, ChannelDirection::worker_to_master).ok());
}
END_TEST

static const char *decode_error(std::vector<std::uint8_t> bytes, ChannelDirection direction)
{
	const std::uint32_t length = std::uint32_t(bytes.size() - channel_header_size);
	std::memcpy(bytes.data() + 4, &length, 4);
	const auto decoded = decode_channel_message(ByteSpan(bytes), 0, direction);
	return decoded.ok() ? nullptr : decoded.error().what;
}

START_TEST(test_kill_fields)
{
	const auto to_master = ChannelDirection::worker_to_master;
	const auto request = encode(kill_message<KillRequestMessage>(1, KillOutcome::pending));
	constexpr std::size_t target_at = 16, query_at = 20, outcome_at = 21, thread_at = 22;
	auto patched = [&](std::size_t at, std::uint8_t value) {
		std::vector<std::uint8_t> bytes = request;
		bytes[at] = value;
		return bytes;
	};
	std::vector<std::uint8_t> zero_target = request;
	std::memset(zero_target.data() + target_at, 0, 4);
	ck_assert_str_eq(decode_error(zero_target, to_master), "KILL: target 0");
	ck_assert_str_eq(decode_error(patched(query_at, 2), to_master), "KILL: query not 0 or 1");
	ck_assert_str_eq(decode_error(patched(outcome_at, 5), to_master), "KILL: outcome out of range");
	/* A request is pending; a result never is. */
	ck_assert_str_eq(decode_error(patched(outcome_at, std::uint8_t(KillOutcome::done)), to_master),
			 "KILL: outcome not allowed for this message type");
	std::vector<std::uint8_t> pending_result = request;
	pending_result[0] = 17;
	ck_assert_str_eq(decode_error(pending_result, to_master), "KILL: outcome not allowed for this message type");
	/* A thread id without same_server. */
	ck_assert_str_eq(decode_error(patched(thread_at, 1), to_master),
			 "KILL: backend_thread set without same_server or missing with it");
	/* same_server without a thread id. */
	auto result = kill_message<KillResultMessage>(1, KillOutcome::same_server);
	result.backend_thread = 0;
	std::vector<std::uint8_t> out;
	ck_assert(!encode_channel_message(out, result).ok());
	ck_assert(out.empty());
	/* An answer carrying strings; a pending one without the server. */
	auto answer = kill_message<KillOrderMessage>(1, KillOutcome::done);
	answer.user = "app";
	ck_assert(!encode_channel_message(out, answer).ok());
	auto serverless = kill_message<KillRequestMessage>(1, KillOutcome::pending);
	serverless.server = {};
	ck_assert(!encode_channel_message(out, serverless).ok());
	/* NUL and oversized strings. */
	auto nul = kill_message<KillRequestMessage>(1, KillOutcome::pending);
	nul.user = std::string_view("a\0b", 3);
	ck_assert(!encode_channel_message(out, nul).ok());
	const std::string huge(channel_max_kill_user + 1, 'u');
	auto oversized = kill_message<KillRequestMessage>(1, KillOutcome::pending);
	oversized.user = huge;
	ck_assert(!encode_channel_message(out, oversized).ok());
	oversized.user = std::string_view(huge).substr(0, channel_max_kill_user);
	ck_assert(encode_channel_message(out, oversized).ok());
}
END_TEST

/* ---- the master's connection ids ------------------------------------------------------------ */

START_TEST(test_ids_increase_and_wrap)
{
	ConnectionIds ids;
	ck_assert_uint_eq(ids.assign(), 1);
	ck_assert_uint_eq(ids.assign(), 2);
	ids.bind(1, 100);
	ids.bind(2, 200);
	ck_assert_int_eq(*ids.holder(1), 100);
	/* Released ids are not reused before the wrap: the next is still the next. */
	ids.release(1, 100);
	ck_assert_uint_eq(ids.assign(), 3);
	ck_assert(!ids.holder(1).has_value());
	/* Reserved (not yet bound) ids have no holder. */
	ck_assert(!ids.holder(3).has_value());

	/* The wrap-around skips 0 and the ids still in use (2 and 3; 1 is free again). */
	ids.set_last(0xfffffffeu);
	ck_assert_uint_eq(ids.assign(), 0xffffffffu);
	ck_assert_uint_eq(ids.assign(), 1);
	ck_assert_uint_eq(ids.assign(), 4);
}
END_TEST

START_TEST(test_ids_release_only_by_holder)
{
	ConnectionIds ids;
	const std::uint32_t a = ids.assign(), b = ids.assign();
	ids.bind(a, 100);
	ids.bind(b, 200);
	/* Worker 200 reports worker 100's client closed: ignored. */
	ids.release(a, 200);
	ck_assert_int_eq(*ids.holder(a), 100);
	/* Ids beyond 32 bits and 0 are nobody's. */
	ids.release(0, 100);
	ids.release(0x100000000ull + a, 100);
	ck_assert_uint_eq(ids.in_use(), 2);
	/* A worker's death frees all it held. */
	ids.release_worker(100);
	ck_assert(!ids.holder(a).has_value());
	ck_assert_int_eq(*ids.holder(b), 200);
	/* The master's own reservation (a client that reached no worker). */
	const std::uint32_t c = ids.assign();
	ids.release(c, 0);
	ck_assert_uint_eq(ids.in_use(), 1);
}
END_TEST

/* ---- the master's KILL routing ---------------------------------------------------------------- */

struct Sent {
	pid_t pid;
	std::vector<std::uint8_t> bytes;
};

/* Sends into a list (encoded, so the views of the message may go); worker 999 is gone. */
static KillRouter::Sender recorder(std::vector<Sent> &sent)
{
	return [&sent](pid_t pid, const ChannelMessage &message) {
		if (pid == 999)
			return false;
		std::vector<std::uint8_t> bytes;
		ck_assert(encode_channel_message(bytes, message).ok());
		sent.push_back({pid, std::move(bytes)});
		return true;
	};
}

static KillOrderMessage order_of(const Sent &sent)
{
	const auto decoded = decode_channel_message(ByteSpan(sent.bytes), 0, ChannelDirection::master_to_worker);
	ck_assert(decoded.ok());
	return std::get<KillOrderMessage>(*decoded);
}

START_TEST(test_router_paths)
{
	ConnectionIds ids;
	const std::uint32_t target = ids.assign();
	ids.bind(target, 200);
	std::vector<Sent> sent;
	KillRouter router(ids, recorder(sent));

	/* No worker holds id 12345: answered unknown at once. */
	auto request = kill_message<KillRequestMessage>(7, KillOutcome::pending);
	request.target = 12345;
	ck_assert_ptr_null(router.request(100, request));
	ck_assert_uint_eq(sent.size(), 1);
	ck_assert_int_eq(sent[0].pid, 100);
	ck_assert(order_of(sent[0]).outcome == KillOutcome::unknown && order_of(sent[0]).tag == 7);

	/* Held by worker 200: an order with the requester's facts, then its result back to 100. */
	request.target = target;
	ck_assert_ptr_null(router.request(100, request));
	ck_assert_uint_eq(sent.size(), 2);
	ck_assert_int_eq(sent[1].pid, 200);
	const KillOrderMessage order = order_of(sent[1]);
	ck_assert(order.outcome == KillOutcome::pending && order.target == target && order.server == request.server &&
		  order.user == "app" && order.query);
	/* A result from the wrong worker is a violation and changes nothing. */
	auto result = kill_message<KillResultMessage>(order.tag, KillOutcome::same_server);
	result.target = target;
	ck_assert_ptr_nonnull(router.result(300, result));
	ck_assert_ptr_null(router.result(200, result));
	ck_assert_uint_eq(sent.size(), 3);
	ck_assert_int_eq(sent[2].pid, 100);
	const KillOrderMessage answer = order_of(sent[2]);
	ck_assert(answer.tag == 7 && answer.outcome == KillOutcome::same_server && answer.backend_thread == 4242);
	ck_assert_uint_eq(router.tickets_open(), 0);
	/* A second result for the closed ticket is ignored. */
	ck_assert_ptr_null(router.result(200, result));
	ck_assert_uint_eq(sent.size(), 3);
}
END_TEST

START_TEST(test_router_worker_gone)
{
	ConnectionIds ids;
	const std::uint32_t target = ids.assign();
	ids.bind(target, 200);
	std::vector<Sent> sent;
	KillRouter router(ids, recorder(sent));
	auto request = kill_message<KillRequestMessage>(7, KillOutcome::pending);
	request.target = target;
	ck_assert_ptr_null(router.request(100, request));
	/* The target's worker dies before it answers: the requester hears unknown. */
	router.forget(200);
	ck_assert_uint_eq(sent.size(), 2);
	ck_assert_int_eq(sent[1].pid, 100);
	ck_assert(order_of(sent[1]).outcome == KillOutcome::unknown);
	ck_assert_uint_eq(router.tickets_open(), 0);

	/* The requester dies: its ticket goes, the late result is dropped. */
	ids.bind(target, 200);
	ck_assert_ptr_null(router.request(100, request));
	const KillOrderMessage order = order_of(sent.back());
	router.forget(100);
	ck_assert_uint_eq(router.tickets_open(), 0);
	auto result = kill_message<KillResultMessage>(order.tag, KillOutcome::done);
	result.target = target;
	const std::size_t before = sent.size();
	ck_assert_ptr_null(router.result(200, result));
	ck_assert_uint_eq(sent.size(), before);

	/* The holder's channel is already closed: unknown at once. */
	ids.bind(target, 999);
	ck_assert_ptr_null(router.request(100, request));
	ck_assert(order_of(sent.back()).outcome == KillOutcome::unknown);
	ck_assert_uint_eq(router.tickets_open(), 0);
}
END_TEST

START_TEST(test_router_bound)
{
	ConnectionIds ids;
	const std::uint32_t target = ids.assign();
	ids.bind(target, 200);
	std::vector<Sent> sent;
	KillRouter router(ids, recorder(sent));
	auto request = kill_message<KillRequestMessage>(1, KillOutcome::pending);
	request.target = target;
	for (std::size_t i = 0; i < channel_max_kills_per_worker; ++i) {
		request.tag = i + 1;
		ck_assert_ptr_null(router.request(100, request));
	}
	request.tag = 1000;
	ck_assert_ptr_nonnull(router.request(100, request));
	/* Another worker still may. */
	ck_assert_ptr_null(router.request(101, request));
}
END_TEST

int main()
{
	Suite *s = suite_create("kill_protocol");
	TCase *statement = tcase_create("statement");
	tcase_add_test(statement, test_statements_accepted);
	tcase_add_test(statement, test_statements_passed_on);
	tcase_add_test(statement, test_process_kill);
	tcase_add_test(statement, test_rebuilt);
	suite_add_tcase(s, statement);
	TCase *channel = tcase_create("channel");
	tcase_add_test(channel, test_kill_round_trips);
	tcase_add_test(channel, test_kill_truncations_and_lengths);
	tcase_add_test(channel, test_kill_fields);
	suite_add_tcase(s, channel);
	TCase *master = tcase_create("master");
	tcase_add_test(master, test_ids_increase_and_wrap);
	tcase_add_test(master, test_ids_release_only_by_holder);
	tcase_add_test(master, test_router_paths);
	tcase_add_test(master, test_router_worker_gone);
	tcase_add_test(master, test_router_bound);
	suite_add_tcase(s, master);
	return run_check_suites({s});
}
