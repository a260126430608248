// Unit tests for common/result_set: responses captured from MariaDB 10.11 (with and without
// CLIENT_DEPRECATE_EOF, multi-statement, errors, long columns) and hostile input in every state.
#include "common/mysql_capabilities.hpp"
#include "common/result_set.hpp"
#include "tests/check_main.hpp"
#include "tests/unit/packet_test_util.hpp"

#include <string>
#include <vector>

using namespace myproxy;

using Bytes = std::vector<std::uint8_t>;

/* ck_assert_str_eq() keeps its pointers past the full expression: copy temporaries first. */
#define ck_assert_string(actual, expected)                                                               \
	do {                                                                                             \
		const std::string ck_actual_ = (actual);                                                 \
		const std::string ck_expected_ = (expected);                                             \
		ck_assert_str_eq(ck_actual_.c_str(), ck_expected_.c_str());                              \
	} while (0)

static Bytes hex(std::string_view text)
{
	return packet_test::from_hex(text);
}

/* What the capture client negotiated: PROTOCOL_41, TRANSACTIONS, SECURE_CONNECTION, MULTI_STATEMENTS,
 * MULTI_RESULTS, PLUGIN_AUTH. */
static constexpr std::uint32_t CAPS = CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_PROTOCOL_41 |
	CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS |
	CLIENT_PLUGIN_AUTH;
static constexpr std::uint32_t CAPS_DEPRECATE_EOF = CAPS | CLIENT_DEPRECATE_EOF;

/* SELECT 1, 'abc', NULL */
static const char *const COLUMN_1 = "036465660000000131000c3f0001000000038100000000";
static const char *const COLUMN_ABC = "0364656600000003616263000c2d000c000000fd0100270000";
static const char *const COLUMN_NULL = "03646566000000044e554c4c000c3f0000000000068000000000";
static const char *const ROW_1_ABC_NULL = "013103616263fb";
static const char *const EOF_AUTOCOMMIT = "fe00000200";
static const char *const OK_EOF_AUTOCOMMIT = "fe000002000000";

static const std::vector<const char *> SELECT_EOF = {"03", COLUMN_1, COLUMN_ABC, COLUMN_NULL, EOF_AUTOCOMMIT,
						     ROW_1_ABC_NULL, EOF_AUTOCOMMIT};
static const std::vector<const char *> SELECT_DEPRECATE_EOF = {"03", COLUMN_1, COLUMN_ABC, COLUMN_NULL,
							       ROW_1_ABC_NULL, OK_EOF_AUTOCOMMIT};

/* SELECT 1 AS a; DO 1; SELECT 'x' AS b, 2 AS c (without CLIENT_DEPRECATE_EOF) */
static const std::vector<const char *> MULTI_EOF = {
	"01", "036465660000000161000c3f0001000000038100000000", "fe00000a00", "0131", "fe00000a00",
	"0000000a000000", "02", "036465660000000162000c2d0004000000fd0100270000",
	"036465660000000163000c3f0001000000038100000000", "fe00000200", "01780132", "fe00000200"};
static const std::vector<const char *> MULTI_DEPRECATE_EOF = {
	"01", "036465660000000161000c3f0001000000038100000000", "0131", "fe00000a000000", "0000000a000000", "02",
	"036465660000000162000c2d0004000000fd0100270000", "036465660000000163000c3f0001000000038100000000",
	"01780132", "fe000002000000"};

/* SELECT seq, IF(seq % 2, NULL, CONCAT('r', seq)) AS v FROM seq_1_to_3 (in schema d1) */
static const std::vector<const char *> ROWS_DEPRECATE_EOF = {
	"02",
	"036465660264310a7365715f315f746f5f330a7365715f315f746f5f3303736571037365710c3f0014000000082350000000",
	"036465660000000176000c2d0054000000fd0000270000", "0131fb", "0132027232", "0133fb", "fe000022000000"};

