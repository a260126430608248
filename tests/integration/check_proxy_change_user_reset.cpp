// End to end, COM_CHANGE_USER behaves as the server's own (issue 12, group 2): the same scenario runs
// once directly against a real mariadbd and once through a real ./myproxy whose script passes logins
// on, with libmariadb and with PHP's mysqli (mysqlnd, tests/integration/driver_change_user.php),
// and must see the same thing: after a change of user (also to the same user) no database unless
// the command names one, the character set the command names, and no session or user variables,
// temporary tables or prepared statements; a persistent mysqli link is reused and reset.  The
// backend's general log shows a real "Change user" for each.  A 300-byte password works, in clear
// and through verify_native_password; truncated and oversized commands close only their session.
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>

#include <string>
#include <vector>

using namespace myproxy::test;

namespace {

ProxyProcess *proxy = nullptr; // leaked on purpose: forked test children must not destroy it

// 300 bytes, far past the 255 that COM_CHANGE_USER's auth field can carry.
std::string long_password()
{
	std::string password;
	for (int i = 0; i < 300; ++i)
		password += char('!' + i % 90);
	return password;
}

// plain.sock passes every login on (mysql_clear_password toward the client); native.sock checks
// the client's scramble against the account's stored hash and logs in with the recovered SHA1.
std::string config_lua()
{
	const std::string stored_hash =
		shared_mariadb().execute("SELECT PASSWORD(" + mariadb_string_literal(long_password()) + ")").value();
	return "worker_processes = 1\n"
	       "local db = mysql_resolve(" + lua_quote(shared_mariadb().socket_path()) + ")\n"
	       "local stored = { longpw = " + lua_quote(stored_hash) + " }\n"
	       "mysql_listen(" + lua_quote(proxy->path("plain.sock")) + ", {\n"
	       "  on_handshake_response = function(client, hr) return client:connect(db, hr) end,\n"
	       "})\n"
	       "mysql_listen(" + lua_quote(proxy->path("native.sock")) + ", {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    if not stored[hr.user] or not hr:verify_native_password(stored[hr.user]) then\n"
	       "      return client:err('Access denied for ' .. hr.user)\n"
	       "    end\n"
	       "    return client:connect(db, hr)\n"
	       "  end,\n"
	       "}, {auth_plugins = 'mysql_native_password'})\n";
}

Endpoint direct()
{
	return shared_mariadb().socket();
}

Endpoint through_proxy(const char *listener = "plain.sock")
{
	return Endpoint::unix_socket(proxy->path(listener));
}

// "Change user" commands the backend logged (the general log is on in this program's server).
int change_user_count()
{
	return std::stoi(shared_mariadb()
				 .execute("SELECT COUNT(*) FROM mysql.general_log WHERE command_type = 'Change user'")
				 .value_or("-1"));
}

int prepared_statements()
{
	return std::stoi(shared_mariadb()
				 .execute("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
					  "WHERE VARIABLE_NAME = 'PREPARED_STMT_COUNT'")
				 .value_or("-1"));
}

using Observations = std::vector<std::string>;

void observe(Observations &seen, MysqlClient &c, const std::string &name, const char *sql)
{
	const SqlResult r = c.query(sql);
	seen.push_back(name + "=" + (r.ok ? r.value.value_or("NULL") : "ERR" + std::to_string(r.error_code)));
}

void exec_or_fail(MysqlClient &c, const char *sql)
{
	const SqlResult r = c.query(sql);
	PROXY_ASSERT(r.ok, "%s: %s", sql, r.error.c_str());
}

// libmariadb: a session with state of every kind, then mysql_change_user() to the same user without
// a database after asking for latin1, then with a database and utf8mb4.
Observations libmariadb_scenario(const Endpoint &endpoint)
{
	Observations seen;
	MysqlClient c;
	mysql_optionsv(c.get(), MYSQL_SET_CHARSET_NAME, "utf8mb4");
	ClientOptions options;
	options.database = "app_db";
	PROXY_ASSERT(c.connect(endpoint, "alice", "alice-pw", options), "login: %s", c.error().c_str());
	observe(seen, c, "login.database", "SELECT DATABASE()");
	observe(seen, c, "login.charset", "SELECT @@character_set_client");
	exec_or_fail(c, "SET @user_variable = 42");
	exec_or_fail(c, "SET SESSION sql_mode = 'ANSI_QUOTES', SESSION wait_timeout = 1234");
	exec_or_fail(c, "CREATE TEMPORARY TABLE session_table (x INT)");
	observe(seen, c, "login.temporary_table", "SELECT COUNT(*) FROM session_table");
	exec_or_fail(c, "PREPARE sql_statement FROM 'SELECT 1'");
	MYSQL_STMT *statement = mysql_stmt_init(c.get());
	const std::string binary_sql = "SELECT 2";
	PROXY_ASSERT(mysql_stmt_prepare(statement, binary_sql.data(), binary_sql.size()) == 0, "prepare: %s",
		     mysql_stmt_error(statement));
	const int statements_before = prepared_statements();

	mysql_optionsv(c.get(), MYSQL_SET_CHARSET_NAME, "latin1");
	PROXY_ASSERT(mysql_change_user(c.get(), "alice", "alice-pw", nullptr) == 0, "change_user: %s",
		     c.error().c_str());
	observe(seen, c, "after.database", "SELECT DATABASE()");
	observe(seen, c, "after.charset", "SELECT @@character_set_client");
	observe(seen, c, "after.collation", "SELECT @@collation_connection");
	observe(seen, c, "after.results", "SELECT @@character_set_results");
	observe(seen, c, "after.user_variable", "SELECT @user_variable");
	observe(seen, c, "after.sql_mode_is_global", "SELECT @@session.sql_mode = @@global.sql_mode");
	observe(seen, c, "after.wait_timeout_is_global", "SELECT @@session.wait_timeout = @@global.wait_timeout");
	observe(seen, c, "after.temporary_table", "SELECT COUNT(*) FROM app_db.session_table");
	observe(seen, c, "after.sql_prepared", "EXECUTE sql_statement");
	seen.push_back("after.statements_dropped=" + std::to_string(statements_before - prepared_statements()));
	observe(seen, c, "after.user", "SELECT CURRENT_USER()");
	mysql_stmt_close(statement);

	mysql_optionsv(c.get(), MYSQL_SET_CHARSET_NAME, "utf8mb4");
	PROXY_ASSERT(mysql_change_user(c.get(), "bob", "bob-pw", "app_db") == 0, "change_user: %s", c.error().c_str());
	observe(seen, c, "bob.database", "SELECT DATABASE()");
	observe(seen, c, "bob.charset", "SELECT @@character_set_client");
	observe(seen, c, "bob.collation", "SELECT @@collation_connection");
	observe(seen, c, "bob.user", "SELECT CURRENT_USER()");

	// mysql_set_character_set() (SET NAMES) between: whatever libmariadb names in the command then,
	// the session gets what the server makes of it.
	PROXY_ASSERT(mysql_set_character_set(c.get(), "cp1251") == 0, "set charset: %s", c.error().c_str());
	observe(seen, c, "set_names.charset", "SELECT @@character_set_client");
	PROXY_ASSERT(mysql_change_user(c.get(), "alice", "alice-pw", nullptr) == 0, "change_user: %s",
		     c.error().c_str());
	observe(seen, c, "set_names.after.charset", "SELECT @@character_set_client");
	observe(seen, c, "set_names.after.collation", "SELECT @@collation_connection");
	return seen;
}

std::string joined(const Observations &seen)
{
	std::string text;
	for (const std::string &line : seen)
		text += line + "\n";
	return text;
}

void expect_line(const std::string &output, const std::string &line)
{
	PROXY_ASSERT(contains(output, line + "\n"), "no line '%s' in:\n%s", line.c_str(), output.c_str());
}

// A HandshakeResponse41 over @raw after the greeting: alice's password in clear (plain.sock offers
// mysql_clear_password), then the OK.
void raw_login(RawConnection &raw)
{
	const auto greeting = raw.read_packet();
	PROXY_ASSERT(greeting.has_value() && greeting_server_version(greeting->payload).has_value(), "no greeting");
	const std::uint32_t caps = 0x200 | 0x8000 | 0x80000; // PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH
	std::string payload;
	for (int i = 0; i < 4; ++i)
		payload += char((caps >> (8 * i)) & 0xff);
	payload += std::string("\0\0\0\1\x2d", 5) + std::string(23, '\0') + "alice" + '\0';
	payload += char(9) + std::string("alice-pw\0", 9) + "mysql_clear_password" + '\0';
	PROXY_CHECK(raw.send_bytes(std::string{char(payload.size()), 0, 0, 1} + payload));
	const auto ok = raw.read_packet();
	PROXY_ASSERT(ok.has_value() && !ok->payload.empty() && ok->payload[0] == 0, "raw login failed");
}

std::string framed(const std::string &payload)
{
	return std::string{char(payload.size() & 0xff), char((payload.size() >> 8) & 0xff),
			   char((payload.size() >> 16) & 0xff), 0} + payload;
}

} // namespace

