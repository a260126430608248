// The myproxy daemon under test, for the end-to-end tests (tests/integration/check_proxy_*.cpp):
// started through the fixture's launcher with a config.lua written into its own temporary
// directory, stderr captured in a log there, stopped with SIGTERM; plus raw sockets for what a
// real client library cannot do (abstract sockets, junk, half packets).  Test-only code: it
// includes common/ but never <mysql.h>, whose macros clash with common/mysql_capabilities.hpp.
#pragma once

#include "tests/fixture/launched_process.hpp"
#include "tests/fixture/spawn.hpp"
#include "tests/fixture/temp_dir.hpp"

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace myproxy::test {

// The daemon binary: $(abs_top_builddir)/myproxy from the Makefile, or $MYPROXY_TEST_DAEMON
// (to run the suite against another build).
const char *myproxy_path();

// A Lua string literal holding exactly @bytes: "\ddd" escapes for everything but plain
// printable ASCII, so paths, quotes and binary SHA1 digests embed safely.
std::string lua_quote(std::string_view bytes);

class ProxyProcess {
public:
	// Creates the temporary directory only; paths for config.lua are known from here on.
	ProxyProcess();
	~ProxyProcess();
	ProxyProcess(const ProxyProcess &) = delete;
	ProxyProcess &operator=(const ProxyProcess &) = delete;

	const std::string &dir() const { return dir_->path(); }
	// dir() + "/" + name: socket paths and files of the test.
	std::string path(std::string_view name) const;
	std::string config_path() const { return path("config.lua"); }
	std::string log_path() const { return path("myproxy.log"); }

	// Writes config.lua, starts `myproxy --config FILE` and waits until every address in
	// @wait_for ("/path", "@abstract", "127.0.0.1:port") accepts a connection.  Throws
	// FixtureError with the log tail when the daemon exits or stays deaf.  Becomes the daemon
	// whose log PROXY_ASSERT prints.
	void start(const std::string &config_lua, const std::vector<std::string> &wait_for,
		   std::chrono::milliseconds timeout = std::chrono::seconds(30));
	// A wrapper that ends up exec'ing myproxy, put before its argv by start(): e.g.
	// {"/usr/bin/systemd-socket-activate", "-l", path}.  A wrapper may accept connections
	// before myproxy runs, so start() then waits for a greeting on @wait_for, not a connect.
	void set_command_prefix(std::vector<std::string> prefix) { prefix_ = std::move(prefix); }
	// Runs tests/myproxy-test (the daemon with the test hooks, see test_hooks.hpp) instead of
	// myproxy, always with the sandbox on, even in sanitizer builds (which otherwise add
	// --no-sandbox: MYPROXY_TEST_NO_SANDBOX).
	void use_test_daemon() { test_daemon_ = true; }
	// More arguments after "--config FILE", and "NAME=value" environment overrides (replacing the
	// defaults, e.g. ASAN_OPTIONS).
	void set_extra_args(std::vector<std::string> args) { extra_args_ = std::move(args); }
	void set_extra_env(std::vector<std::string> env) { extra_env_ = std::move(env); }
	// SIGTERM (by default), waits, returns the wait status.  Usable in a forked test child
	// too: the launcher is the daemon's parent.
	int stop(int signal = SIGTERM, std::chrono::milliseconds grace = std::chrono::seconds(20));
	bool running() const;
	pid_t pid() const { return process_.pid(); }

	std::string log() const;
	std::string log_tail(std::size_t lines = 60) const;
	// Lines of the log that mean a bug whatever the test did: sanitizer reports, an unprotected
	// Lua error, a worker that died while the daemon was not shutting down.  Empty when clean.
	std::string trouble() const;

private:
	std::unique_ptr<TempDir> dir_;
	std::vector<std::string> prefix_;
	std::vector<std::string> extra_args_;
	std::vector<std::string> extra_env_;
	bool test_daemon_ = false;
	LaunchedProcess process_;
};

// The daemon whose log tail a failing PROXY_ASSERT prints (the last one started).
void set_current_proxy(const ProxyProcess *proxy);
void print_current_proxy_log(const char *why);

// ck_assert_msg() that first prints the daemon's log tail: a failure then shows what myproxy saw.
// (<check.h> is the test's to include: its `fail` macro breaks common/ headers included later.)
#define PROXY_ASSERT(cond, ...)                                                                          \
	do {                                                                                             \
		if (!(cond)) {                                                                           \
			::myproxy::test::print_current_proxy_log(#cond);                                 \
			ck_abort_msg(__VA_ARGS__);                                                       \
		}                                                                                        \
	} while (0)

#define PROXY_CHECK(cond) PROXY_ASSERT(cond, "assertion '%s' failed", #cond)

// True when the wait status @status is a normal exit with @code.
bool exited_with(int status, int code);

// How every end-to-end suite ends: the daemon (a ProxyProcess lvalue) still runs, has no trouble
// in its log, exits 0 on SIGTERM and leaves no trouble behind.  A macro, not a function, so that a
// failure names the test's own file and line.
#define PROXY_ASSERT_CLEAN_SHUTDOWN(process)                                                             \
	do {                                                                                             \
		::myproxy::test::ProxyProcess &proxy_process_ = (process);                               \
		PROXY_ASSERT(proxy_process_.running(), "myproxy is no longer running");                 \
		PROXY_ASSERT(proxy_process_.trouble().empty(), "trouble in the log:\n%s",               \
			     proxy_process_.trouble().c_str());                                          \
		const int proxy_status_ = proxy_process_.stop(SIGTERM);                                  \
		PROXY_ASSERT(::myproxy::test::exited_with(proxy_status_, 0), "myproxy after SIGTERM: %s", \
			     ::myproxy::test::describe_wait_status(proxy_status_).c_str());              \
		PROXY_ASSERT(proxy_process_.trouble().empty(), "trouble in the log:\n%s",               \
			     proxy_process_.trouble().c_str());                                          \
	} while (0)

// String equality with both values in the message; copies first, because ck_assert_str_eq()
// keeps pointers into temporaries past the full expression.
#define PROXY_ASSERT_STR(actual, expected)                                                               \
	do {                                                                                             \
		const std::string proxy_actual_ = (actual);                                              \
		const std::string proxy_expected_ = (expected);                                          \
		PROXY_ASSERT(proxy_actual_ == proxy_expected_, "%s is '%s', expected '%s'", #actual,     \
			     proxy_actual_.c_str(), proxy_expected_.c_str());                            \
	} while (0)

// A blocking stream socket to "/path", "@abstract" or "host:port" (numeric), with 30 s timeouts.
class RawConnection {
public:
	// Throws FixtureError when the connect fails.
	explicit RawConnection(const std::string &address);
	~RawConnection();
	RawConnection(const RawConnection &) = delete;
	RawConnection &operator=(const RawConnection &) = delete;

	int fd() const { return fd_; }
	// Writes everything; false when the peer is gone.
	bool send_bytes(std::string_view bytes);
	// One physical packet: nullopt on EOF, error or timeout (then eof() tells which).
	struct Packet {
		std::uint8_t sequence_id = 0;
		std::string payload;
	};
	std::optional<Packet> read_packet(std::chrono::milliseconds timeout = std::chrono::seconds(30));
	// Waits until the peer closes, discarding what it sends; false on timeout.
	bool wait_closed(std::chrono::milliseconds timeout);
	bool eof() const { return eof_; }
	void close_now();

private:
	bool fill(std::size_t wanted, std::chrono::milliseconds timeout);

	int fd_ = -1;
	std::string buffer_;
	bool eof_ = false;
};

// An ERR packet's fields, or nullopt when @payload is no ERR packet.
struct RawError {
	unsigned code = 0;
	std::string sqlstate;
	std::string message;
};
std::optional<RawError> parse_raw_error(std::string_view payload);

// The server_version of a Handshake V10 greeting, or nullopt when @payload is none.
std::optional<std::string> greeting_server_version(std::string_view payload);

// A login with myproxy's own ClientLogin (mysql_clear_password allowed) over a RawConnection,
// then one COM_QUERY: for listeners libmariadb cannot reach (abstract sockets).
struct RawQueryResult {
	bool ok = false;
	std::string server_version; // of the greeting
	std::optional<std::string> value; // first column of the first row
	unsigned error_code = 0;
	std::string error;
};
// The same login over @c asking for the compressed protocol: true once it is in and CLIENT_COMPRESS
// was negotiated (what follows is compressed), else false with @error.
bool raw_compressed_login(RawConnection &c, std::string_view user, std::string_view password, std::string &error);

RawQueryResult raw_login_and_query(const std::string &address, std::string_view user, std::string_view password,
				   std::string_view sql);

// Runs myproxy with @args to completion (not through the launcher: --check-config, --version and
// failing starts are short), capturing stdout and stderr together.
struct CommandOutput {
	int wait_status = 0;
	// The exit code, or -1 when it was killed by a signal.
	int exit_code = -1;
	std::string output;
};
CommandOutput run_myproxy(const std::vector<std::string> &args,
			  std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Runs a program (argv[0] looked up in PATH) with stdin from /dev/null, capturing stdout and
// stderr together; for the `mariadb` command-line client.
CommandOutput run_program(const std::vector<std::string> &argv,
			  std::chrono::milliseconds timeout = std::chrono::seconds(60));

bool contains(std::string_view haystack, std::string_view needle);

// Polls the daemon's log until @needle shows up; false after @timeout (a safety net, not a limit).
bool wait_for_log(const ProxyProcess &p, std::string_view needle, std::chrono::milliseconds timeout);

// A handler table for mysql_listen() that names its listener: a login as `whoami` is refused with
// "listener=@name pid=... address=..." (what the script saw of the peer); every other login goes
// on to the global `backend` of the config.
std::string whoami_handler(const char *name);

} // namespace myproxy::test
