// The daemon under test and raw sockets to it (see proxy_process.hpp).  Everything blocks with
// timeouts: a hung daemon must fail a test, never hang the run.  Test-only code.
#include "tests/integration/proxy_process.hpp"

#include "common/client_login.hpp"
#include "common/command_packet.hpp"
#include "common/err_packet.hpp"
#include "common/handshake_v10.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/result_set.hpp"
#include "common/socket_address.hpp"
#include "tests/fixture/fixture_error.hpp"
#include "tests/fixture/spawn.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#ifndef MYPROXY_PATH
#error "the Makefile passes -DMYPROXY_PATH='\"$(abs_top_builddir)/myproxy\"'"
#endif

namespace myproxy::test {

using Clock = std::chrono::steady_clock;

const char *myproxy_path()
{
	const char *other = std::getenv("MYPROXY_TEST_DAEMON");
	return other != nullptr && *other != '\0' ? other : MYPROXY_PATH;
}

bool contains(std::string_view haystack, std::string_view needle)
{
	return haystack.find(needle) != std::string_view::npos;
}

bool wait_for_log(const ProxyProcess &p, std::string_view needle, std::chrono::milliseconds timeout)
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	while (std::chrono::steady_clock::now() < deadline) {
		if (contains(p.log(), needle))
			return true;
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
	}
	return contains(p.log(), needle);
}

bool exited_with(int status, int code)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

std::string whoami_handler(const char *name)
{
	return std::string("{\n"
			   "  on_handshake_response = function(client, hr)\n"
			   "    if hr.user == 'whoami' then\n"
			   "      return client:err('listener=") + name + " pid=' .. tostring(client.pid) ..\n"
			   "                        ' address=' .. tostring(client.address))\n"
			   "    end\n"
			   "    return client:connect(backend, hr)\n"
			   "  end,\n"
			   "}";
}

std::string lua_quote(std::string_view bytes)
{
	std::string out = "\"";
	for (const unsigned char c : bytes) {
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			out += char(c);
		} else {
			char escape[8];
			std::snprintf(escape, sizeof(escape), "\\%03u", unsigned(c));
			out += escape;
		}
	}
	return out + "\"";
}

// --- the daemon ---------------------------------------------------------------------------

static const ProxyProcess *current_proxy = nullptr;

void set_current_proxy(const ProxyProcess *proxy)
{
	current_proxy = proxy;
}

void print_current_proxy_log(const char *why)
{
	if (current_proxy == nullptr)
		return;
	std::fprintf(stderr, "==== failed: %s; last lines of %s ====\n%s==== end of myproxy log ====\n", why,
		     current_proxy->log_path().c_str(), current_proxy->log_tail(80).c_str());
}

ProxyProcess::ProxyProcess() : dir_(std::make_unique<TempDir>("myproxy-proxy-"))
{
}

ProxyProcess::~ProxyProcess()
{
	if (current_proxy == this)
		current_proxy = nullptr;
}

std::string ProxyProcess::path(std::string_view name) const
{
	return dir() + "/" + std::string(name);
}

static bool accepts(const std::string &address, bool need_greeting)
{
	try {
		RawConnection probe(address);
		// Take the greeting before hanging up: unread data would turn our close into a reset,
		// which the worker logs as a failed receive.
		const bool greeted = probe.read_packet(std::chrono::seconds(5)).has_value();
		return greeted || !need_greeting;
	} catch (const FixtureError &) {
		return false;
	}
}

/* MYPROXY_TEST_RELAY_IO=epoll runs a suite with the relay forced onto epoll (Makefile.am runs the
 * relay suites both ways); the last assignment in config.lua wins. */
static std::string with_test_relay_io(const std::string &config_lua)
{
	const char *mode = std::getenv("MYPROXY_TEST_RELAY_IO");
	if (mode == nullptr || *mode == '\0')
		return config_lua;
	return config_lua + "\nrelay_io = " + lua_quote(mode) + "\n";
}

