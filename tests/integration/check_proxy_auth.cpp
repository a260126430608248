// End to end, the auth plugins: two real ./myproxy daemons and a real mariadbd.  "front" logs in to
// MariaDB users of mysql_native_password and ed25519 (client_ed25519), and to "back"'s listeners as
// its backend (caching_sha2_password fast path, full path over a local socket, with the server's RSA
// key asked for or configured; mysql_clear_password over TCP only when allowed).  "back" offers
// mysql_native_password and caching_sha2_password to libmariadb clients restricted to those plugins
// (MARIADB_OPT_RESTRICTED_AUTH, so they never send a cleartext password) and checks them with
// verify_native_password / verify_caching_sha2_password.  Which path a login took shows in the
// MariaDB account the script picks for it (via_fast or via_full).
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"
#include "tests/tls_certificates.hpp"

#include <check.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <sys/stat.h>
#include <string>
#include <vector>

using namespace myproxy::test;

namespace {

// Leaked on purpose: forked test children must not run their destructors.
ProxyProcess *front = nullptr;
ProxyProcess *back = nullptr;
std::uint16_t back_sha2_port = 0, back_clear_port = 0, back_tls_port = 0;
TestCertificates certs;

std::string digest(const EVP_MD *md, std::string_view text)
{
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned length = 0;
	EVP_Digest(text.data(), text.size(), out, &length, md, nullptr);
	return std::string(reinterpret_cast<const char *>(out), length);
}

std::string hex(std::string_view bytes, bool upper = false)
{
	static const char lower_digits[] = "0123456789abcdef", upper_digits[] = "0123456789ABCDEF";
	const char *digits = upper ? upper_digits : lower_digits;
	std::string out;
	for (unsigned char c : bytes) {
		out += digits[c >> 4];
		out += digits[c & 15];
	}
	return out;
}

// The stored hashes a script keeps: SHA1(SHA1(pw)) and SHA256(SHA256(pw)).
std::string native_stored(std::string_view password)
{
	return digest(EVP_sha1(), digest(EVP_sha1(), password));
}

std::string sha2_stored(std::string_view password)
{
	return digest(EVP_sha256(), digest(EVP_sha256(), password));
}

// back's RSA key for its TCP caching_sha2_password listener; front's script reads the public half.
void write_key_files()
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	if (key == nullptr)
		throw FixtureError("EVP_RSA_gen failed");
	FILE *f = std::fopen(back->path("rsa_key.pem").c_str(), "w");
	FILE *g = std::fopen(back->path("rsa_public.pem").c_str(), "w");
	const bool ok = f != nullptr && g != nullptr &&
			PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1 &&
			PEM_write_PUBKEY(g, key) == 1;
	if (f != nullptr)
		std::fclose(f);
	if (g != nullptr)
		std::fclose(g);
	EVP_PKEY_free(key);
	if (!ok)
		throw FixtureError("cannot write the RSA key files");
}

std::string tcp(std::uint16_t port)
{
	return "127.0.0.1:" + std::to_string(port);
}

