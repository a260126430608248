// End to end, TLS: the real ./myproxy (two workers) between libmariadb and real mariadbd instances,
// with certificates made by the openssl command-line tool (tests/tls_certificates.hpp).
// Toward the backend: a TLS-enabled MariaDB whose user REQUIRE SSL is reached with client:connect's
// ssl = true (CA file, CA directory, server name, IP address check, no verification); a wrong CA and a
// wrong server name fail with a clear ERR; a backend without TLS is never logged in to in clear text.
// Toward the client: libmariadb verifies the listener's certificate, a wrong CA fails on its side, a
// require_ssl listener refuses a plain client, and payloads above 16 MiB cross TLS on both sides.
// Clusters with ssl (mysql_cluster's ssl, ssl_ca as a path, the node's IP address verified): a
// REQUIRE SSL user logs in through the cluster, a wrong CA is a clear ERR, a connect call's own ssl
// options replace the cluster's, and the master's monitor checks over TLS with a REQUIRE SSL monitor
// user (alive), fails verification with the wrong CA (dead) and never checks a node without TLS.
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"
#include "tests/tls_certificates.hpp"

#include <check.h>
#include <openssl/evp.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

using namespace myproxy::test;

namespace {

// Leaked on purpose: forked test children must not destroy them.
ProxyProcess *proxy = nullptr;
MariaDbServer *plain_db = nullptr;
TempDir *cert_dir = nullptr;
TestCertificates certs;
std::uint16_t tls_port = 0, require_port = 0;

constexpr const char *password = "tls-pw";

// The client's user name picks how the script connects; the backend user is always tlsuser.
std::string config_lua()
{
	const MariaDbServer &tls_db = shared_mariadb();
	return "worker_processes = 2\n"
	       "local ca = mysql_ssl_ca(" + lua_quote(certs.ca()) + ")\n"
	       "local ca_dir = mysql_ssl_ca(" + lua_quote(certs.ca_dir()) + ")\n"
	       "local wrong_ca = mysql_ssl_ca(" + lua_quote(certs.wrong_ca()) + ")\n"
	       "local tls_db = mysql_resolve('127.0.0.1:" + std::to_string(tls_db.port()) + "')\n"
	       "local plain_db = mysql_resolve('127.0.0.1:" + std::to_string(plain_db->port()) + "')\n"
	       "local modes = {\n"
	       "  tls = {tls_db, {ssl = true, ssl_ca = ca, ssl_server_name = 'mariadb.test'}},\n"
	       "  tls_ip = {tls_db, {ssl = true, ssl_ca = ca_dir}},\n"
	       "  tls_noverify = {tls_db, {ssl = true, ssl_verify_server_cert = false}},\n"
	       "  tls_wrong_ca = {tls_db, {ssl = true, ssl_ca = wrong_ca, ssl_server_name = 'mariadb.test'}},\n"
	       "  tls_wrong_name = {tls_db, {ssl = true, ssl_ca = ca, ssl_server_name = 'other.test'}},\n"
	       "  plain = {tls_db, {}},\n"
	       "  tls_to_plain = {plain_db, {ssl = true, ssl_ca = ca, ssl_server_name = 'mariadb.test'}},\n"
	       "}\n"
	       // Clusters 0..2: ssl_ca as paths, loaded now; no ssl_server_name, so 127.0.0.1 is verified.
	       "local monitor = {monitoring = true, user = 'tlsmonitor', password = " + lua_quote(password) +
	       ", check_interval = 0.2}\n"
	       "local function with(t) for k, v in pairs(monitor) do t[k] = v end return t end\n"
	       "local tls_cluster = mysql_cluster({tls_db}, with{ssl = true, ssl_ca = " + lua_quote(certs.ca()) + "})\n"
	       "local wrong_ca_cluster = mysql_cluster({tls_db}, with{ssl = true, ssl_ca = " +
	       lua_quote(certs.wrong_ca()) + "})\n"
	       "local plain_cluster = mysql_cluster({plain_db}, with{ssl = true, ssl_ca = " + lua_quote(certs.ca_dir()) +
	       "})\n"
	       "local clusters = {\n"
	       "  cluster = {tls_cluster},\n"
	       "  cluster_wrong_ca = {wrong_ca_cluster},\n"
	       "  cluster_override = {wrong_ca_cluster, {ssl = true, ssl_ca = ca, ssl_server_name = 'mariadb.test'}},\n"
	       "  cluster_no_tls = {tls_cluster, {ssl = false}},\n"
	       "  cluster_to_plain = {plain_cluster},\n"
	       "}\n"
	       "local handler = {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    if hr.user == 'whoami' then return client:err('ssl=' .. tostring(client.ssl)) end\n"
	       "    local c = clusters[hr.user]\n"
	       "    if c then\n"
	       "      client.account = hr.user\n"
	       "      hr.user = 'tlsuser'\n"
	       "      return client:connect(c[1], hr, c[2])\n"
	       "    end\n"
	       "    local mode = modes[hr.user]\n"
	       "    if not mode then return client:err('unknown mode ' .. hr.user) end\n"
	       "    client.account = hr.user\n"
	       "    hr.user = 'tlsuser'\n"
	       "    return client:connect(mode[1], hr, mode[2])\n"
	       "  end,\n"
	       "}\n"
	       "local tls = {ssl_cert = " + lua_quote(certs.proxy_cert()) + ", ssl_key = " +
	       lua_quote(certs.proxy_key()) + "}\n"
	       "mysql_listen(" + lua_quote(proxy->path("plain.sock")) + ", handler)\n"
	       "mysql_listen('127.0.0.1:" + std::to_string(tls_port) + "', handler, tls)\n"
	       "mysql_listen('127.0.0.1:" + std::to_string(require_port) + "', handler, {ssl_cert = tls.ssl_cert, "
	       "ssl_key = tls.ssl_key, require_ssl = true})\n";
}

Endpoint plain_socket()
{
	return Endpoint::unix_socket(proxy->path("plain.sock"));
}

// The cipher of the backend connection, as the backend sees it ("" without TLS).
const char *backend_cipher_sql = "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
				 "WHERE VARIABLE_NAME = 'SSL_CIPHER'";

void connect_or_fail(MysqlClient &c, const Endpoint &endpoint, std::string_view user)
{
	PROXY_ASSERT(c.connect(endpoint, user, password), "login as %.*s: %s", int(user.size()), user.data(),
		     c.error().c_str());
}

// libmariadb asked to use TLS and verify the server against @ca (the server name is the host,
// 127.0.0.1, which the certificate carries as an IP address).
void require_tls(MysqlClient &c, const std::string &ca)
{
	const my_bool yes = 1;
	mysql_optionsv(c.get(), MYSQL_OPT_SSL_CA, ca.c_str());
	mysql_optionsv(c.get(), MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes);
	mysql_optionsv(c.get(), MYSQL_OPT_SSL_ENFORCE, &yes);
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

void expect_login_error(const Endpoint &endpoint, const char *user, unsigned code, const char *part)
{
	MysqlClient c;
	PROXY_ASSERT(!c.connect(endpoint, user, password), "login as %s succeeded", user);
	PROXY_ASSERT(c.error_code() == code && contains(c.message(), part), "login as %s: %s (expected %u with '%s')",
		     user, c.error().c_str(), code, part);
}

} // namespace

// --- toward the backend -----------------------------------------------------------------------

START_TEST(test_backend_tls)
{
	for (const char *mode : {"tls", "tls_ip", "tls_noverify"}) {
		MysqlClient c;
		connect_or_fail(c, plain_socket(), mode);
		const std::string cipher = c.text(backend_cipher_sql);
		PROXY_ASSERT(!cipher.empty() && cipher[0] != '<', "%s: backend cipher '%s'", mode, cipher.c_str());
		PROXY_ASSERT_STR(c.text("SELECT CURRENT_USER()"), "tlsuser@%");
	}
}
END_TEST

// The account really requires TLS: without ssl the backend itself refuses it.
START_TEST(test_backend_requires_ssl_user)
{
	expect_login_error(plain_socket(), "plain", 1045, "Access denied for user 'tlsuser'");
}
END_TEST

START_TEST(test_backend_verification_failures)
{
	expect_login_error(plain_socket(), "tls_wrong_ca", 1105, "certificate verification failed");
	expect_login_error(plain_socket(), "tls_wrong_name", 1105, "hostname mismatch");
	PROXY_CHECK(contains(proxy->log(), "TLS with backend 127.0.0.1:"));
}
END_TEST

// ssl = true toward a server that does not offer TLS: a clear ERR, never a cleartext login.
START_TEST(test_backend_without_tls)
{
	expect_login_error(plain_socket(), "tls_to_plain", 1105, "does not offer TLS, which ssl = true requires");
	// The password never went out: the server saw no failed login (only an aborted connection).
	const std::string denied = plain_db->execute("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
						     "WHERE VARIABLE_NAME = 'ACCESS_DENIED_ERRORS'")
					   .value_or("?");
	PROXY_ASSERT_STR(denied, "0");
}
END_TEST

// --- clusters with ssl ------------------------------------------------------------------------

// The monitor's line for a change of cluster @cluster's only node: "cluster 0 (FILE:LINE) node
// 127.0.0.1:P: unknown -> alive (read_only=0)"; waits up to 10 s and returns the line.
static std::string wait_change(int cluster, const char *to)
{
	const auto start = std::chrono::steady_clock::now();
	const std::string head = "cluster " + std::to_string(cluster) + " (";
	const std::string tail = std::string(": unknown -> ") + to + " (";
	for (;;) {
		std::istringstream log(proxy->log());
		for (std::string line; std::getline(log, line);)
			if (contains(line, head) && contains(line, tail))
				return line;
		PROXY_ASSERT(std::chrono::steady_clock::now() - start < std::chrono::seconds(10),
			     "cluster %d: no change to %s logged", cluster, to);
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
}

START_TEST(test_cluster_tls)
{
	MysqlClient c;
	connect_or_fail(c, plain_socket(), "cluster");
	const std::string cipher = c.text(backend_cipher_sql);
	PROXY_ASSERT(!cipher.empty() && cipher[0] != '<', "backend cipher '%s'", cipher.c_str());
	PROXY_ASSERT_STR(c.text("SELECT CURRENT_USER()"), "tlsuser@%");
	// The connect call's own ssl options replace the cluster's (here: its wrong CA).
	MysqlClient o;
	connect_or_fail(o, plain_socket(), "cluster_override");
	PROXY_ASSERT_STR(o.text("SELECT CURRENT_USER()"), "tlsuser@%");
}
END_TEST

START_TEST(test_cluster_tls_failures)
{
	expect_login_error(plain_socket(), "cluster_wrong_ca", 1105, "certificate verification failed");
	// ssl = false on the call: no TLS, so the REQUIRE SSL user is refused by the server itself.
	expect_login_error(plain_socket(), "cluster_no_tls", 1045, "Access denied for user 'tlsuser'");
	expect_login_error(plain_socket(), "cluster_to_plain", 1105, "does not offer TLS, which ssl = true requires");
}
END_TEST

// The master checks over TLS: the REQUIRE SSL monitor user makes the node alive; the wrong CA and a
// node without TLS make it dead, for the right reason.
START_TEST(test_cluster_monitoring_tls)
{
	const std::string alive = wait_change(0, "alive");
	PROXY_ASSERT(contains(alive, "(read_only=0)"), "%s", alive.c_str());
	const std::string wrong_ca = wait_change(1, "dead");
	PROXY_ASSERT(contains(wrong_ca, "certificate verification failed"), "%s", wrong_ca.c_str());
	const std::string plain = wait_change(2, "dead");
	PROXY_ASSERT(contains(plain, "TLS was required, but the server does not offer it"), "%s", plain.c_str());
	// Checks go on every 0.2 s and the node stays alive (a change is logged, so no line is the proof).
	std::this_thread::sleep_for(std::chrono::milliseconds(600));
	PROXY_CHECK(!contains(proxy->log(), "alive -> dead"));
}
END_TEST

// --- toward the client -------------------------------------------------------------------------

START_TEST(test_client_tls_verified)
{
	MysqlClient c;
	require_tls(c, certs.ca());
	connect_or_fail(c, Endpoint::tcp("127.0.0.1", tls_port), "tls");
	const char *cipher = mysql_get_ssl_cipher(c.get());
	PROXY_ASSERT(cipher != nullptr && *cipher != '\0', "no TLS between libmariadb and myproxy");
	PROXY_ASSERT_STR(c.text("SELECT 'over tls'"), "over tls");
	PROXY_ASSERT_STR(c.text("SELECT CURRENT_USER()"), "tlsuser@%");
	MysqlClient who;
	require_tls(who, certs.ca());
	PROXY_CHECK(!who.connect(Endpoint::tcp("127.0.0.1", tls_port), "whoami", password));
	PROXY_ASSERT_STR(who.message(), "ssl=true");

	// The same with a require_ssl listener.
	MysqlClient r;
	require_tls(r, certs.ca());
	connect_or_fail(r, Endpoint::tcp("127.0.0.1", require_port), "tls");
	PROXY_CHECK(mysql_get_ssl_cipher(r.get()) != nullptr);
}
END_TEST

// The client verifies: myproxy's certificate is not signed by the wrong CA.
START_TEST(test_client_tls_wrong_ca)
{
	MysqlClient c;
	require_tls(c, certs.wrong_ca());
	PROXY_ASSERT(!c.connect(Endpoint::tcp("127.0.0.1", tls_port), "tls", password), "login with the wrong CA worked");
	// libmariadb's own error: a TLS (client-side) failure, not an answer from the server.
	PROXY_ASSERT(c.error_code() == 2026, "expected CR_SSL_CONNECTION_ERROR, got %s", c.error().c_str());
	// myproxy goes on serving.
	MysqlClient ok;
	require_tls(ok, certs.ca());
	connect_or_fail(ok, Endpoint::tcp("127.0.0.1", tls_port), "tls");
}
END_TEST

// Without require_ssl the TLS listener serves plain clients too; with it, they get a clear ERR.
START_TEST(test_require_ssl)
{
	MysqlClient c;
	connect_or_fail(c, Endpoint::tcp("127.0.0.1", tls_port), "tls");
	PROXY_CHECK(mysql_get_ssl_cipher(c.get()) == nullptr);
	PROXY_ASSERT_STR(c.text("SELECT 1"), "1");
	expect_login_error(Endpoint::tcp("127.0.0.1", tls_port), "whoami", 1045, "ssl=false");

	expect_login_error(Endpoint::tcp("127.0.0.1", require_port), "tls", 1045, "requires SSL");
}
END_TEST

// The greeting's capabilities (lower 16 bits) from a raw Handshake V10 payload.
static unsigned greeting_capabilities(const std::string &payload)
{
	const std::size_t version_end = payload.find('\0', 1);
	const std::size_t at = version_end + 1 + 4 + 8 + 1;
	PROXY_ASSERT(version_end != std::string::npos && payload.size() >= at + 2, "short greeting");
	return std::uint8_t(payload[at]) | unsigned(std::uint8_t(payload[at + 1])) << 8;
}

// Hostile clients: an SSLRequest followed by junk instead of a ClientHello is logged and closed; an
// SSLRequest to a listener without TLS gets 1043.  CLIENT_SSL is announced only on TLS listeners.
START_TEST(test_tls_junk)
{
	constexpr unsigned client_ssl = 0x800, protocol_41 = 0x200;
	// The SSLRequest: capabilities, max packet size, character set, 23 zero bytes; sequence id 1.
	std::string ssl_request("\x20\x00\x00\x01", 4);
	const unsigned caps = client_ssl | protocol_41 | 0x8000 /* SECURE_CONNECTION */ | 0x80000 /* PLUGIN_AUTH */;
	for (int i = 0; i < 4; ++i)
		ssl_request += char((caps >> (8 * i)) & 0xff);
	ssl_request += std::string("\x00\x00\x00\x01\x2d", 5) + std::string(23, '\0');

	RawConnection tls("127.0.0.1:" + std::to_string(tls_port));
	auto greeting = tls.read_packet();
	PROXY_ASSERT(greeting.has_value(), "no greeting");
	PROXY_CHECK((greeting_capabilities(greeting->payload) & client_ssl) != 0);
	PROXY_CHECK(tls.send_bytes(ssl_request));
	PROXY_CHECK(tls.send_bytes(std::string(300, 'x')));
	PROXY_ASSERT(tls.wait_closed(std::chrono::seconds(10)), "the junk did not end the connection");

	RawConnection plain(proxy->path("plain.sock"));
	greeting = plain.read_packet();
	PROXY_ASSERT(greeting.has_value(), "no greeting");
	PROXY_CHECK((greeting_capabilities(greeting->payload) & client_ssl) == 0);
	PROXY_CHECK(plain.send_bytes(ssl_request));
	const auto err = plain.read_packet();
	PROXY_ASSERT(err.has_value(), "no answer to the SSLRequest");
	const auto error = parse_raw_error(err->payload);
	PROXY_ASSERT(error && error->code == 1043, "expected ERR 1043");

	PROXY_ASSERT(contains(proxy->log(), "TLS handshake with the client failed"), "no log line");
	// Still serving.
	MysqlClient c;
	require_tls(c, certs.ca());
	connect_or_fail(c, Endpoint::tcp("127.0.0.1", tls_port), "tls");
}
END_TEST

// More than 16 MiB each way with TLS on both sides: split packets cross TLS records and the relay's
// back-pressure works through OpenSSL's want-read/want-write.
START_TEST(test_large_payloads_over_tls)
{
	MysqlClient c;
	require_tls(c, certs.ca());
	connect_or_fail(c, Endpoint::tcp("127.0.0.1", tls_port), "tls");
	PROXY_CHECK(mysql_get_ssl_cipher(c.get()) != nullptr);
	const std::string cipher = c.text(backend_cipher_sql);
	PROXY_ASSERT(!cipher.empty() && cipher[0] != '<', "backend cipher '%s'", cipher.c_str());

	// Download: a 20 MiB value.
	constexpr std::size_t big = 20u << 20;
	std::string expected;
	expected.reserve(big);
	while (expected.size() < big)
		expected += "abcdefghijklmnopqrstuvwxyz0123456789";
	expected.resize(big);
	const std::string sql = "SELECT SUBSTRING(REPEAT('abcdefghijklmnopqrstuvwxyz0123456789', " +
				std::to_string(big / 36 + 1) + "), 1, " + std::to_string(big) + ")";
	const SqlResult r = c.query(sql);
	PROXY_ASSERT(r.ok, "%s", r.error.c_str());
	PROXY_ASSERT(r.value && r.value->size() == big, "got %zu bytes", r.value ? r.value->size() : 0);
	PROXY_ASSERT(md5_hex(*r.value) == md5_hex(expected), "the 20 MiB value changed on the way");

	// Upload: a 17 MiB statement.
	const std::string upload(17u << 20, 'q');
	PROXY_ASSERT_STR(c.text("SELECT MD5('" + upload + "')"), md5_hex(upload));
	PROXY_ASSERT_STR(c.text("SELECT 'still in sync'"), "still in sync");
}
END_TEST

// A bad certificate is a configuration error (exit 78) naming the file and line.
START_TEST(test_bad_certificate_config)
{
	const std::string config = proxy->path("bad-tls.lua");
	{
		std::ofstream out(config);
		out << "local h = {on_handshake_response = function(client, hr) end}\n"
		    << "mysql_listen('127.0.0.1:1', h, {ssl_cert = " << lua_quote(certs.proxy_cert())
		    << ", ssl_key = " << lua_quote(certs.mariadb_key()) << "})\n";
	}
	const CommandOutput out = run_myproxy({"--config=" + config, "--check-config"});
	PROXY_ASSERT(out.exit_code == 78, "exit %d: %s", out.exit_code, out.output.c_str());
	PROXY_ASSERT(contains(out.output, config + ":2: ssl_key") && contains(out.output, "does not match"), "%s",
		     out.output.c_str());
}
END_TEST

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*proxy);
}
END_TEST