void ProxyProcess::start(const std::string &config_lua, const std::vector<std::string> &wait_for,
			 std::chrono::milliseconds timeout)
{
	write_file(config_path(), with_test_relay_io(config_lua));
	ChildSpec spec;
	spec.argv = prefix_;
	spec.argv.insert(spec.argv.end(),
			 {test_daemon_ ? std::string(MYPROXY_TEST_HOOKS_PATH) : std::string(myproxy_path()), "--config",
			  config_path()});
#ifdef MYPROXY_TEST_NO_SANDBOX
	if (!test_daemon_)
		spec.argv.push_back("--no-sandbox");
#endif
	spec.argv.insert(spec.argv.end(), extra_args_.begin(), extra_args_.end());
#ifdef MYPROXY_COVERAGE
	/* A daemon the test never stopped drains when the fixture abandons it (SIGKILL after 2 s),
	   so that its master and workers write their gcov counters (scripts/coverage.sh). */
	spec.abandon_signal = SIGTERM;
#endif
	spec.log_path = log_path();
	spec.cwd = dir();
	// Sanitizer reports go to the log (stderr) and end the process with a distinct status.
	spec.env_overrides = {"ASAN_OPTIONS=abort_on_error=0:detect_leaks=1:exitcode=66",
			      "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=67"};
	// set_extra_env() replaces a default of the same name (the environment keeps the first).
	for (const std::string &entry : extra_env_) {
		const std::string name = entry.substr(0, entry.find('=') + 1);
		std::erase_if(spec.env_overrides, [&](const std::string &o) { return o.rfind(name, 0) == 0; });
		spec.env_overrides.push_back(entry);
	}
	process_ = LaunchedProcess(spec);
	set_current_proxy(this);

	const auto deadline = Clock::now() + timeout;
	for (const std::string &address : wait_for) {
		while (!accepts(address, !prefix_.empty())) {
			if (!process_.running())
				throw FixtureError("myproxy exited during start-up (" +
						   describe_wait_status(process_.wait_status()) + ")\n--- " + log_path() +
						   " ---\n" + log_tail());
			if (Clock::now() > deadline)
				throw FixtureError("myproxy does not accept on " + address + " after " +
						   std::to_string(timeout.count()) + " ms\n--- " + log_path() + " ---\n" +
						   log_tail());
			std::this_thread::sleep_for(std::chrono::milliseconds(20));
		}
	}
}

int ProxyProcess::stop(int signal, std::chrono::milliseconds grace)
{
	return process_.stop(signal, grace);
}

bool ProxyProcess::running() const
{
	return process_.running();
}

std::string ProxyProcess::log() const
{
	std::ifstream in(log_path());
	std::ostringstream text;
	text << in.rdbuf();
	return text.str();
}

std::string ProxyProcess::log_tail(std::size_t lines) const
{
	return tail_file(log_path(), lines);
}

std::string ProxyProcess::trouble() const
{
	static const char *const markers[] = {
		"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "unprotected Lua error",
		" died ", "Assertion", "terminate called",
	};
	std::istringstream in(log());
	std::string line, found;
	bool draining = false, forced = false;
	while (std::getline(in, line)) {
		bool bad = false;
		for (const char *marker : markers)
			bad = bad || contains(line, marker);
		if (contains(line, "draining"))
			draining = true;
		if (contains(line, "drain timeout") || contains(line, "second SIG"))
			forced = true;
		// The master's "worker[0] pid 123 exited with status 0" / "killed by signal 9": before
		// a shutdown any worker exit is a crash; during a drain nobody was killed unless the
		// drain timed out or a second signal asked for it.
		if (contains(line, "master: ") && contains(line, "worker[") && contains(line, "] pid ")) {
			if (!draining || (!forced && !contains(line, "exited with status 0")))
				bad = true;
		}
		if (bad)
			found += line + "\n";
	}
	return found;
}

// --- raw connections ----------------------------------------------------------------------

RawConnection::RawConnection(const std::string &address)
{
	const AddressResult parsed = parse_numeric_address(address, 3306);
	if (!parsed)
		throw FixtureError("RawConnection(" + address + "): " + parsed.error());
	const SocketAddress &a = parsed.value();
	fd_ = socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd_ < 0)
		throw FixtureError("socket(): " + std::string(std::strerror(errno)));
	if (connect(fd_, a.get(), a.length) < 0) {
		const int error = errno;
		::close(fd_);
		fd_ = -1;
		throw FixtureError("connect(" + address + "): " + std::strerror(error));
	}
	const timeval timeout{30, 0};
	setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
}

