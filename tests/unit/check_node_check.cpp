// Unit tests for common/node_check: a health check against a scripted server (a MariaDB 10.11
// greeting captured from a real server, then OK, a one-value result set and EOF), in one piece and
// byte by byte; the classification of every outcome (alive, read_only, auth_failed for refused
// credentials, dead for everything else); and hostile input: every prefix of a good exchange cut
// off, oversized packets, garbage, wrong result shapes; with ssl, START_TLS after the greeting and
// the login over TLS, a node without CLIENT_SSL dead, cleartext before the handshake dead; without a
// user, the greeting alone (alive), and an ERR, a cut or a malformed greeting instead (dead).
#include "common/command_packet.hpp"
#include "common/err_packet.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/handshake_response41.hpp"
#include "common/mysql_packet.hpp"
#include "common/node_check.hpp"
#include "tests/check_main.hpp"
#include "tests/unit/packet_test_util.hpp"

#include <string>
#include <vector>

using namespace myproxy;
using Bytes = std::vector<std::uint8_t>;

namespace {

/* MariaDB 10.11.19's greeting (as in check_client_login). */
const char *const GREETING =
	"0a352e352e352d31302e31312e31392d4d6172696144422d302b646562313275310007000000647e6d287d5f447600fef7080200"
	"ff81150000000000001d00000044336f584a4a722455616760006d7973716c5f6e61746976655f70617373776f726400";
const char *const OK_AUTOCOMMIT = "00000002000000";
const char *const ERR_ACCESS_DENIED =
	"ff15042332383030304163636573732064656e69656420666f72207573657220276e61742740276c6f63616c686f73742720"
	"287573696e672070617373776f72643a2059455329";
/* 1040 #08004 Too many connections */
const char *const ERR_TOO_MANY = "ff1004233038303034546f6f206d616e7920636f6e6e656374696f6e73";
/* 1142 #42000 denied */
const char *const ERR_QUERY = "ff760423343230303064656e696564";
/* A column definition named "1" and the EOF after definitions and rows. */
const char *const COLUMN = "036465660000000131000c3f0001000000038100000000";
const char *const EOF_PACKET = "fe00000200";

/* The server's side of a check: greeting (seq 0), OK (seq 2), then the result packets (seq 1...). */
Bytes exchange(const std::vector<std::string> &result)
{
	Bytes out;
	std::uint8_t seq = 0;
	append_packet(out, packet_test::from_hex(GREETING), seq);
	seq = 2;
	append_packet(out, packet_test::from_hex(OK_AUTOCOMMIT), seq);
	seq = 1;
	for (const std::string &hex : result)
		append_packet(out, packet_test::from_hex(hex), seq);
	return out;
}

std::string hex_of(std::string_view text)
{
	static const char digits[] = "0123456789abcdef";
	std::string hex;
	for (unsigned char c : text)
		hex += digits[c >> 4], hex += digits[c & 15];
	return hex;
}

/* A text row with one value. */
std::string row(std::string_view value)
{
	return "0" + std::string(1, "0123456789abcdef"[value.size()]) + hex_of(value);
}

std::vector<std::string> result_with(std::string_view value)
{
	return {"01", COLUMN, EOF_PACKET, row(value), EOF_PACKET};
}

struct Outcome {
	bool done = false;
	NodeState state = NodeState::unknown;
	std::string detail;
	Bytes written;
};

Outcome run(const Bytes &stream, std::size_t chunk = 0, std::string_view user = "monitor", bool ssl = false)
{
	NodeCheck check(user, "secret", ssl);
	Outcome outcome;
	if (chunk == 0)
		chunk = stream.size();
	for (std::size_t at = 0; at < stream.size() && !check.done(); at += chunk) {
		const std::size_t n = std::min(chunk, stream.size() - at);
		check.receive(ByteSpan(stream).subspan(at, n), outcome.written);
	}
	outcome.done = check.done();
	if (!outcome.done)
		check.abort("the node closed the connection");
	outcome.state = check.state();
	outcome.detail = check.detail();
	return outcome;
}

std::vector<Packet> packets_of(const Bytes &out)
{
	std::vector<Packet> packets;
	PacketIterator it(out);
	Packet packet;
	while (it.next(packet))
		packets.push_back(packet);
	ck_assert_uint_eq(it.remaining().size(), 0);
	return packets;
}

void assert_outcome(const Outcome &o, NodeState state, const std::string &detail_part)
{
	ck_assert_msg(o.state == state, "state %s, expected %s (%s)", node_state_name(o.state), node_state_name(state),
		      o.detail.c_str());
	ck_assert_msg(o.detail.find(detail_part) != std::string::npos, "detail '%s' lacks '%s'", o.detail.c_str(),
		      detail_part.c_str());
}

} // namespace

