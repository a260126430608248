// Proves the integration-test fixture: real MariaDB and PostgreSQL start in temporary
// directories, accept logins over TCP and the socket, survive stop/start and restart (also
// when a forked test child does it), and nothing is left behind when an owner dies.
#include "tests/fixture/fixture.hpp"

#include <check.h>
#include <signal.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

using namespace myproxy::test;

static bool path_exists(const std::string &path)
{
	struct stat st {};
	return stat(path.c_str(), &st) == 0;
}

static void assert_value(const SqlResult &r, const char *expected)
{
	ck_assert_msg(r.ok, "query failed: %s", r.error.c_str());
	ck_assert_msg(r.value.has_value(), "no value");
	ck_assert_str_eq(r.value->c_str(), expected);
}

// --- MariaDB ----------------------------------------------------------------------------

START_TEST(test_mariadb_accessors)
{
	const MariaDbServer &db = shared_mariadb();
	ck_assert_str_eq(db.host().c_str(), "127.0.0.1");
	ck_assert_uint_ne(db.port(), 0);
	ck_assert(path_exists(db.socket_path()));
	ck_assert(path_exists(db.tmpdir() + "/data/mysql"));
	ck_assert_uint_eq(db.socket_path().rfind(db.tmpdir(), 0), 0);
	ck_assert(db.running());
}
END_TEST

START_TEST(test_mariadb_tcp_login)
{
	const MariaDbServer &db = shared_mariadb();
	assert_value(run_sql_via_libmariadb(db.tcp(), "alice", "alice-pw", "SELECT 1"), "1");
	assert_value(run_sql_via_libmariadb(db.tcp(), "alice", "alice-pw", "SELECT @@port"),
		     std::to_string(db.port()).c_str());
	assert_value(run_sql_via_libmariadb(db.tcp(), "alice", "alice-pw", "SELECT DATABASE()", "fixdb"), "fixdb");
	assert_value(run_sql_via_libmariadb(db.tcp(), "alice", "alice-pw", "SELECT CURRENT_USER()"), "alice@%");
}
END_TEST

START_TEST(test_mariadb_socket_login)
{
	const MariaDbServer &db = shared_mariadb();
	assert_value(run_sql_via_libmariadb(db.socket(), "alice", "alice-pw", "SELECT 1"), "1");
	assert_value(run_sql_via_libmariadb(db.socket(), "alice", "alice-pw", "SELECT CURRENT_USER()"),
		     "alice@localhost");
	assert_value(run_sql_via_libmariadb(db.socket(), "root", "", "SELECT @@socket"), db.socket_path().c_str());
}
END_TEST

START_TEST(test_mariadb_wrong_password)
{
	const MariaDbServer &db = shared_mariadb();
	for (const Endpoint &e : {db.tcp(), db.socket()}) {
		const SqlResult r = run_sql_via_libmariadb(e, "alice", "wrong", "SELECT 1");
		ck_assert(!r.ok);
		ck_assert_uint_eq(r.error_code, 1045);
		ck_assert_str_eq(r.sqlstate.c_str(), "28000");
	}
	const SqlResult nobody = run_sql_via_libmariadb(db.tcp(), "nobody", "x", "SELECT 1");
	ck_assert_uint_eq(nobody.error_code, 1045);
}
END_TEST

START_TEST(test_mariadb_ed25519_user)
{
	const MariaDbServer &db = shared_mariadb();
	db.create_user("eve", "eve-pw", "ed25519", "SELECT ON fixdb.*");
	assert_value(db.query("SELECT plugin FROM mysql.user WHERE user = 'eve' AND host = '%'"), "ed25519");
	assert_value(run_sql_via_libmariadb(db.tcp(), "eve", "eve-pw", "SELECT CURRENT_USER()"), "eve@%");
	assert_value(run_sql_via_libmariadb(db.socket(), "eve", "eve-pw", "SELECT CURRENT_USER()"), "eve@localhost");
	ck_assert_uint_eq(run_sql_via_libmariadb(db.tcp(), "eve", "nope", "SELECT 1").error_code, 1045);
}
END_TEST

