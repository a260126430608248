// End to end, backend connection reuse (client:connect()'s reuse option): the real ./myproxy with one
// worker in front of a real mariadbd, clients through libmariadb.  Reuse is proven on the server's
// side: CONNECTION_ID() is the backend's thread id, so a session that gets a parked connection sees
// the id of the session before it, and the server's general log (a table here) shows each parking's
// token query, which follows its reset.  Only a login with the same key gets a parked connection (users,
// passwords, schemas), every kind of session state is fresh on it, and a connection is never handed
// out after an open transaction, a KILL on the server, or its node going unavailable; a reload
// (SIGHUP) closes the old generation's idle connections at once, and parks nothing more there.
// PHP's mysqli and PDO, PyMySQL and DBD::mysql see fresh sessions on reused connections too.
#include "tests/integration/backend_offer_wait.hpp" // before check.h, whose fail() macro it must not see
#include "tests/fixture/fixture.hpp"
#include "tests/integration/metrics_scrape.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace myproxy::test;

namespace {

ProxyProcess *proxy = nullptr; // leaked on purpose: forked test children must not destroy it

std::string config_lua()
{
	const std::string socket = lua_quote(shared_mariadb().socket_path());
	return "worker_processes = 1\n"
	       "backend_idle_timeout = 120\n"
	       "prometheus_listen(" + lua_quote(proxy->path("metrics.sock")) + ")\n"
	       "local db = mysql_resolve(" + socket + ")\n"
	       "local nodes = mysql_cluster({" + socket + "}, {monitoring = true, user = 'monitor',\n"
	       "  password = 'monitor-pw', check_interval = 0.3})\n"
	       "mysql_listen(" + lua_quote(proxy->path("reuse.sock")) + ", {\n"
	       "  on_handshake_response = function(client, hr) return client:connect(db, hr, {reuse = true}) end,\n"
	       "})\n"
	       "mysql_listen(" + lua_quote(proxy->path("cluster.sock")) + ", {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    return client:connect(nodes, hr, {reuse = 2})\n"
	       "  end,\n"
	       "})\n";
}

Endpoint reuse_listener()
{
	return Endpoint::unix_socket(proxy->path("reuse.sock"));
}

std::string admin(const std::string &sql)
{
	return shared_mariadb().execute(sql).value_or("<NULL>");
}

// How many parkings backend thread @id went through: each ends with the token query, after the reset.
int parkings_of(const std::string &id)
{
	return std::stoi(admin("SELECT COUNT(*) FROM mysql.general_log WHERE command_type = 'Query' "
			       "AND argument LIKE 'SELECT DATABASE(), ''%' AND thread_id = " + id));
}

// Waits until thread @id went through its @count-th parking and the server has answered it (the
// thread sleeps again); false after the safety net.
bool wait_parked(const std::string &id, int count)
{
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
	while (parkings_of(id) < count ||
	       admin("SELECT COMMAND FROM information_schema.PROCESSLIST WHERE ID = " + id) != "Sleep") {
		if (std::chrono::steady_clock::now() > deadline)
			return false;
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	return true;
}

// Whether thread @id ended with COM_QUIT (the server logs "Quit"), not as an aborted connection.
bool said_quit(const std::string &id)
{
	return admin("SELECT COUNT(*) FROM mysql.general_log WHERE command_type = 'Quit' AND thread_id = " + id) == "1";
}

bool thread_exists(const std::string &id)
{
	return admin("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = " + id) != "0";
}

bool wait_thread_gone(const std::string &id)
{
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
	while (thread_exists(id)) {
		if (std::chrono::steady_clock::now() > deadline)
			return false;
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	return true;
}

// One session: logs in, returns the backend thread id (and the schema), quits.
struct Session {
	std::string id;
	std::string database;
};

Session session(const char *user, const char *password, const char *database, const Endpoint &endpoint = reuse_listener())
{
	MysqlClient c;
	mysql_optionsv(c.get(), MYSQL_SET_CHARSET_NAME, "utf8mb4");
	ClientOptions options;
	options.database = database;
	PROXY_ASSERT(c.connect(endpoint, user, password, options), "%s: %s", user, c.error().c_str());
	return {c.text("SELECT CONNECTION_ID()"), c.text("SELECT DATABASE()")};
}

void exec_or_fail(MysqlClient &c, const char *sql)
{
	const SqlResult r = c.query(sql);
	PROXY_ASSERT(r.ok, "%s: %s", sql, r.error.c_str());
}

} // namespace

// Two users, two schemas, two passwords: only a login with the same key gets the parked connection,
// a schema that differs is set with COM_INIT_DB, "no schema" never gets one that has a schema, and
// a wrong password gets the server's own ERR.
START_TEST(test_only_matching_keys)
{
	const Session alice = session("alice", "alice-pw", "app_db");
	PROXY_ASSERT(wait_parked(alice.id, 1), "alice's connection %s was never reset", alice.id.c_str());

	MysqlClient wrong;
	PROXY_CHECK(!wrong.connect(reuse_listener(), "alice", "not-alice-pw"));
	PROXY_ASSERT(wrong.error_code() == 1045 && contains(wrong.message(), "Access denied for user 'alice'"),
		     "wrong password: %s", wrong.error().c_str());

	const Session bob = session("bob", "bob-pw", "app_db");
	PROXY_ASSERT(bob.id != alice.id, "bob got alice's connection %s", alice.id.c_str());
	PROXY_ASSERT(wait_parked(bob.id, 1), "bob's connection %s was never reset", bob.id.c_str());

	const Session again = session("alice", "alice-pw", "app_db");
	PROXY_ASSERT_STR(again.id, alice.id);
	PROXY_ASSERT_STR(again.database, "app_db");
	PROXY_ASSERT(wait_parked(alice.id, 2), "connection %s not parked again", alice.id.c_str());

	const Session other_schema = session("alice", "alice-pw", "other_db");
	PROXY_ASSERT_STR(other_schema.id, alice.id);
	PROXY_ASSERT_STR(other_schema.database, "other_db");
	PROXY_ASSERT(wait_parked(alice.id, 3), "connection %s not parked again", alice.id.c_str());

	const Session no_schema = session("alice", "alice-pw", "");
	PROXY_ASSERT(no_schema.id != alice.id, "a login without a schema got connection %s (schema other_db)",
		     alice.id.c_str());
	PROXY_ASSERT_STR(no_schema.database, "<NULL>");

	const Session bob_again = session("bob", "bob-pw", "app_db");
	PROXY_ASSERT_STR(bob_again.id, bob.id);
}
END_TEST

// Everything a session leaves behind is gone on the reused connection; what it held (a user lock)
// was released when it ended.
START_TEST(test_reused_session_is_fresh)
{
	const std::string statements_before = admin("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
						    "WHERE VARIABLE_NAME = 'PREPARED_STMT_COUNT'");
	std::string id;
	MYSQL_STMT *statement = nullptr;
	{
		MysqlClient c;
		mysql_optionsv(c.get(), MYSQL_SET_CHARSET_NAME, "utf8mb4");
		ClientOptions options;
		options.database = "app_db";
		PROXY_ASSERT(c.connect(reuse_listener(), "carol", "carol-pw", options), "login: %s", c.error().c_str());
		id = c.text("SELECT CONNECTION_ID()");
		exec_or_fail(c, "SET @user_variable = 42");
		exec_or_fail(c, "SET SESSION sql_mode = 'ANSI_QUOTES', SESSION wait_timeout = 1234");
		exec_or_fail(c, "CREATE TEMPORARY TABLE session_table (x INT)");
		exec_or_fail(c, "PREPARE sql_statement FROM 'SELECT 1'");
		statement = mysql_stmt_init(c.get());
		const std::string binary_sql = "SELECT 2";
		PROXY_ASSERT(mysql_stmt_prepare(statement, binary_sql.data(), binary_sql.size()) == 0, "prepare: %s",
			     mysql_stmt_error(statement));
		PROXY_ASSERT_STR(c.text("SELECT GET_LOCK('r13_reuse_lock', 0)"), "1");
		exec_or_fail(c, "SET NAMES latin1");
		exec_or_fail(c, "SET autocommit = 0");
		PROXY_ASSERT_STR(admin("SELECT IS_FREE_LOCK('r13_reuse_lock')"), "0");
	}
	/* The session quit with both statements open; the client library only forgets its handle now. */
	mysql_stmt_close(statement);
	PROXY_ASSERT(wait_parked(id, 1), "connection %s was never reset", id.c_str());
	PROXY_ASSERT_STR(admin("SELECT IS_FREE_LOCK('r13_reuse_lock')"), "1");
	PROXY_ASSERT_STR(admin("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
			       "WHERE VARIABLE_NAME = 'PREPARED_STMT_COUNT'"),
			 statements_before);

	MysqlClient c;
	mysql_optionsv(c.get(), MYSQL_SET_CHARSET_NAME, "utf8mb4");
	ClientOptions options;
	options.database = "app_db";
	PROXY_ASSERT(c.connect(reuse_listener(), "carol", "carol-pw", options), "login: %s", c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT CONNECTION_ID()"), id);
	PROXY_ASSERT_STR(c.text("SELECT @user_variable"), "<NULL>");
	PROXY_ASSERT_STR(c.text("SELECT @@session.sql_mode = @@global.sql_mode"), "1");
	PROXY_ASSERT_STR(c.text("SELECT @@session.wait_timeout = @@global.wait_timeout"), "1");
	const SqlResult table = c.query("SELECT COUNT(*) FROM session_table");
	PROXY_ASSERT(!table.ok && table.error_code == 1146, "temporary table: %s", table.error.c_str());
	const SqlResult prepared = c.query("EXECUTE sql_statement");
	PROXY_ASSERT(!prepared.ok && prepared.error_code == 1243, "prepared statement: %s", prepared.error.c_str());
	PROXY_ASSERT_STR(c.text("SELECT @@autocommit"), "1");
	PROXY_ASSERT_STR(c.text("SELECT @@character_set_client"), "utf8mb4");
	PROXY_ASSERT_STR(c.text("SELECT @@character_set_results"), "utf8mb4");
	PROXY_ASSERT_STR(c.text("SELECT IS_USED_LOCK('r13_reuse_lock') IS NULL"), "1");
	PROXY_ASSERT_STR(c.text("SELECT DATABASE()"), "app_db");
}
END_TEST

// A transaction still open at COM_QUIT: the connection is closed (its transaction rolled back), never
// handed to the next client.
START_TEST(test_open_transaction_is_never_reused)
{
	admin("CREATE TABLE IF NOT EXISTS app_db.reuse_rows (x INT) ENGINE=InnoDB");
	std::string id;
	{
		MysqlClient c;
		ClientOptions options;
		options.database = "app_db";
		PROXY_ASSERT(c.connect(reuse_listener(), "dave", "dave-pw", options), "login: %s", c.error().c_str());
		id = c.text("SELECT CONNECTION_ID()");
		exec_or_fail(c, "BEGIN");
		exec_or_fail(c, "INSERT INTO reuse_rows VALUES (1)");
	}
	PROXY_ASSERT(wait_thread_gone(id), "connection %s with an open transaction is still there", id.c_str());
	PROXY_CHECK(wait_for_log(*proxy, "a transaction was open", std::chrono::seconds(30)));
	PROXY_ASSERT_STR(admin("SELECT COUNT(*) FROM app_db.reuse_rows"), "0");
	const Session next = session("dave", "dave-pw", "app_db");
	PROXY_ASSERT(next.id != id, "got connection %s back", id.c_str());
}
END_TEST

// LOCK TABLES left at COM_QUIT: released when the session ends, whether the connection is kept (the
// reset unlocks) or closed (its status showed a transaction: InnoDB's lock registers one).
START_TEST(test_table_locks_released)
{
	admin("CREATE TABLE IF NOT EXISTS app_db.locked_rows (x INT) ENGINE=InnoDB");
	{
		MysqlClient c;
		ClientOptions options;
		options.database = "app_db";
		PROXY_ASSERT(c.connect(reuse_listener(), "gina", "gina-pw", options), "login: %s", c.error().c_str());
		exec_or_fail(c, "LOCK TABLES locked_rows WRITE");
		exec_or_fail(c, "INSERT INTO locked_rows VALUES (1)");
	}
	MysqlClient other;
	PROXY_ASSERT(other.connect(shared_mariadb().socket(), "bob", "bob-pw"), "direct: %s", other.error().c_str());
	exec_or_fail(other, "SET SESSION lock_wait_timeout = 30");
	PROXY_ASSERT_STR(other.text("SELECT COUNT(*) FROM app_db.locked_rows"), "1");
}
END_TEST

// The server kills an idle connection: the worker notices and never hands it out; the next login is
// fresh and works.
START_TEST(test_killed_idle_connection_is_noticed)
{
	const Session first = session("erin", "erin-pw", "app_db");
	PROXY_ASSERT(wait_parked(first.id, 1), "connection %s was never reset", first.id.c_str());
	admin("KILL " + first.id);
	PROXY_CHECK(wait_for_log(*proxy, "idle backend connection " + first.id + " closed", std::chrono::seconds(30)));
	const Session next = session("erin", "erin-pw", "app_db");
	PROXY_ASSERT(next.id != first.id, "got the killed connection %s", first.id.c_str());
}
END_TEST

// A node the monitor can no longer log in to (auth_failed) loses its idle connections at once.
START_TEST(test_unavailable_node_drops_idle_connections)
{
	const Endpoint cluster = Endpoint::unix_socket(proxy->path("cluster.sock"));
	const Session first = session("frank", "frank-pw", "app_db", cluster);
	PROXY_ASSERT(wait_parked(first.id, 1), "connection %s was never reset", first.id.c_str());
	PROXY_ASSERT_STR(session("frank", "frank-pw", "app_db", cluster).id, first.id);
	PROXY_ASSERT(wait_parked(first.id, 2), "connection %s not parked again", first.id.c_str());

	admin("ALTER USER 'monitor'@'localhost' IDENTIFIED BY 'changed-pw'");
	admin("ALTER USER 'monitor'@'%' IDENTIFIED BY 'changed-pw'");
	const bool dropped = wait_thread_gone(first.id);
	admin("ALTER USER 'monitor'@'localhost' IDENTIFIED BY 'monitor-pw'");
	admin("ALTER USER 'monitor'@'%' IDENTIFIED BY 'monitor-pw'");
	PROXY_ASSERT(dropped, "idle connection %s to the auth_failed node is still open", first.id.c_str());
	PROXY_CHECK(contains(proxy->log(), "idle connections to node 0 of cluster 0"));
}
END_TEST

// A reload: the old generation's worker, told RETIRE, closes its parked connection long before
// backend_idle_timeout (120 s here; the waits give up after 30), while a session still running on
// it goes on; when that session quits, its backend connection is closed, never parked, and the old
// generation ends.  The dropped idle connection says COM_QUIT first (no aborted connection on the server).
START_TEST(test_reload_drops_idle_connections)
{
	ClientOptions options;
	options.database = "app_db";
	auto running = std::make_unique<MysqlClient>();
	PROXY_ASSERT(running->connect(reuse_listener(), "hank", "hank-pw", options), "login: %s",
		     running->error().c_str());
	const std::string running_id = running->text("SELECT CONNECTION_ID()");
	const Session idle = session("hank", "hank-pw", "app_db");
	PROXY_ASSERT(idle.id != running_id, "two sessions on connection %s", idle.id.c_str());
	PROXY_ASSERT(wait_parked(idle.id, 1), "connection %s was never reset", idle.id.c_str());

	PROXY_ASSERT(kill(proxy->pid(), SIGHUP) == 0, "SIGHUP: %s", strerror(errno));
	PROXY_ASSERT(wait_for_log(*proxy, "reload: generation 2 serves", std::chrono::seconds(30)),
		     "no new generation");
	PROXY_ASSERT(wait_thread_gone(idle.id), "idle connection %s outlived the reload", idle.id.c_str());
	PROXY_ASSERT(said_quit(idle.id), "idle connection %s was closed without COM_QUIT", idle.id.c_str());
	/* The earlier cases' parked connections go with it; the running session is the one left. */
	PROXY_CHECK(wait_for_log(*proxy, "idle backend connections closed; 1 sessions finish", std::chrono::seconds(30)));
	PROXY_ASSERT(!contains(proxy->log(), "generation 1 ended"), "generation 1 ended with a session open");
	PROXY_ASSERT_STR(running->text("SELECT CONNECTION_ID()"), running_id);
	PROXY_ASSERT(thread_exists(running_id), "the running session's connection %s is gone", running_id.c_str());

	running.reset();
	PROXY_ASSERT(wait_thread_gone(running_id), "connection %s outlived its session", running_id.c_str());
	PROXY_ASSERT(parkings_of(running_id) == 0, "connection %s was parked after the reload", running_id.c_str());
	PROXY_CHECK(wait_for_log(*proxy, "generation 1 ended", std::chrono::seconds(30)));
}
END_TEST

// The sum of every sample of @name ("name{...} value" lines) in a scrape.
static double sum_of(const std::string &text, const std::string &name)
{
	double sum = 0;
	for (std::size_t at = text.find("\n" + name + "{"); at != std::string::npos; at = text.find("\n" + name + "{", at + 1)) {
		const std::size_t value = text.find("} ", at);
		if (value != std::string::npos)
			sum += std::strtod(text.c_str() + value + 2, nullptr);
	}
	return sum;
}

// The exporter counts parkings and reuses per server, and shows the idle connections kept.
START_TEST(test_metrics_count_parkings_and_reuses)
{
	const std::string before = scrape_metrics(proxy->path("metrics.sock"));
	const Session first = session("ivy", "ivy-pw", "app_db");
	PROXY_ASSERT(wait_parked(first.id, 1), "connection %s was never reset", first.id.c_str());
	const Session second = session("ivy", "ivy-pw", "app_db");
	PROXY_ASSERT_STR(second.id, first.id);
	PROXY_ASSERT(wait_parked(first.id, 2), "connection %s was not parked again", first.id.c_str());
	const std::string after = scrape_metrics(proxy->path("metrics.sock"));
	const double parked = sum_of(after, "myproxy_server_idle_parked") - sum_of(before, "myproxy_server_idle_parked");
	const double reused = sum_of(after, "myproxy_server_idle_reused") - sum_of(before, "myproxy_server_idle_reused");
	PROXY_ASSERT(parked >= 2 && reused >= 1, "parked +%g, reused +%g", parked, reused);
	PROXY_ASSERT(metric(after, "myproxy_backend_idle_connections") >= 1, "idle connections: %g",
		     metric(after, "myproxy_backend_idle_connections"));
}
END_TEST

// What tenants' drivers see (PHP's mysqli and PDO on mysqlnd, PyMySQL, Perl's DBD::mysql): 40 short
// sessions in a row, each leaving variables, a temporary table, a prepared statement, another
// character set and autocommit off behind, and each finding none of it; through the reuse listener
// some of them get a reused server connection, directly none does.
START_TEST(test_drivers_see_fresh_sessions)
{
	const std::string dir = DRIVER_SCRIPT_DIR;
	const std::vector<std::vector<std::string>> drivers = {
		{"/usr/bin/php", dir + "/driver_reuse.php", "mysqli"},
		{"/usr/bin/php", dir + "/driver_reuse.php", "pdo"},
		{"/usr/bin/python3", dir + "/driver_reuse.py"},
		{"/usr/bin/perl", dir + "/driver_reuse.pl"},
	};
	for (const auto &driver : drivers) {
		auto run = [&](const std::string &socket) {
			std::vector<std::string> argv = driver;
			argv.insert(argv.end(), {socket, "carol", "carol-pw"});
			const CommandOutput out = run_program(argv);
			PROXY_ASSERT(out.exit_code == 0, "%s on %s: exit %d:\n%s", argv.back().c_str(), socket.c_str(),
				     out.exit_code, out.output.c_str());
			return out.output;
		};
		const std::string name = driver[1] + (driver.size() > 2 ? " " + driver[2] : "");
		const std::string direct = run(shared_mariadb().socket_path());
		PROXY_ASSERT(direct == "fresh 40/40\nreused no\n", "%s directly:\n%s", name.c_str(), direct.c_str());
		const std::string proxied = run(proxy->path("reuse.sock"));
		PROXY_ASSERT(proxied == "fresh 40/40\nreused yes\n", "%s through myproxy:\n%s", name.c_str(),
			     proxied.c_str());
	}
}
END_TEST

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*proxy);
}
END_TEST

static Suite *reuse_suite()
{
	Suite *s = suite_create("proxy_reuse");
	TCase *tc = server_tcase("reuse", 180);
	tcase_add_test(tc, test_only_matching_keys);
	tcase_add_test(tc, test_reused_session_is_fresh);
	tcase_add_test(tc, test_open_transaction_is_never_reused);
	tcase_add_test(tc, test_table_locks_released);
	tcase_add_test(tc, test_killed_idle_connection_is_noticed);
	tcase_add_test(tc, test_unavailable_node_drops_idle_connections);
	tcase_add_test(tc, test_metrics_count_parkings_and_reuses);
	tcase_add_test(tc, test_drivers_see_fresh_sessions);
	tcase_add_test(tc, test_reload_drops_idle_connections);
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
	// The general log goes to a table, so tests can see each parking's token query.
	spec.mariadb.extra_args = {"--log-output=TABLE", "--general-log=1"};
	const int rc = run_suites_with_servers(spec, {reuse_suite()}, [] {
		MariaDbServer &db = shared_mariadb();
		db.create_database("app_db");
		db.create_database("other_db");
		for (const char *user : {"alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivy", "monitor"})
			db.create_user(user, std::string(user) + "-pw");
		proxy = new ProxyProcess;
		proxy->start(config_lua(), {proxy->path("reuse.sock"), proxy->path("cluster.sock")});
		/* Until the master has read the backend's greeting, a client is greeted with default
		   capabilities, which makes another reuse key than the same client's a moment later. */
		const auto backend = read_greeting(shared_mariadb().socket_path());
		if (!backend || wait_for_greeting_version(proxy->path("reuse.sock"), backend->server_version) !=
					backend->server_version)
			throw FixtureError("the listener never greeted with the backend's version");
	});
	mysql_library_end();
	return rc;
}
