// Unit tests for lua/lua_cluster through load_config(): mysql_cluster() with every option, what
// Config::clusters holds afterwards, and every mistake an administrator makes (wrong types,
// unknown options, empty or repeated nodes, options that need monitoring), each one ConfigError
// "FILE:LINE: problem"; the TLS options (ssl, ssl_ca as a path or a mysql_ssl_ca() object,
// ssl_verify_server_cert, ssl_server_name) and their mistakes.
#include "lua/config_loader.hpp"
#include "lua/lua_cluster.hpp"
#include "tests/tls_certificates.hpp"
#include "tests/check_main.hpp"

#include <lua.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <sys/stat.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace myproxy;

static void assert_str_eq(const std::string &actual, const std::string &expected)
{
	ck_assert_msg(actual == expected, "got '%s', expected '%s'", actual.c_str(), expected.c_str());
}

static char temp_dir[] = "/tmp/check_lua_cluster.XXXXXX";
static myproxy::test::TestCertificates certs;

static std::string q(const std::string &text)
{
	return "'" + text + "'";
}

static std::string config_path()
{
	return std::string(temp_dir) + "/config.lua";
}

/* Line 1 is the listener, the script's own lines follow. */
static const char listen_lua[] =
	"mysql_listen('/run/x.sock', { on_handshake_response = function(client, hr) end })\n";

static ConfigResult load(const std::string &script)
{
	const std::string path = config_path();
	FILE *f = std::fopen(path.c_str(), "w");
	ck_assert_ptr_nonnull(f);
	const std::string text = listen_lua + script;
	ck_assert_uint_eq(std::fwrite(text.data(), 1, text.size(), f), text.size());
	ck_assert_int_eq(std::fclose(f), 0);
	return load_config(path);
}

static LoadedConfig load_good(const std::string &script)
{
	ConfigResult result = load(script);
	ck_assert_msg(result.ok(), "unexpected error: %s", result.ok() ? "" : result.error().message.c_str());
	return std::move(result.value());
}

/* The message must be exactly "PATH:LINE: problem". */
static void assert_bad(const std::string &script, int line, const std::string &problem)
{
	ConfigResult result = load(script);
	ck_assert_msg(!result.ok(), "accepted:\n%s", script.c_str());
	assert_str_eq(result.error().message, config_path() + ":" + std::to_string(line) + ": " + problem);
}

START_TEST(test_clusters)
{
	LoadedConfig config = load_good("local plain = mysql_cluster({'127.0.0.1:3307', mysql_resolve('[::1]'), '/run/db.sock'})\n"
				  "local watched = mysql_cluster({'10.0.0.1', '10.0.0.2:3310'}, {\n"
				  "  monitoring = true, user = 'monitor', password = 'pw', no_read_only = true,\n"
				  "  disconnect_unavailable = true, check_interval = 0.5, check_timeout = 0.25,\n"
				  "})\n"
				  "assert(tostring(watched):find('mysql_cluster #1 (2 nodes', 1, true))\n"
				  "local empty_password = mysql_cluster({'10.0.0.3'}, {monitoring = true, user = 'm'})\n");
	ck_assert_uint_eq(config.clusters.size(), 3);

	const ClusterConfig &plain = config.clusters[0];
	ck_assert_uint_eq(plain.nodes.size(), 3);
	assert_str_eq(plain.nodes[0].name, "127.0.0.1:3307");
	assert_str_eq(plain.nodes[1].name, "[::1]:3306");
	assert_str_eq(plain.nodes[2].name, "/run/db.sock");
	ck_assert_int_eq(plain.nodes[2].address.family(), AF_UNIX);
	ck_assert(!plain.monitoring && !plain.no_read_only && !plain.disconnect_unavailable);
	ck_assert_uint_eq(plain.check_interval_usec, cluster_check_interval_default_usec);
	ck_assert_uint_eq(plain.check_timeout_usec, cluster_check_timeout_default_usec);
	assert_str_eq(plain.origin, config_path() + ":2");

	const ClusterConfig &watched = config.clusters[1];
	assert_str_eq(watched.nodes[0].name, "10.0.0.1:3306");
	assert_str_eq(watched.nodes[1].name, "10.0.0.2:3310");
	ck_assert(watched.monitoring && watched.no_read_only && watched.disconnect_unavailable);
	assert_str_eq(watched.user, "monitor");
	assert_str_eq(watched.password, "pw");
	ck_assert_uint_eq(watched.check_interval_usec, 500000);
	ck_assert_uint_eq(watched.check_timeout_usec, 250000);
	assert_str_eq(watched.origin, config_path() + ":3");

	assert_str_eq(config.clusters[2].password, "");

	/* After loading, the objects still name their index, and no new cluster can be made. */
	lua_State *L = config.state.get();
	ck_assert_int_eq(luaL_dostring(L, "return mysql_cluster"), LUA_OK);
	lua_pop(L, 1);
	ck_assert_int_ne(luaL_dostring(L, "mysql_cluster({'127.0.0.1'})"), LUA_OK);
	assert_str_eq(lua_tostring(L, -1), "[string \"mysql_cluster({'127.0.0.1'})\"]:1: mysql_cluster() works only "
					   "while config.lua is loading");
	lua_pop(L, 1);
}
END_TEST