START_TEST(test_mariadb_execute_errors)
{
	const MariaDbServer &db = shared_mariadb();
	ck_assert(!db.execute("DO 1").has_value());
	ck_assert(!db.execute("SELECT NULL").has_value());
	std::string what;
	try {
		db.execute("SELECT * FROM no_such_db.t");
	} catch (const FixtureError &e) {
		what = e.what();
	}
	ck_assert_msg(what.find("no_such_db") != std::string::npos, "'%s'", what.c_str());
	const SqlResult r = db.query("SELEC 1");
	ck_assert(!r.ok);
	ck_assert_uint_eq(r.error_code, 1064);
}
END_TEST

// Stops and starts the shared server inside a forked test child: the next test checks that
// main's server object followed.
START_TEST(test_mariadb_stop_start)
{
	MariaDbServer &db = shared_mariadb();
	const auto port = db.port();
	const pid_t old_pid = db.pid();
	db.stop();
	ck_assert(!db.running());
	const SqlResult down = run_sql_via_libmariadb(db.tcp(), "alice", "alice-pw", "SELECT 1");
	ck_assert(!down.ok);
	ck_assert_msg(down.error_code == 2002 || down.error_code == 2003, "%s", down.error.c_str());
	db.start();
	ck_assert(db.running());
	ck_assert_uint_eq(db.port(), port);
	ck_assert_int_ne(db.pid(), old_pid);
	assert_value(run_sql_via_libmariadb(db.tcp(), "alice", "alice-pw", "SELECT DATABASE()", "fixdb"), "fixdb");
}
END_TEST

START_TEST(test_mariadb_alive_after_restart_in_other_test)
{
	const MariaDbServer &db = shared_mariadb();
	ck_assert(db.running());
	assert_value(run_sql_via_libmariadb(db.tcp(), "alice", "alice-pw", "SELECT 1"), "1");
}
END_TEST

START_TEST(test_mariadb_kill_recovers)
{
	MariaDbServer &db = shared_mariadb();
	db.execute("CREATE TABLE IF NOT EXISTS fixdb.t (x INT) ENGINE=InnoDB");
	db.execute("INSERT INTO fixdb.t VALUES (42)");
	db.kill();
	ck_assert(!db.running());
	db.start();
	assert_value(db.query("SELECT COUNT(*) FROM fixdb.t WHERE x = 42"), "1");
}
END_TEST

// A test's own second instance: its own port and directory, gone when it goes out of scope.
START_TEST(test_mariadb_second_instance)
{
	std::string tmpdir;
	{
		MariaDbOptions options;
		options.name = "other";
		MariaDbServer other(options);
		other.start();
		ck_assert_uint_ne(other.port(), shared_mariadb().port());
		ck_assert_str_ne(other.tmpdir().c_str(), shared_mariadb().tmpdir().c_str());
		assert_value(other.query("SELECT @@port"), std::to_string(other.port()).c_str());
		tmpdir = other.tmpdir();
	}
	ck_assert(!path_exists(tmpdir));
}
END_TEST

// A server that cannot start fails with mariadbd's own complaint in the exception text.
START_TEST(test_mariadb_start_failure_reports_log)
{
	MariaDbOptions options;
	options.name = "broken";
	options.extra_args = {"--no-such-option-for-the-fixture-test"};
	MariaDbServer broken(options);
	std::string what;
	try {
		broken.start();
	} catch (const FixtureError &e) {
		what = e.what();
	}
	ck_assert_msg(what.find("exited during start-up") != std::string::npos, "'%s'", what.c_str());
	ck_assert_msg(what.find("no-such-option-for-the-fixture-test") != std::string::npos, "'%s'", what.c_str());
	ck_assert(!broken.running());
}
END_TEST