// --- the same as the server's own ---------------------------------------------------------------

START_TEST(test_libmariadb_sees_the_server_reset)
{
	const Observations server = libmariadb_scenario(direct());
	const int changes_before = change_user_count();
	const Observations proxied = libmariadb_scenario(through_proxy());
	// Three changes of user, each a real COM_CHANGE_USER on the backend (also those to alice).
	PROXY_ASSERT(change_user_count() == changes_before + 3, "the backend logged %d changes of user, expected 3",
		     change_user_count() - changes_before);
	PROXY_ASSERT(proxied == server, "through myproxy:\n%s\ndirectly:\n%s", joined(proxied).c_str(),
		     joined(server).c_str());
	const std::string text = joined(proxied);
	for (const char *line : {"login.database=app_db", "login.temporary_table=0", "after.database=NULL",
				 "after.charset=latin1",
				 "after.collation=latin1_swedish_ci", "after.results=latin1", "after.user_variable=NULL",
				 "after.sql_mode_is_global=1", "after.wait_timeout_is_global=1",
				 "after.temporary_table=ERR1146", "after.sql_prepared=ERR1243",
				 "after.statements_dropped=2", "after.user=alice@localhost", "bob.database=app_db",
				 "bob.charset=utf8mb4", "bob.user=bob@localhost", "set_names.charset=cp1251"})
		expect_line(text, line);
}
END_TEST

