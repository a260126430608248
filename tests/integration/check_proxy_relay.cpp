// End to end, the command phase: the real ./myproxy (two workers) relaying libmariadb and the
// mariadb CLI to a real mariadbd.  COM_INIT_DB through on_init_db (rename, refusal), prepared
// statements, multi-statements and multiple result sets, 20 MiB rows and statements (payloads
// split into 16 MiB packets), LOAD DATA LOCAL INFILE.  Sessions (COM_CHANGE_USER, many logins)
// are in check_proxy_sessions.cpp.
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using namespace myproxy::test;

namespace {

ProxyProcess *proxy = nullptr; // leaked on purpose: forked test children must not destroy it

constexpr std::size_t BIG = 20u << 20; // 20 MiB: more than one 16 MiB packet

Endpoint relay_socket()
{
	return Endpoint::unix_socket(proxy->path("relay.sock"));
}

std::string config_lua()
{
	const std::string handler =
		"{\n"
		"  on_handshake_response = function(client, hr)\n"
		"    client.account = hr.user\n"
		"    if hr.user == 'bob' then return client:connect(backend, hr, {read_timeout = 1}) end\n"
		"    return client:connect(backend, hr)\n"
		"  end,\n"
		"  on_init_db = function(client, db)\n"
		"    if db == 'alias_db' then return client:init_db('real_db') end\n"
		"    if db == 'forbidden_db' then\n"
		"      return client:err('no access to ' .. db .. ' for ' .. client.account)\n"
		"    end\n"
		"  end,\n"
		"}";
	return "worker_processes = 2\n"
	       "backend = " + lua_quote(shared_mariadb().socket_path()) + "\n"
	       "local handler = " + handler + "\n"
	       "mysql_listen(" + lua_quote(proxy->path("relay.sock")) + ", handler)\n";
}

void connect_or_fail(MysqlClient &c, std::string_view user, std::string_view password,
		     const ClientOptions &options = {})
{
	PROXY_ASSERT(c.connect(relay_socket(), user, password, options), "login as %.*s: %s", int(user.size()),
		     user.data(), c.error().c_str());
}

void exec_or_fail(MysqlClient &c, std::string_view sql)
{
	const SqlResult r = c.query(sql);
	PROXY_ASSERT(r.ok, "%.*s: %s", int(std::min<std::size_t>(sql.size(), 200)), sql.data(), r.error.c_str());
}

std::string md5_hex(std::string_view data)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned length = 0;
	EVP_Digest(data.data(), data.size(), digest, &length, EVP_md5(), nullptr);
	std::string hex;
	for (unsigned i = 0; i < length; ++i) {
		char two[3];
		std::snprintf(two, sizeof(two), "%02x", digest[i]);
		hex += two;
	}
	return hex;
}

// Every byte value, in an order that shifts every 64 KiB: a lost, doubled or moved chunk
// changes the digest.
std::string binary_pattern(std::size_t size)
{
	std::string data(size, '\0');
	for (std::size_t i = 0; i < size; ++i)
		data[i] = char((i * 7 + (i >> 16)) & 0xff);
	return data;
}

} // namespace

// --- COM_INIT_DB and on_init_db -----------------------------------------------------------------