std::string back_config()
{
	const std::string db = lua_quote(shared_mariadb().socket_path());
	return "worker_processes = 1\n"
	       "local db = " + db + "\n"
	       "local sha2_cache = { fast = " + lua_quote(hex(sha2_stored("fast-pw"))) + " }\n"
	       "local passwords = { fast = 'fast-pw', full = 'full-pw' }\n"
	       "local function sha2_login(client, hr)\n"
	       "  if hr.auth_plugin ~= 'caching_sha2_password' then return client:err('unexpected plugin') end\n"
	       "  if hr.password == nil then\n"
	       "    if hr:verify_caching_sha2_password(sha2_cache[hr.user]) then\n"
	       "      return client:connect(db, {user = 'via_fast', password = 'via-fast-pw'})\n"
	       "    end\n"
	       "    return nil\n"
	       "  end\n"
	       "  if passwords[hr.user] ~= hr.password then return client:err('wrong password for ' .. hr.user) end\n"
	       "  return client:connect(db, {user = 'via_full', password = 'via-full-pw'})\n"
	       "end\n"
	       "mysql_listen(" + lua_quote(back->path("sha2.sock")) + ", {on_handshake_response = sha2_login},\n"
	       "  {auth_plugins = 'caching_sha2_password'})\n"
	       "mysql_listen(" + lua_quote(tcp(back_sha2_port)) + ", {on_handshake_response = sha2_login},\n"
	       "  {auth_plugins = {'caching_sha2_password'}, rsa_private_key = " +
	       lua_quote(back->path("rsa_key.pem")) + "})\n"
	       "mysql_listen(" + lua_quote(tcp(back_tls_port)) + ", {on_handshake_response = sha2_login},\n"
	       "  {auth_plugins = 'caching_sha2_password', ssl_cert = " + lua_quote(certs.proxy_cert()) +
	       ", ssl_key = " + lua_quote(certs.proxy_key()) + "})\n"
	       "mysql_listen(" + lua_quote(tcp(back_clear_port)) + ", {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    if hr.password ~= 'full-pw' then return client:err('clear: wrong password') end\n"
	       "    return client:connect(db, {user = 'via_full', password = 'via-full-pw'})\n"
	       "  end })\n"
	       "local native_hashes = { nat = " + lua_quote("*" + hex(native_stored("nat-pw"), true)) + ",\n"
	       "  nat_hex = " + lua_quote(hex(native_stored("nat-pw"))) + ",\n"
	       "  nat_raw = " + lua_quote(native_stored("nat-pw")) + " }\n"
	       "mysql_listen(" + lua_quote(back->path("native.sock")) + ", {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    if hr.auth_plugin ~= 'mysql_native_password' or hr.password ~= nil then\n"
	       "      return client:err('unexpected plugin')\n"
	       "    end\n"
	       "    local sha1 = hr:verify_native_password(native_hashes[hr.user])\n"
	       "    if not sha1 then return client:err('native: wrong password for ' .. hr.user) end\n"
	       "    assert(hr.password_sha1 == sha1 and #sha1 == 20)\n"
	       "    hr.user = 'nat'\n"
	       "    return client:connect(db, hr)\n"
	       "  end }, {auth_plugins = 'mysql_native_password'})\n"
	       "local function report(client, hr)\n"
	       "  return client:err('auth_plugin=' .. tostring(hr.auth_plugin) .. ' password=' .. tostring(hr.password))\n"
	       "end\n"
	       "local reporter = {on_handshake_response = report}\n"
	       "mysql_listen(" + lua_quote(back->path("report_native.sock")) + ", reporter,\n"
	       "  {auth_plugins = {'mysql_native_password', 'caching_sha2_password', 'mysql_clear_password'}})\n"
	       "mysql_listen(" + lua_quote(back->path("report_sha2.sock")) + ", reporter,\n"
	       "  {auth_plugins = {'caching_sha2_password', 'mysql_clear_password'}})\n"
	       "mysql_listen(" + lua_quote(back->path("report_clear.sock")) + ", reporter,\n"
	       "  {auth_plugins = {'mysql_clear_password', 'mysql_native_password'}})\n";
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
	       "local b_tcp = mysql_resolve(" + lua_quote(tcp(back_sha2_port)) + ")\n"
	       "local b_clear = mysql_resolve(" + lua_quote(tcp(back_clear_port)) + ")\n"
	       "local b_tls = mysql_resolve(" + lua_quote(tcp(back_tls_port)) + ")\n"
	       "local ca = mysql_ssl_ca(" + lua_quote(certs.ca()) + ")\n"
	       "local file = assert(io.open(" + lua_quote(back->path("rsa_public.pem")) + "))\n"
	       "local b_key = file:read('a')\n"
	       "file:close()\n"
	       "mysql_listen(" + lua_quote(front->path("direct.sock")) + ", " + forward("db", "") + ")\n"
	       "mysql_listen(" + lua_quote(front->path("chain_unix.sock")) + ", " + forward("b_unix", "") + ")\n"
	       "mysql_listen(" + lua_quote(front->path("chain_tcp.sock")) + ", " + forward("b_tcp", "") + ")\n"
	       "mysql_listen(" + lua_quote(front->path("chain_tcp_key.sock")) + ", " +
	       forward("b_tcp", ", {server_public_key = b_key}") + ")\n"
	       "mysql_listen(" + lua_quote(front->path("chain_tls.sock")) + ", " +
	       forward("b_tls", ", {ssl = true, ssl_ca = ca}") + ")\n"
	       "mysql_listen(" + lua_quote(front->path("chain_clear.sock")) + ", " + forward("b_clear", "") + ")\n"
	       "mysql_listen(" + lua_quote(front->path("chain_clear_allowed.sock")) + ", " +
	       forward("b_clear", ", {allow_cleartext = true}") + ")\n";
}

