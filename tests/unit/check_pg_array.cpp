// Unit tests for common/pg_array: PostgreSQL's array text format, decoding what array_out writes
// (quoting, escapes, NULL, nesting, dimension prefixes), encoding back, and malformed input.
#include "common/pg_array.hpp"
#include "tests/check_main.hpp"

#include <string>

using namespace myproxy;

static PgArrayElement parse_ok(const char *text)
{
	auto result = parse_pg_array(text);
	ck_assert_msg(result.ok(), "'%s': %s at %zu", text, result.ok() ? "" : result.error().what,
		      result.ok() ? 0 : result.error().offset);
	return std::move(result.value());
}

static void assert_fails(const char *text, const char *what)
{
	auto result = parse_pg_array(text);
	ck_assert_msg(!result.ok(), "'%s' parsed", text);
	ck_assert_msg(std::string(result.error().what).find(what) != std::string::npos, "'%s': %s", text,
		      result.error().what);
	ck_assert_uint_le(result.error().offset, std::string(text).size());
}

START_TEST(test_simple)
{
	const PgArrayElement a = parse_ok("{1,2,3}");
	ck_assert(a.kind == PgArrayElement::Kind::array);
	ck_assert_uint_eq(a.elements.size(), 3);
	ck_assert(a.elements[0].text == "1");
	ck_assert(a.elements[2].text == "3");
	ck_assert_uint_eq(parse_ok("{}").elements.size(), 0);
	ck_assert_uint_eq(parse_ok("  { }  ").elements.size(), 0);
}
END_TEST

START_TEST(test_quoting_and_null)
{
	const PgArrayElement a = parse_ok("{\"a b\",\"\",NULL,null,\"NULL\",\"x\\\"y\\\\z\", c d ,\\,e}");
	ck_assert_uint_eq(a.elements.size(), 8);
	ck_assert(a.elements[0].text == "a b");
	ck_assert(a.elements[1].kind == PgArrayElement::Kind::text && a.elements[1].text.empty());
	ck_assert(a.elements[2].kind == PgArrayElement::Kind::null);
	ck_assert(a.elements[3].kind == PgArrayElement::Kind::null);
	ck_assert(a.elements[4].kind == PgArrayElement::Kind::text && a.elements[4].text == "NULL");
	ck_assert(a.elements[5].text == "x\"y\\z");
	ck_assert(a.elements[6].text == "c d");
	ck_assert(a.elements[7].text == ",e");
	/* An escaped NULL is text, an escaped trailing blank stays. */
	const PgArrayElement b = parse_ok("{\\NULL,a\\ }");
	ck_assert(b.elements[0].kind == PgArrayElement::Kind::text && b.elements[0].text == "NULL");
	ck_assert(b.elements[1].text == "a ");
}
END_TEST

START_TEST(test_nested_and_dimensions)
{
	const PgArrayElement a = parse_ok("{{1,2},{3,NULL}}");
	ck_assert_uint_eq(a.elements.size(), 2);
	ck_assert(a.elements[1].kind == PgArrayElement::Kind::array);
	ck_assert(a.elements[1].elements[0].text == "3");
	ck_assert(a.elements[1].elements[1].kind == PgArrayElement::Kind::null);
	const PgArrayElement b = parse_ok("[0:1]={x,y}");
	ck_assert_uint_eq(b.elements.size(), 2);
	ck_assert(b.elements[1].text == "y");
	const PgArrayElement c = parse_ok("[1:1][-2:-1]={{a,b}}");
	ck_assert(c.elements[0].elements[1].text == "b");
	parse_ok("{{{{{{1}}}}}}");
}
END_TEST

START_TEST(test_malformed)
{
	assert_fails("", "'{' expected");
	assert_fails("1,2", "'{' expected");
	assert_fails("{1,2", "unterminated array");
	assert_fails("{1,2}x", "junk after");
	assert_fails("{1,,2}", "empty unquoted value");
	assert_fails("{,}", "empty unquoted value");
	assert_fails("{\"abc}", "unterminated quoted value");
	assert_fails("{abc\\", "backslash at the end");
	assert_fails("{\"a\\", "backslash at the end");
	assert_fails("{a\"b}", "unexpected quote");
	assert_fails("{a{b}", "unexpected quote or brace");
	assert_fails("{\"a\"b}", "',' or '}' expected");
	assert_fails("{{1},2}", "mixed");
	assert_fails("{1,{2}}", "mixed");
	assert_fails("{{{{{{{1}}}}}}}", "nested too deeply");
	assert_fails("[1:2{1,2}", "bad character");
	assert_fails("[1:2]{1,2}", "'=' expected");
	assert_fails("[]={}", "unterminated dimensions");
	assert_fails("{1}}", "junk after");
	/* A deep nesting attack is refused early, without recursion. */
	assert_fails(std::string(100000, '{').c_str(), "nested too deeply");
}
END_TEST

START_TEST(test_encode)
{
	std::string out;
	append_pg_array_value(out, "plain");
	ck_assert(out == "plain");
	out.clear();
	append_pg_array_value(out, "");
	ck_assert(out == "\"\"");
	out.clear();
	append_pg_array_value(out, "NuLl");
	ck_assert(out == "\"NuLl\"");
	out.clear();
	append_pg_array_value(out, "a \"b\"\\{c},");
	ck_assert(out == "\"a \\\"b\\\"\\\\{c},\"");
	ck_assert(!pg_array_value_needs_quotes("abc123-_."));
	ck_assert(pg_array_value_needs_quotes("tab\there"));
}
END_TEST

START_TEST(test_round_trip)
{
	const char *texts[] = {"{}", "{1,2,3}", "{\"a b\",NULL,\"\",\"NULL\",\"q\\\"\\\\\"}", "{{1,2},{3,4}}",
			       "{{{x}}}", "{\"{}\",\",\"}"};
	for (const char *text : texts) {
		const PgArrayElement a = parse_ok(text);
		const std::string encoded = encode_pg_array(a);
		ck_assert_msg(encoded == text, "'%s' encodes as '%s'", text, encoded.c_str());
	}
}
END_TEST

static Suite *pg_array_suite()
{
	Suite *s = suite_create("pg_array");
	TCase *tc = tcase_create("decode");
	tcase_add_test(tc, test_simple);
	tcase_add_test(tc, test_quoting_and_null);
	tcase_add_test(tc, test_nested_and_dimensions);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);
	tc = tcase_create("encode");
	tcase_add_test(tc, test_encode);
	tcase_add_test(tc, test_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({pg_array_suite()});
}
