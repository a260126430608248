// Unit tests for common/ok_packet, err_packet, eof_packet and the error table in mysql_errors.hpp.
// Vectors were captured from MariaDB 10.11 (mariadb CLI: SESSION_TRACK without DEPRECATE_EOF; a raw
// client: with DEPRECATE_EOF), except where a comment says they were written from the protocol docs.
#include "common/eof_packet.hpp"
#include "common/err_packet.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_errors.hpp"
#include "common/mysql_packet.hpp"
#include "common/ok_packet.hpp"
#include "tests/check_main.hpp"
#include "tests/unit/packet_test_util.hpp"

#include <cstring>
#include <set>
#include <string>
#include <vector>

using namespace myproxy;
using packet_test::from_hex;

/* Capabilities the mariadb 10.11 CLI (Connector/C 3.3) negotiates, and those of the raw client. */
static constexpr std::uint32_t CLI_CAPS = 0x00bfa284;
static constexpr std::uint32_t DEPRECATE_EOF_CAPS = 0x018fa20d;
static constexpr std::uint32_t NO_TRACK_CAPS = CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_PLUGIN_AUTH;

static const char OK_LOGIN[] = "00000002000000";
/* USE d1: session state SESSION_TRACK_SCHEMA "d1". */
static const char OK_USE_DB[] = "0000000240000000050103026431";
static const char OK_INSERT[] = "00020102000000265265636f7264733a203220204475706c6963617465733a20302020"
				"5761726e696e67733a2030";
static const char OK_UPDATE[] = "0002002200000028526f7773206d6174636865643a203220204368616e6765643a2032"
				"20205761726e696e67733a2030";
/* SET autocommit=0: session state SESSION_TRACK_SYSTEM_VARIABLES autocommit=OFF. */
static const char OK_AUTOCOMMIT[] = "000000004000000011000f0a6175746f636f6d6d6974034f4646";
static const char OK_INSERT_IN_TRANS[] = "00010301000000";
/* Result set terminators with CLIENT_DEPRECATE_EOF. */
static const char OK_EOF_TERMINATOR[] = "fe000002000000";
static const char OK_EOF_TERMINATOR_WARNING[] = "fe000001000100";

static const char EOF_AUTOCOMMIT[] = "fe00000200";
static const char EOF_AFTER_UPDATE[] = "fe00002200";

static const char ERR_NO_TABLE[] = "ff7a042334325330325461626c65202764312e6e6f6e65786973742720646f65736e27"
				   "74206578697374";
static const char ERR_BAD_DB[] = "ff1904233432303030556e6b6e6f776e20646174616261736520276e6f7375636864"
				 "6227";
static const char ERR_ACCESS_DENIED[] = "ff15042332383030304163636573732064656e69656420666f7220757365722027"
					"6e61742740276c6f63616c686f73742720287573696e672070617373776f72643a"
					"2059455329";
static const char ERR_DB_ACCESS_DENIED[] = "ff14042334323030304163636573732064656e69656420666f72207573657220"
					   "276e61742740276c6f63616c686f73742720746f2064617461626173652027"
					   "643127";
/* Written from the protocol docs: a server refusing a connection before its handshake. */
static const char ERR_TOO_MANY[] = "ff1004546f6f206d616e7920636f6e6e656374696f6e73";

static std::vector<std::uint8_t> build_ok(const OkPacket &ok, std::uint32_t caps)
{
	std::vector<std::uint8_t> out;
	build_ok_packet(out, ok, caps);
	return out;
}

