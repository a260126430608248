// Unit tests for the TLS options of config.lua (lua/lua_tls_options.*): mysql_listen()'s ssl_cert,
// ssl_key and require_ssl (certificate and key loaded while the script runs, bad files are errors
// with FILE:LINE), mysql_ssl_ca() with a file and a directory, and client:connect()'s ssl, ssl_ca,
// ssl_verify_server_cert and ssl_server_name as a worker sees them (no file access there).
// Certificates come from the openssl command-line tool (tests/tls_certificates.hpp).
#include "lua/config_loader.hpp"
#include "tests/tls_certificates.hpp"
#include "tests/unit/lua_runtime_harness.hpp"
#include "tests/check_main.hpp"

#include <openssl/ssl.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

using namespace myproxy;
using namespace myproxy::test;

static char temp_dir[] = "/tmp/check_tls_options.XXXXXX";
static TestCertificates certs;

static std::string config_path()
{
	return std::string(temp_dir) + "/config.lua";
}

static std::string write_config(const std::string &text)
{
	const std::string path = config_path();
	FILE *f = std::fopen(path.c_str(), "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(std::fwrite(text.data(), 1, text.size(), f), text.size());
	ck_assert_int_eq(std::fclose(f), 0);
	return path;
}

static const char handler_lua[] = "local h = { on_handshake_response = function(client, hr) end }\n";

static std::string q(const std::string &s)
{
	return "'" + s + "'";
}

START_TEST(test_listener_tls)
{
	ConfigResult result = load_config(write_config(
		std::string(handler_lua) + "mysql_listen('/run/a.sock', h)\n" +
		"mysql_listen('/run/b.sock', h, {ssl_cert = " + q(certs.proxy_cert()) + ", ssl_key = " +
		q(certs.proxy_key()) + "})\n" + "mysql_listen('127.0.0.1:3307', h, {ssl_cert = " + q(certs.proxy_cert()) +
		", ssl_key = " + q(certs.proxy_key()) + ", require_ssl = true})\n" +
		"mysql_listen('127.0.0.1:3308', h, {require_ssl = false})\n"));
	ck_assert_msg(result.ok(), "%s", result.ok() ? "" : result.error().message.c_str());
	const Config &config = result.value();
	ck_assert_uint_eq(config.listeners.size(), 4);
	ck_assert_ptr_null(config.listeners[0].ssl_context);
	ck_assert(!config.listeners[0].require_ssl);
	ck_assert_ptr_nonnull(config.listeners[1].ssl_context);
	ck_assert(!config.listeners[1].require_ssl);
	ck_assert_ptr_nonnull(config.listeners[2].ssl_context);
	ck_assert(config.listeners[2].require_ssl);
	ck_assert_ptr_null(config.listeners[3].ssl_context);
	/* The certificate really is in the context. */
	ck_assert_ptr_nonnull(SSL_CTX_get0_certificate(config.listeners[1].ssl_context));
}
END_TEST

/* One PEM file holding both certificate and key serves as ssl_cert alone. */
START_TEST(test_listener_combined_pem)
{
	const std::string combined = std::string(temp_dir) + "/combined.pem";
	const std::string command = "cat '" + certs.proxy_cert() + "' '" + certs.proxy_key() + "' >'" + combined + "'";
	ck_assert_int_eq(std::system(command.c_str()), 0);
	ConfigResult result = load_config(write_config(std::string(handler_lua) + "mysql_listen('/run/a.sock', h, " +
						       "{ssl_cert = " + q(combined) + "})\n"));
	ck_assert_msg(result.ok(), "%s", result.ok() ? "" : result.error().message.c_str());
	ck_assert_ptr_nonnull(result.value().listeners[0].ssl_context);
}
END_TEST

/* The message must be "PATH:LINE: problem"; with @prefix_only, "PATH:LINE: problem..." (OpenSSL's own
 * words follow). */
static void assert_config_error(const std::string &script, int line, const std::string &problem,
				bool prefix_only = false)
{
	ConfigResult result = load_config(write_config(std::string(handler_lua) + script));
	ck_assert_msg(!result.ok(), "accepted:\n%s", script.c_str());
	const std::string expected = config_path() + ":" + std::to_string(line) + ": " + problem;
	if (prefix_only)
		ck_assert_msg(result.error().message.starts_with(expected), "got '%s', expected '%s...'",
			      result.error().message.c_str(), expected.c_str());
	else
		assert_str_eq(result.error().message, expected);
}

START_TEST(test_listener_errors)
{
	const std::string missing = std::string(temp_dir) + "/missing.pem";
	assert_config_error("mysql_listen('/run/a.sock', h, {ssl_cert = " + q(missing) + "})\n", 2,
			    "ssl_cert '" + missing + "': No such file or directory");
	assert_config_error("mysql_listen('/run/a.sock', h, {ssl_cert = " + q(certs.proxy_cert()) + ", ssl_key = " +
				    q(missing) + "})\n",
			    2, "ssl_key '" + missing + "': No such file or directory");
	/* The key of another certificate. */
	assert_config_error("mysql_listen('/run/a.sock', h, {ssl_cert = " + q(certs.proxy_cert()) + ", ssl_key = " +
				    q(certs.mariadb_key()) + "})\n",
			    2, "ssl_key '" + certs.mariadb_key() + "': the key does not match ssl_cert");
	/* Not PEM at all. */
	assert_config_error("mysql_listen('/run/a.sock', h, {ssl_cert = " + q(config_path()) + ", ssl_key = " +
				    q(certs.proxy_key()) + "})\n",
			    2, "ssl_cert '" + config_path() + "': no start line");
	/* A certificate but no key in the file. */
	assert_config_error("mysql_listen('/run/a.sock', h, {ssl_cert = " + q(certs.proxy_cert()) + "})\n", 2,
			    "ssl_key '" + certs.proxy_cert() + "': no usable private key in PEM format (", true);
	assert_config_error("mysql_listen('/run/a.sock', h, {require_ssl = true})\n", 2,
			    "option require_ssl needs ssl_cert (and ssl_key)");
	assert_config_error("mysql_listen('/run/a.sock', h, {ssl_key = 'k.pem'})\n", 2, "option ssl_key needs ssl_cert");
	assert_config_error("mysql_listen('/run/a.sock', h, {require_ssl = 'yes'})\n", 2,
			    "option require_ssl must be a boolean, got string");
	assert_config_error("mysql_listen('/run/a.sock', h, {ssl_cert = ''})\n", 2,
			    "option ssl_cert must be a non-empty string without NUL bytes");
	assert_config_error("mysql_listen('/run/a.sock', h, {ssl = true})\n", 2,
			    "bad argument #3 to 'mysql_listen' (unknown option 'ssl')");
	assert_config_error("mysql_listen('/run/a.sock', h, 5)\n", 2,
			    "bad argument #3 to 'mysql_listen' (table expected, got number)");
}
END_TEST

START_TEST(test_mysql_ssl_ca)
{
	ConfigResult result = load_config(write_config(std::string(handler_lua) + "mysql_listen('/run/a.sock', h)\n" +
						       "a = mysql_ssl_ca(" + q(certs.ca()) + ")\n" +
						       "b = mysql_ssl_ca(" + q(certs.ca_dir()) + ")\n" +
						       "assert(tostring(a) == 'ssl_ca')\n"));
	ck_assert_msg(result.ok(), "%s", result.ok() ? "" : result.error().message.c_str());

	const std::string missing = std::string(temp_dir) + "/missing.pem";
	assert_config_error("mysql_listen('/run/a.sock', h)\nmysql_ssl_ca(" + q(missing) + ")\n", 3,
			    "mysql_ssl_ca '" + missing + "': No such file or directory");
	assert_config_error("mysql_listen('/run/a.sock', h)\nmysql_ssl_ca(" + q(config_path()) + ")\n", 3,
			    "mysql_ssl_ca '" + config_path() + "': no certificate found");
	/* A directory without certificates. */
	assert_config_error("mysql_listen('/run/a.sock', h)\nmysql_ssl_ca(" + q(std::string(temp_dir) + "/empty") + ")\n",
			    3, "mysql_ssl_ca '" + std::string(temp_dir) + "/empty': no certificate found");
}
END_TEST

/* What client:connect() hands the worker. */
static ConnectAction connect_with(const std::string &options, const std::string &preamble = "")
{
	const std::string script = preamble + "return { on_handshake_response = function(client, hr)\n"
					      "  return client:connect('127.0.0.1:3306', hr, " + options + ")\nend }\n";
	Harness h(script.c_str());
	CallbackRun run(h.L);
	HandshakeResponseFields fields;
	fields.user = "u";
	h.start_handshake_response(run, fields);
	return std::get<ConnectAction>(take_action(run, on_handshake_response_rules));
}

START_TEST(test_connect_options)
{
	ConnectAction plain = connect_with("{}");
	ck_assert(!plain.ssl);
	ck_assert_ptr_null(plain.ssl_context);

	ConnectAction verified = connect_with("{ssl = true, ssl_ca = ca, ssl_server_name = 'db.example'}",
					      "local ca = mysql_ssl_ca(" + q(certs.ca()) + ")\n");
	ck_assert(verified.ssl);
	ck_assert_ptr_nonnull(verified.ssl_context);
	ck_assert(verified.ssl_verify);
	assert_str_eq(verified.ssl_server_name, "db.example");

	ConnectAction unverified = connect_with("{ssl = true, ssl_verify_server_cert = false}");
	ck_assert(unverified.ssl);
	ck_assert_ptr_nonnull(unverified.ssl_context);
	ck_assert(!unverified.ssl_verify);
	assert_str_eq(unverified.ssl_server_name, "");

	ConnectAction off = connect_with("{ssl = false}");
	ck_assert(!off.ssl);
}
END_TEST

/* client:connect(cluster, hr [, options]): the cluster's TLS options apply unless the call names
 * ssl; then the call's options replace them as a whole. */
static ConnectAction connect_cluster_with(const std::string &cluster_options, const std::string &options)
{
	const std::string script = "local c = mysql_cluster({'127.0.0.1:3306'}, " + cluster_options + ")\n"
				   "return { on_handshake_response = function(client, hr)\n"
				   "  return client:connect(c, hr, " + options + ")\nend }\n";
	Harness h(script.c_str());
	CallbackRun run(h.L);
	HandshakeResponseFields fields;
	fields.user = "u";
	h.start_handshake_response(run, fields);
	return std::get<ConnectAction>(take_action(run, on_handshake_response_rules));
}

START_TEST(test_connect_cluster_precedence)
{
	const std::string cluster_tls = "{ssl = true, ssl_ca = " + q(certs.ca()) + ", ssl_server_name = 'db.example'}";
	ConnectAction inherited = connect_cluster_with(cluster_tls, "{}");
	ck_assert(inherited.ssl && inherited.ssl_verify);
	ck_assert_ptr_nonnull(inherited.ssl_context);
	assert_str_eq(inherited.ssl_server_name, "db.example");
	ConnectAction read_only = connect_cluster_with(cluster_tls, "{read_only = true}");
	ck_assert(read_only.ssl && read_only.read_only);
	ck_assert_ptr_nonnull(read_only.ssl_context);
	assert_str_eq(read_only.ssl_server_name, "db.example");

	/* The call's own ssl replaces everything: no server name left over from the cluster. */
	ConnectAction replaced = connect_cluster_with(cluster_tls, "{ssl = true, ssl_verify_server_cert = false}");
	ck_assert(replaced.ssl && !replaced.ssl_verify);
	ck_assert_ptr_nonnull(replaced.ssl_context);
	assert_str_eq(replaced.ssl_server_name, "");
	ConnectAction off = connect_cluster_with(cluster_tls, "{ssl = false}");
	ck_assert(!off.ssl);
	ck_assert_ptr_null(off.ssl_context);

	/* A cluster without TLS, a call with it. */
	ConnectAction call_only = connect_cluster_with("{}", "{ssl = true, ssl_verify_server_cert = false}");
	ck_assert(call_only.ssl && !call_only.ssl_verify);
	ConnectAction neither = connect_cluster_with("nil", "nil");
	ck_assert(!neither.ssl);
}
END_TEST

START_TEST(test_connect_option_errors)
{
	static const struct {
		const char *options;
		const char *message;
	} cases[] = {
		{"{ssl = true}", "ssl = true verifies the server's certificate: give ssl_ca"},
		{"{ssl = 1}", "option ssl must be a boolean, got number"},
		{"{ssl = true, ssl_ca = '/etc/ssl/certs'}",
		 "option ssl_ca must be a CA loaded at startup with mysql_ssl_ca() (workers cannot read files)"},
		{"{ssl = true, ssl_ca = 5}", "option ssl_ca must be a mysql_ssl_ca() object or a path, got number"},
		{"{ssl_server_name = 'x'}", "the options ssl_ca, ssl_verify_server_cert and ssl_server_name need ssl = true"},
		{"{ssl = true, ssl_verify_server_cert = false, ssl_server_name = ''}",
		 "option ssl_server_name must be a non-empty string without NUL bytes"},
		{"{ssl = true, ssl_verify_server_cert = false, ssl_server_name = string.rep('a', 254)}",
		 "option ssl_server_name is longer than 253 bytes"},
		{"{ssl = true, ssl_verify = false}", "bad argument #3 to 'connect' (unknown option 'ssl_verify')"},
	};
	for (const auto &c : cases) {
		const std::string script = std::string("return { on_handshake_response = function(client, hr)\n"
						       "  return client:connect('127.0.0.1', hr, ") +
					   c.options + ")\nend }\n";
		Harness h(script.c_str());
		CallbackRun run(h.L);
		HandshakeResponseFields fields;
		fields.user = "u";
		h.start_handshake_response(run, fields);
		assert_failed(run, c.message);
	}

	/* mysql_ssl_ca() belongs to startup: a callback cannot read files. */
	const std::string script = "return { on_handshake_response = function(client, hr)\n"
				   "  return client:connect('127.0.0.1', hr, {ssl = true, ssl_ca = mysql_ssl_ca(" +
				   q(certs.ca()) + ")})\nend }\n";
	Harness h(script.c_str());
	CallbackRun run(h.L);
	HandshakeResponseFields fields;
	fields.user = "u";
	h.start_handshake_response(run, fields);
	assert_failed(run, "mysql_ssl_ca() works only while config.lua is loading");
}
END_TEST

/* client.ssl: what the worker set, read-only for the script. */
START_TEST(test_client_ssl_attribute)
{
	Harness h("return { on_connect = function(client)\n"
		  "  local ok, err = pcall(function() client.ssl = true end)\n"
		  "  return client:err(tostring(client.ssl) .. ' ' .. tostring(ok) .. ' ' .. err)\n"
		  "end, on_handshake_response = function() end }\n");
	for (const bool ssl : {false, true}) {
		h.attributes.ssl = ssl;
		CallbackRun run(h.L);
		h.start(run, "on_connect");
		const std::string message = std::get<ErrAction>(take_action(run, on_connect_rules)).message;
		assert_str_eq(message, std::string(ssl ? "true" : "false") +
					       " false config.lua:2: client.ssl is read-only");
	}
}
END_TEST

static Suite *tls_options_suite()
{
	Suite *s = suite_create("tls_options");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_listener_tls);
	tcase_add_test(tc, test_listener_combined_pem);
	tcase_add_test(tc, test_listener_errors);
	tcase_add_test(tc, test_mysql_ssl_ca);
	tcase_add_test(tc, test_connect_options);
	tcase_add_test(tc, test_connect_option_errors);
	tcase_add_test(tc, test_connect_cluster_precedence);
	tcase_add_test(tc, test_client_ssl_attribute);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	if (mkdtemp(temp_dir) == nullptr) {
		std::perror("mkdtemp");
		return EXIT_FAILURE;
	}
	int status;
	try {
		certs = make_test_certificates(temp_dir);
		const std::string empty = std::string(temp_dir) + "/empty";
		mkdir(empty.c_str(), 0755);
		status = run_check_suites({tls_options_suite()});
	} catch (const std::exception &e) {
		std::fprintf(stderr, "%s\n", e.what());
		status = EXIT_FAILURE;
	}
	const std::string cleanup = std::string("rm -rf '") + temp_dir + "'";
	if (std::system(cleanup.c_str()) != 0)
		std::fprintf(stderr, "cannot remove %s\n", temp_dir);
	return status;
}