/* SELECT * FROM nosuchtable */
static const char *const ERR_NO_TABLE =
	"ff7a042334325330325461626c65202764312e6e6f737563687461626c652720646f65736e2774206578697374";

static std::string text(const std::optional<std::string_view> &value)
{
	return value ? std::string(*value) : std::string("NULL");
}

static std::string row_text(const TextRow &row)
{
	std::string out;
	for (const auto &value : row) {
		if (!out.empty())
			out += ',';
		out += text(value);
	}
	return out;
}

/* Feeds all packets; returns a compact transcript of the events ("C3 c:1 c:abc c:NULL E R:1,abc,NULL
 * END:2"), or stops at the first parse error ("!what"). */
static std::string transcript(ResultSetReader &reader, const std::vector<const char *> &packets)
{
	std::string out;
	for (const char *packet : packets) {
		const Bytes payload = hex(packet);
		auto event = reader.feed(payload);
		if (!out.empty())
			out += ' ';
		if (!event) {
			out += '!';
			out += event.error().what;
			break;
		}
		if (auto *count = std::get_if<ResultColumnCount>(&*event))
			out += "C" + std::to_string(count->count);
		else if (auto *column = std::get_if<ResultColumn>(&*event))
			out += "c" + std::to_string(column->index) + ":" + std::string(column->definition.name);
		else if (std::get_if<ResultColumnsEnd>(&*event))
			out += "E";
		else if (auto *row = std::get_if<ResultRow>(&*event))
			out += "R:" + row_text(row->row);
		else if (auto *end = std::get_if<ResultEnd>(&*event))
			out += std::string(end->had_result_set ? "END:" : "OK:") + std::to_string(end->ok.status_flags) +
				(end->more_results() ? "+" : "");
		else if (auto *error = std::get_if<ResultError>(&*event))
			out += "ERR:" + std::to_string(error->err.error_code) + ":" + std::string(error->err.sql_state);
	}
	return out;
}

static std::string transcript(std::uint32_t capabilities, const std::vector<const char *> &packets)
{
	ResultSetReader reader(capabilities);
	return transcript(reader, packets);
}

START_TEST(test_select_with_eof)
{
	ResultSetReader reader(CAPS);
	ck_assert_string(transcript(reader, SELECT_EOF).c_str(),
			 "C3 c0:1 c1:abc c2:NULL E R:1,abc,NULL END:2");
	ck_assert(reader.done());
	ck_assert_uint_eq(reader.column_count(), 0);
}
END_TEST

START_TEST(test_select_deprecate_eof)
{
	ResultSetReader reader(CAPS_DEPRECATE_EOF);
	ck_assert_string(transcript(reader, SELECT_DEPRECATE_EOF).c_str(), "C3 c0:1 c1:abc c2:NULL R:1,abc,NULL END:2");
	ck_assert(reader.done());
}
END_TEST

START_TEST(test_mismatched_eof_mode)
{
	/* A reader told the wrong capabilities fails cleanly instead of misreading. */
	ck_assert_string(transcript(CAPS_DEPRECATE_EOF, SELECT_EOF).c_str(),
			 "C3 c0:1 c1:abc c2:NULL !OK: warnings past end");
	ck_assert_string(transcript(CAPS, SELECT_DEPRECATE_EOF).c_str(),
			 "C3 c0:1 c1:abc c2:NULL !result set: EOF expected after the column definitions");
}
END_TEST

