// End to end, refusals seen by clients that ask for TLS (issue 16): an on_connect refusal or a failing
// on_connect reaches libmariadb, the mariadb CLI, PHP (mysqli and PDO on mysqlnd), PyMySQL and Perl's
// DBD::mysql as the server's ERR (1045 or 1105 with its SQLSTATE), since myproxy greets, lets the client
// start TLS and answers its HandshakeResponse41 with the ERR, as MariaDB does for an ordinary user at
// max_connections.  Refusals the master makes before any worker sees the client (max_sessions_per_uid
// here) stay before the greeting, as MariaDB's own past its extra connection slot: a TLS client of
// libmariadb reports 2002 with the server's error in its text, a plain one the ERR itself.
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"
#include "tests/tls_certificates.hpp"

#include <check.h>

#include <string>
#include <vector>

using namespace myproxy::test;

namespace {

// Leaked on purpose: forked test children must not destroy them.
ProxyProcess *proxy = nullptr;
ProxyProcess *capped_proxy = nullptr;
TestCertificates certs;
std::uint16_t refuse_port = 0, broken_port = 0;

constexpr const char *refusal_text = "refused by on_connect";

std::string tls_options()
{
	return "{ssl_cert = " + lua_quote(certs.proxy_cert()) + ", ssl_key = " + lua_quote(certs.proxy_key()) + "}";
}

std::string config_lua()
{
	return "local function never(client, hr) return client:err('not reached') end\n"
	       "local refuse = {on_connect = function(client) return client:err('" + std::string(refusal_text) +
	       "') end, on_handshake_response = never}\n"
	       "local broken = {on_connect = function(client) error('on_connect broke on purpose') end,\n"
	       "  on_handshake_response = never}\n"
	       "mysql_listen('127.0.0.1:" + std::to_string(refuse_port) + "', refuse, " + tls_options() + ")\n"
	       "mysql_listen(" + lua_quote(proxy->path("refuse.sock")) + ", refuse, " + tls_options() + ")\n"
	       "mysql_listen('127.0.0.1:" + std::to_string(broken_port) + "', broken, " + tls_options() + ")\n";
}

// One session per uid: the next client of the same uid is refused by the master.
std::string capped_config_lua()
{
	return "max_sessions_per_uid = 1\n"
	       "local backend = mysql_resolve(" + lua_quote(shared_mariadb().socket_path()) + ")\n"
	       "mysql_listen(" + lua_quote(capped_proxy->path("capped.sock")) + ", {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    client.account = hr.user\n"
	       "    return client:connect(backend, hr)\n"
	       "  end,\n"
	       "}, " + tls_options() + ")\n";
}

Endpoint refuse_tcp()
{
	return Endpoint::tcp("127.0.0.1", refuse_port);
}

// libmariadb asked to use TLS; over TCP it also verifies the listener against the test CA (over a
// socket the host is "localhost", which the certificate does not name).
void require_tls(MysqlClient &c, bool verify)
{
	const my_bool yes = 1, no = 0;
	mysql_optionsv(c.get(), MYSQL_OPT_SSL_CA, certs.ca().c_str());
	mysql_optionsv(c.get(), MYSQL_OPT_SSL_VERIFY_SERVER_CERT, verify ? &yes : &no);
	mysql_optionsv(c.get(), MYSQL_OPT_SSL_ENFORCE, &yes);
}

void expect_refusal(MysqlClient &c, const Endpoint &endpoint, unsigned code, const char *sqlstate,
		    const char *message)
{
	PROXY_CHECK(!c.connect(endpoint, "alice", "alice-pw"));
	PROXY_ASSERT(c.error_code() == code && std::string(mysql_sqlstate(c.get())) == sqlstate &&
			     c.message() == message,
		     "expected ERROR %u (%s): %s, got %s", code, sqlstate, message, c.error().c_str());
}

// Runs a client program and expects its one line "CODE MESSAGE" to be @expected.
void expect_program_line(const std::vector<std::string> &argv, const std::string &expected)
{
	const CommandOutput out = run_program(argv);
	PROXY_ASSERT(out.exit_code == 0 && contains(out.output, expected), "%s: exit %d, output: %s (expected '%s')",
		     argv[0].c_str(), out.exit_code, out.output.c_str(), expected.c_str());
}

} // namespace

