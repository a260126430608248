// Unit tests for master/command_line: every option form, and the usage errors that exit 64.
#include "master/command_line.hpp"
#include "tests/check_main.hpp"

#include <vector>

using namespace myproxy;

static CommandLineResult parse(std::vector<const char *> arguments)
{
	return parse_command_line(std::span<const char *const>(arguments.data(), arguments.size()));
}

START_TEST(test_defaults)
{
	const auto r = parse({});
	ck_assert(r.ok());
	ck_assert_str_eq(r.value().config_path.c_str(), "/etc/cm4all/myproxy/config.lua");
	ck_assert(!r.value().check_config);
	ck_assert(!r.value().help);
	ck_assert(!r.value().version);
}
END_TEST

START_TEST(test_config_forms)
{
	const auto separate = parse({"--config", "/tmp/a.lua"});
	ck_assert(separate.ok());
	ck_assert_str_eq(separate.value().config_path.c_str(), "/tmp/a.lua");

	const auto joined = parse({"--config=/tmp/b.lua", "--check-config"});
	ck_assert(joined.ok());
	ck_assert_str_eq(joined.value().config_path.c_str(), "/tmp/b.lua");
	ck_assert(joined.value().check_config);

	/* A value that looks like an option is still the value. */
	const auto dashed = parse({"--config", "--help"});
	ck_assert(dashed.ok());
	ck_assert_str_eq(dashed.value().config_path.c_str(), "--help");
	ck_assert(!dashed.value().help);
}
END_TEST

START_TEST(test_help_version)
{
	ck_assert(parse({"--help"}).value().help);
	ck_assert(parse({"-h"}).value().help);
	ck_assert(parse({"--version"}).value().version);
}
END_TEST

START_TEST(test_usage_errors)
{
	const std::vector<std::vector<const char *>> bad = {
		{"--conf", "x"},          /* no abbreviations */
		{"--bogus"},
		{"-x"},
		{"positional"},
		{"--config"},             /* missing value */
		{"--config="},            /* empty value */
		{"--config", ""},
		{"--help=yes"},           /* takes no value */
		{"--config", "a", "--config=b"},
		{"--check-config", "--check-config"},
	};
	for (const auto &arguments : bad) {
		const auto r = parse(arguments);
		ck_assert_msg(!r.ok(), "accepted %s", arguments[0]);
		ck_assert(!r.error().empty());
	}
	const auto unknown = parse({"--bogus=1"});
	ck_assert_str_eq(unknown.error().c_str(), "unknown option '--bogus'");
	const auto extra = parse({"extra"});
	ck_assert_str_eq(extra.error().c_str(), "unexpected argument 'extra'");
	const auto missing = parse({"--config"});
	ck_assert_str_eq(missing.error().c_str(), "option '--config' needs a value");
}
END_TEST

START_TEST(test_sandbox_options)
{
	const auto none = parse({});
	ck_assert(none.ok());
	ck_assert(none.value().user.empty());
	ck_assert(!none.value().no_sandbox);

	const auto both = parse({"--user", "mysqlproxy", "--no-sandbox"});
	ck_assert(both.ok());
	ck_assert_str_eq(both.value().user.c_str(), "mysqlproxy");
	ck_assert(both.value().no_sandbox);

	const auto joined = parse({"--user=nobody"});
	ck_assert(joined.ok());
	ck_assert_str_eq(joined.value().user.c_str(), "nobody");

	ck_assert(!parse({"--user"}).ok());
	ck_assert(!parse({"--user="}).ok());
	ck_assert(!parse({"--no-sandbox=yes"}).ok());
	ck_assert(!parse({"--no-sandbox", "--no-sandbox"}).ok());
}
END_TEST

static Suite *command_line_suite()
{
	Suite *s = suite_create("command_line");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_config_forms);
	tcase_add_test(tc, test_help_version);
	tcase_add_test(tc, test_usage_errors);
	tcase_add_test(tc, test_sandbox_options);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({command_line_suite()});
}