START_TEST(test_column_definition_fields)
{
	const Bytes payload = hex(ROWS_DEPRECATE_EOF[1]);
	auto column = parse_column_definition(payload);
	ck_assert(column.ok());
	ck_assert_string(std::string(column->catalog).c_str(), "def");
	ck_assert_string(std::string(column->schema).c_str(), "d1");
	ck_assert_string(std::string(column->table).c_str(), "seq_1_to_3");
	ck_assert_string(std::string(column->org_table).c_str(), "seq_1_to_3");
	ck_assert_string(std::string(column->name).c_str(), "seq");
	ck_assert_string(std::string(column->org_name).c_str(), "seq");
	ck_assert_uint_eq(column->character_set, 63);
	ck_assert_uint_eq(column->column_length, 20);
	ck_assert_uint_eq(column->type, 0x08); /* MYSQL_TYPE_LONGLONG */
	ck_assert_uint_eq(column->flags, 0x5023);
	ck_assert_uint_eq(column->decimals, 0);

	const Bytes abc = hex(COLUMN_ABC);
	auto varchar = parse_column_definition(abc);
	ck_assert(varchar.ok());
	ck_assert_uint_eq(varchar->character_set, 45);
	ck_assert_uint_eq(varchar->column_length, 12);
	ck_assert_uint_eq(varchar->type, 0xfd);
	ck_assert_uint_eq(varchar->decimals, 39);
}
END_TEST

START_TEST(test_rows_with_nulls)
{
	ck_assert_string(transcript(CAPS_DEPRECATE_EOF, ROWS_DEPRECATE_EOF).c_str(),
			 "C2 c0:seq c1:v R:1,NULL R:2,r2 R:3,NULL END:34");
}
END_TEST

START_TEST(test_multi_statement)
{
	ResultSetReader reader(CAPS);
	ck_assert_string(transcript(reader, MULTI_EOF).c_str(),
			 "C1 c0:a E R:1 END:10+ OK:10+ C2 c0:b c1:c E R:x,2 END:2");
	ck_assert(reader.done());
	ResultSetReader deprecate(CAPS_DEPRECATE_EOF);
	ck_assert_string(transcript(deprecate, MULTI_DEPRECATE_EOF).c_str(),
			 "C1 c0:a R:1 END:10+ OK:10+ C2 c0:b c1:c R:x,2 END:2");
	ck_assert(deprecate.done());
}
END_TEST

START_TEST(test_ok_and_err_responses)
{
	ck_assert_string(transcript(CAPS, {"00000002000000"}).c_str(), "OK:2");
	ck_assert_string(transcript(CAPS, {ERR_NO_TABLE}).c_str(), "ERR:1146:42S02");

	ResultSetReader reader(CAPS);
	const Bytes err = hex(ERR_NO_TABLE);
	auto event = reader.feed(err);
	ck_assert(event.ok());
	auto *error = std::get_if<ResultError>(&*event);
	ck_assert_ptr_nonnull(error);
	ck_assert_string(std::string(error->err.message).c_str(), "Table 'd1.nosuchtable' doesn't exist");
	ck_assert(reader.done());

	/* OK with affected rows and last insert id: INSERT ... (two rows), id 5, info text. */
	ResultSetReader insert(CAPS);
	const Bytes ok = hex("00020502000000526563");
	auto end = insert.feed(ok);
	ck_assert(end.ok());
	auto *result = std::get_if<ResultEnd>(&*end);
	ck_assert_ptr_nonnull(result);
	ck_assert_uint_eq(result->ok.affected_rows, 2);
	ck_assert_uint_eq(result->ok.last_insert_id, 5);
	ck_assert_string(std::string(result->ok.info).c_str(), "Rec");
	ck_assert(!result->had_result_set);
}
END_TEST

START_TEST(test_long_column)
{
	/* SELECT REPEAT('a', 300) AS r, 7: the first column has a 0xFC length. */
	std::string row = "fc2c01";
	for (int i = 0; i < 300; ++i)
		row += "61";
	row += "0137";
	for (std::uint32_t caps : {CAPS, CAPS_DEPRECATE_EOF}) {
		ResultSetReader reader(caps);
		std::vector<const char *> packets = {"02", "036465660000000172000c2d00b0040000fd0000270000",
						     "036465660000000137000c3f0001000000038100000000"};
		if (!(caps & CLIENT_DEPRECATE_EOF))
			packets.push_back(EOF_AUTOCOMMIT);
		ck_assert(transcript(reader, packets).starts_with("C2 c0:r c1:7"));
		const Bytes payload = hex(row);
		auto event = reader.feed(payload);
		ck_assert(event.ok());
		auto *r = std::get_if<ResultRow>(&*event);
		ck_assert_ptr_nonnull(r);
		auto it = r->row.begin();
		ck_assert((*it).has_value());
		ck_assert_uint_eq((*it)->size(), 300);
		++it;
		ck_assert_string(text(*it).c_str(), "7");
		++it;
		ck_assert(it == r->row.end());
	}
}
END_TEST

