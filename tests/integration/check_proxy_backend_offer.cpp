// End to end, what myproxy's greeting announces (issue 12, group 4): the real ./myproxy between
// libmariadb or raw sockets and a real mariadbd that config.lua names with mysql_resolve().  The
// master reads the backend's greeting, so clients see the backend's version, collation and MariaDB's
// extended capabilities (an array-bound INSERT of 1,000 rows through mysql_stmt_execute), on_connect's
// server_version still wins, and a configuration that names no backend announces the documented
// fixed set and default version (Connector/C then refuses the array bind, as before).
// First: common/ headers must come before <check.h>'s fail() macro.
#include "tests/integration/backend_offer_wait.hpp"
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>

#include <cstring>
#include <string>
#include <vector>
// Last: <check.h> (through it) must follow the standard headers.
#include "tests/check_main.hpp"

using namespace myproxy::test;

namespace {

// Leaked on purpose: forked test children must not run their destructors.
ProxyProcess *proxy = nullptr;
ProxyProcess *unnamed = nullptr;

const char *const OVERRIDE_VERSION = "8.0.99-myproxy-offer-override";
constexpr unsigned BULK_ROWS = 1000;
// MariaDB's extended flags (the greeting's last 4 reserved bytes) myproxy relays: PROGRESS (bit 0),
// STMT_BULK_OPERATIONS (2), EXTENDED_METADATA (3), CACHE_METADATA (4), BULK_UNIT_RESULTS (5).
constexpr std::uint32_t RELAYED_EXTENDED = 0x3D;
constexpr std::uint32_t STMT_BULK_OPERATIONS = 1u << 2;
constexpr std::uint32_t COM_MULTI = 1u << 1;
constexpr std::uint32_t LONG_PASSWORD = 1u << 0;

std::string handler(const std::string &backend, const std::string &on_connect)
{
	return "{\n" + on_connect +
	       "  on_handshake_response = function(client, hr)\n"
	       "    client.account = hr.user\n"
	       "    return client:connect(" + backend + ", hr)\n"
	       "  end,\n"
	       "}";
}

std::string config_lua()
{
	return "worker_processes = 2\n"
	       "local backend = mysql_resolve(" + lua_quote(shared_mariadb().socket_path()) + ")\n"
	       "mysql_listen(" + lua_quote(proxy->path("main.sock")) + ", " +
	       handler("backend", "") + ")\n"
	       "mysql_listen(" + lua_quote(proxy->path("seen.sock")) + ", " +
	       handler("backend", "  on_connect = function(client)\n"
				  "    return client:err('on_connect saw ' .. client.server_version)\n"
				  "  end,\n") + ")\n"
	       "mysql_listen(" + lua_quote(proxy->path("version.sock")) + ", " +
	       handler("backend", "  on_connect = function(client)\n"
				  "    client.server_version = " + lua_quote(OVERRIDE_VERSION) + "\n"
				  "  end,\n") + ")\n";
}

// The backend as a string literal in the handler: config.lua names no backend, nothing is learned.
std::string unnamed_config_lua()
{
	return "worker_processes = 1\n"
	       "mysql_listen(" + lua_quote(unnamed->path("main.sock")) + ", " +
	       handler(lua_quote(shared_mariadb().socket_path()), "") + ")\n";
}

Endpoint listener(const char *name)
{
	return Endpoint::unix_socket(proxy->path(name));
}

SeenGreeting backend_greeting()
{
	auto seen = read_greeting(shared_mariadb().socket_path());
	PROXY_ASSERT(seen.has_value(), "no greeting from mariadbd");
	return *seen;
}

// The backend's version, once the proxy greets with it (the master has read the backend's greeting).
std::string learned_version()
{
	const std::string expected(backend_greeting().server_version);
	const std::string seen = wait_for_greeting_version(proxy->path("main.sock"), expected);
	PROXY_ASSERT_STR(seen, expected);
	return expected;
}

// 1,000 rows in one mysql_stmt_execute with STMT_ATTR_ARRAY_SIZE (column-wise binding); false with
// the client's error in @error.
bool bulk_insert(MysqlClient &c, const char *table, std::string &error)
{
	MYSQL_STMT *stmt = mysql_stmt_init(c.get());
	const std::string sql = std::string("INSERT INTO ") + table + " VALUES (?, ?)";
	if (mysql_stmt_prepare(stmt, sql.c_str(), sql.size()) != 0) {
		error = mysql_stmt_error(stmt);
		mysql_stmt_close(stmt);
		return false;
	}
	std::vector<int> ids(BULK_ROWS);
	std::vector<std::string> names(BULK_ROWS);
	std::vector<char *> name_pointers(BULK_ROWS);
	std::vector<unsigned long> name_lengths(BULK_ROWS);
	for (unsigned i = 0; i < BULK_ROWS; ++i) {
		ids[i] = int(i) + 1;
		names[i] = "row-" + std::to_string(i + 1);
		name_pointers[i] = names[i].data();
		name_lengths[i] = names[i].size();
	}
	MYSQL_BIND bind[2];
	std::memset(bind, 0, sizeof(bind));
	bind[0].buffer_type = MYSQL_TYPE_LONG;
	bind[0].buffer = ids.data();
	bind[1].buffer_type = MYSQL_TYPE_STRING;
	bind[1].buffer = name_pointers.data();
	bind[1].length = name_lengths.data();
	unsigned int array_size = BULK_ROWS;
	bool ok = mysql_stmt_attr_set(stmt, STMT_ATTR_ARRAY_SIZE, &array_size) == 0 &&
		  mysql_stmt_bind_param(stmt, bind) == 0 && mysql_stmt_execute(stmt) == 0;
	if (!ok)
		error = mysql_stmt_error(stmt);
	else if (mysql_stmt_affected_rows(stmt) != BULK_ROWS)
		error = "affected rows " + std::to_string(mysql_stmt_affected_rows(stmt)), ok = false;
	mysql_stmt_close(stmt);
	return ok;
}

} // namespace

