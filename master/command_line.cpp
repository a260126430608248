// The daemon's command line: a table of options and one loop over argv.  Pure apart from the
// print helpers; never exits the process (main() owns the exit codes).
#include "command_line.hpp"

#include "common/config.hpp"

#include <cstring>
#include <string_view>

namespace myproxy {

namespace {

struct OptionRow {
	std::string_view name;
	/* Whether the option takes a value ("--config FILE" or "--config=FILE"). */
	bool takes_value;
	void (*apply)(CommandLine &line, std::string_view value);
};

constexpr OptionRow option_table[] = {
	{"--config", true, [](CommandLine &l, std::string_view v) { l.config_path = v; }},
	{"--check-config", false, [](CommandLine &l, std::string_view) { l.check_config = true; }},
	{"--user", true, [](CommandLine &l, std::string_view v) { l.user = v; }},
	{"--no-sandbox", false, [](CommandLine &l, std::string_view) { l.no_sandbox = true; }},
	{"--help", false, [](CommandLine &l, std::string_view) { l.help = true; }},
	{"-h", false, [](CommandLine &l, std::string_view) { l.help = true; }},
	{"--version", false, [](CommandLine &l, std::string_view) { l.version = true; }},
};

constexpr std::size_t option_count = sizeof(option_table) / sizeof(option_table[0]);

const OptionRow *find_option(std::string_view name) noexcept
{
	for (const auto &row : option_table)
		if (row.name == name)
			return &row;
	return nullptr;
}

std::string quoted(std::string_view text)
{
	return "'" + std::string(text) + "'";
}

} // namespace

CommandLineResult parse_command_line(std::span<const char *const> arguments)
{
	CommandLine line;
	bool seen[option_count] = {};

	for (std::size_t i = 0; i < arguments.size(); ++i) {
		const std::string_view argument = arguments[i] != nullptr ? arguments[i] : "";
		std::string_view name = argument;
		std::string_view value;
		bool inline_value = false;
		if (argument.starts_with("--")) {
			const auto equals = argument.find('=');
			if (equals != std::string_view::npos) {
				name = argument.substr(0, equals);
				value = argument.substr(equals + 1);
				inline_value = true;
			}
		}

		const OptionRow *row = find_option(name);
		if (row == nullptr) {
			if (argument.starts_with("-"))
				return CommandLineResult::failure("unknown option " + quoted(name));
			return CommandLineResult::failure("unexpected argument " + quoted(argument));
		}

		bool &was_seen = seen[row - option_table];
		if (was_seen)
			return CommandLineResult::failure("option " + quoted(name) + " given twice");
		was_seen = true;

		if (!row->takes_value) {
			if (inline_value)
				return CommandLineResult::failure("option " + quoted(name) +
								  " takes no value");
		} else if (!inline_value) {
			if (i + 1 >= arguments.size() || arguments[i + 1] == nullptr)
				return CommandLineResult::failure("option " + quoted(name) +
								  " needs a value");
			value = arguments[++i];
		}
		if (row->takes_value && value.empty())
			return CommandLineResult::failure("option " + quoted(name) +
							  " needs a non-empty value");
		row->apply(line, value);
	}
	return line;
}

void print_usage(std::FILE *out) noexcept
{
	std::fprintf(out,
		     "Usage: myproxy [--config FILE] [--check-config] [--user NAME] [--no-sandbox]\n"
		     "       myproxy --help | --version\n"
		     "\n"
		     "  --config FILE   the configuration script (default %s)\n"
		     "  --check-config  load the configuration, report \"FILE: ok\" or the error, exit\n"
		     "  --user NAME     workers drop to this user when started as root (default: worker_user, nobody)\n"
		     "  --no-sandbox    DEBUGGING ONLY: run workers without their seccomp filter\n"
		     "  --help, -h      this text\n"
		     "  --version       the version\n",
		     default_config_path);
}

void print_version(std::FILE *out) noexcept
{
	std::fprintf(out, "myproxy %s\n", PACKAGE_VERSION);
}

void print_config_error(std::FILE *out, const ConfigError &error) noexcept
{
	std::fprintf(out, "%s\n", error.message.c_str());
	if (!error.traceback.empty())
		std::fprintf(out, "%s\n", error.traceback.c_str());
}

} // namespace myproxy
