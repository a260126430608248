// End to end, COM_CHANGE_USER toward backend accounts on plugins other than mysql_native_password:
// libmariadb's mysql_change_user() through "front" (a real ./myproxy) to a real mariadbd account on
// ed25519 (the backend switches myproxy to client_ed25519), and to "back" (a second ./myproxy whose
// listeners offer only caching_sha2_password, so back asks for the password after the scramble)
// over a local socket and over TLS.  Which account a session ends up in shows in CURRENT_USER().
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"
#include "tests/tls_certificates.hpp"

#include <check.h>

#include <sys/stat.h>
#include <string>

using namespace myproxy::test;

namespace {

// Leaked on purpose: forked test children must not run their destructors.
ProxyProcess *front = nullptr;
ProxyProcess *back = nullptr;
std::uint16_t back_tls_port = 0;
TestCertificates certs;

std::string tcp(std::uint16_t port)
{
	return "127.0.0.1:" + std::to_string(port);
}

// back: caching_sha2_password only; the login's fast path (no cache: the script says nil) turns into
// the full path, and a change of user arrives with the password.  Users map to MariaDB accounts.
std::string back_config()
{
	const std::string db = lua_quote(shared_mariadb().socket_path());
	return "worker_processes = 1\n"
	       "local db = " + db + "\n"
	       "local passwords = { fast = 'fast-pw', full = 'full-pw' }\n"
	       "local accounts = { fast = 'via_fast', full = 'via_full' }\n"
	       "local function sha2_login(client, hr)\n"
	       "  if hr.password == nil then return nil end\n"
	       "  if passwords[hr.user] ~= hr.password then return client:err('wrong password for ' .. hr.user) end\n"
	       "  return client:connect(db, {user = accounts[hr.user], password = accounts[hr.user]:gsub('_', '-') .. '-pw'})\n"
	       "end\n"
	       "mysql_listen(" + lua_quote(back->path("sha2.sock")) + ", {on_handshake_response = sha2_login},\n"
	       "  {auth_plugins = 'caching_sha2_password'})\n"
	       "mysql_listen(" + lua_quote(tcp(back_tls_port)) + ", {on_handshake_response = sha2_login},\n"
	       "  {auth_plugins = 'caching_sha2_password', ssl_cert = " + lua_quote(certs.proxy_cert()) +
	       ", ssl_key = " + lua_quote(certs.proxy_key()) + "})\n";
}

std::string front_config()
{
	const std::string db = lua_quote(shared_mariadb().socket_path());
	auto forward = [](const std::string &address, const std::string &options) {
		return "{ on_handshake_response = function(client, hr) return client:connect(" + address + ", hr" +
		       options + ") end }";
	};
	return "worker_processes = 1\n"
	       "local db = " + db + "\n"
	       "local b_unix = " + lua_quote(back->path("sha2.sock")) + "\n"
	       "local b_tls = mysql_resolve(" + lua_quote(tcp(back_tls_port)) + ")\n"
	       "local ca = mysql_ssl_ca(" + lua_quote(certs.ca()) + ")\n"
	       "mysql_listen(" + lua_quote(front->path("direct.sock")) + ", " + forward("db", "") + ")\n"
	       "mysql_listen(" + lua_quote(front->path("chain_unix.sock")) + ", " + forward("b_unix", "") + ")\n"
	       "mysql_listen(" + lua_quote(front->path("chain_tls.sock")) + ", " +
	       forward("b_tls", ", {ssl = true, ssl_ca = ca}") + ")\n";
}

Endpoint at(ProxyProcess *p, const char *name)
{
	return Endpoint::unix_socket(p->path(name));
}

void assert_user(MysqlClient &c, const char *expected)
{
	const SqlResult r = c.query("SELECT CURRENT_USER()");
	PROXY_ASSERT(r.ok, "query failed: %s", r.error.c_str());
	PROXY_ASSERT_STR(r.text(), expected);
}

} // namespace

