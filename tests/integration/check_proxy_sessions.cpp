// End to end, sessions: the real ./myproxy (two workers) between libmariadb and a real mariadbd.
// COM_CHANGE_USER goes through the script (which maps user names; the backend sees the mapped
// user), a change to the same account is a real COM_CHANGE_USER on the backend too, a refusal leaves
// the session as it was; and 200 logins at once over the UNIX socket and over TCP all succeed.
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace myproxy::test;

namespace {

ProxyProcess *proxy = nullptr; // leaked on purpose: forked test children must not destroy it
std::uint16_t proxy_tcp_port = 0;

Endpoint session_socket()
{
	return Endpoint::unix_socket(proxy->path("sessions.sock"));
}

std::string config_lua()
{
	const std::string handler =
		"{\n"
		"  on_handshake_response = function(client, hr)\n"
		"    if hr.user == 'refuse_change' then return client:err('refused: ' .. hr.user) end\n"
		"    client.account = hr.user\n"
		"    hr.user = map[hr.user] or hr.user\n"
		"    return client:connect(backend, hr)\n"
		"  end,\n"
		"}";
	return "worker_processes = 2\n"
	       "backend = " + lua_quote(shared_mariadb().socket_path()) + "\n"
	       "map = { app_bob = 'bob' }\n"
	       "local handler = " + handler + "\n"
	       "mysql_listen(" + lua_quote(proxy->path("sessions.sock")) + ", handler)\n"
	       "mysql_listen('127.0.0.1:" + std::to_string(proxy_tcp_port) + "', handler)\n";
}

void connect_or_fail(MysqlClient &c, std::string_view user, std::string_view password,
		     const ClientOptions &options = {})
{
	PROXY_ASSERT(c.connect(session_socket(), user, password, options), "login as %.*s: %s", int(user.size()),
		     user.data(), c.error().c_str());
}

void exec_or_fail(MysqlClient &c, std::string_view sql)
{
	const SqlResult r = c.query(sql);
	PROXY_ASSERT(r.ok, "%.*s: %s", int(sql.size()), sql.data(), r.error.c_str());
}

// COM_CHANGE_USER commands the backend received while the general log was on (it logs them as
// "Change user").  MariaDB has no status counter for them.
std::string change_user_count()
{
	return shared_mariadb()
		.execute("SELECT COUNT(*) FROM mysql.general_log WHERE command_type = 'Change user'")
		.value_or("?");
}

// The general log, on for the change_user tests only (--log-output=TABLE from main()).
struct GeneralLog {
	GeneralLog() { shared_mariadb().execute("SET GLOBAL general_log = 1"); }
	~GeneralLog() { shared_mariadb().query("SET GLOBAL general_log = 0"); }
};

} // namespace

// --- COM_CHANGE_USER ---------------------------------------------------------------------------