/* A row whose first column is 16 MiB starts with 0xFE; it is a row in both modes, because its payload
 * is never shorter than 0xFFFFFF. */
START_TEST(test_fe_row_is_not_a_terminator)
{
	Bytes row(9 + 0x1000000, 'z');
	row[0] = 0xFE;
	for (int i = 1; i < 9; ++i)
		row[i] = 0;
	row[4] = 0x01; /* length 0x01000000 */
	for (std::uint32_t caps : {CAPS, CAPS_DEPRECATE_EOF}) {
		ResultSetReader reader(caps);
		std::vector<const char *> packets = {"01", "036465660000000172000c2d00b0040000fd0000270000"};
		if (!(caps & CLIENT_DEPRECATE_EOF))
			packets.push_back(EOF_AUTOCOMMIT);
		(void)transcript(reader, packets);
		auto event = reader.feed(row);
		ck_assert(event.ok());
		auto *r = std::get_if<ResultRow>(&*event);
		ck_assert_ptr_nonnull(r);
		ck_assert_uint_eq((**r->row.begin()).size(), 0x1000000);
		/* The physical first packet alone (0xFFFFFF bytes) is not taken for a terminator either. */
		ResultSetReader physical(caps);
		(void)transcript(physical, packets);
		auto partial = physical.feed(ByteSpan(row).first(0xFFFFFF));
		ck_assert(!partial.ok());
		ck_assert_string(partial.error().what, "text row: column length past end or bad prefix");
	}

	/* Without CLIENT_DEPRECATE_EOF a 9-byte 0xFE packet is a row (a non-canonical empty string). */
	ResultSetReader reader(CAPS);
	ck_assert_string(transcript(reader, {"01", COLUMN_1, EOF_AUTOCOMMIT, "fe0000000000000000"}).c_str(),
			 "C1 c0:1 E R:");
}
END_TEST

START_TEST(test_column_count_limits)
{
	ck_assert_string(transcript(CAPS, {"fc0000"}).c_str(), "!column count: zero");
	ck_assert_string(transcript(CAPS, {"fc0010"}).c_str(), "C4096");
	ck_assert_string(transcript(CAPS, {"fc0110"}).c_str(), "!column count: more columns than the limit");
	ck_assert_string(transcript(CAPS, {"feffffffffffffffff"}).c_str(),
			 "!column count: more columns than the limit");
	ck_assert_string(transcript(CAPS, {"fe0000"}).c_str(), "!column count: past end or bad prefix");
	ck_assert_string(transcript(CAPS, {"fc01"}).c_str(), "!column count: past end or bad prefix");
	/* A metadata-follows byte (CLIENT_CACHE_METADATA) is not expected. */
	ck_assert_string(transcript(CAPS, {"0301"}).c_str(), "!column count: trailing bytes");
	ck_assert_string(transcript(CAPS, {""}).c_str(), "!query response: empty packet");
	ck_assert_string(transcript(CAPS, {"fb2f746d702f78"}).c_str(),
			 "!query response: LOCAL INFILE request not expected");

	ResultSetReader small(CAPS, 2);
	ck_assert_string(transcript(small, {"03"}).c_str(), "!column count: more columns than the limit");
}
END_TEST

