// Unit tests for master/command_line: every option form, and the usage errors that exit 64.
#include "common/config.hpp"
#include "master/command_line.hpp"
#include "tests/check_main.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
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

/* What a hostile or careless argv can hold: NULL entries, a --control without its command, words
 * without --control. */
START_TEST(test_odd_arguments)
{
	const auto expect_error = [](std::vector<const char *> arguments, const char *expected) {
		const auto r = parse(std::move(arguments));
		ck_assert(!r.ok());
		ck_assert_str_eq(r.error().c_str(), expected);
	};
	expect_error({"--config", nullptr}, "option '--config' needs a value");
	expect_error({nullptr}, "unexpected argument ''");
	expect_error({"--control", "/run/c.sock"},
		     "option '--control' needs a command (disconnect-database ACCOUNT, verbose LEVEL, nop)");
	expect_error({"--version=2"}, "option '--version' takes no value");
	expect_error({"-h", "-h"}, "option '-h' given twice");
	const auto control = parse({"--control=@ctl", "verbose", "5"});
	ck_assert(control.ok());
	ck_assert_str_eq(control.value().control_address.c_str(), "@ctl");
	ck_assert_uint_eq(control.value().control_command.size(), 2);
}
END_TEST

/* The text helpers main() prints with. */
static std::string printed(void (*print)(std::FILE *))
{
	char *text = nullptr;
	std::size_t size = 0;
	std::FILE *out = open_memstream(&text, &size);
	ck_assert(out != nullptr);
	print(out);
	std::fclose(out);
	std::string result(text, size);
	std::free(text);
	return result;
}

START_TEST(test_print_helpers)
{
	const std::string usage = printed([](std::FILE *out) { print_usage(out); });
	ck_assert(usage.starts_with("Usage: myproxy [--config FILE]"));
	ck_assert(usage.find("/etc/cm4all/myproxy/config.lua") != std::string::npos);
	ck_assert(printed([](std::FILE *out) { print_version(out); }) == "myproxy " PACKAGE_VERSION "\n");
	const std::string with_traceback = printed([](std::FILE *out) {
		ConfigError error;
		error.message = "config.lua:3: boom";
		error.traceback = "stack traceback:\n\t[C]: in ?";
		print_config_error(out, error);
	});
	ck_assert_str_eq(with_traceback.c_str(), "config.lua:3: boom\nstack traceback:\n\t[C]: in ?\n");
	const std::string plain = printed([](std::FILE *out) {
		ConfigError error;
		error.message = "x.lua: gone";
		print_config_error(out, error);
	});
	ck_assert_str_eq(plain.c_str(), "x.lua: gone\n");
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
	tcase_add_test(tc, test_odd_arguments);
	tcase_add_test(tc, test_print_helpers);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({command_line_suite()});
}
