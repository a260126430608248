// End to end, the Lua libraries: the real ./myproxy (one worker) whose on_handshake_response looks
// the MySQL user up in a real PostgreSQL (fixture) through `pg` (hostaddr= over TCP with a schema,
// a UNIX socket directory for a second database), maps it to an account and a password_sha1 stored
// there, and logs in to a real mariadbd.  Parameters of every type, NULLs, errors, fetch modes,
// arrays through PostgreSQL, NOTIFY into db:listen(), 50 concurrent logins each waiting 0.2 s in
// PostgreSQL on one worker, a client that gives up while its query runs, a PostgreSQL restart
// under load, and a sealed box made by PyNaCl outside myproxy, opened in the script.
// Before <check.h>, whose fail() macro its headers would trip over: pg_pool_connections_max.
#include "worker/pg_pool.hpp"
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>
#include <openssl/evp.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>
// Last: <check.h> (through it) must follow the standard headers.
#include "tests/check_main.hpp"

using namespace myproxy::test;

namespace {

// Leaked on purpose: forked test children must not run its destructor.
ProxyProcess *proxy = nullptr;

Endpoint listener()
{
	return Endpoint::unix_socket(proxy->path("main.sock"));
}

std::string sha1_hex(std::string_view text)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned length = 0;
	EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha1(), nullptr);
	static const char hex[] = "0123456789abcdef";
	std::string out;
	for (unsigned i = 0; i < length; ++i) {
		out.push_back(hex[digest[i] >> 4]);
		out.push_back(hex[digest[i] & 15]);
	}
	return out;
}