START_TEST(test_wrong_column_counts)
{
	/* Rows with one column too few or too many. */
	ck_assert_string(transcript(CAPS_DEPRECATE_EOF, {"02", COLUMN_1, COLUMN_ABC, "0131"}).c_str(),
			 "C2 c0:1 c1:abc !text row: fewer columns than announced");
	ck_assert_string(transcript(CAPS_DEPRECATE_EOF, {"02", COLUMN_1, COLUMN_ABC, "013101320133"}).c_str(),
			 "C2 c0:1 c1:abc !text row: more columns than announced");
	ck_assert_string(transcript(CAPS_DEPRECATE_EOF, {"02", COLUMN_1, COLUMN_ABC, ""}).c_str(),
			 "C2 c0:1 c1:abc !text row: fewer columns than announced");
	/* Fewer column definitions than announced: the EOF comes early. */
	ck_assert_string(transcript(CAPS, {"03", COLUMN_1, EOF_AUTOCOMMIT}).c_str(),
			 "C3 c0:1 !result set: fewer column definitions than announced");
	ck_assert_string(transcript(CAPS_DEPRECATE_EOF, {"03", COLUMN_1, OK_EOF_AUTOCOMMIT}).c_str(),
			 "C3 c0:1 !result set: fewer column definitions than announced");
	/* More definitions than announced: the extra one is not an EOF. */
	ck_assert_string(transcript(CAPS, {"01", COLUMN_1, COLUMN_ABC}).c_str(),
			 "C1 c0:1 !result set: EOF expected after the column definitions");
	/* With CLIENT_DEPRECATE_EOF an extra definition is read as a row of the wrong shape. */
	ck_assert_string(transcript(CAPS_DEPRECATE_EOF, {"01", COLUMN_1, COLUMN_ABC}).c_str(),
			 "C1 c0:1 !text row: more columns than announced");
}
END_TEST

START_TEST(test_err_mid_result)
{
	ResultSetReader reader(CAPS);
	ck_assert_string(transcript(reader, {"03", COLUMN_1, COLUMN_ABC, COLUMN_NULL, EOF_AUTOCOMMIT, ROW_1_ABC_NULL,
					     ERR_NO_TABLE})
				 .c_str(),
			 "C3 c0:1 c1:abc c2:NULL E R:1,abc,NULL ERR:1146:42S02");
	ck_assert(reader.done());
	ck_assert_string(transcript(CAPS, {"03", COLUMN_1, ERR_NO_TABLE}).c_str(), "C3 c0:1 ERR:1146:42S02");
	ck_assert_string(transcript(CAPS, {"01", COLUMN_1, ERR_NO_TABLE}).c_str(), "C1 c0:1 ERR:1146:42S02");
	/* An ERR ends the response even inside a multi-statement query. */
	ck_assert_string(transcript(CAPS, {"01", COLUMN_1, "fe00000a00", "0131", "fe00000a00", ERR_NO_TABLE, "01"})
				 .c_str(),
			 "C1 c0:1 E R:1 END:10+ ERR:1146:42S02 !result set: packet after the end of the response");
	/* A broken ERR is a parse error. */
	ck_assert_string(transcript(CAPS, {"01", COLUMN_1, "ff16"}).c_str(), "C1 c0:1 !ERR: error code past end");
}
END_TEST

START_TEST(test_lenenc_past_end)
{
	ck_assert_string(transcript(CAPS_DEPRECATE_EOF, {"01", COLUMN_1, "056162"}).c_str(),
			 "C1 c0:1 !text row: column length past end or bad prefix");
	ck_assert_string(transcript(CAPS_DEPRECATE_EOF, {"01", COLUMN_1, "fc2c0161"}).c_str(),
			 "C1 c0:1 !text row: column length past end or bad prefix");
	ck_assert_string(transcript(CAPS_DEPRECATE_EOF, {"01", COLUMN_1, "fd"}).c_str(),
			 "C1 c0:1 !text row: column length past end or bad prefix");
	ck_assert_string(transcript(CAPS, {"01", COLUMN_1, EOF_AUTOCOMMIT, "feffffffffffffff7f"}).c_str(),
			 "C1 c0:1 E !text row: column length past end or bad prefix");
	/* 0xFF is never a lenenc prefix; as the first byte it is an ERR (broken here). */
	ck_assert_string(transcript(CAPS_DEPRECATE_EOF, {"02", COLUMN_1, COLUMN_1, "0131ff"}).c_str(),
			 "C2 c0:1 c1:1 !text row: column length past end or bad prefix");
	/* A column definition whose name runs past the end. */
	ck_assert_string(transcript(CAPS, {"01", "036465660000000931"}).c_str(),
			 "C1 !ColumnDefinition41: name past end or bad length");
}
END_TEST