START_TEST(test_cluster_ids)
{
	LoadedConfig config = load_good("clusters = { mysql_cluster({'10.0.0.1'}), mysql_cluster({'10.0.0.2'}) }\n");
	lua_State *L = config.state.get();
	lua_getglobal(L, "clusters");
	for (int i = 1; i <= 2; ++i) {
		lua_rawgeti(L, -1, i);
		const auto id = to_lua_cluster(L, -1);
		ck_assert(id.has_value());
		ck_assert_uint_eq(*id, unsigned(i - 1));
		lua_pop(L, 1);
	}
	ck_assert(!to_lua_cluster(L, -1).has_value());
	lua_pop(L, 1);
}
END_TEST

START_TEST(test_bad_nodes)
{
	assert_bad("mysql_cluster()\n", 2, "bad argument #1 to 'mysql_cluster' (table expected, got nil)");
	assert_bad("mysql_cluster('10.0.0.1')\n", 2, "bad argument #1 to 'mysql_cluster' (table expected, got string)");
	assert_bad("mysql_cluster({})\n", 2, "bad argument #1 to 'mysql_cluster' (a cluster needs at least one node)");
	assert_bad("mysql_cluster({'10.0.0.1', 42})\n", 2,
		   "bad argument #1 to 'mysql_cluster' (node 2: address string or mysql_resolve() result expected, got number)");
	assert_bad("mysql_cluster({'10.0.0.1:99999'})\n", 2,
		   "bad argument #1 to 'mysql_cluster' (node 1: port out of range in '10.0.0.1:99999')");
	assert_bad("mysql_cluster({'10.0.0.1', '10.0.0.2', mysql_resolve('10.0.0.1:3306')})\n", 2,
		   "bad argument #1 to 'mysql_cluster' (node 3 repeats node 1)");
	assert_bad("mysql_cluster({'10.0.0.1', x = '10.0.0.2'})\n", 2,
		   "bad argument #1 to 'mysql_cluster' (nodes must be an array (a list without holes or other keys))");
	assert_bad("mysql_cluster({[1] = '10.0.0.1', [3] = '10.0.0.3'})\n", 2,
		   "bad argument #1 to 'mysql_cluster' (nodes must be an array (a list without holes or other keys))");
	std::string many = "local t = {}\nfor i = 1, 257 do t[i] = '10.0.' .. (i // 256) .. '.' .. (i % 256) end\n"
			   "mysql_cluster(t)\n";
	assert_bad(many, 4, "bad argument #1 to 'mysql_cluster' (more than 256 nodes)");
}
END_TEST