std::string config_lua()
{
	PgServer &pg = shared_postgres();
	const std::string tcp = "hostaddr=127.0.0.1 port=" + std::to_string(pg.port()) + " dbname=accounts user=myproxy";
	const std::string socket = "host=" + pg.socket_dir() + " port=" + std::to_string(pg.port()) +
				   " dbname=accounts user=postgres";
	return "worker_processes = 1\n"
	       "local backend = " + lua_quote(shared_mariadb().socket_path()) + "\n"
	       "db = pg:new(" + lua_quote(tcp) + ", 'hosting')\n"
	       "local admin = pg:new(" + lua_quote(socket) + ")\n"
	       "local pk, sk = sodium.crypto_box_keypair()\n"
	       "last_notify = 'none'\n"
	       "sleeper_overlap = 0\n"
	       "db:listen('myproxy_test', function(payload)\n"
	       "  local r, e = db:execute('SELECT upper($1) AS u', {payload})\n"
	       "  last_notify = r and r:fetch().u or ('failed: ' .. tostring(e))\n"
	       "end)\n"
	       "\n"
	       "local function report(client, parts) return client:err(table.concat(parts, '|')) end\n"
	       "\n"
	       "local special = {\n"
	       "  types = function(client)\n"
	       "    local r, e = db:execute('SELECT $1::text AS s, $2::int8 AS i, $3::float8 AS f, $4::boolean AS t,'\n"
	       "      .. ' $5::boolean AS b, $6::text IS NULL AS isnull, NULL::text AS nothing, $7::numeric AS dec',\n"
	       "      {\"it's \\\"q\\\"\", 9007199254740993, 2.5, true, false, nil, 0.1, n = 7})\n"
	       "    if not r then return client:err('failed: ' .. e) end\n"
	       "    local row = r:fetch({}, 'n')\n"
	       "    return report(client, {r:numrows(), r:numcols(), table.concat(r:getcolnames(), ','), row[1], row[2],\n"
	       "      row[3], row[4], row[5], row[6], tostring(row[7]), row[8], tostring(r:fetch({}, 'n'))})\n"
	       "  end,\n"
	       "  fetch_a = function(client)\n"
	       "    local r = assert(db:execute(\"SELECT 'x' AS a, NULL AS b UNION ALL SELECT 'y', 'z'\"))\n"
	       "    local one, two = r:fetch(), r:fetch({}, 'a')\n"
	       "    return report(client, {one.a, tostring(one.b), two.a, two.b, tostring(r:fetch())})\n"
	       "  end,\n"
	       "  command = function(client)\n"
	       "    local r = assert(admin:execute('CREATE TEMP TABLE t (x int); INSERT INTO t VALUES (1), (2), (3)'))\n"
	       "    local u = assert(admin:execute('UPDATE t SET x = x + 1 WHERE x > $1', {1}))\n"
	       "    return report(client, {r:affected_rows(), u:affected_rows(), u:numrows()})\n"
	       "  end,\n"
	       "  pgerror = function(client)\n"
	       "    local r, e = db:execute('SELECT * FROM nonexistent')\n"
	       "    local r2, e2 = db:execute('SELECT $1::int', {'not a number'})\n"
	       "    return report(client, {tostring(r), e, tostring(r2), e2})\n"
	       "  end,\n"
	       "  arrays = function(client)\n"
	       "    local text = pg:encode_array({'a', 'b c', nil, '\"q\"\\\\', n = 4})\n"
	       "    local r = assert(db:execute('SELECT $1::text[] AS t, ARRAY[[1,2],[3,NULL]]::int[] AS m,'\n"
	       "      .. ' array_length($1::text[], 1) AS len', {text}))\n"
	       "    local row = r:fetch()\n"
	       "    local t, m = pg:decode_array(row.t), pg:decode_array(row.m)\n"
	       "    return report(client, {row.len, t.n, t[1], t[2], tostring(t[3]), t[4], m[1][2], tostring(m[2][2]),\n"
	       "      pg:encode_array(t) == row.t and 'same' or (pg:encode_array(t) .. ' ~= ' .. row.t)})\n"
	       "  end,\n"
	       "  notified = function(client) return client:err('notify=' .. last_notify) end,\n"
	       "  overlap = function(client) return client:err('overlap=' .. sleeper_overlap) end,\n"
	       "  sodium_pk = function(client) return client:err(sodium.bin2hex(pk)) end,\n"
	       "  sealed = function(client, hr)\n"
	       "    local message, e = sodium.crypto_box_seal_open(sodium.hex2bin(hr.password) or '', pk, sk)\n"
	       "    return client:err('opened=' .. tostring(message or e))\n"
	       "  end,\n"
	       "  slow = function(client) db:execute('SELECT pg_sleep(3)'); return client:err('too late') end,\n"
	       "}\n"
	       "\n"
	       "mysql_listen(" + lua_quote(proxy->path("main.sock")) + ", {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    local user = hr.user\n"
	       "    if special[user] then return special[user](client, hr) end\n"
	       "    if user == 'sleeper' then\n"
	       "      local r = assert(db:execute('SELECT pg_sleep(0.2), (SELECT count(*) FROM pg_stat_activity'\n"
	       "        .. ' WHERE state = \\'active\\' AND query LIKE \\'SELECT pg_sleep(0.2), %\\') AS overlap'))\n"
	       "      sleeper_overlap = math.max(sleeper_overlap, tonumber(r:fetch().overlap))\n"
	       "      user = 'alice'\n"
	       "    end\n"
	       "    local r = assert(db:execute('SELECT account, backend_user, password_sha1 FROM accounts'\n"
	       "      .. ' WHERE mysql_user = $1', {user}))\n"
	       "    local row = r:fetch({}, 'a')\n"
	       "    if not row then return client:err('unknown user ' .. user) end\n"
	       "    client.account = row.account\n"
	       "    hr.user = row.backend_user\n"
	       "    hr.password = nil\n"
	       "    hr.password_sha1 = sodium.hex2bin(row.password_sha1)\n"
	       "    return client:connect(backend, hr)\n"
	       "  end,\n"
	       "})\n";
}

// The message of the ERR the script answers @user with.
std::string script_answer(const char *user, const char *password = "x")
{
	MysqlClient c;
	PROXY_ASSERT(!c.connect(listener(), user, password), "%s logged in", user);
	return c.message();
}