Endpoint at(ProxyProcess *p, const char *name)
{
	return Endpoint::unix_socket(p->path(name));
}

// A libmariadb client that may use only @plugins (MARIADB_OPT_RESTRICTED_AUTH), so never cleartext.
bool connect_restricted(MysqlClient &c, const Endpoint &endpoint, const char *plugins, std::string_view user,
			std::string_view password)
{
	mysql_optionsv(c.get(), MARIADB_OPT_RESTRICTED_AUTH, plugins);
	return c.connect(endpoint, user, password);
}

void assert_user(MysqlClient &c, const char *expected)
{
	const SqlResult r = c.query("SELECT CURRENT_USER()");
	PROXY_ASSERT(r.ok, "query failed: %s", r.error.c_str());
	PROXY_ASSERT_STR(r.text(), expected);
}

void assert_refused(MysqlClient &c, const char *message_part)
{
	PROXY_ASSERT(c.message().find(message_part) != std::string::npos, "expected '%s', got %s", message_part,
		     c.error().c_str());
}

} // namespace

// --- myproxy as a client: MariaDB's plugins -----------------------------------------------------

START_TEST(test_native_backend)
{
	set_current_proxy(front);
	MysqlClient c;
	PROXY_ASSERT(c.connect(at(front, "direct.sock"), "nat", "nat-pw"), "login: %s", c.error().c_str());
	assert_user(c, "nat@localhost");
}
END_TEST

START_TEST(test_ed25519_backend)
{
	set_current_proxy(front);
	{
		MysqlClient c;
		PROXY_ASSERT(c.connect(at(front, "direct.sock"), "ed", "ed-pw"), "login: %s", c.error().c_str());
		assert_user(c, "ed@localhost");
	}
	{
		MysqlClient c;
		PROXY_CHECK(!c.connect(at(front, "direct.sock"), "ed", "not-ed-pw"));
		// MariaDB's own refusal, relayed.
		PROXY_ASSERT(c.error_code() == 1045, "expected 1045, got %s", c.error().c_str());
	}
}
END_TEST

// --- myproxy as a server: native password ------------------------------------------------------

START_TEST(test_native_client_verify)
{
	set_current_proxy(back);
	for (const char *user : {"nat", "nat_hex", "nat_raw"}) {
		MysqlClient c;
		PROXY_ASSERT(connect_restricted(c, at(back, "native.sock"), "mysql_native_password", user, "nat-pw"),
			     "login as %s: %s", user, c.error().c_str());
		assert_user(c, "nat@localhost");
	}
	// COM_CHANGE_USER with a native scramble goes through verify_native_password() too.
	{
		MysqlClient c;
		PROXY_ASSERT(connect_restricted(c, at(back, "native.sock"), "mysql_native_password", "nat", "nat-pw"),
			     "login: %s", c.error().c_str());
		PROXY_ASSERT(mysql_change_user(c.get(), "nat_hex", "nat-pw", nullptr) == 0, "change user: %s",
			     c.error().c_str());
		assert_user(c, "nat@localhost");
		PROXY_CHECK(mysql_change_user(c.get(), "nat_raw", "wrong", nullptr) != 0);
		assert_refused(c, "native: wrong password for nat_raw");
	}
	MysqlClient wrong;
	PROXY_CHECK(!connect_restricted(wrong, at(back, "native.sock"), "mysql_native_password", "nat", "nat-pw2"));
	assert_refused(wrong, "native: wrong password for nat");
	MysqlClient unknown;
	PROXY_CHECK(!connect_restricted(unknown, at(back, "native.sock"), "mysql_native_password", "nobody", "x"));
	assert_refused(unknown, "native: wrong password for nobody");
}
END_TEST