// --- refusals after the greeting (on_connect) -------------------------------------------------

START_TEST(test_libmariadb_tls_sees_on_connect_err)
{
	for (const Endpoint &endpoint : {refuse_tcp(), Endpoint::unix_socket(proxy->path("refuse.sock"))}) {
		MysqlClient tls;
		require_tls(tls, endpoint.socket_path.empty());
		expect_refusal(tls, endpoint, 1045, "28000", refusal_text);
		// Without TLS the client reads the same ERR.
		MysqlClient plain;
		expect_refusal(plain, endpoint, 1045, "28000", refusal_text);
	}
	// The worker logs the refusal before it sends it.
	PROXY_CHECK(contains(proxy->log(), std::string("refused after the greeting: ") + refusal_text));
}
END_TEST

START_TEST(test_libmariadb_tls_sees_on_connect_failure)
{
	MysqlClient tls;
	require_tls(tls, true);
	expect_refusal(tls, Endpoint::tcp("127.0.0.1", broken_port), 1105, "HY000", "myproxy: the login script failed");
}
END_TEST

START_TEST(test_cli_tls_sees_on_connect_err)
{
	const CommandOutput out =
		run_program({"mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", std::to_string(refuse_port), "-u",
			     "alice", "-palice-pw", "--ssl", "--ssl-ca=" + certs.ca(), "--ssl-verify-server-cert", "-e",
			     "SELECT 1"});
	PROXY_ASSERT(out.exit_code != 0 && contains(out.output, std::string("ERROR 1045 (28000): ") + refusal_text),
		     "mariadb --ssl: %s", out.output.c_str());
}
END_TEST

START_TEST(test_pymysql_tls_sees_on_connect_err)
{
	const char *script = "import sys, pymysql\n"
			     "try:\n"
			     "    pymysql.connect(host='127.0.0.1', port=int(sys.argv[1]), user='alice', password='x',\n"
			     "                    ssl={'ca': sys.argv[2]}, connect_timeout=10)\n"
			     "    print('connected')\n"
			     "except pymysql.err.MySQLError as e:\n"
			     "    print(e.args[0], e.args[1])\n";
	expect_program_line({"/usr/bin/python3", "-c", script, std::to_string(refuse_port), certs.ca()},
			    std::string("1045 ") + refusal_text);
}
END_TEST

START_TEST(test_perl_tls_sees_on_connect_err)
{
	const char *script = "use DBI;\n"
			     "my $dsn = \"DBI:mysql:host=127.0.0.1;port=$ARGV[0];mysql_ssl=1;mysql_ssl_ca_file=$ARGV[1];\"\n"
			     "  . 'mysql_ssl_optional=1';\n"
			     "my $db = DBI->connect($dsn, 'alice', 'x', {PrintError => 0, RaiseError => 0});\n"
			     "print $db ? \"connected\\n\" : \"$DBI::err ($DBI::state) $DBI::errstr\\n\";\n";
	expect_program_line({"/usr/bin/perl", "-e", script, std::to_string(refuse_port), certs.ca()},
			    std::string("1045 (28000) ") + refusal_text);
}
END_TEST