RawConnection::~RawConnection()
{
	close_now();
}

void RawConnection::close_now()
{
	if (fd_ >= 0)
		::close(fd_);
	fd_ = -1;
}

bool RawConnection::send_bytes(std::string_view bytes)
{
	while (!bytes.empty()) {
		const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		bytes.remove_prefix(std::size_t(n));
	}
	return true;
}

// Reads until buffer_ holds @wanted bytes; false on EOF, error or timeout.
bool RawConnection::fill(std::size_t wanted, std::chrono::milliseconds timeout)
{
	const auto deadline = Clock::now() + timeout;
	while (buffer_.size() < wanted) {
		const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
		if (left.count() <= 0)
			return false;
		pollfd p{fd_, POLLIN, 0};
		const int r = poll(&p, 1, int(left.count()));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		char chunk[65536];
		const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			eof_ = true;
			return false;
		}
		buffer_.append(chunk, std::size_t(n));
	}
	return true;
}

std::optional<RawConnection::Packet> RawConnection::read_packet(std::chrono::milliseconds timeout)
{
	if (!fill(PACKET_HEADER_SIZE, timeout))
		return std::nullopt;
	const auto *h = reinterpret_cast<const std::uint8_t *>(buffer_.data());
	const std::size_t length = std::size_t(h[0]) | std::size_t(h[1]) << 8 | std::size_t(h[2]) << 16;
	if (!fill(PACKET_HEADER_SIZE + length, timeout))
		return std::nullopt;
	Packet packet;
	packet.sequence_id = h[3];
	packet.payload = buffer_.substr(PACKET_HEADER_SIZE, length);
	buffer_.erase(0, PACKET_HEADER_SIZE + length);
	return packet;
}

bool RawConnection::wait_closed(std::chrono::milliseconds timeout)
{
	const auto deadline = Clock::now() + timeout;
	while (!eof_) {
		buffer_.clear();
		const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
		if (left.count() <= 0)
			return false;
		fill(1, left); // some bytes, EOF (eof_) or the timeout (caught above next time)
	}
	return true;
}

static ByteSpan bytes_of(std::string_view s)
{
	return {reinterpret_cast<const std::uint8_t *>(s.data()), s.size()};
}

std::optional<RawError> parse_raw_error(std::string_view payload)
{
	if (!is_err_packet(bytes_of(payload)))
		return std::nullopt;
	const auto err = parse_err_packet(bytes_of(payload), CLIENT_PROTOCOL_41);
	if (!err)
		return std::nullopt;
	return RawError{err->error_code, std::string(err->sql_state), std::string(err->message)};
}

std::optional<std::string> greeting_server_version(std::string_view payload)
{
	const auto greeting = parse_handshake_v10(bytes_of(payload));
	if (!greeting)
		return std::nullopt;
	return std::string(greeting->server_version);
}

static std::string raw_describe(const RawError &e)
{
	return "ERROR " + std::to_string(e.code) + " (" + e.sqlstate + "): " + e.message;
}

/* The login of @login over @c; false with @result's error set when it fails. */
static bool run_raw_login(RawConnection &c, ClientLogin &login, RawQueryResult &result)
{
	bool first = true;
	for (;;) {
		auto packet = c.read_packet();
		if (!packet) {
			result.error = c.eof() ? "connection closed during the login" : "timeout during the login";
			return false;
		}
		if (first) {
			result.server_version = greeting_server_version(packet->payload).value_or("");
			first = false;
		}
		std::vector<std::uint8_t> out;
		const ClientLoginStatus status = login.feed(bytes_of(packet->payload), packet->sequence_id, out);
		if (!out.empty() && !c.send_bytes({reinterpret_cast<const char *>(out.data()), out.size()})) {
			result.error = "send failed during the login";
			return false;
		}
		if (status == ClientLoginStatus::FAILED) {
			const ClientLoginFailure &f = login.failure();
			result.error_code = f.error_code;
			result.error = "login failed: " + std::to_string(f.error_code) + " " + f.message;
			return false;
		}
		if (status == ClientLoginStatus::SUCCEEDED)
			return true;
	}
}

