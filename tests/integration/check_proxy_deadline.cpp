// End to end, the login deadline (config.lua's connect_timeout): the real ./myproxy with
// connect_timeout = 1 between raw sockets or libmariadb and a real mariadbd.  A client that stalls
// before the command phase gets ERR 1158 and EOF about a second later; one that logged in is never
// timed out, however long it idles; a bad connect_timeout stops the start with exit 78.  A daemon
// of its own: the short deadline would disturb the slower tests of check_proxy_login.  The proxy's
// side stalling (a callback waiting on a silent PostgreSQL, a backend that never greets) gets ERR
// 1105; a client stuck in its TLS handshake is closed.
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"
#include "tests/tls_certificates.hpp"

#include <check.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
// Last: <check.h> (through it) must follow the standard headers.
#include "tests/check_main.hpp"

using namespace myproxy::test;

namespace {

// Leaked on purpose: forked test children must not run its destructor.
ProxyProcess *proxy = nullptr;

using Clock = std::chrono::steady_clock;

// A TCP port that accepts (the kernel completes the handshake) and never says a word: a backend
// that never greets, a PostgreSQL that never answers.
int black_hole_fd = -1;
std::uint16_t black_hole_port = 0;
TestCertificates certs;

// Runs before the suites: throws rather than ck_assert()s.
void open_black_hole()
{
	black_hole_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in address {};
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t length = sizeof(address);
	if (black_hole_fd < 0 || bind(black_hole_fd, reinterpret_cast<const sockaddr *>(&address), sizeof(address)) != 0 ||
	    listen(black_hole_fd, 128) != 0 ||
	    getsockname(black_hole_fd, reinterpret_cast<sockaddr *>(&address), &length) != 0)
		throw std::runtime_error(std::string("black hole listener: ") + std::strerror(errno));
	black_hole_port = ntohs(address.sin_port);
}

std::string config_lua()
{
	const std::string hole = "127.0.0.1:" + std::to_string(black_hole_port);
	return "worker_processes = 1\n"
	       "connect_timeout = 1\n"
	       "local backend = " + lua_quote(shared_mariadb().socket_path()) + "\n"
	       "local silent_pg = pg:new('hostaddr=127.0.0.1 port=" + std::to_string(black_hole_port) +
	       " dbname=x user=x')\n"
	       "local function login(client, hr)\n"
	       "  if hr.user == 'stalled_callback' then\n"
	       "    silent_pg:execute('SELECT 1')\n"
	       "    return client:err('the query answered')\n"
	       "  end\n"
	       "  if hr.user == 'silent_backend' then return client:connect(" + lua_quote(hole) + ", hr) end\n"
	       "  return client:connect(backend, hr)\n"
	       "end\n"
	       "mysql_listen(" + lua_quote(proxy->path("main.sock")) + ", {on_handshake_response = login})\n"
	       "mysql_listen(" + lua_quote(proxy->path("tls.sock")) + ", {on_handshake_response = login},\n"
	       "  {ssl_cert = " + lua_quote(certs.proxy_cert()) + ", ssl_key = " + lua_quote(certs.proxy_key()) + "})\n";
}

Endpoint main_listener()
{
	return Endpoint::unix_socket(proxy->path("main.sock"));
}

long long ms_since(Clock::time_point start)
{
	return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// What a stalled login must get: ERR 1158 / 08S01 with the sequence id the client expects after
// the greeting, then EOF, not before the deadline (1 s after the connect).  The limits only stop a
// hung test: what counts is the error and its log line.
void expect_deadline_err(RawConnection &raw, Clock::time_point connected)
{
	const auto packet = raw.read_packet(std::chrono::seconds(10 * timeout_multiplier()));
	const long long ms = ms_since(connected);
	PROXY_ASSERT(packet.has_value(), "no ERR after %lld ms (eof=%d)", ms, int(raw.eof()));
	const auto err = parse_raw_error(packet->payload);
	PROXY_ASSERT(err.has_value(), "not an ERR packet (header 0x%02x)",
		     packet->payload.empty() ? 0u : unsigned(std::uint8_t(packet->payload[0])));
	PROXY_ASSERT(err->code == 1158, "ERR %u '%s', expected 1158", err->code, err->message.c_str());
	PROXY_ASSERT_STR(err->sqlstate, "08S01");
	PROXY_ASSERT_STR(err->message, "Got timeout reading communication packets");
	PROXY_ASSERT(packet->sequence_id == 1, "ERR with sequence id %u", unsigned(packet->sequence_id));
	PROXY_ASSERT(ms >= 900, "the deadline struck after %lld ms, before connect_timeout", ms);
	PROXY_ASSERT(raw.wait_closed(std::chrono::seconds(5 * timeout_multiplier())), "not closed after the ERR");
	PROXY_ASSERT(contains(proxy->log(), "login deadline: the client did not answer"), "the deadline is not logged");
}

// A login the deadline ends while the proxy's side (a callback, the backend) has the turn: ERR 1105
// with @message, and @log_line in the log.
void expect_proxy_side_deadline(const std::string &user, const std::string &message, const std::string &log_line)
{
	MysqlClient c;
	PROXY_ASSERT(!c.connect(main_listener(), user, "x"), "%s logged in", user.c_str());
	PROXY_ASSERT(c.error_code() == 1105, "%s: expected ERR 1105, got %s", user.c_str(), c.error().c_str());
	PROXY_ASSERT(contains(c.error(), message), "%s: '%s' lacks '%s'", user.c_str(), c.error().c_str(), message.c_str());
	// Logged before the ERR went out.
	PROXY_ASSERT(contains(proxy->log(), log_line), "no '%s' in the log", log_line.c_str());
}

void assert_query_works(MysqlClient &c)
{
	const SqlResult r = c.query("SELECT 6 * 7");
	PROXY_ASSERT(r.ok && r.text() == "42", "query failed: %s", r.error.c_str());
}

void assert_still_serves()
{
	MysqlClient c;
	PROXY_ASSERT(c.connect(main_listener(), "alice", "alice-pw"), "login: %s", c.error().c_str());
	assert_query_works(c);
	PROXY_ASSERT(proxy->running(), "myproxy died");
}

} // namespace

START_TEST(test_silent_client_times_out)
{
	const Clock::time_point connected = Clock::now();
	RawConnection raw(proxy->path("main.sock"));
	const auto greeting = raw.read_packet(std::chrono::seconds(5));
	PROXY_ASSERT(greeting.has_value(), "no greeting");
	PROXY_ASSERT(greeting_server_version(greeting->payload).has_value(), "the greeting does not parse");
	expect_deadline_err(raw, connected);
}
END_TEST

// Bytes that never make a whole packet do not extend the deadline.
START_TEST(test_trickling_client_times_out)
{
	const Clock::time_point connected = Clock::now();
	RawConnection raw(proxy->path("main.sock"));
	PROXY_ASSERT(raw.read_packet(std::chrono::seconds(5)).has_value(), "no greeting");
	const std::string header("\x64\x00\x00\x01", 4); // 100 bytes announced, sequence id 1
	PROXY_CHECK(raw.send_bytes(header));
	for (int i = 0; i < 4; ++i) {
		std::this_thread::sleep_for(std::chrono::milliseconds(200));
		PROXY_CHECK(raw.send_bytes("a"));
	}
	expect_deadline_err(raw, connected);
}
END_TEST

// The deadline ends with the login: a client idles well past connect_timeout and still queries,
// and a stalled login next to it does not touch it.
START_TEST(test_logged_in_client_outlives_deadline)
{
	const Clock::time_point start = Clock::now();
	MysqlClient c;
	PROXY_ASSERT(c.connect(main_listener(), "alice", "alice-pw"), "login: %s", c.error().c_str());

	const Clock::time_point connected = Clock::now();
	RawConnection stalled(proxy->path("main.sock"));
	PROXY_ASSERT(stalled.read_packet(std::chrono::seconds(5)).has_value(), "no greeting");
	expect_deadline_err(stalled, connected);

	std::this_thread::sleep_for(std::chrono::milliseconds(2500) - (Clock::now() - start));
	PROXY_ASSERT(ms_since(start) >= 2500, "slept only %lld ms", ms_since(start));
	assert_query_works(c);
	PROXY_ASSERT_STR(c.text("SELECT CURRENT_USER()"), "alice@localhost");

	// And again after a second idle period, in case the first query reset something.
	std::this_thread::sleep_for(std::chrono::milliseconds(1500));
	assert_query_works(c);
}
END_TEST

// Logins in quick succession, each well within the deadline, all succeed.
START_TEST(test_fast_logins_unaffected)
{
	for (int i = 0; i < 5; ++i) {
		MysqlClient c;
		PROXY_ASSERT(c.connect(main_listener(), "alice", "alice-pw"), "login %d: %s", i, c.error().c_str());
		assert_query_works(c);
	}
}
END_TEST

// A callback that waits (here for a PostgreSQL that never answers) past connect_timeout.
START_TEST(test_stalled_callback_times_out)
{
	expect_proxy_side_deadline("stalled_callback", "myproxy: the login script timed out",
				   "login deadline: on_handshake_response did not finish");
	assert_still_serves();
}
END_TEST

// A backend that accepts the connection and never sends its greeting.
START_TEST(test_silent_backend_times_out)
{
	const std::string backend = "127.0.0.1:" + std::to_string(black_hole_port);
	expect_proxy_side_deadline("silent_backend", "myproxy: backend " + backend + " did not answer in time",
				   "login deadline: backend " + backend + " did not answer");
	assert_still_serves();
}
END_TEST

// A client that asks for TLS and never sends its ClientHello: no MySQL ERR can reach it inside a
// TLS handshake, so it is closed, and the log says why.
START_TEST(test_unfinished_client_tls_times_out)
{
	RawConnection raw(proxy->path("tls.sock"));
	const auto greeting = raw.read_packet(std::chrono::seconds(5 * timeout_multiplier()));
	PROXY_ASSERT(greeting.has_value(), "no greeting");
	// SSLRequest: CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION, max packet, utf8mb4, 23 zeros.
	std::string request("\x20\x00\x00\x01", 4);
	request += std::string("\x00\x8a\x00\x00", 4) + std::string("\x00\x00\x00\x01", 4) + '\x2d' + std::string(23, '\0');
	PROXY_CHECK(raw.send_bytes(request));
	PROXY_ASSERT(raw.wait_closed(std::chrono::seconds(10 * timeout_multiplier())), "not closed after the deadline");
	PROXY_ASSERT(contains(proxy->log(), "login deadline: the client did not finish the TLS handshake"),
		     "the deadline is not logged");
	assert_still_serves();
}
END_TEST

// A bad value is a configuration error (exit 78) naming the file, for --check-config and for a start.
START_TEST(test_bad_connect_timeout_exit_code)
{
	TempDir dir;
	const std::string config = dir.path() + "/config.lua";
	const std::string listen = "mysql_listen(" + lua_quote(dir.path() + "/x.sock") +
				   ", { on_handshake_response = function(c, hr) return c:err('x') end })\n";
	const char *const bad[] = {"0", "-1", "3601", "'10'"};
	for (const char *value : bad) {
		write_file(config, listen + "connect_timeout = " + value + "\n");
		const std::string expected = config + ": connect_timeout must be ";
		const CommandOutput check = run_myproxy({"--config=" + config, "--check-config"});
		PROXY_ASSERT(check.exit_code == 78, "exit %d for connect_timeout = %s: %s", check.exit_code, value,
			     check.output.c_str());
		PROXY_ASSERT(contains(check.output, expected), "'%s' not in\n%s", expected.c_str(), check.output.c_str());
		const CommandOutput start = run_myproxy({"--config", config});
		PROXY_ASSERT(start.exit_code == 78 && contains(start.output, expected), "exit %d: %s", start.exit_code,
			     start.output.c_str());
	}
	write_file(config, listen + "connect_timeout = 0.5\n");
	const CommandOutput good = run_myproxy({"--config=" + config, "--check-config"});
	PROXY_ASSERT(good.exit_code == 0, "exit %d for connect_timeout = 0.5: %s", good.exit_code, good.output.c_str());
}
END_TEST

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*proxy);
}
END_TEST