START_TEST(test_alive)
{
	const Outcome o = run(exchange(result_with("0")));
	ck_assert(o.done);
	assert_outcome(o, NodeState::alive, "read_only=0");

	/* What the check wrote: the login (seq 1), the query (seq 0), COM_QUIT (seq 0). */
	const auto packets = packets_of(o.written);
	ck_assert_uint_eq(packets.size(), 3);
	ck_assert_uint_eq(packets[0].header.sequence_id, 1);
	auto response = parse_handshake_response41(packets[0].payload);
	ck_assert(response.ok());
	ck_assert(std::string(response->user) == "monitor");
	ck_assert(std::string(response->auth_plugin_name) == "mysql_native_password");
	ck_assert_uint_eq(packets[1].header.sequence_id, 0);
	auto query = parse_query(packets[1].payload);
	ck_assert(query.ok());
	ck_assert(std::string(query->query) == "SELECT @@global.read_only");
	ck_assert_uint_eq(packets[2].header.sequence_id, 0);
	ck_assert_uint_eq(packets[2].payload.size(), 1);
	ck_assert_uint_eq(packets[2].payload[0], COM_QUIT);
}
END_TEST

START_TEST(test_read_only)
{
	assert_outcome(run(exchange(result_with("1"))), NodeState::read_only, "read_only=1");
	assert_outcome(run(exchange(result_with("ON"))), NodeState::read_only, "read_only=1");
	assert_outcome(run(exchange(result_with("OFF"))), NodeState::alive, "read_only=0");
}
END_TEST

/* Any split of the stream gives the same verdict. */
START_TEST(test_byte_by_byte)
{
	const Bytes stream = exchange(result_with("1"));
	const Outcome whole = run(stream);
	for (std::size_t chunk : {1u, 2u, 3u, 7u, 64u}) {
		const Outcome o = run(stream, chunk);
		ck_assert(o.done);
		ck_assert(o.state == NodeState::read_only);
		ck_assert(o.written == whole.written);
	}
}
END_TEST

START_TEST(test_auth_failed)
{
	Bytes stream;
	std::uint8_t seq = 0;
	append_packet(stream, packet_test::from_hex(GREETING), seq);
	seq = 2;
	append_packet(stream, packet_test::from_hex(ERR_ACCESS_DENIED), seq);
	assert_outcome(run(stream), NodeState::auth_failed, "login refused: 1045 Access denied");
}
END_TEST

/* The other refusals that mean "the monitoring credentials are wrong" (node_check.cpp's list): a
   database the monitoring user may not use, an authentication plugin it cannot do, an account that
   needs a password it was not given.  Each is auth_failed, with its code in the detail. */
START_TEST(test_auth_failed_codes)
{
	const struct {
		std::uint16_t code;
		const char *sql_state;
		const char *message;
	} refusals[] = {
		{1044, "42000", "Access denied for user 'monitor'@'%' to database 'mysql'"},
		{1251, "08004", "Client does not support authentication protocol requested by server"},
		{1698, "28000", "Access denied for user 'monitor'@'localhost'"},
	};
	for (const auto &refusal : refusals) {
		Bytes stream;
		std::uint8_t seq = 0;
		append_packet(stream, packet_test::from_hex(GREETING), seq);
		Bytes err;
		build_err_packet(err, ErrPacket{refusal.code, refusal.sql_state, refusal.message}, CLIENT_PROTOCOL_41);
		seq = 2;
		append_packet(stream, err, seq);
		const std::string detail = "login refused: " + std::to_string(refusal.code) + " " + refusal.message;
		assert_outcome(run(stream), NodeState::auth_failed, detail.c_str());
	}
}
END_TEST

/* A refusal that is not about the credentials: the node cannot serve. */
START_TEST(test_too_many_connections_is_dead)
{
	Bytes stream;
	std::uint8_t seq = 0;
	append_packet(stream, packet_test::from_hex(ERR_TOO_MANY), seq);
	assert_outcome(run(stream), NodeState::dead, "1040 Too many connections");
}
END_TEST

START_TEST(test_bad_results_are_dead)
{
	assert_outcome(run(exchange({ERR_QUERY})), NodeState::dead, "query failed: 1142 denied");
	assert_outcome(run(exchange(result_with("maybe"))), NodeState::dead, "'maybe'");
	assert_outcome(run(exchange({"01", COLUMN, EOF_PACKET, "fb", EOF_PACKET})), NodeState::dead, "NULL");
	assert_outcome(run(exchange({"01", COLUMN, EOF_PACKET, EOF_PACKET})), NodeState::dead, "no row");
	assert_outcome(run(exchange({"01", COLUMN, EOF_PACKET, row("0"), row("1"), EOF_PACKET})), NodeState::dead,
		       "more than one row");
	assert_outcome(run(exchange({"02", COLUMN, COLUMN, EOF_PACKET, "01300131", EOF_PACKET})), NodeState::dead,
		       "2 columns");
	/* An OK instead of a result set. */
	assert_outcome(run(exchange({OK_AUTOCOMMIT})), NodeState::dead, "no row");
	/* A row that does not parse. */
	assert_outcome(run(exchange({"01", COLUMN, EOF_PACKET, "05", EOF_PACKET})), NodeState::dead, "malformed result");
}
END_TEST