START_TEST(test_ok_captured)
{
	auto login = from_hex(OK_LOGIN);
	auto ok = parse_ok_packet(login, CLI_CAPS);
	ck_assert(ok.ok());
	ck_assert_uint_eq(ok->header, OK_HEADER);
	ck_assert_uint_eq(ok->affected_rows, 0);
	ck_assert_uint_eq(ok->status_flags, SERVER_STATUS_AUTOCOMMIT);
	ck_assert(ok->info.empty() && ok->session_state_info.empty());

	auto use = from_hex(OK_USE_DB);
	ok = parse_ok_packet(use, CLI_CAPS);
	ck_assert(ok.ok());
	ck_assert_uint_eq(ok->status_flags, SERVER_STATUS_AUTOCOMMIT | SERVER_SESSION_STATE_CHANGED);
	ck_assert(ok->info.empty());
	ck_assert(packet_test::same(ok->session_state_info, from_hex("0103026431")));

	auto insert = from_hex(OK_INSERT);
	ok = parse_ok_packet(insert, CLI_CAPS);
	ck_assert(ok.ok());
	ck_assert_uint_eq(ok->affected_rows, 2);
	ck_assert_uint_eq(ok->last_insert_id, 1);
	ck_assert(ok->info == "Records: 2  Duplicates: 0  Warnings: 0");

	auto update = from_hex(OK_UPDATE);
	ok = parse_ok_packet(update, CLI_CAPS);
	ck_assert(ok.ok());
	ck_assert_uint_eq(ok->status_flags, SERVER_STATUS_AUTOCOMMIT | SERVER_QUERY_NO_INDEX_USED);
	ck_assert(ok->info == "Rows matched: 2  Changed: 2  Warnings: 0");

	auto autocommit = from_hex(OK_AUTOCOMMIT);
	ok = parse_ok_packet(autocommit, DEPRECATE_EOF_CAPS);
	ck_assert(ok.ok());
	ck_assert_uint_eq(ok->status_flags, SERVER_SESSION_STATE_CHANGED);
	ck_assert_uint_eq(ok->session_state_info.size(), 17);
	ck_assert(packet_test::within(ok->session_state_info, autocommit));

	auto in_trans = from_hex(OK_INSERT_IN_TRANS);
	ok = parse_ok_packet(in_trans, DEPRECATE_EOF_CAPS);
	ck_assert(ok.ok());
	ck_assert_uint_eq(ok->affected_rows, 1);
	ck_assert_uint_eq(ok->last_insert_id, 3);
	ck_assert_uint_eq(ok->status_flags, SERVER_STATUS_IN_TRANS);

	auto terminator = from_hex(OK_EOF_TERMINATOR_WARNING);
	ok = parse_ok_packet(terminator, DEPRECATE_EOF_CAPS);
	ck_assert(ok.ok());
	ck_assert_uint_eq(ok->header, OK_EOF_HEADER);
	ck_assert_uint_eq(ok->status_flags, SERVER_STATUS_IN_TRANS);
	ck_assert_uint_eq(ok->warnings, 1);
}
END_TEST

START_TEST(test_ok_build_reproduces_captures)
{
	const char *vectors[] = {OK_LOGIN, OK_USE_DB, OK_INSERT, OK_UPDATE, OK_AUTOCOMMIT, OK_INSERT_IN_TRANS,
				 OK_EOF_TERMINATOR, OK_EOF_TERMINATOR_WARNING};
	for (const char *hex : vectors) {
		const auto bytes = from_hex(hex);
		auto ok = parse_ok_packet(bytes, DEPRECATE_EOF_CAPS);
		ck_assert(ok.ok());
		ck_assert(build_ok(*ok, DEPRECATE_EOF_CAPS) == bytes);
	}
	OkPacket plain;
	plain.status_flags = SERVER_STATUS_AUTOCOMMIT;
	ck_assert(build_ok(plain, CLI_CAPS) == from_hex(OK_LOGIN));
}
END_TEST

