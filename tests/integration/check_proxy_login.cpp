// End to end, the login: the real ./myproxy (one worker) between libmariadb, the mariadb CLI or
// raw sockets and a real mariadbd.  The script's decisions (connect, err, on_connect refusal,
// password_sha1, server_version, pid/uid), the backend's own refusal, a failing or endless
// callback next to a healthy connection on the same worker, and clients that send junk or
// half a handshake.  One daemon serves every test through several listeners.
// First: common/ headers must come before <check.h>'s fail() macro.
#include "tests/integration/backend_offer_wait.hpp"
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>
// Last: <check.h> (through it) must follow the standard headers.
#include "tests/check_main.hpp"

using namespace myproxy::test;

namespace {

// Leaked on purpose: forked test children must not run its destructor.
ProxyProcess *proxy = nullptr;

const char *const OVERRIDE_VERSION = "8.0.99-myproxy-test-override";

Endpoint listener(const char *name)
{
	return Endpoint::unix_socket(proxy->path(name));
}

std::string sha1(std::string_view text)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned length = 0;
	EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha1(), nullptr);
	return std::string(reinterpret_cast<const char *>(digest), length);
}

std::string config_lua()
{
	const std::string backend = lua_quote(shared_mariadb().socket_path());
	// mysql_resolve(): the master reads the backend's greeting, so listeners greet with its version.
	return "worker_processes = 1\n"
	       "max_pending_logins_per_uid = 64\n"
	       "local backend = mysql_resolve(" + backend + ")\n"
	       "local map = { app_alice = 'alice', app_bob = 'bob' }\n"
	       "\n"
	       "local function login(client, hr)\n"
	       "  local user = hr.user\n"
	       "  if user == 'lua_error' then error('deliberate failure in on_handshake_response') end\n"
	       "  if user == 'endless_loop' then while true do end end\n"
	       "  if user == 'reject_me' then return client:err('go away, reject_me: refused by the test script') end\n"
	       "  if user == 'whoami' then\n"
	       "    return client:err('pid=' .. tostring(client.pid) .. ' uid=' .. tostring(client.uid) ..\n"
	       "                      ' gid=' .. tostring(client.gid))\n"
	       "  end\n"
	       "  if user == 'late_reject' then client.notes.reject_late = true; user = 'alice' end\n"
	       "  client.account = user\n"
	       "  hr.user = map[user] or user\n"
	       "  return client:connect(backend, hr)\n"
	       "end\n"
	       "\n"
	       "mysql_listen(" + lua_quote(proxy->path("main.sock")) + ", {\n"
	       "  on_handshake_response = login,\n"
	       "  on_command_phase = function(client)\n"
	       "    if client.notes.reject_late then return client:err('refused in on_command_phase') end\n"
	       "  end,\n"
	       "})\n"
	       "\n"
	       "mysql_listen(" + lua_quote(proxy->path("reject.sock")) + ", {\n"
	       "  on_connect = function(client) return client:err('on_connect refused uid ' .. client.uid) end,\n"
	       "  on_handshake_response = login,\n"
	       "})\n"
	       "\n"
	       "mysql_listen(" + lua_quote(proxy->path("version.sock")) + ", {\n"
	       "  on_connect = function(client)\n"
	       "    client.notes.greeting_version = client.server_version\n"
	       "    client.server_version = " + lua_quote(OVERRIDE_VERSION) + "\n"
	       "  end,\n"
	       "  on_handshake_response = login,\n"
	       "  on_command_phase = function(client) client.notes.backend_version = client.server_version end,\n"
	       "  on_init_db = function(client, db)\n"
	       "    return client:err('default=' .. client.notes.greeting_version .. ' backend=' ..\n"
	       "                      client.notes.backend_version .. ' now=' .. client.server_version)\n"
	       "  end,\n"
	       "})\n"
	       "\n"
	       "mysql_listen(" + lua_quote(proxy->path("sha1.sock")) + ", {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    hr.user = 'carol'\n"
	       "    hr.password = nil\n"
	       "    hr.password_sha1 = " + lua_quote(sha1("carol-pw")) + "\n"
	       "    return client:connect(backend, hr)\n"
	       "  end,\n"
	       "})\n";
}