START_TEST(test_garbage_is_dead)
{
	const Outcome o = run(packet_test::bytes_of("HTTP/1.1 400 Bad Request\r\n\r\n"));
	ck_assert(o.state == NodeState::dead);
	/* A packet announcing more than a check accepts fails at once, before its bytes arrive. */
	const Bytes huge = packet_test::from_hex("ffffff00");
	assert_outcome(run(huge), NodeState::dead, "malformed packet");
	/* A greeting that is no greeting. */
	Bytes stream;
	std::uint8_t seq = 0;
	append_packet(stream, packet_test::from_hex("0a00"), seq);
	assert_outcome(run(stream), NodeState::dead, "login failed");
}
END_TEST

/* Every cut of a good exchange ends dead (the connection closed early), never in a crash. */
START_TEST(test_every_prefix)
{
	const Bytes stream = exchange(result_with("0"));
	for (std::size_t n = 0; n < stream.size(); ++n) {
		const Bytes prefix(stream.begin(), stream.begin() + std::ptrdiff_t(n));
		const Outcome o = run(prefix);
		ck_assert_msg(!o.done, "done after %zu of %zu bytes", n, stream.size());
		assert_outcome(o, NodeState::dead, "the node closed the connection");
	}
}
END_TEST

/* Bytes after the verdict are ignored. */
START_TEST(test_after_done)
{
	NodeCheck check("monitor", "secret");
	Bytes out;
	Bytes stream = exchange(result_with("0"));
	ck_assert(check.receive(stream, out) == NodeCheckStatus::DONE);
	const std::size_t written = out.size();
	ck_assert(check.receive(stream, out) == NodeCheckStatus::DONE);
	ck_assert_uint_eq(out.size(), written);
	check.abort("late");
	ck_assert(check.state() == NodeState::alive);
}
END_TEST

/* The greeting with CLIENT_SSL (0x0800) added to its capabilities. */
static std::string ssl_greeting()
{
	std::string hex = GREETING;
	hex.replace(hex.find("00fef708"), 8, "00feff08");
	return hex;
}

/* With ssl: the greeting leads to the SSLRequest and START_TLS; after tls_established() the
 * HandshakeResponse41 goes out (seq 2) and the check ends as without TLS. */
START_TEST(test_tls)
{
	NodeCheck check("monitor", "secret", true);
	Bytes out;
	Bytes stream;
	std::uint8_t seq = 0;
	append_packet(stream, packet_test::from_hex(ssl_greeting()), seq);
	ck_assert(check.receive(stream, out) == NodeCheckStatus::START_TLS);
	auto packets = packets_of(out);
	ck_assert_uint_eq(packets.size(), 1);
	ck_assert_uint_eq(packets[0].header.sequence_id, 1);
	/* An SSLRequest: capabilities, max packet size, character set, 23 zero bytes. */
	ck_assert_uint_eq(packets[0].payload.size(), 32);
	ck_assert(!check.done());

	out.clear();
	ck_assert(check.tls_established(out) == NodeCheckStatus::CONTINUE);
	packets = packets_of(out);
	ck_assert_uint_eq(packets.size(), 1);
	ck_assert_uint_eq(packets[0].header.sequence_id, 2);
	auto response = parse_handshake_response41(packets[0].payload);
	ck_assert(response.ok());
	ck_assert(std::string(response->user) == "monitor");
	ck_assert(std::string(response->auth_plugin_name) == "mysql_native_password");

	out.clear();
	Bytes rest;
	seq = 3;
	append_packet(rest, packet_test::from_hex(OK_AUTOCOMMIT), seq);
	seq = 1;
	for (const std::string &hex : result_with("1"))
		append_packet(rest, packet_test::from_hex(hex), seq);
	ck_assert(check.receive(rest, out) == NodeCheckStatus::DONE);
	assert_outcome({true, check.state(), check.detail(), {}}, NodeState::read_only, "read_only=1");
}
END_TEST

/* TLS was asked for: a node that does not offer it is dead, never checked in clear. */
START_TEST(test_tls_unavailable_is_dead)
{
	NodeCheck check("monitor", "secret", true);
	Bytes out;
	Bytes stream;
	std::uint8_t seq = 0;
	append_packet(stream, packet_test::from_hex(GREETING), seq);
	ck_assert(check.receive(stream, out) == NodeCheckStatus::DONE);
	ck_assert(check.state() == NodeState::dead);
	ck_assert_msg(check.detail().find("login failed") != std::string::npos, "%s", check.detail().c_str());
}
END_TEST

