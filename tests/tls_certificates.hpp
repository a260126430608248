// Test certificates made with the openssl command-line tool (independent of the code under test):
// a CA, a server certificate for MariaDB (mariadb.test, 127.0.0.1) and one for myproxy's listeners
// (myproxy.test, 127.0.0.1), both signed by that CA, and a second CA that signed nothing of ours
// ("wrong CA").  EC keys, so generating them takes milliseconds.  Test-only, header-only; used by the
// unit tests of the TLS options and the TLS integration tests.
#pragma once

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace myproxy::test {

struct TestCertificates {
	std::string dir;
	std::string ca() const { return dir + "/ca.pem"; }
	std::string wrong_ca() const { return dir + "/wrong-ca.pem"; }
	std::string mariadb_cert() const { return dir + "/mariadb.pem"; }
	std::string mariadb_key() const { return dir + "/mariadb.key"; }
	std::string proxy_cert() const { return dir + "/proxy.pem"; }
	std::string proxy_key() const { return dir + "/proxy.key"; }
	/* A directory holding only the CA (for ssl_ca / mysql_ssl_ca with a directory). */
	std::string ca_dir() const { return dir + "/cadir"; }
};

/* Creates the files in @dir (which must exist); throws std::runtime_error when openssl fails. */
inline TestCertificates make_test_certificates(const std::string &dir)
{
	const auto run = [&](const std::string &command) {
		const std::string line = "cd '" + dir + "' && " + command + " >>openssl.log 2>&1";
		if (std::system(line.c_str()) != 0)
			throw std::runtime_error("openssl failed: " + command + " (see " + dir + "/openssl.log)");
	};
	const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
	for (const char *ca : {"ca", "wrong-ca"})
		run(std::string("openssl req -x509 ") + key + " -keyout " + ca + ".key -out " + ca +
		    ".pem -days 3650 -subj '/CN=myproxy test " + ca +
		    "' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
	for (const auto &[name, host] : {std::pair{"mariadb", "mariadb.test"}, std::pair{"proxy", "myproxy.test"}}) {
		{
			std::ofstream ext(dir + "/" + name + ".ext");
			ext << "subjectAltName=DNS:" << host << ",IP:127.0.0.1\n"
			    << "basicConstraints=CA:FALSE\n"
			    << "extendedKeyUsage=serverAuth\n";
		}
		run(std::string("openssl req ") + key + " -keyout " + name + ".key -out " + name + ".csr -subj '/CN=" +
		    host + "'");
		run(std::string("openssl x509 -req -in ") + name + ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -out " +
		    name + ".pem -days 3650 -extfile " + name + ".ext");
	}
	/* mariadbd runs as the test's user, maybe not root: let it read its key. */
	run("chmod 0644 mariadb.key proxy.key && mkdir -p cadir && cp ca.pem cadir/ca.pem && echo 'not a cert' >cadir/README");
	return TestCertificates{dir};
}

} // namespace myproxy::test