START_TEST(test_change_user_other_user)
{
	MysqlClient c;
	connect_or_fail(c, "alice", "alice-pw");
	exec_or_fail(c, "SET @marker = 42");
	GeneralLog general_log;
	const std::string before = change_user_count();

	// The script maps app_bob to bob: the backend sees bob.
	PROXY_ASSERT(mysql_change_user(c.get(), "app_bob", "bob-pw", "other_db") == 0, "change_user: %s",
		     c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT CURRENT_USER()"), "bob@localhost");
	PROXY_ASSERT_STR(c.text("SELECT DATABASE()"), "other_db");
	PROXY_ASSERT_STR(c.text("SELECT IFNULL(@marker, 'reset')"), "reset");
	PROXY_ASSERT_STR(change_user_count(), std::to_string(std::stoi(before) + 1));

	// And back, with a wrong password: the backend refuses.
	PROXY_CHECK(mysql_change_user(c.get(), "alice", "wrong-pw", nullptr) != 0);
	PROXY_ASSERT(c.error_code() == 1045, "expected ERR 1045, got %s", c.error().c_str());
}
END_TEST

START_TEST(test_change_user_same_user)
{
	MysqlClient c;
	ClientOptions options;
	options.database = "other_db";
	connect_or_fail(c, "alice", "alice-pw", options);
	exec_or_fail(c, "SET @marker = 42");
	exec_or_fail(c, "CREATE TEMPORARY TABLE session_table (x INT)");
	const std::string connection_id = c.text("SELECT CONNECTION_ID()");
	GeneralLog general_log;
	const std::string before = change_user_count();

	// The same account: the backend gets a COM_CHANGE_USER too, and resets the session itself.
	PROXY_ASSERT(mysql_change_user(c.get(), "alice", "alice-pw", "real_db") == 0, "change_user: %s",
		     c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT CURRENT_USER()"), "alice@localhost");
	PROXY_ASSERT_STR(c.text("SELECT DATABASE()"), "real_db");
	PROXY_ASSERT_STR(c.text("SELECT IFNULL(@marker, 'reset')"), "reset");
	PROXY_CHECK(!c.query("SELECT * FROM session_table").ok);
	PROXY_ASSERT_STR(c.text("SELECT CONNECTION_ID()"), connection_id);
	PROXY_ASSERT_STR(change_user_count(), std::to_string(std::stoi(before) + 1));

	// Without a database: none afterwards, as directly.
	exec_or_fail(c, "SET @marker = 43");
	PROXY_ASSERT(mysql_change_user(c.get(), "alice", "alice-pw", nullptr) == 0, "change_user: %s",
		     c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT IFNULL(@marker, 'reset')"), "reset");
	PROXY_ASSERT_STR(c.text("SELECT IFNULL(DATABASE(), 'none')"), "none");
	PROXY_ASSERT_STR(change_user_count(), std::to_string(std::stoi(before) + 2));
}
END_TEST

START_TEST(test_change_user_refused_by_script)
{
	MysqlClient c;
	connect_or_fail(c, "alice", "alice-pw");
	PROXY_CHECK(mysql_change_user(c.get(), "refuse_change", "x", nullptr) != 0);
	PROXY_ASSERT(c.error_code() == 1045, "expected ERR 1045, got %s", c.error().c_str());
	PROXY_ASSERT_STR(c.message(), "refused: refuse_change");
	// The session is still alice's.
	PROXY_ASSERT_STR(c.text("SELECT CURRENT_USER()"), "alice@localhost");
}
END_TEST

// --- many at once --------------------------------------------------------------------------------

namespace {

// @count threads, each connect + SELECT 1 + close, released together.
void concurrent_logins(const Endpoint &endpoint, int count)
{
	std::atomic<int> ready{0}, failures{0};
	std::atomic<bool> go{false};
	std::mutex mutex;
	std::string first_error;
	std::vector<std::thread> threads;
	for (int i = 0; i < count; ++i) {
		threads.emplace_back([&, i] {
			mysql_thread_init();
			MysqlClient c;
			++ready;
			while (!go)
				std::this_thread::yield();
			std::string error;
			if (!c.connect(endpoint, "alice", "alice-pw"))
				error = "login: " + c.error();
			else if (c.text("SELECT " + std::to_string(i)) != std::to_string(i))
				error = "query: " + c.error();
			if (!error.empty()) {
				++failures;
				std::lock_guard<std::mutex> lock(mutex);
				if (first_error.empty())
					first_error = error;
			}
			mysql_thread_end();
		});
	}
	while (ready < count)
		std::this_thread::yield();
	go = true;
	for (auto &t : threads)
		t.join();
	PROXY_ASSERT(failures == 0, "%d of %d concurrent logins via %s failed; first: %s", failures.load(), count,
		     endpoint.describe().c_str(), first_error.c_str());
}

} // namespace

START_TEST(test_concurrent_logins_unix)
{
	concurrent_logins(session_socket(), 200);
}
END_TEST

START_TEST(test_concurrent_logins_tcp)
{
	concurrent_logins(Endpoint::tcp("127.0.0.1", proxy_tcp_port), 200);
}
END_TEST

// --- last: the daemon survived all of it and shuts down cleanly -------------------------------

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*proxy);
}
END_TEST

static Suite *sessions_suite()
{
	Suite *s = suite_create("proxy_sessions");
	TCase *tc = server_tcase("change_user", 60);
	tcase_add_test(tc, test_change_user_other_user);
	tcase_add_test(tc, test_change_user_same_user);
	tcase_add_test(tc, test_change_user_refused_by_script);
	suite_add_tcase(s, tc);

	tc = server_tcase("concurrency", 120);
	tcase_add_test(tc, test_concurrent_logins_unix);
	tcase_add_test(tc, test_concurrent_logins_tcp);
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
	// The general log goes to a table, so the tests can count COM_CHANGE_USER (see GeneralLog).
	spec.mariadb.extra_args = {"--log-output=TABLE"};
	const int rc = run_suites_with_servers(spec, {sessions_suite()}, [] {
		MariaDbServer &db = shared_mariadb();
		for (const char *name : {"real_db", "other_db"})
			db.create_database(name);
		db.create_user("alice", "alice-pw");
		db.create_user("bob", "bob-pw");
		proxy = new ProxyProcess;
		proxy_tcp_port = pick_free_tcp_port();
		proxy->start(config_lua(),
			     {proxy->path("sessions.sock"), "127.0.0.1:" + std::to_string(proxy_tcp_port)});
	});
	mysql_library_end();
	return rc;
}
