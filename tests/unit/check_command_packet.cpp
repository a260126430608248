// Unit tests for common/command_packet: names, COM_INIT_DB and COM_QUERY parsing, builders.
// The COM_QUERY and COM_INIT_DB payloads were captured from the mariadb 10.11 client.
#include "common/command_packet.hpp"
#include "tests/check_main.hpp"
#include "tests/unit/packet_test_util.hpp"

#include <cstring>
#include <set>
#include <string>
#include <vector>

using namespace myproxy;
using packet_test::from_hex;

static const char INIT_DB_D1[] = "026431";
static const char QUERY_SELECT_1[] = "0373656c6563742031";

START_TEST(test_command_names)
{
	ck_assert_str_eq(command_name(COM_QUIT), "COM_QUIT");
	ck_assert_str_eq(command_name(COM_INIT_DB), "COM_INIT_DB");
	ck_assert_str_eq(command_name(COM_QUERY), "COM_QUERY");
	ck_assert_str_eq(command_name(COM_CHANGE_USER), "COM_CHANGE_USER");
	ck_assert_str_eq(command_name(COM_STMT_FETCH), "COM_STMT_FETCH");
	ck_assert_str_eq(command_name(COM_RESET_CONNECTION), "COM_RESET_CONNECTION");
	ck_assert_str_eq(command_name(COM_STMT_BULK_EXECUTE), "COM_STMT_BULK_EXECUTE");
	ck_assert_str_eq(command_name(0x55), "COM_UNKNOWN");
	ck_assert_str_eq(command_name(0xFF), "COM_UNKNOWN");
	/* Every byte has a name; the known ones are all different. */
	std::set<std::string> names;
	for (unsigned c = 0; c < 256; ++c) {
		const char *name = command_name(std::uint8_t(c));
		ck_assert_ptr_nonnull(name);
		if (std::strcmp(name, "COM_UNKNOWN") != 0)
			ck_assert(names.insert(name).second);
	}
	ck_assert_uint_eq(names.size(), 0x21 + 2);
	ck_assert_uint_eq(COM_RESET_CONNECTION, 0x1f);
	ck_assert_uint_eq(COM_STMT_PREPARE, 0x16);
	ck_assert_uint_eq(COM_PING, 0x0e);
}
END_TEST

START_TEST(test_init_db)
{
	const auto bytes = from_hex(INIT_DB_D1);
	auto init_db = parse_init_db(bytes);
	ck_assert(init_db.ok());
	ck_assert(init_db->schema == "d1");
	ck_assert(packet_test::within(init_db->schema, bytes));

	const auto no_schema = from_hex("02");
	init_db = parse_init_db(no_schema);
	ck_assert(init_db.ok() && init_db->schema.empty());

	auto nul = parse_init_db(from_hex("0264003132"));
	ck_assert(!nul.ok());
	ck_assert_str_eq(nul.error().what, "COM_INIT_DB: schema name contains NUL");
	ck_assert_uint_eq(nul.error().offset, 2);
	auto wrong = parse_init_db(from_hex(QUERY_SELECT_1));
	ck_assert(!wrong.ok());
	ck_assert_str_eq(wrong.error().what, "COM_INIT_DB: command byte is not 0x02");
	auto empty = parse_init_db({});
	ck_assert(!empty.ok());
	ck_assert_str_eq(empty.error().what, "COM_INIT_DB: command byte past end");

	const std::size_t parsed = packet_test::for_every_prefix(
		bytes, parse_init_db,
		[](const InitDbCommand &c, ByteSpan input) { ck_assert(packet_test::within(c.schema, input)); });
	ck_assert_uint_eq(parsed, bytes.size() - 1);
}
END_TEST

START_TEST(test_query)
{
	const auto bytes = from_hex(QUERY_SELECT_1);
	auto query = parse_query(bytes);
	ck_assert(query.ok());
	ck_assert(query->query == "select 1");

	/* Binary data in a query (e.g. _binary'\0') is the server's business. */
	const auto binary = from_hex("03 73656c6563742027 00ff 27");
	query = parse_query(binary);
	ck_assert(query.ok());
	ck_assert_uint_eq(query->query.size(), 11);

	const auto no_query = from_hex("03");
	query = parse_query(no_query);
	ck_assert(query.ok() && query->query.empty());
	auto wrong = parse_query(from_hex(INIT_DB_D1));
	ck_assert(!wrong.ok());
	ck_assert_str_eq(wrong.error().what, "COM_QUERY: command byte is not 0x03");
	ck_assert(!parse_query({}).ok());

	const std::size_t parsed = packet_test::for_every_prefix(
		bytes, parse_query,
		[](const QueryCommand &c, ByteSpan input) { ck_assert(packet_test::within(c.query, input)); });
	ck_assert_uint_eq(parsed, bytes.size() - 1);
}
END_TEST

START_TEST(test_builders)
{
	std::vector<std::uint8_t> out;
	build_com_quit(out);
	ck_assert(out == from_hex("01"));
	out.clear();
	build_com_init_db(out, "d1");
	ck_assert(out == from_hex(INIT_DB_D1));
	out.clear();
	build_com_query(out, "select 1");
	ck_assert(out == from_hex(QUERY_SELECT_1));
	out.clear();
	build_com_ping(out);
	ck_assert(out == from_hex("0e"));
	out.clear();
	build_com_reset_connection(out);
	ck_assert(out == from_hex("1f"));
	/* Builders append. */
	build_com_ping(out);
	ck_assert(out == from_hex("1f0e"));
}
END_TEST

static Suite *command_suite()
{
	Suite *s = suite_create("command_packet");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_command_names);
	tcase_add_test(tc, test_init_db);
	tcase_add_test(tc, test_query);
	tcase_add_test(tc, test_builders);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({command_suite()});
}