START_TEST(test_ok_other_capabilities)
{
	/* Without CLIENT_SESSION_TRACK the info is the rest of the packet, no length. */
	OkPacket ok;
	ok.affected_rows = 300;
	ok.last_insert_id = 0x1000000;
	ok.status_flags = SERVER_STATUS_IN_TRANS;
	ok.warnings = 2;
	ok.info = "hello";
	const auto bytes = build_ok(ok, NO_TRACK_CAPS);
	ck_assert(bytes == from_hex("00 fc2c01 fe0000000100000000 0100 0200 68656c6c6f"));
	auto parsed = parse_ok_packet(bytes, NO_TRACK_CAPS);
	ck_assert(parsed.ok());
	ck_assert_uint_eq(parsed->affected_rows, 300);
	ck_assert_uint_eq(parsed->last_insert_id, 0x1000000);
	ck_assert_uint_eq(parsed->warnings, 2);
	ck_assert(parsed->info == "hello");

	/* Pre-4.1: no warnings; status flags only with CLIENT_TRANSACTIONS. */
	const auto old = from_hex("00 01 02 0300 6869");
	parsed = parse_ok_packet(old, CLIENT_TRANSACTIONS);
	ck_assert(parsed.ok());
	ck_assert_uint_eq(parsed->status_flags, 3);
	ck_assert_uint_eq(parsed->warnings, 0);
	ck_assert(parsed->info == "hi");
	parsed = parse_ok_packet(old, 0);
	ck_assert(parsed.ok());
	ck_assert_uint_eq(parsed->status_flags, 0);
	ck_assert_uint_eq(parsed->info.size(), 4);
	ok.info = "hi";
	ok.status_flags = 3;
	ck_assert(build_ok(ok, CLIENT_TRANSACTIONS) == from_hex("00 fc2c01 fe0000000100000000 0300 6869"));
	ck_assert(build_ok(ok, 0) == from_hex("00 fc2c01 fe0000000100000000 6869"));

	/* The state-changed flag with nothing after the info: no session state, not an error. */
	const auto flag_only = from_hex("00000000400000 00");
	parsed = parse_ok_packet(flag_only, CLI_CAPS);
	ck_assert(parsed.ok());
	ck_assert(parsed->session_state_info.empty());
	/* Bytes after the last field are ignored, as clients do. */
	const auto trailing = from_hex("0000000200000000 ff");
	ck_assert(parse_ok_packet(trailing, CLI_CAPS).ok());
}
END_TEST

START_TEST(test_ok_hostile)
{
	struct Case {
		const char *hex;
		const char *what;
	};
	const Case cases[] = {
		{"", "OK: header past end"},
		{"01000002000000", "OK: header is not 0x00 or 0xFE"},
		{"ff000002000000", "OK: header is not 0x00 or 0xFE"},
		{"00fb0002000000", "OK: affected rows bad or past end"},
		{"00ff0002000000", "OK: affected rows bad or past end"},
		{"00fc01", "OK: affected rows bad or past end"},
		{"0000fe0102030405060708", "OK: status flags past end"},
		{"0000fb", "OK: last insert id bad or past end"},
		{"00000002", "OK: status flags past end"},
		{"000000020000", "OK: warnings past end"},
		{"00000002000000 056162", "OK: info bad or past end"},
		{"00000002000000 fe0000000000000001", "OK: info bad or past end"},
		{"00000002400000 00 09 0103026431", "OK: session state info bad or past end"},
		{"00000002400000 00 fb", "OK: session state info bad or past end"},
	};
	for (const Case &c : cases) {
		const auto bytes = from_hex(c.hex);
		auto ok = parse_ok_packet(bytes, CLI_CAPS);
		ck_assert_msg(!ok.ok(), "accepted %s", c.hex);
		ck_assert_str_eq(ok.error().what, c.what);
		ck_assert_uint_le(ok.error().offset, bytes.size());
	}
}
END_TEST

static void check_ok_views(const OkPacket &ok, ByteSpan input)
{
	ck_assert(packet_test::within(ok.info, input));
	ck_assert(packet_test::within(ok.session_state_info, input));
}

START_TEST(test_ok_every_prefix)
{
	const char *vectors[] = {OK_LOGIN, OK_USE_DB, OK_INSERT, OK_UPDATE, OK_AUTOCOMMIT, OK_INSERT_IN_TRANS,
				 OK_EOF_TERMINATOR, OK_EOF_TERMINATOR_WARNING};
	for (const char *hex : vectors) {
		const auto bytes = from_hex(hex);
		for (std::uint32_t caps : {CLI_CAPS, DEPRECATE_EOF_CAPS, NO_TRACK_CAPS, std::uint32_t(0)})
			packet_test::for_every_prefix(
				bytes, [caps](ByteSpan p) { return parse_ok_packet(p, caps); }, check_ok_views);
	}
	/* With session tracking, only the prefix ending after the warnings parses (info left out), and
	 * for USE also the one ending after the empty info (state flag, no state). */
	auto parse = [](ByteSpan p) { return parse_ok_packet(p, CLI_CAPS); };
	ck_assert_uint_eq(packet_test::for_every_prefix(from_hex(OK_INSERT), parse, check_ok_views), 1);
	ck_assert_uint_eq(packet_test::for_every_prefix(from_hex(OK_USE_DB), parse, check_ok_views), 2);
}
END_TEST

