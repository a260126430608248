// End to end, bytes OpenSSL decrypted ahead of what myproxy asked for: epoll never announces them,
// so the worker must read them on its own (the connection's pending-input path).  A raw TLS client
// (OpenSSL, no client library) pipelines its login and 50 COM_QUERYs in one TLS record larger than
// the login phase's read, then 50 more after the login in one record; a slow reader takes a 4 MiB
// result over TLS from a backend reached over TLS too.  Every answer must arrive, in order: without
// the pending path the queries whose bytes OpenSSL holds are never read and the client times out.
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_process.hpp"
#include "tests/tls_certificates.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>
// Last: <check.h> must follow the standard headers.
#include <check.h>

#include "tests/check_main.hpp"

using namespace myproxy::test;

namespace {

// Leaked on purpose: forked test children must not destroy them.
ProxyProcess *proxy = nullptr;
TempDir *cert_dir = nullptr;
TestCertificates certs;
std::uint16_t tls_port = 0;
constexpr const char *password = "pipeline-pw";

std::string config_lua()
{
	return "worker_processes = 1\n"
	       "local ca = mysql_ssl_ca(" + lua_quote(certs.ca()) + ")\n"
	       "local db = mysql_resolve('127.0.0.1:" + std::to_string(shared_mariadb().port()) + "')\n"
	       "local handler = {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    client.account = hr.user\n"
	       "    return client:connect(db, hr, {ssl = true, ssl_ca = ca, ssl_server_name = 'mariadb.test'})\n"
	       "  end,\n"
	       "}\n"
	       "mysql_listen('127.0.0.1:" + std::to_string(tls_port) + "', handler, {ssl_cert = " +
	       lua_quote(certs.proxy_cert()) + ", ssl_key = " + lua_quote(certs.proxy_key()) + "})\n";
}

std::string packet(std::uint8_t sequence_id, const std::string &payload)
{
	std::string framed;
	framed += char(payload.size() & 0xff);
	framed += char((payload.size() >> 8) & 0xff);
	framed += char((payload.size() >> 16) & 0xff);
	framed += char(sequence_id);
	return framed + payload;
}

constexpr std::uint32_t client_protocol_41 = 0x200, client_ssl = 0x800, client_transactions = 0x2000,
			client_secure_connection = 0x8000, client_plugin_auth = 0x80000;
constexpr std::uint32_t client_capabilities =
	client_protocol_41 | client_ssl | client_transactions | client_secure_connection | client_plugin_auth;

std::string little_endian32(std::uint32_t value)
{
	std::string out;
	for (int i = 0; i < 4; ++i)
		out += char((value >> (8 * i)) & 0xff);
	return out;
}

// SSLRequest (sequence 1): capabilities, max packet size, utf8mb4, 23 zero bytes.
std::string ssl_request()
{
	return packet(1, little_endian32(client_capabilities) + little_endian32(1u << 24) + "\x2d" + std::string(23, '\0'));
}

// HandshakeResponse41 (sequence 2) answering with mysql_clear_password, the listener's default,
// so that no AuthSwitchRequest comes between the login and the pipelined commands.
std::string handshake_response(const std::string &user)
{
	const std::string auth = std::string(password) + '\0';
	return packet(2, little_endian32(client_capabilities) + little_endian32(1u << 24) + "\x2d" + std::string(23, '\0') +
				 user + '\0' + char(auth.size()) + auth + "mysql_clear_password" + '\0');
}

// COM_QUERY "SELECT <n>" padded with a comment to @size bytes of SQL.
std::string com_query(int n, std::size_t size)
{
	std::string sql = "SELECT " + std::to_string(n) + " /*";
	sql.resize(size > sql.size() + 2 ? size - 2 : sql.size(), 'p');
	return packet(0, "\x03" + sql + "*/");
}

// A TLS session over a RawConnection's socket (blocking, with its timeouts).
class TlsClient {
public:
	TlsClient() : raw("127.0.0.1:" + std::to_string(tls_port)) {}
	~TlsClient()
	{
		if (ssl != nullptr)
			SSL_free(ssl);
		if (ctx != nullptr)
			SSL_CTX_free(ctx);
	}