// An owner that dies without cleaning up (a crashed test) loses its server and directory.
START_TEST(test_owner_death_cleans_up)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	const pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		close(fds[0]);
		try {
			MariaDbOptions options;
			options.name = "orphan";
			auto *db = new MariaDbServer(options);
			db->start();
			const std::string info = std::to_string(db->pid()) + " " + db->tmpdir();
			[[maybe_unused]] ssize_t n = write(fds[1], info.data(), info.size());
		} catch (const std::exception &e) {
			fprintf(stderr, "orphan: %s\n", e.what());
		}
		close(fds[1]);
		pause();
		_exit(0);
	}
	close(fds[1]);
	char buf[512] = {};
	ssize_t n = 0, got = 0;
	while ((n = read(fds[0], buf + got, sizeof(buf) - 1 - static_cast<std::size_t>(got))) > 0)
		got += n;
	close(fds[0]);
	kill(child, SIGKILL);
	waitpid(child, nullptr, 0);
	const std::string info(buf);
	const auto space = info.find(' ');
	ck_assert_msg(space != std::string::npos, "orphan did not start: '%s'", info.c_str());
	const pid_t server = static_cast<pid_t>(std::stol(info.substr(0, space)));
	const std::string dir = info.substr(space + 1);
	for (int i = 0; i < 400 && (path_exists(dir) || ::kill(server, 0) == 0); ++i)
		std::this_thread::sleep_for(std::chrono::milliseconds(25));
	ck_assert_msg(!path_exists(dir), "%s still exists", dir.c_str());
	ck_assert_msg(::kill(server, 0) < 0 && errno == ESRCH, "server %d still runs", int(server));
}
END_TEST

// --- PostgreSQL -------------------------------------------------------------------------

START_TEST(test_pg_select)
{
	const PgServer &pg = shared_postgres();
	ck_assert_uint_ne(pg.port(), 0);
	const SqlResult r = run_sql_via_libpq(pg.conninfo("postgres", "postgres", PgServer::superuser_password()),
					      "SELECT 1");
	assert_value(r, "1");
	assert_value(pg.query("SHOW port"), std::to_string(pg.port()).c_str());
}
END_TEST

START_TEST(test_pg_user_and_database)
{
	const PgServer &pg = shared_postgres();
	const std::string info = pg.conninfo("appdb", "app", "app pw's");
	ck_assert(run_sql_via_libpq(info, "CREATE TABLE IF NOT EXISTS t (x int)").ok);
	ck_assert(run_sql_via_libpq(info, "INSERT INTO t VALUES (7)").ok);
	assert_value(run_sql_via_libpq(info, "SELECT current_user"), "app");
	const SqlResult wrong = run_sql_via_libpq(pg.conninfo("appdb", "app", "wrong"), "SELECT 1");
	ck_assert(!wrong.ok);
	ck_assert_msg(wrong.error.find("password authentication failed") != std::string::npos, "%s",
		      wrong.error.c_str());
}
END_TEST

START_TEST(test_pg_restart)
{
	PgServer &pg = shared_postgres();
	const auto port = pg.port();
	pg.restart();
	ck_assert_uint_eq(pg.port(), port);
	assert_value(pg.query("SELECT count(*) FROM t WHERE x = 7", "appdb"), "1");
	pg.stop();
	ck_assert(!pg.running());
	ck_assert(!run_sql_via_libpq(pg.conninfo(), "SELECT 1").ok);
	pg.start();
	ck_assert(pg.running());
}
END_TEST

START_TEST(test_pg_alive_after_restart_in_other_test)
{
	const PgServer &pg = shared_postgres();
	ck_assert(pg.running());
	assert_value(run_sql_via_libpq(pg.conninfo("appdb", "app", "app pw's"), "SELECT 2"), "2");
}
END_TEST