START_TEST(test_err_captured)
{
	const auto no_table = from_hex(ERR_NO_TABLE);
	auto err = parse_err_packet(no_table, CLI_CAPS);
	ck_assert(err.ok());
	ck_assert_uint_eq(err->error_code, 1146);
	ck_assert(err->sql_state == "42S02");
	ck_assert(err->message == "Table 'd1.nonexist' doesn't exist");

	const auto bad_db = from_hex(ERR_BAD_DB);
	err = parse_err_packet(bad_db, CLI_CAPS);
	ck_assert(err.ok());
	ck_assert_uint_eq(err->error_code, ER_BAD_DB_ERROR.code);
	ck_assert(err->sql_state == ER_BAD_DB_ERROR.sqlstate);
	ck_assert(err->message == "Unknown database 'nosuchdb'");

	/* Pre-handshake: no marker, parsed with CLIENT_PROTOCOL_41 as its header comment advises. */
	const auto too_many = from_hex(ERR_TOO_MANY);
	err = parse_err_packet(too_many, CLIENT_PROTOCOL_41);
	ck_assert(err.ok());
	ck_assert_uint_eq(err->error_code, 1040);
	ck_assert(err->sql_state.empty());
	ck_assert(err->message == "Too many connections");

	/* Without CLIENT_PROTOCOL_41 there is no marker: it is part of the message. */
	err = parse_err_packet(no_table, 0);
	ck_assert(err.ok());
	ck_assert(err->sql_state.empty());
	ck_assert(err->message.substr(0, 6) == "#42S02");

	/* An empty message. */
	const auto bare = from_hex("ff1504 2332383030 30");
	err = parse_err_packet(bare, CLI_CAPS);
	ck_assert(err.ok());
	ck_assert(err->sql_state == "28000" && err->message.empty());
}
END_TEST

START_TEST(test_err_build)
{
	std::vector<std::uint8_t> out;
	build_err_packet(out, ER_ACCESS_DENIED, "Access denied for user 'nat'@'localhost' (using password: YES)",
			 CLI_CAPS);
	ck_assert(out == from_hex(ERR_ACCESS_DENIED));
	out.clear();
	build_err_packet(out, ER_DBACCESS_DENIED, "Access denied for user 'nat'@'localhost' to database 'd1'",
			 DEPRECATE_EOF_CAPS);
	ck_assert(out == from_hex(ERR_DB_ACCESS_DENIED));
	out.clear();
	build_handshake_err_packet(out, ER_CON_COUNT_ERROR, "Too many connections");
	ck_assert(out == from_hex(ERR_TOO_MANY));
	out.clear();
	build_err_packet(out, ER_CON_COUNT_ERROR, "Too many connections", 0);
	ck_assert(out == from_hex(ERR_TOO_MANY));

	/* Relaying a backend's ERR keeps every byte, with or without a marker. */
	for (const char *hex : {ERR_NO_TABLE, ERR_BAD_DB, ERR_ACCESS_DENIED, ERR_DB_ACCESS_DENIED, ERR_TOO_MANY}) {
		const auto bytes = from_hex(hex);
		for (std::uint32_t caps : {CLI_CAPS, std::uint32_t(0)}) {
			auto err = parse_err_packet(bytes, caps);
			ck_assert(err.ok());
			out.clear();
			build_err_packet(out, *err, caps);
			ck_assert(out == bytes);
		}
	}
}
END_TEST

START_TEST(test_err_hostile)
{
	struct Case {
		const char *hex;
		const char *what;
	};
	const Case cases[] = {
		{"", "ERR: header past end"},
		{"00150423", "ERR: header is not 0xFF"},
		{"ff", "ERR: error code past end"},
		{"ff15", "ERR: error code past end"},
		{"ff150423", "ERR: SQLSTATE past end"},
		{"ff15042332383030", "ERR: SQLSTATE past end"},
	};
	for (const Case &c : cases) {
		const auto bytes = from_hex(c.hex);
		auto err = parse_err_packet(bytes, CLI_CAPS);
		ck_assert_msg(!err.ok(), "accepted %s", c.hex);
		ck_assert_str_eq(err.error().what, c.what);
	}
}
END_TEST

static void check_err_views(const ErrPacket &err, ByteSpan input)
{
	ck_assert(packet_test::within(err.sql_state, input));
	ck_assert(packet_test::within(err.message, input));
	ck_assert(err.sql_state.empty() || err.sql_state.size() == SQLSTATE_LENGTH);
}