START_TEST(test_auth_plugin_reported)
{
	set_current_proxy(back);
	// libmariadb answers with the plugin the greeting names (the listener's first).
	struct Case {
		const char *listener, *restricted, *expected;
	} cases[] = {
		{"report_native.sock", "mysql_native_password", "auth_plugin=mysql_native_password password=nil"},
		{"report_sha2.sock", "caching_sha2_password", "auth_plugin=caching_sha2_password password=nil"},
		{"report_clear.sock", "mysql_clear_password", "auth_plugin=mysql_clear_password password=pw"},
	};
	for (const Case &k : cases) {
		MysqlClient c;
		PROXY_CHECK(!connect_restricted(c, at(back, k.listener), k.restricted, "someone", "pw"));
		assert_refused(c, k.expected);
	}
	// A client that refuses the greeting's plugin never sends a password.
	MysqlClient c;
	PROXY_CHECK(!connect_restricted(c, at(back, "report_clear.sock"), "mysql_native_password", "someone", "pw"));
	PROXY_ASSERT(c.error_code() == 5010, "expected the client's own refusal, got %s", c.error().c_str());
}
END_TEST

// --- myproxy as a server: caching_sha2_password -----------------------------------------------

START_TEST(test_sha2_client_fast_path)
{
	set_current_proxy(back);
	MysqlClient c;
	PROXY_ASSERT(connect_restricted(c, at(back, "sha2.sock"), "caching_sha2_password", "fast", "fast-pw"),
		     "login: %s", c.error().c_str());
	assert_user(c, "via_fast@localhost");
}
END_TEST

START_TEST(test_sha2_client_full_path_local)
{
	set_current_proxy(back);
	MysqlClient c;
	PROXY_ASSERT(connect_restricted(c, at(back, "sha2.sock"), "caching_sha2_password", "full", "full-pw"),
		     "login: %s", c.error().c_str());
	assert_user(c, "via_full@localhost");
	// A wrong password fails the fast path, then the full one.
	MysqlClient wrong;
	PROXY_CHECK(!connect_restricted(wrong, at(back, "sha2.sock"), "caching_sha2_password", "fast", "nope"));
	assert_refused(wrong, "wrong password for fast");
	// An empty password goes straight to the script.
	MysqlClient empty;
	PROXY_CHECK(!connect_restricted(empty, at(back, "sha2.sock"), "caching_sha2_password", "full", ""));
	assert_refused(empty, "wrong password for full");
}
END_TEST

START_TEST(test_sha2_client_full_path_rsa)
{
	set_current_proxy(back);
	// Over TCP libmariadb asks for the server's public key and sends the password encrypted.
	MysqlClient c;
	PROXY_ASSERT(connect_restricted(c, Endpoint::tcp("127.0.0.1", back_sha2_port), "caching_sha2_password",
					"full", "full-pw"),
		     "login: %s", c.error().c_str());
	assert_user(c, "via_full@localhost");
	MysqlClient fast;
	PROXY_ASSERT(connect_restricted(fast, Endpoint::tcp("127.0.0.1", back_sha2_port), "caching_sha2_password",
					"fast", "fast-pw"),
		     "login: %s", fast.error().c_str());
	assert_user(fast, "via_fast@localhost");
	MysqlClient wrong;
	PROXY_CHECK(!connect_restricted(wrong, Endpoint::tcp("127.0.0.1", back_sha2_port), "caching_sha2_password",
					"full", "nope"));
	assert_refused(wrong, "wrong password for full");
}
END_TEST

// A hostile caching_sha2_password client on TCP: junk where the encrypted password belongs gets ERR
// 1045 and the connection closes; the worker goes on.
static std::string le(std::uint32_t value, int bytes)
{
	std::string out;
	for (int i = 0; i < bytes; ++i)
		out += char((value >> (8 * i)) & 0xFF);
	return out;
}