static ClientLoginParams raw_login_params(std::string_view user, std::string_view password)
{
	ClientLoginParams params;
	params.user = user;
	params.password = password;
	params.allow_clear_password = true;
	params.initial_plugin = MYSQL_CLEAR_PASSWORD;
	params.capabilities = CLIENT_DEPRECATE_EOF;
	return params;
}

bool raw_compressed_login(RawConnection &c, std::string_view user, std::string_view password, std::string &error)
{
	ClientLoginParams params = raw_login_params(user, password);
	params.compress = true;
	ClientLogin login(params);
	RawQueryResult result;
	if (!run_raw_login(c, login, result)) {
		error = result.error;
		return false;
	}
	if (!(login.success().capabilities & CLIENT_COMPRESS)) {
		error = "the greeting did not offer CLIENT_COMPRESS";
		return false;
	}
	return true;
}

RawQueryResult raw_login_and_query(const std::string &address, std::string_view user, std::string_view password,
				   std::string_view sql)
{
	RawQueryResult result;
	RawConnection c(address);
	ClientLogin login(raw_login_params(user, password));
	if (!run_raw_login(c, login, result))
		return result;

	std::vector<std::uint8_t> query;
	const std::size_t start = begin_packet(query);
	build_com_query(query, sql);
	std::uint8_t sequence_id = 0;
	finish_packet(query, start, sequence_id);
	if (!c.send_bytes({reinterpret_cast<const char *>(query.data()), query.size()})) {
		result.error = "send failed (COM_QUERY)";
		return result;
	}
	ResultSetReader reader(login.success().capabilities);
	while (!reader.done()) {
		auto packet = c.read_packet();
		if (!packet) {
			result.error = "connection closed during the query";
			return result;
		}
		auto event = reader.feed(bytes_of(packet->payload));
		if (!event) {
			result.error = std::string("bad reply: ") + event.error().what;
			return result;
		}
		if (const auto *row = std::get_if<ResultRow>(&*event)) {
			if (!result.value) {
				const auto first_value = *row->row.begin();
				result.value = first_value ? std::string(*first_value) : std::string();
			}
		} else if (const auto *error = std::get_if<ResultError>(&*event)) {
			result.error_code = error->err.error_code;
			result.error = raw_describe({error->err.error_code, std::string(error->err.sql_state),
						     std::string(error->err.message)});
			return result;
		}
	}
	result.ok = true;
	return result;
}

// --- short-lived commands -------------------------------------------------------------------

static std::string find_in_path(const std::string &name)
{
	if (name.find('/') != std::string::npos)
		return name;
	const char *path = std::getenv("PATH");
	std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
	dirs += ":/usr/bin:/usr/sbin";
	std::istringstream in(dirs);
	std::string dir;
	while (std::getline(in, dir, ':')) {
		const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
		if (access(candidate.c_str(), X_OK) == 0)
			return candidate;
	}
	throw FixtureError(name + " not found in PATH");
}

CommandOutput run_program(const std::vector<std::string> &argv, std::chrono::milliseconds timeout)
{
	TempDir scratch("myproxy-cmd-");
	ChildSpec spec;
	spec.argv = argv;
	spec.argv[0] = find_in_path(argv[0]);
	spec.log_path = scratch.path() + "/output";
	CommandOutput out;
	out.wait_status = run_command(spec, timeout);
	out.exit_code = WIFEXITED(out.wait_status) ? WEXITSTATUS(out.wait_status) : -1;
	std::ifstream in(spec.log_path);
	std::ostringstream text;
	text << in.rdbuf();
	out.output = text.str();
	return out;
}

CommandOutput run_myproxy(const std::vector<std::string> &args, std::chrono::milliseconds timeout)
{
	std::vector<std::string> argv = {myproxy_path()};
	argv.insert(argv.end(), args.begin(), args.end());
	return run_program(argv, timeout);
}

} // namespace myproxy::test