START_TEST(test_php_mysqli_sees_the_server_reset)
{
	auto run_php = [](const std::string &socket, const std::string &long_socket) {
		const CommandOutput out = run_program({"/usr/bin/php", "-d", "mysqli.allow_persistent=1",
						       DRIVER_SCRIPT_DIR "/driver_change_user.php", socket, "alice",
						       "alice-pw", "app_db", long_socket, "longpw",
						       long_password()});
		PROXY_ASSERT(out.exit_code == 0, "php on %s: exit %d:\n%s", socket.c_str(), out.exit_code,
			     out.output.c_str());
		return out.output;
	};
	const std::string server = run_php(shared_mariadb().socket_path(), shared_mariadb().socket_path());
	const int changes_before = change_user_count();
	const std::string proxied = run_php(proxy->path("plain.sock"), proxy->path("native.sock"));
	PROXY_ASSERT(proxied == server, "through myproxy:\n%s\ndirectly:\n%s", proxied.c_str(), server.c_str());
	for (const char *line : {"login.database=app_db", "login.temporary_table=0", "change_user=OK",
				 "after.database=NULL",
				 "after.user_variable=NULL", "after.sql_mode_is_global=1", "after.temporary_table=ERR1146",
				 "after.sql_prepared=ERR1243", "after.user=alice@localhost", "latin1.charset=latin1",
				 "latin1.collation=latin1_swedish_ci", "latin1.database=app_db", "persistent.reused=yes",
				 "persistent1.database=NULL", "persistent1.user_variable=NULL",
				 "persistent0.created=0", "persistent1.temporary_table=ERR1146", "persistent1.created=0",
				 "long.login=longpw@localhost", "long.change_user=OK", "long.user=longpw@localhost"})
		expect_line(proxied, line);
	// mysqli_change_user() three times (the long password too), the persistent link's reset once.
	PROXY_ASSERT(change_user_count() >= changes_before + 4, "the backend logged %d changes of user",
		     change_user_count() - changes_before);
}
END_TEST

// The same account on ed25519: the backend switches myproxy's COM_CHANGE_USER to client_ed25519,
// as at login, and resets the session.
START_TEST(test_same_account_on_ed25519)
{
	MysqlClient c;
	PROXY_ASSERT(c.connect(through_proxy(), "ed", "ed-pw"), "login: %s", c.error().c_str());
	exec_or_fail(c, "SET @user_variable = 1");
	const int changes_before = change_user_count();
	for (int round = 0; round < 2; ++round) {
		PROXY_ASSERT(mysql_change_user(c.get(), "ed", "ed-pw", nullptr) == 0, "change_user: %s", c.error().c_str());
		PROXY_ASSERT_STR(c.text("SELECT CURRENT_USER()"), "ed@localhost");
		PROXY_ASSERT_STR(c.text("SELECT IFNULL(@user_variable, 'reset')"), "reset");
		exec_or_fail(c, "SET @user_variable = 1");
	}
	PROXY_ASSERT(change_user_count() == changes_before + 2, "the backend logged %d changes of user, expected 2",
		     change_user_count() - changes_before);
	PROXY_CHECK(mysql_change_user(c.get(), "ed", "not-ed-pw", nullptr) != 0);
	PROXY_ASSERT(c.error_code() == 1045, "expected 1045, got %s", c.error().c_str());
}
END_TEST

// --- long passwords ------------------------------------------------------------------------------