static std::string frame(const std::string &payload, std::uint8_t sequence_id)
{
	return le(std::uint32_t(payload.size()), 3) + char(sequence_id) + payload;
}

// HandshakeResponse41 of user "full" naming caching_sha2_password with a junk scramble.
static std::string sha2_response()
{
	const std::uint32_t capabilities = 0x200 | 0x8000 | 0x80000 | 0x200000; // 4.1, secure, plugin, lenenc
	return le(capabilities, 4) + le(1u << 24, 4) + char(45) + std::string(23, '\0') + "full" + '\0' +
	       char(32) + std::string(32, 'j') + "caching_sha2_password" + '\0';
}

START_TEST(test_sha2_hostile_client)
{
	set_current_proxy(back);
	for (int variant = 0; variant < 3; ++variant) {
		RawConnection raw(tcp(back_sha2_port));
		PROXY_CHECK(raw.read_packet().has_value());
		PROXY_CHECK(raw.send_bytes(frame(sha2_response(), 1)));
		auto more = raw.read_packet();
		PROXY_ASSERT(more && more->sequence_id == 2 && more->payload == std::string("\x01\x04", 2),
			     "expected PERFORM_FULL_AUTH");
		std::uint8_t sequence_id = 3;
		if (variant > 0) {
			PROXY_CHECK(raw.send_bytes(frame("\x02", sequence_id)));
			auto key = raw.read_packet();
			PROXY_ASSERT(key && key->sequence_id == 4 && key->payload.starts_with("\x01-----BEGIN PUBLIC KEY-----"),
				     "expected the public key");
			sequence_id = 5;
		}
		// Junk: too short, or of the key's size but not encrypted with it.
		PROXY_CHECK(raw.send_bytes(frame(variant == 2 ? std::string(256, 'x') : std::string("full-pw\0", 8),
						 sequence_id)));
		auto err = raw.read_packet();
		PROXY_ASSERT(err.has_value(), "no answer to junk");
		const auto e = parse_raw_error(err->payload);
		PROXY_ASSERT(e && e->code == 1045 && err->sequence_id == sequence_id + 1, "expected ERR 1045");
		PROXY_ASSERT(e->message.find("caching_sha2_password needs TLS") != std::string::npos, "%s",
			     e->message.c_str());
		PROXY_CHECK(raw.wait_closed(std::chrono::seconds(10)));
	}
	MysqlClient c;
	PROXY_ASSERT(connect_restricted(c, at(back, "sha2.sock"), "caching_sha2_password", "fast", "fast-pw"),
		     "login after junk: %s", c.error().c_str());
}
END_TEST

// Over TLS the full path sends the password as it is (libmariadb does, and back accepts it only
// because the connection is TLS: on plain TCP it insists on RSA, see above).
START_TEST(test_sha2_client_tls)
{
	set_current_proxy(back);
	MysqlClient c;
	const my_bool yes = 1;
	mysql_optionsv(c.get(), MYSQL_OPT_SSL_CA, certs.ca().c_str());
	mysql_optionsv(c.get(), MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes);
	mysql_optionsv(c.get(), MYSQL_OPT_SSL_ENFORCE, &yes);
	PROXY_ASSERT(connect_restricted(c, Endpoint::tcp("127.0.0.1", back_tls_port), "caching_sha2_password", "full",
					"full-pw"),
		     "login: %s", c.error().c_str());
	assert_user(c, "via_full@localhost");
	PROXY_ASSERT(mysql_get_ssl_cipher(c.get()) != nullptr, "not TLS");
}
END_TEST

// --- myproxy to myproxy: caching_sha2_password and mysql_clear_password as a client -------------