static Suite *deadline_suite()
{
	Suite *s = suite_create("proxy_deadline");
	TCase *tc = server_tcase("deadline", 60);
	tcase_add_test(tc, test_silent_client_times_out);
	tcase_add_test(tc, test_trickling_client_times_out);
	tcase_add_test(tc, test_logged_in_client_outlives_deadline);
	tcase_add_test(tc, test_fast_logins_unaffected);
	tcase_add_test(tc, test_stalled_callback_times_out);
	tcase_add_test(tc, test_silent_backend_times_out);
	tcase_add_test(tc, test_unfinished_client_tls_times_out);
	suite_add_tcase(s, tc);

	tc = server_tcase("config", 60);
	tcase_add_test(tc, test_bad_connect_timeout_exit_code);
	suite_add_tcase(s, tc);

	tc = server_tcase("shutdown", 60);
	tcase_add_test(tc, test_clean_shutdown);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	mysql_library_init(0, nullptr, nullptr);
	SharedServerSpec spec;
	const int rc = run_suites_with_servers(spec, {deadline_suite()}, [] {
		shared_mariadb().create_user("alice", "alice-pw");
		open_black_hole();
		proxy = new ProxyProcess;
		certs = make_test_certificates(proxy->dir());
		proxy->start(config_lua(), {proxy->path("main.sock")});
	});
	mysql_library_end();
	return rc;
}