START_TEST(test_long_password)
{
	// In clear (plain.sock asks for the password), and through verify_native_password on the client's
	// scramble with the recovered SHA1 (native.sock): both log in and change user to longpw.
	for (const char *listener : {"plain.sock", "native.sock"}) {
		const char *first_user = std::string(listener) == "plain.sock" ? "alice" : "longpw";
		const std::string first_password = std::string(listener) == "plain.sock" ? "alice-pw" : long_password();
		MysqlClient c;
		PROXY_ASSERT(c.connect(through_proxy(listener), first_user, first_password), "%s: login: %s", listener,
			     c.error().c_str());
		for (int round = 0; round < 2; ++round) {
			PROXY_ASSERT(mysql_change_user(c.get(), "longpw", long_password().c_str(), nullptr) == 0,
				     "%s: change_user: %s", listener, c.error().c_str());
			PROXY_ASSERT_STR(c.text("SELECT CURRENT_USER()"), "longpw@localhost");
		}
		std::string wrong = long_password();
		wrong.back() = '#';
		PROXY_CHECK(mysql_change_user(c.get(), "longpw", wrong.c_str(), nullptr) != 0);
		PROXY_ASSERT(c.error_code() == 1045, "%s: expected 1045, got %s", listener, c.error().c_str());
	}
}
END_TEST

// --- hostile clients -------------------------------------------------------------------------------

START_TEST(test_hostile_change_user_closes_only_its_session)
{
	MysqlClient bystander;
	PROXY_ASSERT(bystander.connect(through_proxy(), "alice", "alice-pw"), "login: %s", bystander.error().c_str());
	exec_or_fail(bystander, "SET @still = 'here'");
	struct Case {
		std::string payload;
		unsigned code;
	};
	const Case cases[] = {
		{std::string("\x11" "bob", 4), 1043},                                        // user without NUL
		{std::string("\x11" "bob\0\x40" "short", 10), 1043},                         // auth past the end
		{std::string("\x11" "bob\0\x02" "pw\0\x2d", 10), 1043},                      // character set cut short
		{"\x11" + std::string(40000, 'u') + std::string("\0\0\0\x2d\0", 5), 1153},  // larger than held
	};
	for (const Case &hostile : cases) {
		RawConnection raw(proxy->path("plain.sock"));
		raw_login(raw);
		PROXY_CHECK(raw.send_bytes(framed(hostile.payload)));
		const auto packet = raw.read_packet(std::chrono::seconds(30));
		PROXY_ASSERT(packet.has_value(), "%zu bytes: no answer (eof=%d)", hostile.payload.size(), int(raw.eof()));
		const auto err = parse_raw_error(packet->payload);
		PROXY_ASSERT(err.has_value() && err->code == hostile.code, "%zu bytes: expected ERR %u, got %s",
			     hostile.payload.size(), hostile.code, err ? err->message.c_str() : "no ERR");
		PROXY_ASSERT(packet->sequence_id == 1, "ERR with sequence id %u", unsigned(packet->sequence_id));
		PROXY_ASSERT(raw.wait_closed(std::chrono::seconds(30)), "not closed after the ERR");
		PROXY_ASSERT_STR(bystander.text("SELECT @still"), "here");
	}
	PROXY_CHECK(contains(proxy->log(), "malformed COM_CHANGE_USER"));
	PROXY_CHECK(contains(proxy->log(), "packet too large to inspect"));
}
END_TEST

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*proxy);
}
END_TEST

static Suite *change_user_reset_suite()
{
	Suite *s = suite_create("proxy_change_user_reset");
	TCase *tc = server_tcase("as_the_server", 120);
	tcase_add_test(tc, test_libmariadb_sees_the_server_reset);
	tcase_add_test(tc, test_php_mysqli_sees_the_server_reset);
	tcase_add_test(tc, test_same_account_on_ed25519);
	tcase_add_test(tc, test_long_password);
	tcase_add_test(tc, test_hostile_change_user_closes_only_its_session);
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
	// The general log goes to a table (switched on below), so tests can count "Change user".
	spec.mariadb.extra_args = {"--log-output=TABLE", "--general-log=1"};
	const int rc = run_suites_with_servers(spec, {change_user_reset_suite()}, [] {
		MariaDbServer &db = shared_mariadb();
		db.create_database("app_db");
		db.create_user("alice", "alice-pw");
		db.create_user("bob", "bob-pw");
		db.create_user("ed", "ed-pw", "ed25519");
		db.create_user("longpw", long_password());
		proxy = new ProxyProcess;
		proxy->start(config_lua(), {proxy->path("plain.sock"), proxy->path("native.sock")});
	});
	mysql_library_end();
	return rc;
}