START_TEST(test_err_every_prefix)
{
	for (const char *hex : {ERR_NO_TABLE, ERR_BAD_DB, ERR_ACCESS_DENIED, ERR_DB_ACCESS_DENIED, ERR_TOO_MANY}) {
		const auto bytes = from_hex(hex);
		packet_test::for_every_prefix(
			bytes, [](ByteSpan p) { return parse_err_packet(p, 0); }, check_err_views);
		const std::size_t parsed = packet_test::for_every_prefix(
			bytes, [](ByteSpan p) { return parse_err_packet(p, CLI_CAPS); }, check_err_views);
		/* Prefixes of 3 bytes (code only) parse; 4..8 end inside the SQLSTATE; from 9 on they parse. */
		if (hex != ERR_TOO_MANY)
			ck_assert_uint_eq(parsed, 1 + bytes.size() - 9);
	}
}
END_TEST

START_TEST(test_error_table)
{
	const ServerError table[] = {ER_ACCESS_DENIED,   ER_NET_READ_ERROR,	  ER_SERVER_SHUTDOWN,
				     ER_CONNECTION_KILLED, ER_CON_COUNT_ERROR,	  ER_NET_PACKET_TOO_LARGE,
				     ER_HANDSHAKE_ERROR,   ER_UNKNOWN_COM_ERROR,   ER_DBACCESS_DENIED,
				     ER_NET_ERROR_ON_WRITE, ER_BAD_DB_ERROR,	  ER_NOT_SUPPORTED_AUTH_MODE,
				     ER_HOST_IS_BLOCKED,   ER_OUT_OF_RESOURCES,	  ER_UNKNOWN_ERROR};
	std::set<std::uint16_t> codes;
	for (const ServerError &e : table) {
		ck_assert(codes.insert(e.code).second);
		ck_assert_uint_eq(std::strlen(e.sqlstate), SQLSTATE_LENGTH);
		/* Client-side codes make Connector/C 3.3.9+ report a malformed packet instead. */
		ck_assert(!(e.code >= 2000 && e.code <= 2999));
		ck_assert(!(e.code >= 5000 && e.code <= 5999));
	}
	ck_assert_uint_eq(ER_ACCESS_DENIED.code, 1045);
	ck_assert_str_eq(ER_ACCESS_DENIED.sqlstate, "28000");
	ck_assert_uint_eq(ER_CONNECTION_KILLED.code, 1927);
	ck_assert_str_eq(ER_CONNECTION_KILLED.sqlstate, "70100");
	ck_assert_uint_eq(ER_NET_PACKET_TOO_LARGE.code, 1153);
}
END_TEST

START_TEST(test_eof)
{
	const auto bytes = from_hex(EOF_AFTER_UPDATE);
	auto eof = parse_eof_packet(bytes, CLI_CAPS);
	ck_assert(eof.ok());
	ck_assert_uint_eq(eof->warnings, 0);
	ck_assert_uint_eq(eof->status_flags, SERVER_STATUS_AUTOCOMMIT | SERVER_QUERY_NO_INDEX_USED);
	std::vector<std::uint8_t> out;
	build_eof_packet(out, *eof, CLI_CAPS);
	ck_assert(out == bytes);

	eof = parse_eof_packet(from_hex(EOF_AUTOCOMMIT), CLI_CAPS);
	ck_assert(eof.ok());
	ck_assert_uint_eq(eof->status_flags, SERVER_STATUS_AUTOCOMMIT);

	/* Pre-4.1: just the header byte. */
	const auto old = from_hex("fe");
	eof = parse_eof_packet(old, 0);
	ck_assert(eof.ok());
	out.clear();
	build_eof_packet(out, EofPacket{}, 0);
	ck_assert(out == old);

	ck_assert(!parse_eof_packet(from_hex("00000002 00"), CLI_CAPS).ok());
	auto nine = parse_eof_packet(from_hex("fe0000020000000000"), CLI_CAPS);
	ck_assert(!nine.ok());
	ck_assert_str_eq(nine.error().what, "EOF: payload of 9 bytes or more is no EOF packet");
	auto short_eof = parse_eof_packet(from_hex("fe0000"), CLI_CAPS);
	ck_assert(!short_eof.ok());
	ck_assert_str_eq(short_eof.error().what, "EOF: status flags past end");

	const std::size_t parsed = packet_test::for_every_prefix(
		bytes, [](ByteSpan p) { return parse_eof_packet(p, CLI_CAPS); }, [](const EofPacket &, ByteSpan) {});
	ck_assert_uint_eq(parsed, 0);
	ck_assert_uint_eq(packet_test::for_every_prefix(
				  bytes, [](ByteSpan p) { return parse_eof_packet(p, 0); },
				  [](const EofPacket &, ByteSpan) {}),
			  4);
}
END_TEST