START_TEST(test_column_definition_hostile)
{
	/* The fixed-length block must announce 0x0C bytes and be the end of the packet. */
	auto bad_fixed = hex("036465660000000131000d3f000100000003810000000000");
	auto r1 = parse_column_definition(bad_fixed);
	ck_assert(!r1.ok());
	ck_assert_string(r1.error().what, "ColumnDefinition41: fixed-length fields length is not 0x0C");
	ck_assert_uint_eq(r1.error().offset, 10);
	auto trailing = hex(std::string(COLUMN_1) + "00");
	auto r2 = parse_column_definition(trailing);
	ck_assert(!r2.ok());
	ck_assert_string(r2.error().what, "ColumnDefinition41: trailing bytes after the fixed-length fields");
	auto bad_prefix = hex("03646566ff");
	ck_assert(!parse_column_definition(bad_prefix).ok());
	auto empty = parse_column_definition({});
	ck_assert(!empty.ok());
	ck_assert_string(empty.error().what, "ColumnDefinition41: catalog past end or bad length");
}
END_TEST

/* Feeds every proper prefix of each packet of a response to a reader that has seen the packets
 * before it: each must give a clean error or an event, never a crash (ASan watches), and the full
 * packet must then still parse in a fresh reader. */
static void check_all_prefixes(std::uint32_t capabilities, const std::vector<const char *> &packets)
{
	for (std::size_t target = 0; target < packets.size(); ++target) {
		const Bytes full = hex(packets[target]);
		for (std::size_t length = 0; length < full.size(); ++length) {
			ResultSetReader reader(capabilities);
			for (std::size_t i = 0; i < target; ++i) {
				const Bytes before = hex(packets[i]);
				ck_assert(reader.feed(before).ok());
			}
			/* A copy of exactly the prefix, so ASan sees any read past it. */
			const Bytes prefix(full.begin(), full.begin() + std::ptrdiff_t(length));
			auto event = reader.feed(prefix);
			if (event.ok()) {
				if (auto *row = std::get_if<ResultRow>(&*event))
					(void)row_text(row->row);
			} else {
				ck_assert_ptr_nonnull(event.error().what);
				ck_assert(reader.failed());
				ck_assert(!reader.feed(full).ok());
			}
		}
	}
}

START_TEST(test_truncated_everywhere)
{
	check_all_prefixes(CAPS, SELECT_EOF);
	check_all_prefixes(CAPS_DEPRECATE_EOF, SELECT_DEPRECATE_EOF);
	check_all_prefixes(CAPS, MULTI_EOF);
	check_all_prefixes(CAPS_DEPRECATE_EOF, MULTI_DEPRECATE_EOF);
	check_all_prefixes(CAPS_DEPRECATE_EOF, ROWS_DEPRECATE_EOF);
	check_all_prefixes(CAPS, {ERR_NO_TABLE});
}
END_TEST

START_TEST(test_truncated_column_definition)
{
	const Bytes full = hex(ROWS_DEPRECATE_EOF[1]);
	const std::size_t parsed = packet_test::for_every_prefix(full, parse_column_definition,
								  [](const ColumnDefinition &, ByteSpan) {});
	ck_assert_uint_eq(parsed, 0);
}
END_TEST