static long sysv_segment_of(const std::string &datadir)
{
	std::ifstream pid_file(datadir + "/postmaster.pid");
	std::string line;
	for (int i = 0; i < 7 && std::getline(pid_file, line); ++i) {
	}
	long key = 0, shmid = -1;
	return std::sscanf(line.c_str(), "%ld %ld", &key, &shmid) == 2 ? shmid : -1;
}

// A crashed (kill()ed) PostgreSQL that is never restarted leaves no shared memory behind.
START_TEST(test_pg_kill_leaves_no_shared_memory)
{
	long shmid = -1;
	{
		PgOptions options;
		options.name = "pg-killed";
		PgServer pg(options);
		pg.start();
		assert_value(pg.query("SELECT 1"), "1");
		shmid = sysv_segment_of(pg.datadir());
		ck_assert_int_ge(shmid, 0);
		struct shmid_ds ds {};
		ck_assert_int_eq(shmctl(static_cast<int>(shmid), IPC_STAT, &ds), 0);
		pg.kill();
		ck_assert(!pg.running());
	}
	struct shmid_ds ds {};
	ck_assert_int_lt(shmctl(static_cast<int>(shmid), IPC_STAT, &ds), 0);
}
END_TEST

// --- helpers ----------------------------------------------------------------------------

START_TEST(test_free_port)
{
	const auto a = pick_free_tcp_port();
	ck_assert_uint_ne(a, 0);
	ck_assert_uint_ne(a, shared_mariadb().port());
}
END_TEST

START_TEST(test_temp_dir_removed)
{
	std::string path;
	{
		TempDir dir;
		path = dir.path();
		ck_assert(path_exists(path));
		ck_assert_int_eq(mkdir((path + "/a").c_str(), 0700), 0);
		ck_assert_int_eq(mkdir((path + "/a/b").c_str(), 0), 0);
		write_file(path + "/a/f", "x\n");
		ck_assert_int_eq(symlink("/etc", (path + "/a/link").c_str()), 0);
	}
	ck_assert(!path_exists(path));
	ck_assert(path_exists("/etc/hostname") || path_exists("/etc/passwd"));
}
END_TEST

START_TEST(test_tail_file)
{
	TempDir dir;
	std::string text;
	for (int i = 1; i <= 100; ++i)
		text += "line " + std::to_string(i) + "\n";
	write_file(dir.path() + "/log", text);
	const std::string tail = tail_file(dir.path() + "/log", 2);
	ck_assert_str_eq(tail.c_str(), "line 99\nline 100\n");
	ck_assert(tail_file(dir.path() + "/missing", 2).find("cannot be read") != std::string::npos);
}
END_TEST

START_TEST(test_quoting)
{
	ck_assert(mariadb_string_literal("it's \\") == "'it''s \\\\'");
	ck_assert(mariadb_identifier("a`b") == "`a``b`");
	ck_assert(pg_string_literal("it's") == "'it''s'");
	ck_assert(pg_identifier("a\"b") == "\"a\"\"b\"");
}
END_TEST

START_TEST(test_run_command_errors)
{
	ChildSpec ok;
	ok.argv = {"/bin/true"};
	ck_assert_int_eq(run_command(ok, std::chrono::seconds(10)), 0);
	for (const char *program : {"/bin/false", "/nonexistent/program"}) {
		ChildSpec spec;
		spec.argv = {program};
		bool thrown = false;
		try {
			run_command_checked(spec, std::chrono::seconds(10));
		} catch (const FixtureError &) {
			thrown = true;
		}
		ck_assert_msg(thrown, "%s did not fail", program);
	}
	ChildSpec slow;
	slow.argv = {"/bin/sleep", "10"};
	bool timed_out = false;
	try {
		run_command(slow, std::chrono::milliseconds(100));
	} catch (const FixtureError &e) {
		timed_out = std::string(e.what()).find("did not finish") != std::string::npos;
	}
	ck_assert(timed_out);
}
END_TEST