static Suite *tls_suite()
{
	Suite *s = suite_create("proxy_tls");
	TCase *tc = server_tcase("backend", 60);
	tcase_add_test(tc, test_backend_tls);
	tcase_add_test(tc, test_backend_requires_ssl_user);
	tcase_add_test(tc, test_backend_verification_failures);
	tcase_add_test(tc, test_backend_without_tls);
	suite_add_tcase(s, tc);

	tc = server_tcase("cluster", 60);
	tcase_add_test(tc, test_cluster_tls);
	tcase_add_test(tc, test_cluster_tls_failures);
	tcase_add_test(tc, test_cluster_monitoring_tls);
	suite_add_tcase(s, tc);

	tc = server_tcase("client", 60);
	tcase_add_test(tc, test_client_tls_verified);
	tcase_add_test(tc, test_client_tls_wrong_ca);
	tcase_add_test(tc, test_require_ssl);
	tcase_add_test(tc, test_tls_junk);
	tcase_add_test(tc, test_bad_certificate_config);
	suite_add_tcase(s, tc);

	tc = server_tcase("large", 180);
	tcase_add_test(tc, test_large_payloads_over_tls);
	suite_add_tcase(s, tc);

	tc = server_tcase("shutdown", 60);
	tcase_add_test(tc, test_clean_shutdown);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	mysql_library_init(0, nullptr, nullptr);
	cert_dir = new TempDir("myproxy-tls-");
	try {
		certs = make_test_certificates(cert_dir->path());
	} catch (const std::exception &e) {
		std::fprintf(stderr, "%s\n", e.what());
		return EXIT_FAILURE;
	}
	SharedServerSpec spec;
	spec.mariadb.extra_args = {"--ssl-cert=" + certs.mariadb_cert(), "--ssl-key=" + certs.mariadb_key(),
				   "--ssl-ca=" + certs.ca()};
	const int rc = run_suites_with_servers(spec, {tls_suite()}, [] {
		MariaDbServer &db = shared_mariadb();
		db.create_user("tlsuser", password);
		db.execute("ALTER USER 'tlsuser'@'%' REQUIRE SSL");
		db.execute("ALTER USER 'tlsuser'@'localhost' REQUIRE SSL");
		db.create_user("tlsmonitor", password);
		db.execute("ALTER USER 'tlsmonitor'@'%' REQUIRE SSL");
		db.execute("ALTER USER 'tlsmonitor'@'localhost' REQUIRE SSL");
		MariaDbOptions plain;
		plain.name = "plain";
		plain_db = new MariaDbServer(plain);
		plain_db->start();
		plain_db->create_user("tlsuser", password);
		plain_db->create_user("tlsmonitor", password);
		tls_port = pick_free_tcp_port();
		require_port = pick_free_tcp_port();
		proxy = new ProxyProcess;
		proxy->start(config_lua(), {proxy->path("plain.sock"), "127.0.0.1:" + std::to_string(tls_port),
					    "127.0.0.1:" + std::to_string(require_port)});
	});
	/* plain_db is not deleted: the launcher's shutdown at the end of run_suites_with_servers()
	 * stopped it and removed its directory already. */
	delete cert_dir;
	mysql_library_end();
	return rc;
}