void assert_alice_logs_in()
{
	MysqlClient c;
	PROXY_ASSERT(c.connect(listener(), "alice", "anything"), "login: %s", c.error().c_str());
	const SqlResult r = c.query("SELECT CURRENT_USER()");
	PROXY_ASSERT(r.ok && r.text() == "acct_alice@localhost", "CURRENT_USER() %s %s", r.text().c_str(),
		     r.error.c_str());
}

} // namespace

START_TEST(test_login_mapped_through_pg)
{
	assert_alice_logs_in();
	MysqlClient c;
	PROXY_ASSERT(!c.connect(listener(), "mallory", "x"), "mallory logged in");
	PROXY_ASSERT(c.error_code() == 1045, "%s", c.error().c_str());
	PROXY_ASSERT_STR(c.message(), "unknown user mallory");
}
END_TEST

START_TEST(test_parameters_and_results)
{
	PROXY_ASSERT_STR(script_answer("types"),
			 "1|8|s,i,f,t,b,isnull,nothing,dec|it's \"q\"|9007199254740993|2.5|t|f|t|nil|0.1|nil");
	PROXY_ASSERT_STR(script_answer("fetch_a"), "x|nil|y|z|nil");
	PROXY_ASSERT_STR(script_answer("command"), "3|2|0");
}
END_TEST

START_TEST(test_errors_are_nil_and_message)
{
	const std::string answer = script_answer("pgerror");
	PROXY_ASSERT(answer == "nil|ERROR:  relation \"nonexistent\" does not exist|nil|"
			       "ERROR:  invalid input syntax for type integer: \"not a number\"",
		     "%s", answer.c_str());
	assert_alice_logs_in();
}
END_TEST

START_TEST(test_arrays_round_trip)
{
	PROXY_ASSERT_STR(script_answer("arrays"), "4|4|a|b c|nil|\"q\"\\|2|nil|same");
}
END_TEST

START_TEST(test_notify_reaches_listen)
{
	shared_postgres().execute("SELECT pg_notify('myproxy_test', 'payload-1')", "accounts");
	std::string answer;
	for (int i = 0; i < 50; ++i) {
		answer = script_answer("notified");
		if (answer == "notify=PAYLOAD-1")
			break;
		std::this_thread::sleep_for(std::chrono::milliseconds(100));
	}
	PROXY_ASSERT_STR(answer, "notify=PAYLOAD-1");
}
END_TEST

// 50 logins at once, each waiting 0.2 s in PostgreSQL, on one worker.  A worker that waited for
// PostgreSQL would have one query in flight at a time; each sleeper's query counts the sleepers'
// queries active in PostgreSQL when it runs (itself included), so the highest count proves the
// overlap, and the pool's connection cap bounds it.
START_TEST(test_queries_do_not_block_the_worker)
{
	constexpr int logins = 50;
	std::atomic<int> ok{0};
	std::vector<std::string> errors(logins);
	std::vector<std::thread> threads;
	for (int i = 0; i < logins; ++i)
		threads.emplace_back([i, &ok, &errors] {
			MysqlClient c;
			if (c.connect(listener(), "sleeper", "x") && c.text("SELECT CURRENT_USER()") == "acct_alice@localhost")
				++ok;
			else
				errors[std::size_t(i)] = c.error();
		});
	for (auto &t : threads)
		t.join();
	for (const std::string &e : errors)
		PROXY_ASSERT(e.empty(), "a login failed: %s", e.c_str());
	PROXY_ASSERT(ok == logins, "%d of %d logins", ok.load(), logins);
	const std::string overlap = script_answer("overlap");
	std::fprintf(stderr, "50 concurrent logins with pg_sleep(0.2): %s\n", overlap.c_str());
	PROXY_ASSERT(overlap.starts_with("overlap="), "%s", overlap.c_str());
	const int most = std::atoi(overlap.c_str() + std::strlen("overlap="));
	PROXY_ASSERT(most >= 2, "one query at a time (%s): the worker waited for PostgreSQL", overlap.c_str());
	PROXY_ASSERT(most <= int(myproxy::pg_pool_connections_max), "%s: more than the pool's cap of %zu connections",
		     overlap.c_str(), myproxy::pg_pool_connections_max);
}
END_TEST