// The backend's version as its greeting says it ("5.5.5-" and all), once myproxy greets with it.
std::string learned_version()
{
	const auto backend = read_greeting(shared_mariadb().socket_path());
	PROXY_ASSERT(backend.has_value(), "no greeting from mariadbd");
	PROXY_ASSERT_STR(wait_for_greeting_version(proxy->path("main.sock"), backend->server_version),
			 backend->server_version);
	return backend->server_version;
}

void assert_logged_in(MysqlClient &c, const char *expected_user)
{
	const SqlResult r = c.query("SELECT CURRENT_USER()");
	PROXY_ASSERT(r.ok, "query through myproxy failed: %s", r.error.c_str());
	PROXY_ASSERT(r.text() == expected_user, "CURRENT_USER() is '%s', expected '%s'", r.text().c_str(),
		     expected_user);
}

// A connection that must keep working while other clients of the same worker misbehave.
void assert_still_works(MysqlClient &c)
{
	const SqlResult r = c.query("SELECT 6 * 7");
	PROXY_ASSERT(r.ok && r.text() == "42", "the other connection broke: %s", r.error.c_str());
}

} // namespace

// --- logins the script lets through ----------------------------------------------------------

START_TEST(test_login_and_query)
{
	learned_version();
	MysqlClient c, direct;
	PROXY_ASSERT(c.connect(listener("main.sock"), "alice", "alice-pw"), "login: %s", c.error().c_str());
	assert_logged_in(c, "alice@localhost");
	PROXY_ASSERT(direct.connect(shared_mariadb().socket(), "alice", "alice-pw"), "direct: %s", direct.error().c_str());
	PROXY_ASSERT_STR(mysql_get_server_info(c.get()), mysql_get_server_info(direct.get()));
	const SqlResult r = c.query("SELECT CONCAT('through ', 'myproxy')");
	PROXY_ASSERT_STR(r.text(), "through myproxy");
	const SqlResult bad = c.query("SELEC 1");
	PROXY_ASSERT(bad.error_code == 1064, "expected ERR 1064, got %s", bad.error.c_str());
	assert_still_works(c);
}
END_TEST

START_TEST(test_login_mapped_user)
{
	MysqlClient c;
	PROXY_ASSERT(c.connect(listener("main.sock"), "app_bob", "bob-pw"), "login: %s", c.error().c_str());
	assert_logged_in(c, "bob@localhost");
}
END_TEST

