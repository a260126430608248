// The daemon's command line (master side, before anything else runs): parsing is pure and table
// driven: one row per option.  It never loads
// the configuration nor exits; main() decides what a result means (usage errors exit 64).
#pragma once

#include <cstdio>
#include <span>
#include <string>

namespace myproxy {

struct ConfigError;


inline constexpr const char *default_config_path = "/etc/cm4all/myproxy/config.lua";

struct CommandLine {
	std::string config_path = default_config_path;
	/* Load the configuration, report "FILE: ok" or the error, and exit. */
	bool check_config = false;
	bool help = false;
	bool version = false;
	/* --user NAME: who workers become when started as root (overrides worker_user); empty: unset. */
	std::string user;
	/* --no-sandbox: workers run without the seccomp filter (debugging, sanitizer builds). */
	bool no_sandbox = false;
};

class [[nodiscard]] CommandLineResult {
	CommandLine line_;
	std::string error_;

public:
	CommandLineResult(CommandLine line) : line_(std::move(line)) {}
	static CommandLineResult failure(std::string message)
	{
		CommandLineResult result{CommandLine{}};
		result.error_ = std::move(message);
		return result;
	}

	bool ok() const noexcept { return error_.empty(); }
	explicit operator bool() const noexcept { return ok(); }
	/* Only valid when ok(). */
	const CommandLine &value() const noexcept { return line_; }
	/* Only valid when !ok(): one line naming the argument, e.g. "unknown option '--foo'". */
	const std::string &error() const noexcept { return error_; }
};

/* Parses argv[1..]: "--config FILE", "--config=FILE", "--check-config", "--user NAME",
   "--no-sandbox", "--help" (also "-h"), "--version".  Every other argument, a repeated option or a missing/empty value is an error. */
CommandLineResult parse_command_line(std::span<const char *const> arguments);

void print_usage(std::FILE *out) noexcept;
void print_version(std::FILE *out) noexcept;

/* Writes the message and, when Lua gave one, the traceback: how both --check-config and a
   failed start report a bad config.lua. */
void print_config_error(std::FILE *out, const ConfigError &error) noexcept;

} // namespace myproxy