// The client gives up (read timeout) while its query runs: the worker closes it at once, drops the
// result when it arrives, and serves the next client.
START_TEST(test_client_gone_while_query_runs)
{
	ClientOptions options;
	options.read_timeout = 1;
	MysqlClient c;
	PROXY_ASSERT(!c.connect(listener(), "slow", "x", options), "slow logged in");
	assert_alice_logs_in();
	std::this_thread::sleep_for(std::chrono::milliseconds(2500)); /* the pg_sleep(3) ends */
	assert_alice_logs_in();
	PROXY_ASSERT(proxy->running(), "myproxy died");
	PROXY_ASSERT(proxy->trouble().empty(), "trouble in the log:\n%s", proxy->trouble().c_str());
}
END_TEST

START_TEST(test_sealed_box_from_pynacl)
{
	const std::string pk_hex = script_answer("sodium_pk");
	PROXY_ASSERT(pk_hex.size() == 64, "public key: %s", pk_hex.c_str());
	const std::string code = "import sys, binascii\n"
				 "from nacl.public import PublicKey, SealedBox\n"
				 "pk = PublicKey(binascii.unhexlify(sys.argv[1]))\n"
				 "print(binascii.hexlify(SealedBox(pk).encrypt(b'sealed by python')).decode())\n";
	const CommandOutput out = run_program({SYSTEM_PYTHON3, "-c", code, pk_hex});
	PROXY_ASSERT(out.exit_code == 0, "python3-nacl: %s", out.output.c_str());
	std::string box = out.output;
	while (!box.empty() && (box.back() == '\n' || box.back() == '\r'))
		box.pop_back();
	PROXY_ASSERT_STR(script_answer("sealed", box.c_str()), "opened=sealed by python");
	std::string altered = box;
	altered[10] = altered[10] == '0' ? '1' : '0';
	const std::string refused = script_answer("sealed", altered.c_str());
	PROXY_ASSERT(contains(refused, "crypto_box_seal_open failed"), "%s", refused.c_str());
}
END_TEST

// Logins keep coming while PostgreSQL restarts: some fail cleanly (ERR), none hangs, the worker
// lives, and once PostgreSQL is back the pool has reconnected.
START_TEST(test_postgres_restart_under_load)
{
	std::atomic<bool> stop{false};
	std::atomic<int> ok{0}, failed{0};
	std::vector<std::thread> threads;
	for (int i = 0; i < 4; ++i)
		threads.emplace_back([&] {
			while (!stop) {
				MysqlClient c;
				if (c.connect(listener(), "alice", "x"))
					++ok;
				else
					++failed;
			}
		});
	std::this_thread::sleep_for(std::chrono::milliseconds(500));
	shared_postgres().restart();
	std::this_thread::sleep_for(std::chrono::milliseconds(500));
	const int ok_before = ok;
	bool recovered = false;
	for (int i = 0; i < 100 && !recovered; ++i) {
		std::this_thread::sleep_for(std::chrono::milliseconds(100));
		recovered = ok > ok_before;
	}
	stop = true;
	for (auto &t : threads)
		t.join();
	std::fprintf(stderr, "during the restart: %d logins, %d refused\n", ok.load(), failed.load());
	PROXY_ASSERT(recovered, "no login succeeded after the restart (%d ok, %d failed)", ok.load(), failed.load());
	assert_alice_logs_in();
	/* The primary connection came back too: LISTEN was issued again. */
	shared_postgres().execute("SELECT pg_notify('myproxy_test', 'after-restart')", "accounts");
	std::string answer;
	for (int i = 0; i < 50 && answer != "notify=AFTER-RESTART"; ++i) {
		std::this_thread::sleep_for(std::chrono::milliseconds(100));
		answer = script_answer("notified");
	}
	PROXY_ASSERT_STR(answer, "notify=AFTER-RESTART");
	PROXY_ASSERT(contains(proxy->log(), "connection lost"), "no 'connection lost' logged");
}
END_TEST