START_TEST(test_classification)
{
	ck_assert(is_ok_packet(from_hex(OK_LOGIN)));
	ck_assert(!is_ok_packet(from_hex(ERR_BAD_DB)));
	ck_assert(!is_ok_packet({}));
	ck_assert(is_err_packet(from_hex(ERR_BAD_DB)));
	ck_assert(!is_err_packet(from_hex(OK_LOGIN)));
	ck_assert(!is_err_packet({}));

	/* Without CLIENT_DEPRECATE_EOF: an EOF is 0xFE and shorter than 9 bytes. */
	ck_assert(is_eof_packet(from_hex(EOF_AUTOCOMMIT), CLI_CAPS));
	ck_assert(is_eof_packet(from_hex("fe"), 0));
	ck_assert(is_eof_packet(from_hex("fe00000200000000"), CLI_CAPS));
	/* A row whose first column has an 8-byte lenenc length: 0xFE, but data. */
	ck_assert(!is_eof_packet(from_hex("fe0000000100000000"), CLI_CAPS));
	ck_assert(!is_eof_packet(from_hex(OK_LOGIN), CLI_CAPS));
	ck_assert(!is_eof_packet(from_hex("0131017a"), CLI_CAPS));
	ck_assert(!is_eof_packet({}, CLI_CAPS));

	/* With CLIENT_DEPRECATE_EOF: the terminating OK may be long, a 0xFE row fills a whole packet. */
	ck_assert(is_eof_packet(from_hex(OK_EOF_TERMINATOR), DEPRECATE_EOF_CAPS));
	OkPacket ok;
	ok.header = OK_EOF_HEADER;
	ok.status_flags = SERVER_SESSION_STATE_CHANGED;
	ok.info = "a long info string that makes the packet longer than nine bytes";
	std::vector<std::uint8_t> long_terminator;
	build_ok_packet(long_terminator, ok, DEPRECATE_EOF_CAPS);
	ck_assert(is_eof_packet(long_terminator, DEPRECATE_EOF_CAPS));
	ck_assert(!is_eof_packet(long_terminator, CLI_CAPS));
	ck_assert(is_eof_packet_start(0xFE, MAX_PACKET_PAYLOAD - 1, DEPRECATE_EOF_CAPS));
	ck_assert(!is_eof_packet_start(0xFE, MAX_PACKET_PAYLOAD, DEPRECATE_EOF_CAPS));
	ck_assert(!is_eof_packet_start(0xFE, 0, DEPRECATE_EOF_CAPS));
	ck_assert(!is_eof_packet_start(0x00, 7, DEPRECATE_EOF_CAPS));
	ck_assert(is_eof_packet_start(0xFE, 5, CLI_CAPS));
	ck_assert(!is_eof_packet_start(0xFE, 9, CLI_CAPS));
}
END_TEST

static Suite *ok_err_eof_suite()
{
	Suite *s = suite_create("ok_err_eof");
	TCase *ok = tcase_create("ok");
	tcase_add_test(ok, test_ok_captured);
	tcase_add_test(ok, test_ok_build_reproduces_captures);
	tcase_add_test(ok, test_ok_other_capabilities);
	tcase_add_test(ok, test_ok_hostile);
	tcase_add_test(ok, test_ok_every_prefix);
	suite_add_tcase(s, ok);
	TCase *err = tcase_create("err");
	tcase_add_test(err, test_err_captured);
	tcase_add_test(err, test_err_build);
	tcase_add_test(err, test_err_hostile);
	tcase_add_test(err, test_err_every_prefix);
	tcase_add_test(err, test_error_table);
	suite_add_tcase(s, err);
	TCase *eof = tcase_create("eof");
	tcase_add_test(eof, test_eof);
	tcase_add_test(eof, test_classification);
	suite_add_tcase(s, eof);
	return s;
}

int main()
{
	return run_check_suites({ok_err_eof_suite()});
}