START_TEST(test_greeting_version_is_the_backends)
{
	const std::string version = learned_version();
	MysqlClient direct, proxied;
	PROXY_ASSERT(direct.connect(shared_mariadb().socket(), "alice", "alice-pw"), "direct: %s", direct.error().c_str());
	PROXY_ASSERT(proxied.connect(listener("main.sock"), "alice", "alice-pw"), "login: %s", proxied.error().c_str());
	PROXY_ASSERT_STR(mysql_get_server_info(proxied.get()), mysql_get_server_info(direct.get()));
	PROXY_ASSERT(mysql_get_server_version(proxied.get()) == mysql_get_server_version(direct.get()), "%lu vs %lu",
		     mysql_get_server_version(proxied.get()), mysql_get_server_version(direct.get()));
	// The script's client.server_version in on_connect is what the greeting announces.
	MysqlClient seen;
	PROXY_CHECK(!seen.connect(listener("seen.sock"), "alice", "alice-pw"));
	PROXY_ASSERT_STR(seen.message(), "on_connect saw " + version);
}
END_TEST

START_TEST(test_greeting_carries_the_backends_capabilities)
{
	learned_version();
	const SeenGreeting backend = backend_greeting();
	const auto proxied = read_greeting(proxy->path("main.sock"));
	PROXY_ASSERT(proxied.has_value(), "no greeting from myproxy");
	const SeenGreeting &ours = *proxied;
	const SeenGreeting &theirs = backend;
	PROXY_ASSERT((theirs.capabilities & LONG_PASSWORD) == 0, "mariadbd announces no extended capabilities");
	PROXY_ASSERT((ours.capabilities & LONG_PASSWORD) == 0, "myproxy announces CLIENT_MYSQL: 0x%x", ours.capabilities);
	PROXY_ASSERT(ours.mariadb_capabilities == (theirs.mariadb_capabilities & RELAYED_EXTENDED),
		     "extended 0x%x, backend 0x%x", ours.mariadb_capabilities, theirs.mariadb_capabilities);
	PROXY_ASSERT(ours.mariadb_capabilities & STMT_BULK_OPERATIONS, "no STMT_BULK_OPERATIONS: 0x%x",
		     ours.mariadb_capabilities);
	PROXY_ASSERT(!(ours.mariadb_capabilities & COM_MULTI), "COM_MULTI would hide commands from myproxy");
	// Every standard flag announced is one the backend offers too (CLIENT_SSL aside: per listener).
	PROXY_ASSERT((ours.capabilities & ~theirs.capabilities) == 0, "announced beyond the backend: 0x%x",
		     ours.capabilities & ~theirs.capabilities);
	PROXY_ASSERT(ours.character_set == theirs.character_set, "collation %u, backend %u", ours.character_set,
		     theirs.character_set);
}
END_TEST