/* Cleartext behind the greeting (or while the handshake runs) would be mixed into the TLS stream. */
START_TEST(test_tls_cleartext_injection_is_dead)
{
	{
		NodeCheck check("monitor", "secret", true);
		Bytes out;
		Bytes stream;
		std::uint8_t seq = 0;
		append_packet(stream, packet_test::from_hex(ssl_greeting()), seq);
		append_packet(stream, packet_test::from_hex(OK_AUTOCOMMIT), seq);
		ck_assert(check.receive(stream, out) == NodeCheckStatus::DONE);
		assert_outcome({true, check.state(), check.detail(), {}}, NodeState::dead, "before the TLS handshake");
	}
	{
		NodeCheck check("monitor", "secret", true);
		Bytes out;
		Bytes stream;
		std::uint8_t seq = 0;
		append_packet(stream, packet_test::from_hex(ssl_greeting()), seq);
		ck_assert(check.receive(stream, out) == NodeCheckStatus::START_TLS);
		ck_assert(check.receive(packet_test::from_hex("00"), out) == NodeCheckStatus::DONE);
		assert_outcome({true, check.state(), check.detail(), {}}, NodeState::dead, "before the TLS handshake");
	}
	{
		/* tls_established() without START_TLS is an internal error, not a crash. */
		NodeCheck check("monitor", "secret", true);
		Bytes out;
		ck_assert(check.tls_established(out) == NodeCheckStatus::DONE);
		ck_assert(check.state() == NodeState::dead);
	}
}
END_TEST

/* Without a user (the original manual's monitoring without a login): the greeting alone decides, and
 * nothing is written, not even with ssl. */
START_TEST(test_greeting_only)
{
	Bytes greeting;
	std::uint8_t seq = 0;
	append_packet(greeting, packet_test::from_hex(GREETING), seq);
	for (const bool ssl : {false, true}) {
		const Outcome o = run(greeting, 0, "", ssl);
		ck_assert(o.done);
		assert_outcome(o, NodeState::alive, "greeting received (no user: read_only unknown)");
		ck_assert_uint_eq(o.written.size(), 0);
		/* Byte by byte too. */
		assert_outcome(run(greeting, 1, "", ssl), NodeState::alive, "greeting received");
	}
	/* Every cut of the greeting: dead, never done early. */
	for (std::size_t n = 0; n < greeting.size(); ++n) {
		const Outcome o = run(Bytes(greeting.begin(), greeting.begin() + std::ptrdiff_t(n)), 0, "");
		ck_assert_msg(!o.done, "done after %zu of %zu bytes", n, greeting.size());
		assert_outcome(o, NodeState::dead, "the node closed the connection");
	}
	Bytes refused;
	seq = 0;
	append_packet(refused, packet_test::from_hex(ERR_TOO_MANY), seq);
	assert_outcome(run(refused, 0, ""), NodeState::dead, "refused: 1040 Too many connections");
	Bytes bad_err;
	seq = 0;
	append_packet(bad_err, packet_test::from_hex("ff10"), seq);
	assert_outcome(run(bad_err, 0, ""), NodeState::dead, "malformed ERR instead of a greeting");
	Bytes not_greeting;
	seq = 0;
	append_packet(not_greeting, packet_test::from_hex("0a00"), seq);
	assert_outcome(run(not_greeting, 0, ""), NodeState::dead, "malformed greeting");
	assert_outcome(run(packet_test::from_hex("ffffff00"), 0, ""), NodeState::dead, "malformed packet");
}
END_TEST

static Suite *node_check_suite()
{
	Suite *s = suite_create("node_check");
	TCase *tc = tcase_create("verdicts");
	tcase_add_test(tc, test_alive);
	tcase_add_test(tc, test_read_only);
	tcase_add_test(tc, test_byte_by_byte);
	tcase_add_test(tc, test_auth_failed);
	tcase_add_test(tc, test_auth_failed_codes);
	tcase_add_test(tc, test_too_many_connections_is_dead);
	tcase_add_test(tc, test_after_done);
	tcase_add_test(tc, test_greeting_only);
	suite_add_tcase(s, tc);
	tc = tcase_create("hostile");
	tcase_add_test(tc, test_bad_results_are_dead);
	tcase_add_test(tc, test_garbage_is_dead);
	tcase_add_test(tc, test_every_prefix);
	suite_add_tcase(s, tc);
	tc = tcase_create("tls");
	tcase_add_test(tc, test_tls);
	tcase_add_test(tc, test_tls_unavailable_is_dead);
	tcase_add_test(tc, test_tls_cleartext_injection_is_dead);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({node_check_suite()});
}