START_TEST(test_change_user_to_ed25519)
{
	set_current_proxy(front);
	MysqlClient c;
	PROXY_ASSERT(c.connect(at(front, "direct.sock"), "nat", "nat-pw"), "login: %s", c.error().c_str());
	assert_user(c, "nat@localhost");
	// nat logged in with mysql_native_password; ed's account is ed25519: MariaDB switches myproxy.
	PROXY_ASSERT(mysql_change_user(c.get(), "ed", "ed-pw", nullptr) == 0, "change user: %s", c.error().c_str());
	assert_user(c, "ed@localhost");
	// And from client_ed25519 back to a native account.
	PROXY_ASSERT(mysql_change_user(c.get(), "nat", "nat-pw", nullptr) == 0, "change user: %s", c.error().c_str());
	assert_user(c, "nat@localhost");

	MysqlClient wrong;
	PROXY_ASSERT(wrong.connect(at(front, "direct.sock"), "nat", "nat-pw"), "login: %s", wrong.error().c_str());
	PROXY_CHECK(mysql_change_user(wrong.get(), "ed", "not-ed-pw", nullptr) != 0);
	// MariaDB's own refusal of the ed25519 signature, relayed.
	PROXY_ASSERT(wrong.error_code() == 1045, "expected 1045, got %s", wrong.error().c_str());
}
END_TEST

START_TEST(test_change_user_to_caching_sha2)
{
	set_current_proxy(front);
	for (const char *listener : {"chain_unix.sock", "chain_tls.sock"}) {
		MysqlClient c;
		PROXY_ASSERT(c.connect(at(front, listener), "fast", "fast-pw"), "%s: login: %s", listener,
			     c.error().c_str());
		assert_user(c, "via_fast@localhost");
		PROXY_ASSERT(mysql_change_user(c.get(), "full", "full-pw", nullptr) == 0, "%s: change user: %s",
			     listener, c.error().c_str());
		assert_user(c, "via_full@localhost");

		MysqlClient wrong;
		PROXY_ASSERT(wrong.connect(at(front, listener), "fast", "fast-pw"), "%s: login: %s", listener,
			     wrong.error().c_str());
		PROXY_CHECK(mysql_change_user(wrong.get(), "full", "nope", nullptr) != 0);
		PROXY_ASSERT(wrong.message().find("wrong password for full") != std::string::npos,
			     "%s: expected back's refusal, got %s", listener, wrong.error().c_str());
	}
	// back saw caching_sha2_password's COM_CHANGE_USER from front, not a native one.
	PROXY_ASSERT(front->log().find("unsupported authentication method") == std::string::npos,
		     "front could not answer back");
}
END_TEST

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*front);
	PROXY_ASSERT_CLEAN_SHUTDOWN(*back);
}
END_TEST

static Suite *change_user_suite()
{
	Suite *s = suite_create("proxy_change_user");
	TCase *tc = server_tcase("backend_plugins", 60);
	tcase_add_test(tc, test_change_user_to_ed25519);
	tcase_add_test(tc, test_change_user_to_caching_sha2);
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
	const int rc = run_suites_with_servers(spec, {change_user_suite()}, [] {
		MariaDbServer &db = shared_mariadb();
		db.create_user("nat", "nat-pw");
		db.create_user("ed", "ed-pw", "ed25519");
		db.create_user("via_fast", "via-fast-pw");
		db.create_user("via_full", "via-full-pw");
		back = new ProxyProcess;
		front = new ProxyProcess;
		// front's workers run as nobody when the tests run as root: let them reach back's sockets.
		::chmod(back->dir().c_str(), 0711);
		back_tls_port = pick_free_tcp_port();
		certs = make_test_certificates(back->dir());
		back->start(back_config(), {back->path("sha2.sock"), tcp(back_tls_port)});
		front->start(front_config(), {front->path("direct.sock"), front->path("chain_unix.sock"),
					      front->path("chain_tls.sock")});
	});
	mysql_library_end();
	return rc;
}