START_TEST(test_bad_options)
{
	const std::string c = "mysql_cluster({'10.0.0.1'}, ";
	const std::string arg = "bad argument #2 to 'mysql_cluster' (";
	assert_bad(c + "'monitoring')\n", 2, arg + "table expected, got string)");
	assert_bad(c + "{monitorin = true})\n", 2,
		   arg + "unknown option 'monitorin' (expected monitoring, user, password, no_read_only, "
			 "disconnect_unavailable, check_interval, check_timeout, ssl, ssl_ca, ssl_verify_server_cert or "
			 "ssl_server_name))");
	assert_bad(c + "{[1] = true})\n", 2, arg + "option names are strings, got a number key)");
	assert_bad(c + "{monitoring = 'yes'})\n", 2, arg + "option monitoring must be a boolean, got string)");
	assert_bad(c + "{monitoring = true, user = 'm', no_read_only = 1})\n", 2,
		   arg + "option no_read_only must be a boolean, got 1)");
	assert_bad(c + "{monitoring = true, user = 42})\n", 2, arg + "option user must be a string, got 42)");
	assert_bad(c + "{monitoring = true, user = 'm', password = false})\n", 2,
		   arg + "option password must be a string, got boolean)");
	assert_bad(c + "{monitoring = true})\n", 2,
		   arg + "monitoring = true needs the option user (the login of the checks))");
	assert_bad(c + "{monitoring = true, user = ''})\n", 2, arg + "option user must not be empty)");
	assert_bad(c + "{no_read_only = true})\n", 2,
		   arg + "no_read_only needs monitoring = true (only checks tell writable nodes))");
	assert_bad(c + "{disconnect_unavailable = true, monitoring = false})\n", 2,
		   arg + "disconnect_unavailable needs monitoring = true (only checks tell a node is down))");
	for (const char *bad : {"0", "-1", "3601", "'2'", "0/0"}) {
		assert_bad(c + "{check_interval = " + bad + "})\n", 2,
			   arg + "option check_interval must be a number of seconds above 0 and at most 3600, got " +
				   (std::string(bad) == "'2'" ? "string" : std::string(bad) == "0/0" ? "-nan" : bad) + ")");
	}
	assert_bad(c + "{check_timeout = 0})\n", 2,
		   arg + "option check_timeout must be a number of seconds above 0 and at most 3600, got 0)");
	/* The line is the call's, also when the table spans lines. */
	assert_bad("\n" + c + "{\n  monitoring = true,\n  bogus = 1,\n})\n", 3,
		   arg + "unknown option 'bogus' (expected monitoring, user, password, no_read_only, "
			 "disconnect_unavailable, check_interval, check_timeout, ssl, ssl_ca, ssl_verify_server_cert or "
			 "ssl_server_name))");
}
END_TEST

START_TEST(test_cluster_tls)
{
	LoadedConfig config = load_good("mysql_cluster({'10.0.0.1'})\n"
				  "mysql_cluster({'10.0.0.2'}, {ssl = true, ssl_ca = " + q(certs.ca()) + "})\n"
				  "mysql_cluster({'10.0.0.3'}, {ssl = true, ssl_ca = " + q(certs.ca_dir()) +
				  ", ssl_server_name = 'db.example', monitoring = true, user = 'm'})\n"
				  "local ca = mysql_ssl_ca(" + q(certs.ca()) + ")\n"
				  "mysql_cluster({'10.0.0.4'}, {ssl = true, ssl_ca = ca, ssl_verify_server_cert = true})\n"
				  "mysql_cluster({'10.0.0.5'}, {ssl = true, ssl_verify_server_cert = false})\n"
				  "mysql_cluster({'10.0.0.6'}, {ssl = false})\n");
	ck_assert_uint_eq(config.clusters.size(), 6);
	const auto &c = config.clusters;
	ck_assert(!c[0].ssl);
	ck_assert_ptr_null(c[0].ssl_context);
	ck_assert(c[1].ssl && c[1].ssl_verify);
	ck_assert_ptr_nonnull(c[1].ssl_context);
	assert_str_eq(c[1].ssl_server_name, "");
	ck_assert(c[2].ssl && c[2].ssl_verify && c[2].monitoring);
	ck_assert_ptr_nonnull(c[2].ssl_context);
	ck_assert_ptr_ne(c[2].ssl_context, c[1].ssl_context);
	assert_str_eq(c[2].ssl_server_name, "db.example");
	ck_assert(c[3].ssl && c[3].ssl_verify);
	ck_assert_ptr_nonnull(c[3].ssl_context);
	ck_assert(c[4].ssl && !c[4].ssl_verify);
	ck_assert_ptr_nonnull(c[4].ssl_context);
	ck_assert(!c[5].ssl);
	/* The loaded CA holds the certificate: the context verifies against it. */
	X509_STORE *store = SSL_CTX_get_cert_store(c[1].ssl_context);
	ck_assert_ptr_nonnull(store);
	ck_assert_int_eq(sk_X509_OBJECT_num(X509_STORE_get0_objects(store)), 1);
}
END_TEST