// conninfo is checked while config.lua loads: what a worker could not use is a config error.
START_TEST(test_conninfo_checked_at_startup)
{
	const char *bad[][2] = {
		{"host=db.example.com dbname=x", "host=db.example.com needs a name lookup"},
		{"host=cafe dbname=x", "host=cafe needs a name lookup"},
		{"service=panel", "service= needs pg_service.conf"},
		{"hostaddr=192.0.2.1 junk", "missing \"=\" after \"junk\""},
	};
	for (const auto &[conninfo, message] : bad) {
		const std::string path = proxy->path("bad-conninfo.lua");
		FILE *f = std::fopen(path.c_str(), "w");
		PROXY_CHECK(f != nullptr);
		std::fprintf(f, "local db = pg:new(%s)\nmysql_listen('/nonexistent/x.sock', {on_handshake_response = "
			     "function() end})\n", lua_quote(conninfo).c_str());
		std::fclose(f);
		const CommandOutput out = run_myproxy({"--check-config", "--config", path});
		PROXY_ASSERT(out.exit_code == 78, "%s: exit %d: %s", conninfo, out.exit_code, out.output.c_str());
		PROXY_ASSERT(contains(out.output, path + ":1: bad argument") && contains(out.output, message), "%s",
			     out.output.c_str());
	}
	for (const char *good : {"host=/run/postgresql dbname=x", "hostaddr=::1 port=5433", "host=127.0.0.1,10.0.0.2"}) {
		const std::string path = proxy->path("good-conninfo.lua");
		FILE *f = std::fopen(path.c_str(), "w");
		PROXY_CHECK(f != nullptr);
		std::fprintf(f, "local db = pg:new(%s)\nmysql_listen('/nonexistent/x.sock', {on_handshake_response = "
			     "function() end})\n", lua_quote(good).c_str());
		std::fclose(f);
		const CommandOutput out = run_myproxy({"--check-config", "--config", path});
		PROXY_ASSERT(out.exit_code == 0, "%s: %s", good, out.output.c_str());
	}
}
END_TEST

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*proxy);
}
END_TEST

static Suite *pg_suite()
{
	Suite *s = suite_create("proxy_pg");
	TCase *tc = server_tcase("queries", 60);
	tcase_add_test(tc, test_login_mapped_through_pg);
	tcase_add_test(tc, test_parameters_and_results);
	tcase_add_test(tc, test_errors_are_nil_and_message);
	tcase_add_test(tc, test_arrays_round_trip);
	tcase_add_test(tc, test_notify_reaches_listen);
	tcase_add_test(tc, test_sealed_box_from_pynacl);
	tcase_add_test(tc, test_conninfo_checked_at_startup);
	suite_add_tcase(s, tc);

	tc = server_tcase("non_blocking", 60);
	tcase_add_test(tc, test_queries_do_not_block_the_worker);
	tcase_add_test(tc, test_client_gone_while_query_runs);
	suite_add_tcase(s, tc);

	tc = server_tcase("restart", 120);
	tcase_add_test(tc, test_postgres_restart_under_load);
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
	spec.postgres = true;
	const int rc = run_suites_with_servers(spec, {pg_suite()}, [] {
		MariaDbServer &db = shared_mariadb();
		db.create_user("acct_alice", "alice-secret");
		PgServer &pg = shared_postgres();
		pg.create_user("myproxy", "unused");
		pg.create_database("accounts", "myproxy");
		pg.execute("CREATE SCHEMA hosting AUTHORIZATION myproxy", "accounts");
		pg.execute("CREATE TABLE hosting.accounts (mysql_user text PRIMARY KEY, account text NOT NULL,"
			   " backend_user text NOT NULL, password_sha1 text NOT NULL)", "accounts");
		pg.execute("INSERT INTO hosting.accounts VALUES ('alice', 'acme', 'acct_alice', '" +
				   sha1_hex("alice-secret") + "')", "accounts");
		pg.execute("GRANT USAGE ON SCHEMA hosting TO myproxy; GRANT SELECT ON hosting.accounts TO myproxy",
			   "accounts");
		proxy = new ProxyProcess;
		proxy->start(config_lua(), {proxy->path("main.sock")});
	});
	mysql_library_end();
	return rc;
}