START_TEST(test_php_tls_sees_on_connect_err)
{
	const char *script =
		"mysqli_report(MYSQLI_REPORT_OFF);\n"
		"$m = mysqli_init();\n"
		"$m->ssl_set(null, null, $argv[2], null, null);\n"
		"if (@$m->real_connect('127.0.0.1', 'alice', 'x', null, (int)$argv[1], null, MYSQLI_CLIENT_SSL))\n"
		"  echo \"mysqli connected\\n\"; else echo 'mysqli ', $m->connect_errno, ' ', $m->connect_error, \"\\n\";\n"
		"try {\n"
		"  new PDO(\"mysql:host=127.0.0.1;port=$argv[1]\", 'alice', 'x', [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,\n"
		"          PDO::MYSQL_ATTR_SSL_CA => $argv[2]]);\n"
		"  echo \"pdo connected\\n\";\n"
		"} catch (PDOException $e) { echo 'pdo ', $e->getMessage(), \"\\n\"; }\n";
	const std::vector<std::string> argv = {"/usr/bin/php", "-r", script, "--", std::to_string(refuse_port),
					       certs.ca()};
	expect_program_line(argv, std::string("mysqli 1045 ") + refusal_text);
	// mysqlnd's PDO names HY000 for every connect error (MariaDB's own 1040 after the greeting too).
	expect_program_line(argv, std::string("pdo SQLSTATE[HY000] [1045] ") + refusal_text);
}
END_TEST

// --- refusals before the greeting (the master) ------------------------------------------------

START_TEST(test_master_refusal_before_greeting)
{
	const Endpoint capped = Endpoint::unix_socket(capped_proxy->path("capped.sock"));
	MysqlClient held;
	PROXY_ASSERT(held.connect(capped, "alice", "alice-pw"), "first session: %s", held.error().c_str());
	// As MariaDB past its extra slot: the plain client reads the ERR, the TLS client (libmariadb)
	// reports 2002 with the server's error in its text, never a bare lost connection.
	MysqlClient plain;
	PROXY_CHECK(!plain.connect(capped, "alice", "alice-pw"));
	PROXY_ASSERT(plain.error_code() == 1040 && contains(plain.message(), "Too many connections"), "plain: %s",
		     plain.error().c_str());
	MysqlClient tls;
	const my_bool yes = 1;
	mysql_optionsv(tls.get(), MYSQL_OPT_SSL_ENFORCE, &yes);
	PROXY_CHECK(!tls.connect(capped, "alice", "alice-pw"));
	PROXY_ASSERT(tls.error_code() == 2002 && contains(tls.message(), "1040 - Too many connections"), "tls: %s",
		     tls.error().c_str());
}
END_TEST

static Suite *refusals_suite()
{
	Suite *s = suite_create("proxy_refusals");
	TCase *tc = server_tcase("after_greeting", 120);
	tcase_add_test(tc, test_libmariadb_tls_sees_on_connect_err);
	tcase_add_test(tc, test_libmariadb_tls_sees_on_connect_failure);
	tcase_add_test(tc, test_cli_tls_sees_on_connect_err);
	tcase_add_test(tc, test_pymysql_tls_sees_on_connect_err);
	tcase_add_test(tc, test_perl_tls_sees_on_connect_err);
	tcase_add_test(tc, test_php_tls_sees_on_connect_err);
	suite_add_tcase(s, tc);
	tc = server_tcase("before_greeting", 60);
	tcase_add_test(tc, test_master_refusal_before_greeting);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	mysql_library_init(0, nullptr, nullptr);
	SharedServerSpec spec;
	const int rc = run_suites_with_servers(spec, {refusals_suite()}, [] {
		shared_mariadb().create_user("alice", "alice-pw");
		proxy = new ProxyProcess;
		certs = make_test_certificates(proxy->dir());
		refuse_port = pick_free_tcp_port();
		broken_port = pick_free_tcp_port();
		proxy->start(config_lua(), {"127.0.0.1:" + std::to_string(refuse_port), proxy->path("refuse.sock"),
					    "127.0.0.1:" + std::to_string(broken_port)});
		capped_proxy = new ProxyProcess;
		capped_proxy->start(capped_config_lua(), {capped_proxy->path("capped.sock")});
	});
	mysql_library_end();
	return rc;
}