START_TEST(test_bad_tls_options)
{
	const std::string c = "mysql_cluster({'10.0.0.1'}, ";
	assert_bad(c + "{ssl = 'yes'})\n", 2, "option ssl must be a boolean, got string");
	assert_bad(c + "{ssl = true})\n", 2,
		   "ssl = true verifies the server's certificate: give ssl_ca (a CA loaded with mysql_ssl_ca()) or set "
		   "ssl_verify_server_cert = false");
	assert_bad(c + "{ssl_ca = " + q(certs.ca()) + "})\n", 2,
		   "the options ssl_ca, ssl_verify_server_cert and ssl_server_name need ssl = true");
	assert_bad(c + "{ssl = false, ssl_server_name = 'db'})\n", 2,
		   "the options ssl_ca, ssl_verify_server_cert and ssl_server_name need ssl = true");
	assert_bad(c + "{ssl = true, ssl_ca = 42})\n", 2, "option ssl_ca must be a mysql_ssl_ca() object or a path, got number");
	const std::string missing = std::string(temp_dir) + "/missing.pem";
	assert_bad(c + "{ssl = true, ssl_ca = " + q(missing) + "})\n", 2,
		   "ssl_ca '" + missing + "': No such file or directory");
	assert_bad(c + "{ssl = true, ssl_ca = " + q(config_path()) + "})\n", 2,
		   "ssl_ca '" + config_path() + "': no certificate found");
	assert_bad(c + "{ssl = true, ssl_verify_server_cert = 'no'})\n", 2,
		   "option ssl_verify_server_cert must be a boolean, got string");
	assert_bad(c + "{ssl = true, ssl_verify_server_cert = false, ssl_server_name = ''})\n", 2,
		   "option ssl_server_name must be a non-empty string without NUL bytes");
	assert_bad(c + "{ssl = true, ssl_verify_server_cert = false, ssl_server_name = string.rep('a', 254)})\n", 2,
		   "option ssl_server_name is longer than 253 bytes");
	assert_bad(c + "{ssl = true, ssl_verify = false})\n", 2,
		   "bad argument #2 to 'mysql_cluster' (unknown option 'ssl_verify' (expected monitoring, user, password, "
		   "no_read_only, disconnect_unavailable, check_interval, check_timeout, ssl, ssl_ca, "
		   "ssl_verify_server_cert or ssl_server_name))");
}
END_TEST

static Suite *lua_cluster_suite()
{
	Suite *s = suite_create("lua_cluster");
	TCase *tc = tcase_create("config");
	tcase_add_test(tc, test_clusters);
	tcase_add_test(tc, test_cluster_ids);
	tcase_add_test(tc, test_bad_nodes);
	tcase_add_test(tc, test_bad_options);
	tcase_add_test(tc, test_cluster_tls);
	tcase_add_test(tc, test_bad_tls_options);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	if (mkdtemp(temp_dir) == nullptr) {
		std::perror("mkdtemp");
		return EXIT_FAILURE;
	}
	const std::string cert_dir = std::string(temp_dir) + "/certs";
	try {
		if (mkdir(cert_dir.c_str(), 0700) < 0)
			throw std::runtime_error("mkdir " + cert_dir);
		certs = myproxy::test::make_test_certificates(cert_dir);
	} catch (const std::exception &e) {
		std::fprintf(stderr, "%s\n", e.what());
		return EXIT_FAILURE;
	}
	const int status = run_check_suites({lua_cluster_suite()});
	if (std::system(("rm -rf '" + cert_dir + "'").c_str()) != 0)
		std::fprintf(stderr, "cannot remove %s\n", cert_dir.c_str());
	unlink(config_path().c_str());
	rmdir(temp_dir);
	return status;
}