START_TEST(test_chain_sha2)
{
	set_current_proxy(front);
	struct Case {
		const char *listener, *user, *password, *expected;
	} cases[] = {
		{"chain_unix.sock", "fast", "fast-pw", "via_fast@localhost"},
		{"chain_unix.sock", "full", "full-pw", "via_full@localhost"},	  // cleartext over the local socket
		{"chain_tcp.sock", "full", "full-pw", "via_full@localhost"},	  // RSA, key asked for
		{"chain_tcp_key.sock", "full", "full-pw", "via_full@localhost"}, // RSA, key configured
		{"chain_tcp.sock", "fast", "fast-pw", "via_fast@localhost"},
		{"chain_tls.sock", "full", "full-pw", "via_full@localhost"}, // the password over TLS
		{"chain_tls.sock", "fast", "fast-pw", "via_fast@localhost"},
	};
	for (const Case &k : cases) {
		MysqlClient c;
		PROXY_ASSERT(c.connect(at(front, k.listener), k.user, k.password), "%s as %s: %s", k.listener, k.user,
			     c.error().c_str());
		assert_user(c, k.expected);
	}
	MysqlClient wrong;
	PROXY_CHECK(!wrong.connect(at(front, "chain_tcp.sock"), "full", "nope"));
	assert_refused(wrong, "wrong password for full");
}
END_TEST

START_TEST(test_chain_clear_password)
{
	set_current_proxy(front);
	MysqlClient refused;
	PROXY_CHECK(!refused.connect(at(front, "chain_clear.sock"), "full", "full-pw"));
	assert_refused(refused, "myproxy: login to backend");
	PROXY_ASSERT(front->log().find("mysql_clear_password is not allowed") != std::string::npos,
		     "no reason in the log");
	MysqlClient allowed;
	PROXY_ASSERT(allowed.connect(at(front, "chain_clear_allowed.sock"), "full", "full-pw"), "login: %s",
		     allowed.error().c_str());
	assert_user(allowed, "via_full@localhost");
}
END_TEST

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*front);
	PROXY_ASSERT_CLEAN_SHUTDOWN(*back);
}
END_TEST

static Suite *auth_suite()
{
	Suite *s = suite_create("proxy_auth");
	TCase *tc = server_tcase("backend_plugins", 60);
	tcase_add_test(tc, test_native_backend);
	tcase_add_test(tc, test_ed25519_backend);
	suite_add_tcase(s, tc);

	tc = server_tcase("client_plugins", 60);
	tcase_add_test(tc, test_native_client_verify);
	tcase_add_test(tc, test_auth_plugin_reported);
	tcase_add_test(tc, test_sha2_client_fast_path);
	tcase_add_test(tc, test_sha2_client_full_path_local);
	tcase_add_test(tc, test_sha2_client_full_path_rsa);
	tcase_add_test(tc, test_sha2_hostile_client);
	tcase_add_test(tc, test_sha2_client_tls);
	suite_add_tcase(s, tc);

	tc = server_tcase("proxy_to_proxy", 60);
	tcase_add_test(tc, test_chain_sha2);
	tcase_add_test(tc, test_chain_clear_password);
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
	const int rc = run_suites_with_servers(spec, {auth_suite()}, [] {
		MariaDbServer &db = shared_mariadb();
		db.create_user("nat", "nat-pw");
		db.create_user("ed", "ed-pw", "ed25519");
		db.create_user("via_fast", "via-fast-pw");
		db.create_user("via_full", "via-full-pw");
		back = new ProxyProcess;
		front = new ProxyProcess;
		// front's workers run as nobody when the tests run as root: let them reach back's sockets
		// (mode 0666) in back's directory, as the fixture does for mariadbd's.
		::chmod(back->dir().c_str(), 0711);
		back_sha2_port = pick_free_tcp_port();
		back_clear_port = pick_free_tcp_port();
		back_tls_port = pick_free_tcp_port();
		certs = make_test_certificates(back->dir());
		write_key_files();
		back->start(back_config(), {back->path("sha2.sock"), back->path("native.sock"), back->path("report_native.sock"),
					    back->path("report_sha2.sock"), back->path("report_clear.sock"),
					    tcp(back_sha2_port), tcp(back_clear_port), tcp(back_tls_port)});
		front->start(front_config(), {front->path("direct.sock"), front->path("chain_unix.sock"),
					      front->path("chain_tcp.sock"), front->path("chain_tcp_key.sock"),
					      front->path("chain_tls.sock"), front->path("chain_clear.sock"),
					      front->path("chain_clear_allowed.sock")});
	});
	mysql_library_end();
	return rc;
}