START_TEST(test_select_db)
{
	MysqlClient c;
	connect_or_fail(c, "alice", "alice-pw");
	PROXY_ASSERT(mysql_select_db(c.get(), "other_db") == 0, "USE other_db: %s", c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT DATABASE()"), "other_db");

	// Renamed by the script.
	PROXY_ASSERT(mysql_select_db(c.get(), "alias_db") == 0, "USE alias_db: %s", c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT DATABASE()"), "real_db");

	// Refused by the script: an ERR, the connection stays where it was.
	PROXY_CHECK(mysql_select_db(c.get(), "forbidden_db") != 0);
	PROXY_ASSERT(c.error_code() == 1044, "expected ERR 1044, got %s", c.error().c_str());
	PROXY_ASSERT_STR(c.message(), "no access to forbidden_db for alice");
	PROXY_ASSERT_STR(c.text("SELECT DATABASE()"), "real_db");

	// Forwarded, refused by the backend.
	PROXY_CHECK(mysql_select_db(c.get(), "no_such_db") != 0);
	PROXY_ASSERT(c.error_code() == 1049, "expected ERR 1049, got %s", c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT 'still here'"), "still here");

	// The SQL statement USE is a COM_QUERY: the script never sees it.
	exec_or_fail(c, "USE other_db");
	PROXY_ASSERT_STR(c.text("SELECT DATABASE()"), "other_db");
}
END_TEST

START_TEST(test_use_via_cli)
{
	const std::vector<std::string> base = {"mariadb", "--no-defaults", "-S", proxy->path("relay.sock"),
					       "-u", "alice", "-palice-pw", "--batch", "--skip-column-names"};
	std::vector<std::string> argv = base;
	argv.insert(argv.end(), {"-e", "use alias_db\nSELECT DATABASE(); SELECT COUNT(*) FROM marker"});
	CommandOutput out = run_program(argv);
	PROXY_ASSERT(out.exit_code == 0, "mariadb exited %d: %s", out.exit_code, out.output.c_str());
	PROXY_ASSERT_STR(out.output, "real_db\n1\n");

	// The database given at login (-D) goes with the handshake, not through on_init_db.
	argv = base;
	argv.insert(argv.end(), {"-D", "other_db", "-e", "SELECT DATABASE()"});
	out = run_program(argv);
	PROXY_ASSERT(out.exit_code == 0, "mariadb exited %d: %s", out.exit_code, out.output.c_str());
	PROXY_ASSERT_STR(out.output, "other_db\n");

	argv = base;
	argv.insert(argv.end(), {"-e", "use forbidden_db\nSELECT 'not reached'"});
	out = run_program(argv);
	PROXY_ASSERT(out.exit_code != 0, "mariadb exited 0: %s", out.output.c_str());
	PROXY_ASSERT(contains(out.output, "1044") && contains(out.output, "no access to forbidden_db for alice"), "%s",
		     out.output.c_str());
	PROXY_CHECK(!contains(out.output, "not reached"));
}
END_TEST

// --- prepared statements -----------------------------------------------------------------------

namespace {

MYSQL_STMT *prepare_or_fail(MysqlClient &c, const char *sql)
{
	MYSQL_STMT *stmt = mysql_stmt_init(c.get());
	PROXY_CHECK(stmt != nullptr);
	PROXY_ASSERT(mysql_stmt_prepare(stmt, sql, std::strlen(sql)) == 0, "prepare %s: %s", sql,
		     mysql_stmt_error(stmt));
	return stmt;
}

} // namespace

namespace {

// Five rows through one prepared INSERT (every second note NULL), then a duplicate key.
void insert_ps_rows(MysqlClient &c)
{
	MYSQL_STMT *insert = prepare_or_fail(c, "INSERT INTO ps VALUES (?, ?, ?, ?)");
	PROXY_ASSERT(mysql_stmt_param_count(insert) == 4, "param count %lu", mysql_stmt_param_count(insert));
	int id_value = 0;
	std::string name;
	unsigned long name_length = 0;
	double amount = 0;
	my_bool note_null = 0;
	std::string note;
	unsigned long note_length = 0;
	MYSQL_BIND bind[4];
	std::memset(bind, 0, sizeof(bind));
	bind[0].buffer_type = MYSQL_TYPE_LONG;
	bind[0].buffer = &id_value;
	bind[1].buffer_type = MYSQL_TYPE_STRING;
	bind[1].length = &name_length;
	bind[2].buffer_type = MYSQL_TYPE_DOUBLE;
	bind[2].buffer = &amount;
	bind[3].buffer_type = MYSQL_TYPE_BLOB;
	bind[3].length = &note_length;
	bind[3].is_null = &note_null;
	for (int id = 1; id <= 5; ++id) {
		id_value = id;
		name = "name-" + std::to_string(id) + " with 'quotes' and \\";
		name_length = name.size();
		amount = id * 1.25;
		note_null = id % 2 == 0;
		note.assign(1000 * std::size_t(id), char('a' + id));
		note_length = note.size();
		bind[1].buffer = name.data();
		bind[1].buffer_length = name_length;
		bind[3].buffer = note.data();
		bind[3].buffer_length = note_length;
		PROXY_CHECK(mysql_stmt_bind_param(insert, bind) == 0);
		PROXY_ASSERT(mysql_stmt_execute(insert) == 0, "execute: %s", mysql_stmt_error(insert));
		PROXY_ASSERT(mysql_stmt_affected_rows(insert) == 1, "affected %llu",
			     static_cast<unsigned long long>(mysql_stmt_affected_rows(insert)));
	}
	// A duplicate key: the statement fails, the connection and the statement stay usable.
	PROXY_CHECK(mysql_stmt_execute(insert) != 0);
	PROXY_ASSERT(mysql_stmt_errno(insert) == 1062, "expected 1062, got %u %s", mysql_stmt_errno(insert),
		     mysql_stmt_error(insert));
	mysql_stmt_close(insert);
}

} // namespace

START_TEST(test_prepared_statements)
{
	MysqlClient c;
	ClientOptions options;
	options.database = "real_db";
	connect_or_fail(c, "alice", "alice-pw", options);
	exec_or_fail(c, "CREATE OR REPLACE TABLE ps (id INT PRIMARY KEY, name VARCHAR(100), amount DOUBLE, note TEXT)");

	insert_ps_rows(c);

	MYSQL_STMT *select = prepare_or_fail(c, "SELECT id, name, amount, note FROM ps WHERE id >= ? ORDER BY id");
	int from = 2;
	MYSQL_BIND param;
	std::memset(&param, 0, sizeof(param));
	param.buffer_type = MYSQL_TYPE_LONG;
	param.buffer = &from;
	PROXY_CHECK(mysql_stmt_bind_param(select, &param) == 0);
	for (int round = 0; round < 2; ++round) { // executed twice: the statement is reusable
		PROXY_ASSERT(mysql_stmt_execute(select) == 0, "execute: %s", mysql_stmt_error(select));
		int id = 0;
		char name[128];
		unsigned long name_length = 0;
		double amount = 0;
		static char note[8192];
		unsigned long note_length = 0;
		my_bool note_null = 0;
		MYSQL_BIND result[4];
		std::memset(result, 0, sizeof(result));
		result[0].buffer_type = MYSQL_TYPE_LONG;
		result[0].buffer = &id;
		result[1].buffer_type = MYSQL_TYPE_STRING;
		result[1].buffer = name;
		result[1].buffer_length = sizeof(name);
		result[1].length = &name_length;
		result[2].buffer_type = MYSQL_TYPE_DOUBLE;
		result[2].buffer = &amount;
		result[3].buffer_type = MYSQL_TYPE_BLOB;
		result[3].buffer = note;
		result[3].buffer_length = sizeof(note);
		result[3].length = &note_length;
		result[3].is_null = &note_null;
		PROXY_CHECK(mysql_stmt_bind_result(select, result) == 0);
		int expected = from;
		int status;
		while ((status = mysql_stmt_fetch(select)) == 0) {
			PROXY_ASSERT(id == expected, "row id %d, expected %d", id, expected);
			const std::string expected_name = "name-" + std::to_string(id) + " with 'quotes' and \\";
			PROXY_ASSERT_STR(std::string(name, name_length), expected_name);
			PROXY_ASSERT(amount == id * 1.25, "amount %f", amount);
			PROXY_ASSERT(bool(note_null) == (id % 2 == 0), "note NULL %d for id %d", int(note_null), id);
			if (!note_null)
				PROXY_CHECK(std::string(note, note_length) == std::string(1000 * id, char('a' + id)));
			++expected;
		}
		PROXY_ASSERT(status == MYSQL_NO_DATA, "fetch ended with %d: %s", status, mysql_stmt_error(select));
		PROXY_ASSERT(expected == 6, "got rows %d..%d", from, expected - 1);
	}
	mysql_stmt_close(select);

	// A statement that does not prepare; then the connection goes on.
	MYSQL_STMT *bad = mysql_stmt_init(c.get());
	const char *sql = "SELEC ? FROM nowhere";
	PROXY_CHECK(mysql_stmt_prepare(bad, sql, std::strlen(sql)) != 0);
	PROXY_ASSERT(mysql_stmt_errno(bad) == 1064, "expected 1064, got %u", mysql_stmt_errno(bad));
	mysql_stmt_close(bad);
	PROXY_ASSERT_STR(c.text("SELECT COUNT(*) FROM ps"), "5");
}
END_TEST

// --- several results -----------------------------------------------------------------------------

START_TEST(test_multi_statements)
{
	MysqlClient c;
	ClientOptions options;
	options.database = "real_db";
	options.flags = CLIENT_MULTI_STATEMENTS;
	connect_or_fail(c, "alice", "alice-pw", options);

	const char *sql = "SELECT 1; SELECT 'two', 2 UNION SELECT 'three', 3 ORDER BY 2; "
			  "CREATE TEMPORARY TABLE t (x INT); INSERT INTO t VALUES (10), (20), (30); "
			  "SELECT SUM(x) FROM t";
	PROXY_ASSERT(mysql_query(c.get(), sql) == 0, "%s", c.error().c_str());
	std::vector<std::string> seen;
	for (;;) {
		MYSQL_RES *result = mysql_store_result(c.get());
		if (result != nullptr) {
			std::string text = "rows:";
			while (MYSQL_ROW row = mysql_fetch_row(result)) {
				for (unsigned i = 0; i < mysql_num_fields(result); ++i)
					text += std::string(" ") + (row[i] != nullptr ? row[i] : "NULL");
				text += ";";
			}
			mysql_free_result(result);
			seen.push_back(text);
		} else {
			PROXY_ASSERT(mysql_field_count(c.get()) == 0, "%s", c.error().c_str());
			seen.push_back("affected:" + std::to_string(mysql_affected_rows(c.get())));
		}
		const int next = mysql_next_result(c.get());
		PROXY_ASSERT(next <= 0, "next result: %s", c.error().c_str());
		if (next < 0)
			break;
	}
	std::string all;
	for (const auto &s : seen)
		all += s + "|";
	PROXY_ASSERT_STR(all, "rows: 1;|rows: two 2; three 3;|affected:0|affected:3|rows: 60;|");

	// An error in the middle ends the batch; the connection goes on.
	PROXY_ASSERT(mysql_query(c.get(), "SELECT 1; SELEC 2; SELECT 3") == 0, "%s", c.error().c_str());
	mysql_free_result(mysql_store_result(c.get()));
	PROXY_CHECK(mysql_next_result(c.get()) > 0);
	PROXY_ASSERT(c.error_code() == 1064, "expected 1064, got %s", c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT 'after the error'"), "after the error");

	// A procedure with two result sets and the final status (CLIENT_MULTI_RESULTS).
	PROXY_ASSERT(mysql_query(c.get(), "CALL two_results(7)") == 0, "%s", c.error().c_str());
	int sets = 0;
	std::string values;
	do {
		MYSQL_RES *result = mysql_store_result(c.get());
		if (result != nullptr) {
			++sets;
			while (MYSQL_ROW row = mysql_fetch_row(result))
				values += std::string(row[0]) + ";";
			mysql_free_result(result);
		}
	} while (mysql_next_result(c.get()) == 0);
	PROXY_ASSERT(c.error_code() == 0, "%s", c.error().c_str());
	PROXY_ASSERT(sets == 2, "%d result sets", sets);
	PROXY_ASSERT_STR(values, "7;14;");
	PROXY_ASSERT_STR(c.text("SELECT 'after CALL'"), "after CALL");
}
END_TEST

// --- large payloads ------------------------------------------------------------------------------

START_TEST(test_big_row)
{
	MysqlClient c;
	connect_or_fail(c, "alice", "alice-pw");
	const std::string x = c.text("SELECT REPEAT('x', " + std::to_string(BIG) + ")");
	PROXY_ASSERT(x.size() == BIG, "got %zu bytes: %.100s", x.size(), x.c_str());
	PROXY_CHECK(x.find_first_not_of('x') == std::string::npos);

	// A pattern, so that a misplaced chunk shows; two rows, so that a row follows a big one.
	const std::string sql = "SELECT REPEAT('0123456789abcdef', " + std::to_string(BIG / 16) +
				") UNION ALL SELECT 'small row after'";
	PROXY_ASSERT(mysql_query(c.get(), sql.c_str()) == 0, "%s", c.error().c_str());
	MYSQL_RES *result = mysql_use_result(c.get());
	PROXY_CHECK(result != nullptr);
	MYSQL_ROW row = mysql_fetch_row(result);
	PROXY_CHECK(row != nullptr);
	const unsigned long length = mysql_fetch_lengths(result)[0];
	PROXY_ASSERT(length == BIG, "length %lu", length);
	for (std::size_t i = 0; i < BIG; i += 16)
		PROXY_ASSERT(std::memcmp(row[0] + i, "0123456789abcdef", 16) == 0, "corrupt at offset %zu", i);
	row = mysql_fetch_row(result);
	PROXY_CHECK(row != nullptr);
	PROXY_ASSERT_STR(row[0], "small row after");
	PROXY_CHECK(mysql_fetch_row(result) == nullptr);
	mysql_free_result(result);
	PROXY_ASSERT_STR(c.text("SELECT 'after'"), "after");
}
END_TEST

START_TEST(test_big_insert)
{
	MysqlClient c;
	ClientOptions options;
	options.database = "real_db";
	connect_or_fail(c, "alice", "alice-pw", options);
	exec_or_fail(c, "CREATE OR REPLACE TABLE big (id INT PRIMARY KEY, b LONGBLOB)");
	const std::string data = binary_pattern(BIG);
	const std::string digest = md5_hex(data);

	// One COM_QUERY of more than 40 MiB (every byte value, escaped): three packets and more.
	std::string sql = "INSERT INTO big VALUES (1, '";
	const std::size_t prefix = sql.size();
	sql.resize(prefix + 2 * data.size() + 1);
	const unsigned long escaped = mysql_real_escape_string(c.get(), sql.data() + prefix, data.data(), data.size());
	sql.resize(prefix + escaped);
	sql += "')";
	PROXY_ASSERT(mysql_real_query(c.get(), sql.data(), sql.size()) == 0, "INSERT of %zu bytes: %s", sql.size(),
		     c.error().c_str());
	sql.clear();
	sql.shrink_to_fit();
	PROXY_ASSERT_STR(c.text("SELECT CONCAT(LENGTH(b), ' ', MD5(b)) FROM big WHERE id = 1"),
			 std::to_string(BIG) + " " + digest);

	// The same bytes back through the relay.
	PROXY_ASSERT(mysql_query(c.get(), "SELECT b FROM big WHERE id = 1") == 0, "%s", c.error().c_str());
	MYSQL_RES *result = mysql_store_result(c.get());
	PROXY_CHECK(result != nullptr);
	MYSQL_ROW row = mysql_fetch_row(result);
	PROXY_CHECK(row != nullptr);
	PROXY_ASSERT(mysql_fetch_lengths(result)[0] == BIG, "length %lu", mysql_fetch_lengths(result)[0]);
	PROXY_CHECK(std::memcmp(row[0], data.data(), BIG) == 0);
	mysql_free_result(result);

	// A prepared statement with a 17 MiB parameter sent as long data.
	MYSQL_STMT *stmt = prepare_or_fail(c, "INSERT INTO big VALUES (2, ?)");
	MYSQL_BIND bind;
	std::memset(&bind, 0, sizeof(bind));
	bind.buffer_type = MYSQL_TYPE_LONG_BLOB;
	PROXY_CHECK(mysql_stmt_bind_param(stmt, &bind) == 0);
	const std::size_t long_size = 17u << 20;
	PROXY_ASSERT(mysql_stmt_send_long_data(stmt, 0, data.data(), long_size) == 0, "send_long_data: %s",
		     mysql_stmt_error(stmt));
	PROXY_ASSERT(mysql_stmt_execute(stmt) == 0, "execute: %s", mysql_stmt_error(stmt));
	mysql_stmt_close(stmt);
	PROXY_ASSERT_STR(c.text("SELECT CONCAT(LENGTH(b), ' ', MD5(b)) FROM big WHERE id = 2"),
			 std::to_string(long_size) + " " + md5_hex(std::string_view(data).substr(0, long_size)));
	exec_or_fail(c, "DROP TABLE big");
}
END_TEST

START_TEST(test_load_data_local_infile)
{
	// 20,000 lines of about 1 KiB: a 20 MB file.
	const std::string file = proxy->path("infile.tsv");
	std::size_t bytes = 0, text_bytes = 0;
	{
		std::ofstream out(file, std::ios::trunc);
		for (int i = 1; i <= 20000; ++i) {
			std::string text(1024 + i % 37, char('a' + i % 26));
			text += "#" + std::to_string(i);
			const std::string line = std::to_string(i) + "\t" + text + "\n";
			out << line;
			bytes += line.size();
			text_bytes += text.size();
		}
		PROXY_CHECK(bool(out.flush()));
	}
	PROXY_ASSERT(bytes > BIG, "only %zu bytes", bytes);

	MysqlClient c;
	ClientOptions options;
	options.database = "real_db";
	options.local_infile = true;
	connect_or_fail(c, "alice", "alice-pw", options);
	exec_or_fail(c, "CREATE OR REPLACE TABLE infile_rows (id INT PRIMARY KEY, s TEXT) ENGINE=MyISAM");
	const std::string sql = "LOAD DATA LOCAL INFILE " + mariadb_string_literal(file) + " INTO TABLE infile_rows";
	PROXY_ASSERT(mysql_real_query(c.get(), sql.data(), sql.size()) == 0, "%s", c.error().c_str());
	PROXY_ASSERT(mysql_affected_rows(c.get()) == 20000, "%llu rows",
		     static_cast<unsigned long long>(mysql_affected_rows(c.get())));
	PROXY_ASSERT_STR(c.text("SELECT CONCAT(COUNT(*), ' ', SUM(LENGTH(s))) FROM infile_rows"),
			 "20000 " + std::to_string(text_bytes));
	PROXY_ASSERT_STR(c.text("SELECT s FROM infile_rows WHERE id = 12345"),
			 std::string(1024 + 12345 % 37, char('a' + 12345 % 26)) + "#12345");
	PROXY_ASSERT_STR(c.text("SELECT 'after LOAD DATA'"), "after LOAD DATA");

	// A client that did not allow local files: the server refuses, the connection goes on.
	MysqlClient plain;
	options.local_infile = false;
	connect_or_fail(plain, "alice", "alice-pw", options);
	PROXY_CHECK(mysql_real_query(plain.get(), sql.data(), sql.size()) != 0);
	PROXY_ASSERT(plain.error_code() == 1148 || plain.error_code() == 4166 || plain.error_code() == 2068,
		     "unexpected error %s", plain.error().c_str());
	PROXY_ASSERT_STR(plain.text("SELECT 'still here'"), "still here");
	exec_or_fail(c, "DROP TABLE infile_rows");
}
END_TEST

// read_timeout = 1: a command whose backend stays silent for longer gets ERR 1158 (08S01) and the
// session closes; a shorter silence is fine; without the option a long silence is fine too.
START_TEST(test_read_timeout)
{
	MysqlClient bob;
	connect_or_fail(bob, "bob", "bob-pw");
	PROXY_ASSERT_STR(bob.text("SELECT CONCAT(SLEEP(0.2), 'quick')"), "0quick");
	const SqlResult slow = bob.query("SELECT SLEEP(8)");
	PROXY_ASSERT(!slow.ok && bob.error_code() == 1158, "a silent backend past read_timeout: %s",
		     bob.error().c_str());
	ck_assert_str_eq(mysql_sqlstate(bob.get()), "08S01");
	PROXY_ASSERT(contains(proxy->log(), "read_timeout"), "no read_timeout line in the log");

	MysqlClient alice;
	connect_or_fail(alice, "alice", "alice-pw");
	PROXY_ASSERT_STR(alice.text("SELECT CONCAT(SLEEP(2), 'patient')"), "0patient");
}
END_TEST

// --- last: the daemon survived all of it and shuts down cleanly -------------------------------

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*proxy);
}
END_TEST

static Suite *relay_suite()
{
	Suite *s = suite_create("proxy_relay");
	TCase *tc = server_tcase("init_db", 60);
	tcase_add_test(tc, test_select_db);
	tcase_add_test(tc, test_use_via_cli);
	suite_add_tcase(s, tc);

	tc = server_tcase("statements", 60);
	tcase_add_test(tc, test_prepared_statements);
	tcase_add_test(tc, test_multi_statements);
	suite_add_tcase(s, tc);

	tc = server_tcase("large", 120);
	tcase_add_test(tc, test_big_row);
	tcase_add_test(tc, test_big_insert);
	tcase_add_test(tc, test_load_data_local_infile);
	suite_add_tcase(s, tc);

	tc = server_tcase("timeouts", 60);
	tcase_add_test(tc, test_read_timeout);
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
	spec.mariadb.extra_args = {"--local-infile=1"};
	const int rc = run_suites_with_servers(spec, {relay_suite()}, [] {
		MariaDbServer &db = shared_mariadb();
		for (const char *name : {"real_db", "other_db"})
			db.create_database(name);
		db.execute("CREATE TABLE real_db.marker (x INT)");
		db.execute("INSERT INTO real_db.marker VALUES (1)");
		db.execute("CREATE PROCEDURE real_db.two_results(n INT) BEGIN SELECT n; SELECT n * 2; END");
		db.create_user("alice", "alice-pw");
		db.create_user("bob", "bob-pw");
		proxy = new ProxyProcess;
		proxy->start(config_lua(), {proxy->path("relay.sock")});
	});
	mysql_library_end();
	return rc;
}