START_TEST(test_array_bound_insert)
{
	learned_version();
	shared_mariadb().execute("CREATE TABLE IF NOT EXISTS offerdb.bulk (id INT PRIMARY KEY, name VARCHAR(32))");
	shared_mariadb().execute("DELETE FROM offerdb.bulk");
	MysqlClient c;
	PROXY_ASSERT(c.connect(listener("main.sock"), "alice", "alice-pw"), "login: %s", c.error().c_str());
	std::string error;
	PROXY_ASSERT(bulk_insert(c, "offerdb.bulk", error), "array-bound INSERT: %s", error.c_str());
	PROXY_ASSERT_STR(c.text("SELECT COUNT(*) FROM offerdb.bulk"), std::to_string(BULK_ROWS));
	PROXY_ASSERT_STR(c.text("SELECT name FROM offerdb.bulk WHERE id = 1000"), "row-1000");
	// The session goes on.
	PROXY_ASSERT_STR(c.text("SELECT 6 * 7"), "42");
}
END_TEST

START_TEST(test_on_connect_version_wins)
{
	learned_version();
	const auto greeting = read_greeting(proxy->path("version.sock"));
	PROXY_ASSERT(greeting.has_value(), "no greeting");
	PROXY_ASSERT_STR(greeting->server_version, OVERRIDE_VERSION);
	MysqlClient c;
	PROXY_ASSERT(c.connect(listener("version.sock"), "alice", "alice-pw"), "login: %s", c.error().c_str());
	PROXY_ASSERT_STR(mysql_get_server_info(c.get()), OVERRIDE_VERSION);
}
END_TEST

// config.lua names no backend: the fixed set and the default version, as man/myproxy.8 says.
START_TEST(test_nothing_known_announces_the_default)
{
	const auto greeting = read_greeting(unnamed->path("main.sock"));
	PROXY_ASSERT(greeting.has_value(), "no greeting");
	PROXY_ASSERT_STR(greeting->server_version, "10.11.99-MariaDB-myproxy");
	PROXY_ASSERT(greeting->capabilities & LONG_PASSWORD, "extended capabilities without knowledge");
	shared_mariadb().execute("CREATE TABLE IF NOT EXISTS offerdb.refused (id INT PRIMARY KEY, name VARCHAR(32))");
	MysqlClient c;
	PROXY_ASSERT(c.connect(Endpoint::unix_socket(unnamed->path("main.sock")), "alice", "alice-pw"), "login: %s",
		     c.error().c_str());
	std::string error;
	PROXY_CHECK(!bulk_insert(c, "offerdb.refused", error));
	PROXY_ASSERT(error.find("Bulk operation") != std::string::npos, "%s", error.c_str());
	PROXY_ASSERT_STR(c.text("SELECT COUNT(*) FROM offerdb.refused"), "0");
}
END_TEST

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT(proxy->running() && unnamed->running(), "myproxy is no longer running");
	PROXY_ASSERT(proxy->log().find("greetings announce") != std::string::npos, "no announcement logged");
	PROXY_ASSERT_CLEAN_SHUTDOWN(*unnamed);
	PROXY_ASSERT_CLEAN_SHUTDOWN(*proxy);
}
END_TEST

static Suite *offer_suite()
{
	Suite *s = suite_create("proxy_backend_offer");
	TCase *tc = server_tcase("learned", 120);
	tcase_add_test(tc, test_greeting_version_is_the_backends);
	tcase_add_test(tc, test_greeting_carries_the_backends_capabilities);
	tcase_add_test(tc, test_array_bound_insert);
	tcase_add_test(tc, test_on_connect_version_wins);
	suite_add_tcase(s, tc);

	tc = server_tcase("unknown", 60);
	tcase_add_test(tc, test_nothing_known_announces_the_default);
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
	const int rc = run_suites_with_servers(spec, {offer_suite()}, [] {
		MariaDbServer &db = shared_mariadb();
		db.create_database("offerdb");
		db.create_user("alice", "alice-pw", "mysql_native_password", "ALL ON offerdb.*");
		proxy = new ProxyProcess;
		proxy->start(config_lua(), {proxy->path("main.sock"), proxy->path("seen.sock"), proxy->path("version.sock")});
		unnamed = new ProxyProcess;
		unnamed->start(unnamed_config_lua(), {unnamed->path("main.sock")});
	});
	mysql_library_end();
	return rc;
}