START_TEST(test_unexpected_packets)
{
	/* After the end. */
	ResultSetReader done(CAPS_DEPRECATE_EOF);
	ck_assert_string(transcript(done, {"00000002000000", "00000002000000"}).c_str(),
			 "OK:2 !result set: packet after the end of the response");
	ck_assert(done.failed());
	ck_assert_string(transcript(done, {"00000002000000"}).c_str(), "!result set: packet after a parse error");
	/* reset() prepares for the next query, even after a failure. */
	done.reset();
	ck_assert_string(transcript(done, SELECT_DEPRECATE_EOF).c_str(), "C3 c0:1 c1:abc c2:NULL R:1,abc,NULL END:2");
	/* A row where the EOF after the definitions belongs. */
	ck_assert_string(transcript(CAPS, {"01", COLUMN_1, "0131"}).c_str(),
			 "C1 c0:1 !result set: EOF expected after the column definitions");
	/* An OK (0x00) where a column definition belongs. */
	ck_assert_string(transcript(CAPS, {"01", "00000002000000"}).c_str(),
			 "C1 !ColumnDefinition41: org_name past end or bad length");
	/* Empty packets in every state. */
	ck_assert_string(transcript(CAPS, {"01", ""}).c_str(), "C1 !ColumnDefinition41: catalog past end or bad length");
	ck_assert_string(transcript(CAPS, {"01", COLUMN_1, ""}).c_str(),
			 "C1 c0:1 !result set: EOF expected after the column definitions");
	ck_assert_string(transcript(CAPS, {"01", COLUMN_1, EOF_AUTOCOMMIT, ""}).c_str(),
			 "C1 c0:1 E !text row: fewer columns than announced");
	/* A broken terminator: an OK-as-EOF too short for its fields. */
	ck_assert_string(transcript(CAPS_DEPRECATE_EOF, {"01", COLUMN_1, "fe00"}).c_str(),
			 "C1 c0:1 !OK: last insert id bad or past end");
	ck_assert_string(transcript(CAPS, {"01", COLUMN_1, EOF_AUTOCOMMIT, "fe00"}).c_str(),
			 "C1 c0:1 E !EOF: warnings past end");
}
END_TEST

START_TEST(test_text_row_parser)
{
	const Bytes payload = hex("fb00fc0100610161");
	auto row = parse_text_row(payload, 4);
	ck_assert(row.ok());
	ck_assert_uint_eq(row->size(), 4);
	ck_assert_string(row_text(*row).c_str(), "NULL,,a,a");
	ck_assert(!parse_text_row(payload, 0).ok());
	ck_assert(!parse_text_row(payload, 3).ok());
	ck_assert(!parse_text_row(payload, 5).ok());
	/* A default-constructed row is empty. */
	TextRow empty;
	ck_assert(empty.begin() == empty.end());
}
END_TEST

static Suite *result_set_suite()
{
	Suite *s = suite_create("result_set");
	TCase *good = tcase_create("captured");
	tcase_add_test(good, test_select_with_eof);
	tcase_add_test(good, test_select_deprecate_eof);
	tcase_add_test(good, test_mismatched_eof_mode);
	tcase_add_test(good, test_column_definition_fields);
	tcase_add_test(good, test_rows_with_nulls);
	tcase_add_test(good, test_multi_statement);
	tcase_add_test(good, test_ok_and_err_responses);
	tcase_add_test(good, test_long_column);
	tcase_add_test(good, test_fe_row_is_not_a_terminator);
	tcase_add_test(good, test_text_row_parser);
	suite_add_tcase(s, good);
	TCase *hostile = tcase_create("hostile");
	tcase_set_timeout(hostile, 30);
	tcase_add_test(hostile, test_column_count_limits);
	tcase_add_test(hostile, test_wrong_column_counts);
	tcase_add_test(hostile, test_err_mid_result);
	tcase_add_test(hostile, test_lenenc_past_end);
	tcase_add_test(hostile, test_column_definition_hostile);
	tcase_add_test(hostile, test_truncated_everywhere);
	tcase_add_test(hostile, test_truncated_column_definition);
	tcase_add_test(hostile, test_unexpected_packets);
	suite_add_tcase(s, hostile);
	return s;
}

int main()
{
	return run_check_suites({result_set_suite()});
}