START_TEST(test_login_with_database)
{
	MysqlClient c;
	ClientOptions options;
	options.database = "logindb";
	PROXY_ASSERT(c.connect(listener("main.sock"), "alice", "alice-pw", options), "login: %s", c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT DATABASE()"), "logindb");

	MysqlClient missing;
	options.database = "no_such_db";
	PROXY_CHECK(!missing.connect(listener("main.sock"), "alice", "alice-pw", options));
	PROXY_ASSERT(missing.error_code() == 1049, "expected ERR 1049, got %s", missing.error().c_str());
}
END_TEST

START_TEST(test_login_via_cli)
{
	const CommandOutput out =
		run_program({"mariadb", "--no-defaults", "-S", proxy->path("main.sock"),
			     "-u", "alice", "-palice-pw", "--batch", "--skip-column-names", "-e",
			     "SELECT CURRENT_USER(); SELECT 'cli-ok'"});
	PROXY_ASSERT(out.exit_code == 0, "mariadb exited %d: %s", out.exit_code, out.output.c_str());
	PROXY_ASSERT_STR(out.output, "alice@localhost\ncli-ok\n");
}
END_TEST

START_TEST(test_password_sha1)
{
	MysqlClient c;
	PROXY_ASSERT(c.connect(listener("sha1.sock"), "whoever", "not-the-backend-password"), "login: %s",
		     c.error().c_str());
	assert_logged_in(c, "carol@localhost");
}
END_TEST

// --- refusals ---------------------------------------------------------------------------------

START_TEST(test_wrong_password)
{
	MysqlClient c;
	PROXY_CHECK(!c.connect(listener("main.sock"), "alice", "wrong-pw"));
	PROXY_ASSERT(c.error_code() == 1045, "expected ERR 1045, got %s", c.error().c_str());
	PROXY_ASSERT_STR(mysql_sqlstate(c.get()), "28000");
	// The backend's own text, unchanged.
	PROXY_ASSERT(contains(c.message(), "Access denied for user 'alice'@'localhost'"), "%s", c.error().c_str());

	MysqlClient unknown;
	PROXY_CHECK(!unknown.connect(listener("main.sock"), "nobody_here", "x"));
	PROXY_ASSERT(unknown.error_code() == 1045, "expected ERR 1045, got %s", unknown.error().c_str());
}
END_TEST

START_TEST(test_script_err_text)
{
	MysqlClient c;
	PROXY_CHECK(!c.connect(listener("main.sock"), "reject_me", "x"));
	PROXY_ASSERT(c.error_code() == 1045, "expected ERR 1045, got %s", c.error().c_str());
	PROXY_ASSERT_STR(mysql_sqlstate(c.get()), "28000");
	PROXY_ASSERT_STR(c.message(), "go away, reject_me: refused by the test script");
}
END_TEST

START_TEST(test_on_connect_refuses)
{
	MysqlClient c;
	PROXY_CHECK(!c.connect(listener("reject.sock"), "alice", "alice-pw"));
	PROXY_ASSERT(c.error_code() == 1045, "expected ERR 1045, got %s", c.error().c_str());
	const std::string expected = "on_connect refused uid " + std::to_string(getuid());
	PROXY_ASSERT_STR(c.message(), expected);

	// The CLI shows the same text.
	const CommandOutput out = run_program({"mariadb", "--no-defaults", "-S",
					       proxy->path("reject.sock"), "-u", "alice", "-palice-pw", "-e", "SELECT 1"});
	PROXY_ASSERT(out.exit_code != 0, "mariadb exited 0: %s", out.output.c_str());
	PROXY_ASSERT(contains(out.output, "1045") && contains(out.output, expected), "%s", out.output.c_str());
}
END_TEST

START_TEST(test_on_command_phase_refuses)
{
	MysqlClient c;
	PROXY_CHECK(!c.connect(listener("main.sock"), "late_reject", "alice-pw"));
	PROXY_ASSERT(c.error_code() == 1045, "expected ERR 1045, got %s", c.error().c_str());
	PROXY_ASSERT_STR(c.message(), "refused in on_command_phase");
}
END_TEST

// --- what the script sees ---------------------------------------------------------------------

START_TEST(test_client_pid_uid)
{
	MysqlClient c;
	PROXY_CHECK(!c.connect(listener("main.sock"), "whoami", "x"));
	PROXY_ASSERT(c.error_code() == 1045, "expected ERR 1045, got %s", c.error().c_str());
	const std::string expected = "pid=" + std::to_string(getpid()) + " uid=" + std::to_string(getuid()) +
				     " gid=" + std::to_string(getgid());
	PROXY_ASSERT_STR(c.message(), expected);
}
END_TEST

START_TEST(test_server_version)
{
	const std::string greeting_version = learned_version();
	MysqlClient c;
	PROXY_ASSERT(c.connect(listener("version.sock"), "alice", "alice-pw"), "login: %s", c.error().c_str());
	PROXY_ASSERT_STR(mysql_get_server_info(c.get()), OVERRIDE_VERSION);
	const std::string backend_version = c.text("SELECT VERSION()");

	// on_init_db reports what client.server_version held: in on_connect what the greeting would
	// announce (the backend's greeting version, "5.5.5-" included), the backend's version after the
	// login (without the "5.5.5-" MariaDB puts in its greeting).
	PROXY_CHECK(mysql_select_db(c.get(), "logindb") != 0);
	PROXY_ASSERT(c.error_code() == 1044, "expected ERR 1044, got %s", c.error().c_str());
	PROXY_ASSERT_STR(c.message(), "default=" + greeting_version + " backend=" + backend_version +
					      " now=" + backend_version);
	assert_still_works(c);

	// Over a raw socket: the greeting itself carries the override.
	RawConnection raw(proxy->path("version.sock"));
	const auto greeting = raw.read_packet();
	PROXY_CHECK(greeting.has_value());
	PROXY_ASSERT_STR(greeting_server_version(greeting->payload).value_or("?"), OVERRIDE_VERSION);
}
END_TEST

// --- failing callbacks -------------------------------------------------------------------------

START_TEST(test_lua_error_spares_other_connection)
{
	MysqlClient healthy;
	PROXY_ASSERT(healthy.connect(listener("main.sock"), "alice", "alice-pw"), "login: %s",
		     healthy.error().c_str());
	for (int i = 0; i < 3; ++i) {
		MysqlClient c;
		PROXY_CHECK(!c.connect(listener("main.sock"), "lua_error", "x"));
		PROXY_ASSERT(c.error_code() == 1105, "expected ERR 1105, got %s", c.error().c_str());
		PROXY_ASSERT_STR(c.message(), "myproxy: the login script failed");
		assert_still_works(healthy);
	}
	MysqlClient fresh;
	PROXY_ASSERT(fresh.connect(listener("main.sock"), "alice", "alice-pw"), "login: %s", fresh.error().c_str());
	const std::string log = proxy->log();
	PROXY_ASSERT(contains(log, "deliberate failure in on_handshake_response"), "the Lua error is not logged");
	PROXY_ASSERT(contains(log, "stack traceback"), "no traceback logged");
}
END_TEST

START_TEST(test_endless_loop_is_stopped)
{
	MysqlClient healthy;
	PROXY_ASSERT(healthy.connect(listener("main.sock"), "alice", "alice-pw"), "login: %s",
		     healthy.error().c_str());
	MysqlClient c;
	PROXY_CHECK(!c.connect(listener("main.sock"), "endless_loop", "x"));
	PROXY_ASSERT(c.error_code() == 1105, "expected ERR 1105, got %s", c.error().c_str());
	assert_still_works(healthy);
	// The instruction budget stopped it, not the 10 s login deadline.
	PROXY_ASSERT(contains(proxy->log(), "instruction budget exceeded"), "the budget is not logged");
	PROXY_ASSERT(!contains(proxy->log(), "login deadline: on_handshake_response did not finish"),
		     "the login deadline, not the instruction budget, stopped the loop");
	MysqlClient fresh;
	PROXY_ASSERT(fresh.connect(listener("main.sock"), "alice", "alice-pw"), "login: %s", fresh.error().c_str());
}
END_TEST

// --- hostile clients ---------------------------------------------------------------------------

namespace {

// Connects raw to main.sock and reads the greeting.
std::unique_ptr<RawConnection> greeted()
{
	auto raw = std::make_unique<RawConnection>(proxy->path("main.sock"));
	const auto greeting = raw->read_packet();
	PROXY_ASSERT(greeting.has_value(), "no greeting");
	PROXY_ASSERT(greeting_server_version(greeting->payload).has_value(), "the greeting does not parse");
	return raw;
}

// The daemon answers with ERR @code (or at least closes) and closes within 5 s.
void expect_err_and_close(RawConnection &raw, unsigned code)
{
	const auto packet = raw.read_packet(std::chrono::seconds(5));
	PROXY_ASSERT(packet.has_value(), "no answer to junk (eof=%d)", int(raw.eof()));
	const auto err = parse_raw_error(packet->payload);
	PROXY_ASSERT(err.has_value(), "answer to junk is no ERR packet (header 0x%02x)",
		     packet->payload.empty() ? 0u : unsigned(std::uint8_t(packet->payload[0])));
	PROXY_ASSERT(err->code == code, "ERR %u '%s', expected %u", err->code, err->message.c_str(), code);
	PROXY_ASSERT(raw.wait_closed(std::chrono::seconds(5)), "not closed after the ERR");
}

std::string header(std::uint32_t length, std::uint8_t sequence_id)
{
	return {char(length & 0xff), char((length >> 8) & 0xff), char((length >> 16) & 0xff), char(sequence_id)};
}

} // namespace

START_TEST(test_garbage_handshake)
{
	MysqlClient healthy;
	PROXY_ASSERT(healthy.connect(listener("main.sock"), "alice", "alice-pw"), "login: %s",
		     healthy.error().c_str());

	{
		// Text where a packet header belongs announces 5 MB: refused before it arrives.
		auto raw = greeted();
		PROXY_CHECK(raw->send_bytes("GET / HTTP/1.1\r\nHost: myproxy\r\n\r\n"));
		expect_err_and_close(*raw, 1153);
	}
	{
		// A well-framed packet that is no HandshakeResponse41.
		auto raw = greeted();
		PROXY_CHECK(raw->send_bytes(header(3, 1) + "\x01\x02\x03"));
		expect_err_and_close(*raw, 1043);
	}
	{
		// The right size, random content.
		auto raw = greeted();
		std::string junk;
		for (int i = 0; i < 200; ++i)
			junk += char((i * 73 + 11) & 0xff);
		PROXY_CHECK(raw->send_bytes(header(std::uint32_t(junk.size()), 1) + junk));
		const auto packet = raw->read_packet(std::chrono::seconds(5));
		if (packet) {
			const auto err = parse_raw_error(packet->payload);
			// Junk that happens to parse is asked for a password (AuthSwitchRequest, 0xfe).
			PROXY_ASSERT(err.has_value() || (!packet->payload.empty() && std::uint8_t(packet->payload[0]) == 0xfe),
				     "unexpected answer to junk");
		}
	}
	{
		// A wrong sequence id.
		auto raw = greeted();
		PROXY_CHECK(raw->send_bytes(header(0, 0)));
		expect_err_and_close(*raw, 1043);
	}
	{
		// Junk before reading the greeting, then gone at once.
		RawConnection raw(proxy->path("main.sock"));
		PROXY_CHECK(raw.send_bytes(std::string(1000, '\xff')));
	}
	{
		// Connected and gone without a word.
		RawConnection raw(proxy->path("main.sock"));
	}
	assert_still_works(healthy);
	MysqlClient fresh;
	PROXY_ASSERT(fresh.connect(listener("main.sock"), "alice", "alice-pw"), "login: %s", fresh.error().c_str());
	PROXY_ASSERT(proxy->running(), "myproxy exited");
	PROXY_ASSERT(proxy->trouble().empty(), "trouble in the log:\n%s", proxy->trouble().c_str());
}
END_TEST

// A client without CLIENT_PLUGIN_AUTH (a pre-4.1-plugin client) cannot be asked for another
// authentication method: documented as ERR 1251 (08004), and logged.
START_TEST(test_client_without_plugin_auth)
{
	auto raw = greeted();
	// HandshakeResponse41: CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION,
	// max packet 16 MiB, utf8mb4, 23 zeros, "alice", an empty auth response; no plugin name.
	std::string payload("\x01\x82\x00\x00", 4);
	payload += std::string("\x00\x00\x00\x01", 4) + '\x2d' + std::string(23, '\0') + "alice" + '\0' + '\0';
	PROXY_CHECK(raw->send_bytes(header(payload.size(), 1) + payload));
	const auto packet = raw->read_packet(std::chrono::seconds(10 * timeout_multiplier()));
	PROXY_ASSERT(packet.has_value(), "no answer");
	const auto err = parse_raw_error(packet->payload);
	PROXY_ASSERT(err.has_value(), "not an ERR packet");
	PROXY_ASSERT(err->code == 1251, "ERR %u '%s', expected 1251", err->code, err->message.c_str());
	PROXY_ASSERT_STR(err->sqlstate, "08004");
	PROXY_ASSERT(raw->wait_closed(std::chrono::seconds(5 * timeout_multiplier())), "not closed after the ERR");
	PROXY_ASSERT(contains(proxy->log(), "no CLIENT_PLUGIN_AUTH"), "the refusal is not logged");
}
END_TEST

START_TEST(test_truncated_handshake)
{
	MysqlClient healthy;
	PROXY_ASSERT(healthy.connect(listener("main.sock"), "alice", "alice-pw"), "login: %s",
		     healthy.error().c_str());
	{
		// Half a packet, then gone.
		auto raw = greeted();
		PROXY_CHECK(raw->send_bytes(header(100, 1) + std::string(10, 'a')));
	}
	{
		// Half a header, then gone.
		auto raw = greeted();
		PROXY_CHECK(raw->send_bytes(std::string("\x40\x00", 2)));
	}
	{
		// Half a packet, and the client stays: others log in meanwhile, and nothing comes back.
		auto raw = greeted();
		PROXY_CHECK(raw->send_bytes(header(100, 1) + std::string(10, 'a')));
		MysqlClient other;
		PROXY_ASSERT(other.connect(listener("main.sock"), "alice", "alice-pw"), "login: %s",
			     other.error().c_str());
		assert_still_works(other);
		assert_still_works(healthy);
		const auto packet = raw->read_packet(std::chrono::milliseconds(300));
		PROXY_CHECK(!packet.has_value());
		PROXY_CHECK(!raw->eof());
	}
	assert_still_works(healthy);
	PROXY_ASSERT(proxy->running(), "myproxy exited");
	PROXY_ASSERT(proxy->trouble().empty(), "trouble in the log:\n%s", proxy->trouble().c_str());
}
END_TEST

// Clients of one uid that stop after the greeting hold a login slot each; the worker caps them
// (max_pending_logins_per_uid, 64 in this test's config.lua), so one local user cannot hold the
// worker's resources.  Exactly at the limit: the 64th pending login still gets its greeting, the
// 65th gets ERR 1040 instead.
START_TEST(test_pending_logins_capped)
{
	std::vector<std::unique_ptr<RawConnection>> pending;
	std::optional<RawError> refusal;
	for (int i = 0; i < 500 && !refusal; ++i) {
		auto raw = std::make_unique<RawConnection>(proxy->path("main.sock"));
		const auto packet = raw->read_packet(std::chrono::seconds(5));
		PROXY_ASSERT(packet.has_value(), "no greeting for pending login %d", i);
		refusal = parse_raw_error(packet->payload);
		pending.push_back(std::move(raw));
	}
	PROXY_ASSERT(refusal.has_value(), "500 pending logins of one uid, none refused");
	PROXY_ASSERT(refusal->code == 1040, "refused with %u %s", refusal->code, refusal->message.c_str());
	PROXY_ASSERT(pending.size() == 65, "the cap is 64, and login %zu was the first refused", pending.size());
	MysqlClient blocked;
	PROXY_CHECK(!blocked.connect(listener("main.sock"), "alice", "alice-pw"));
	PROXY_ASSERT(blocked.error_code() == 1040, "expected ERR 1040, got %s", blocked.error().c_str());

	pending.clear();
	for (int i = 0; i < 100; ++i) { // the worker notices the closed sockets at its own pace
		MysqlClient c;
		if (c.connect(listener("main.sock"), "alice", "alice-pw"))
			return;
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	PROXY_ASSERT(false, "logins are still refused after the pending ones went away");
}
END_TEST

// --- last: the daemon survived all of it and shuts down cleanly -------------------------------

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT(proxy->running(), "myproxy is no longer running");
	{
		MysqlClient c;
		PROXY_ASSERT(c.connect(listener("main.sock"), "alice", "alice-pw"), "login: %s", c.error().c_str());
	}
	PROXY_ASSERT_CLEAN_SHUTDOWN(*proxy);
}
END_TEST

static Suite *login_suite()
{
	Suite *s = suite_create("proxy_login");
	TCase *tc = server_tcase("login", 60);
	tcase_add_test(tc, test_login_and_query);
	tcase_add_test(tc, test_login_mapped_user);
	tcase_add_test(tc, test_login_with_database);
	tcase_add_test(tc, test_login_via_cli);
	tcase_add_test(tc, test_password_sha1);
	suite_add_tcase(s, tc);

	tc = server_tcase("refusals", 60);
	tcase_add_test(tc, test_wrong_password);
	tcase_add_test(tc, test_script_err_text);
	tcase_add_test(tc, test_on_connect_refuses);
	tcase_add_test(tc, test_on_command_phase_refuses);
	suite_add_tcase(s, tc);

	tc = server_tcase("script_view", 60);
	tcase_add_test(tc, test_client_pid_uid);
	tcase_add_test(tc, test_server_version);
	suite_add_tcase(s, tc);

	tc = server_tcase("failing_callbacks", 60);
	tcase_add_test(tc, test_lua_error_spares_other_connection);
	tcase_add_test(tc, test_endless_loop_is_stopped);
	suite_add_tcase(s, tc);

	tc = server_tcase("hostile_clients", 60);
	tcase_add_test(tc, test_garbage_handshake);
	tcase_add_test(tc, test_truncated_handshake);
	tcase_add_test(tc, test_client_without_plugin_auth);
	tcase_add_test(tc, test_pending_logins_capped);
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
	const int rc = run_suites_with_servers(spec, {login_suite()}, [] {
		MariaDbServer &db = shared_mariadb();
		db.create_database("logindb");
		db.create_user("alice", "alice-pw");
		db.create_user("bob", "bob-pw");
		db.create_user("carol", "carol-pw");
		proxy = new ProxyProcess;
		proxy->start(config_lua(), {proxy->path("main.sock"), proxy->path("reject.sock"),
					    proxy->path("version.sock"), proxy->path("sha1.sock")});
	});
	mysql_library_end();
	return rc;
}