	// Reads the greeting, sends the SSLRequest and completes the handshake (myproxy's
	// certificate verified against the test CA).
	void start_tls()
	{
		const auto greeting = raw.read_packet();
		PROXY_ASSERT(greeting.has_value(), "no greeting");
		PROXY_CHECK(raw.send_bytes(ssl_request()));
		ctx = SSL_CTX_new(TLS_client_method());
		PROXY_CHECK(ctx != nullptr);
		PROXY_CHECK(SSL_CTX_load_verify_locations(ctx, certs.ca().c_str(), nullptr) == 1);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
		ssl = SSL_new(ctx);
		PROXY_CHECK(ssl != nullptr && SSL_set_fd(ssl, raw.fd()) == 1);
		PROXY_ASSERT(SSL_connect(ssl) == 1, "TLS handshake: %s", ERR_error_string(ERR_get_error(), nullptr));
	}

	// A small receive buffer: myproxy's writes to this client block soon.
	void shrink_receive_buffer()
	{
		const int size = 4096;
		PROXY_CHECK(setsockopt(raw.fd(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == 0);
	}

	// One SSL_write: one TLS record as long as @bytes fit one (16 KiB).
	void write_record(const std::string &bytes)
	{
		PROXY_ASSERT(bytes.size() <= 16384, "%zu bytes do not fit one record", bytes.size());
		PROXY_ASSERT(SSL_write(ssl, bytes.data(), int(bytes.size())) == int(bytes.size()), "SSL_write failed");
	}

	// The next packet's payload; fails the test on EOF or the socket's timeout.  Reads at most
	// @chunk bytes per SSL_read (a slow reader when small).
	std::string read_payload(std::size_t chunk = 65536)
	{
		fill(4, chunk);
		const std::size_t length = std::uint8_t(buffer[0]) | std::size_t(std::uint8_t(buffer[1])) << 8 |
					   std::size_t(std::uint8_t(buffer[2])) << 16;
		fill(4 + length, chunk);
		std::string payload = buffer.substr(4, length);
		buffer.erase(0, 4 + length);
		return payload;
	}

	// A text result set of one column and one row: the value (the answer must be no ERR).
	std::string read_single_value(std::size_t chunk = 65536)
	{
		const std::string count = read_payload(chunk);
		PROXY_ASSERT(!count.empty() && std::uint8_t(count[0]) != 0xff, "ERR instead of a result: %s",
			     count.size() > 9 ? count.substr(9).c_str() : "");
		PROXY_ASSERT(count == "\x01", "expected one column");
		read_payload(chunk);                        /* column definition */
		PROXY_CHECK(is_eof(read_payload(chunk)));
		std::string row = read_payload(chunk);
		std::string value = lenenc_string(row);
		PROXY_CHECK(is_eof(read_payload(chunk)));
		return value;
	}

	void expect_ok()
	{
		const std::string ok = read_payload();
		PROXY_ASSERT(!ok.empty() && ok[0] == 0, "no OK (%s)", !ok.empty() && std::uint8_t(ok[0]) == 0xff && ok.size() > 9
									     ? ok.substr(9).c_str() : "not an ERR either");
	}

private:
	RawConnection raw;
	SSL_CTX *ctx = nullptr;
	SSL *ssl = nullptr;
	std::string buffer;

	void fill(std::size_t wanted, std::size_t chunk)
	{
		std::vector<char> part(chunk);
		while (buffer.size() < wanted) {
			const int n = SSL_read(ssl, part.data(), int(part.size()));
			PROXY_ASSERT(n > 0, "the answer stopped after %zu of %zu bytes (SSL_read: %d)", buffer.size(), wanted,
				     SSL_get_error(ssl, n));
			buffer.append(part.data(), std::size_t(n));
		}
	}

	static bool is_eof(const std::string &payload) { return payload.size() < 9 && std::uint8_t(payload[0]) == 0xfe; }

	static std::string lenenc_string(const std::string &row)
	{
		PROXY_ASSERT(!row.empty(), "empty row");
		const std::uint8_t first = std::uint8_t(row[0]);
		if (first < 0xfb)
			return row.substr(1, first);
		PROXY_ASSERT(first == 0xfd && row.size() >= 4, "unexpected length prefix %u", first);
		const std::size_t length = std::uint8_t(row[1]) | std::size_t(std::uint8_t(row[2])) << 8 |
					   std::size_t(std::uint8_t(row[3])) << 16;
		return row.substr(4, length);
	}
};

} // namespace

// The login and 50 queries in one record of more than 4 KiB: the login phase reads 4 KiB, OpenSSL
// keeps the rest, and the relay must read it without a word from epoll.
START_TEST(test_login_and_queries_in_one_record)
{
	TlsClient client;
	client.start_tls();
	std::string record = handshake_response("pipeline");
	for (int i = 1; i <= 50; ++i)
		record += com_query(i, 100);
	PROXY_ASSERT(record.size() > 4096 + 1000, "the record (%zu bytes) must exceed the login read", record.size());
	client.write_record(record);
	client.expect_ok();
	for (int i = 1; i <= 50; ++i)
		PROXY_ASSERT_STR(client.read_single_value(), std::to_string(i));

	// And 50 more in one record after the login.
	record.clear();
	for (int i = 51; i <= 100; ++i)
		record += com_query(i, 200);
	client.write_record(record);
	for (int i = 51; i <= 100; ++i)
		PROXY_ASSERT_STR(client.read_single_value(), std::to_string(i));
}
END_TEST

// A 256 KiB value through a backend TLS session to a client with a small receive buffer that reads
// 1 KiB at a time: the relay's buffer toward the client fills and is compacted, its reads from the
// backend get less room than a TLS record holds, and every byte must still reach the client.
START_TEST(test_slow_reader_of_a_tls_backend)
{
	TlsClient client;
	client.shrink_receive_buffer();
	client.start_tls();
	client.write_record(handshake_response("pipeline"));
	client.expect_ok();
	constexpr std::size_t big = 256u << 10;
	client.write_record(packet(0, "\x03SELECT REPEAT('0123456789abcdef', " + std::to_string(big / 16) + ")"));
	const std::string value = client.read_single_value(1024);
	PROXY_ASSERT(value.size() == big, "got %zu bytes", value.size());
	for (std::size_t i = 0; i < big; i += 16)
		PROXY_ASSERT(value.compare(i, 16, "0123456789abcdef") == 0, "wrong bytes at %zu", i);
	client.write_record(com_query(7, 20));
	PROXY_ASSERT_STR(client.read_single_value(), "7");
}
END_TEST

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*proxy);
}
END_TEST