START_TEST(test_launched_process)
{
	TempDir dir;
	ChildSpec spec;
	spec.argv = {"/bin/sh", "-c", "echo \"hello $GREETING\"; exec sleep 30"};
	spec.log_path = dir.path() + "/daemon.log";
	spec.env_overrides = {"GREETING=world"};
	LaunchedProcess daemon(spec);
	ck_assert(daemon.running());
	for (int i = 0; i < 400 && tail_file(spec.log_path, 1) != "hello world\n"; ++i)
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	const std::string first_line = tail_file(spec.log_path, 1);
	ck_assert_str_eq(first_line.c_str(), "hello world\n");
	const int status = daemon.stop();
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	ck_assert(!daemon.running());
	ck_assert_int_eq(daemon.stop(), status);

	ChildSpec failing;
	failing.argv = {"/bin/sh", "-c", "exit 3"};
	LaunchedProcess quick(failing);
	for (int i = 0; i < 400 && quick.running(); ++i)
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	ck_assert(!quick.running());
	ck_assert(WIFEXITED(quick.wait_status()) && WEXITSTATUS(quick.wait_status()) == 3);

	ChildSpec missing;
	missing.argv = {"/nonexistent/daemon"};
	bool thrown = false;
	try {
		LaunchedProcess never(missing);
	} catch (const FixtureError &) {
		thrown = true;
	}
	ck_assert(thrown);
}
END_TEST

static Suite *mariadb_suite()
{
	Suite *s = suite_create("fixture-mariadb");
	TCase *tc = server_tcase("mariadb");
	tcase_add_test(tc, test_mariadb_accessors);
	tcase_add_test(tc, test_mariadb_tcp_login);
	tcase_add_test(tc, test_mariadb_socket_login);
	tcase_add_test(tc, test_mariadb_wrong_password);
	tcase_add_test(tc, test_mariadb_ed25519_user);
	tcase_add_test(tc, test_mariadb_execute_errors);
	tcase_add_test(tc, test_mariadb_stop_start);
	tcase_add_test(tc, test_mariadb_alive_after_restart_in_other_test);
	tcase_add_test(tc, test_mariadb_kill_recovers);
	tcase_add_test(tc, test_mariadb_second_instance);
	tcase_add_test(tc, test_mariadb_start_failure_reports_log);
	tcase_add_test(tc, test_owner_death_cleans_up);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *postgres_suite()
{
	Suite *s = suite_create("fixture-postgres");
	TCase *tc = server_tcase("postgres");
	tcase_add_test(tc, test_pg_select);
	tcase_add_test(tc, test_pg_user_and_database);
	tcase_add_test(tc, test_pg_restart);
	tcase_add_test(tc, test_pg_alive_after_restart_in_other_test);
	tcase_add_test(tc, test_pg_kill_leaves_no_shared_memory);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *helpers_suite()
{
	Suite *s = suite_create("fixture-helpers");
	TCase *tc = tcase_create("helpers");
	tcase_add_test(tc, test_free_port);
	tcase_add_test(tc, test_temp_dir_removed);
	tcase_add_test(tc, test_tail_file);
	tcase_add_test(tc, test_quoting);
	tcase_add_test(tc, test_run_command_errors);
	tcase_add_test(tc, test_launched_process);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	SharedServerSpec spec;
	spec.mariadb_count = 1;
	spec.postgres = true;
	spec.pg.auth = "scram-sha-256";
	return run_suites_with_servers(spec, {mariadb_suite(), postgres_suite(), helpers_suite()}, [] {
		MariaDbServer &db = shared_mariadb();
		db.create_database("fixdb");
		db.create_user("alice", "alice-pw");
		PgServer &pg = shared_postgres();
		pg.create_user("app", "app pw's");
		pg.create_database("appdb", "app");
	});
}