int main()
{
	cert_dir = new TempDir("myproxy-tls-pipeline-");
	try {
		certs = make_test_certificates(cert_dir->path());
	} catch (const std::exception &e) {
		std::fprintf(stderr, "%s\n", e.what());
		return EXIT_FAILURE;
	}
	Suite *s = suite_create("proxy_tls_pipeline");
	TCase *tc = server_tcase("pipeline", 60);
	tcase_add_test(tc, test_login_and_queries_in_one_record);
	tcase_add_test(tc, test_slow_reader_of_a_tls_backend);
	suite_add_tcase(s, tc);
	tc = server_tcase("shutdown", 60);
	tcase_add_test(tc, test_clean_shutdown);
	suite_add_tcase(s, tc);

	SharedServerSpec spec;
	spec.mariadb.extra_args = {"--ssl-cert=" + certs.mariadb_cert(), "--ssl-key=" + certs.mariadb_key(),
				   "--ssl-ca=" + certs.ca()};
	const int rc = run_suites_with_servers(spec, {s}, [] {
		shared_mariadb().create_user("pipeline", password);
		tls_port = pick_free_tcp_port();
		proxy = new ProxyProcess;
		proxy->start(config_lua(), {"127.0.0.1:" + std::to_string(tls_port)});
	});
	delete cert_dir;
	return rc;
}
