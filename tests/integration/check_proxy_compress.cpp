// End to end, the compressed protocol (issue 12, group 3): the real ./myproxy (one worker) between a
// real mariadbd and clients that ask for CLIENT_COMPRESS (libmariadb, the mariadb CLI's --compress,
// PHP's mysqli and PDO on mysqlnd), and a backend link compressed by the connect option compress,
// each side on its own, also inside TLS.  20 MiB rows and INSERTs cross intact while the worker's memory stays flat;
// hostile frames (a decompression bomb, a corrupt stream, a length the frame cannot hold, a sequence
// id out of turn) end only their own connection with the server's ERR, and leave no fd behind.
// Before <check.h> (through the fixture), whose `fail` macro breaks common/ headers.
#include "common/compressed_framing.hpp"

#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"
#include "tests/tls_certificates.hpp"

#include <check.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <zlib.h>

#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace myproxy::test;

namespace {

ProxyProcess *proxy = nullptr; // leaked on purpose: forked test children must not destroy it
TestCertificates certs;
std::uint16_t tls_port = 0;

constexpr std::size_t BIG = 20u << 20; // 20 MiB: more than one 16 MiB packet, more than one frame

Endpoint proxy_socket()
{
	return Endpoint::unix_socket(proxy->path("compress.sock"));
}

// alice's backend link is plain, carol's is compressed (option compress); the TCP listener has TLS.
std::string config_lua()
{
	return "worker_processes = 1\n"
	       "local backend = mysql_resolve(" + lua_quote(shared_mariadb().socket_path()) + ")\n"
	       "local handler = {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    client.account = hr.user\n"
	       "    if hr.user == 'carol' then return client:connect(backend, hr, {compress = true}) end\n"
	       "    return client:connect(backend, hr)\n"
	       "  end,\n"
	       "}\n"
	       "mysql_listen(" + lua_quote(proxy->path("compress.sock")) + ", handler)\n"
	       "mysql_listen('127.0.0.1:" + std::to_string(tls_port) + "', handler, {ssl_cert = " +
	       lua_quote(certs.proxy_cert()) + ", ssl_key = " + lua_quote(certs.proxy_key()) + "})\n";
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

// 20 MiB of random lowercase letters: compresses, but not to nothing, and needs no escaping.
std::string random_text(std::size_t size, unsigned seed)
{
	std::mt19937 generator(seed);
	std::string text(size, 'a');
	for (char &c : text)
		c = char('a' + generator() % 26);
	return text;
}

void connect_or_fail(MysqlClient &c, std::string_view user, bool compress)
{
	ClientOptions options;
	options.database = "ztest";
	options.flags = compress ? CLIENT_COMPRESS : 0;
	PROXY_ASSERT(c.connect(proxy_socket(), user, std::string(user) + "-pw", options), "login as %.*s: %s",
		     int(user.size()), user.data(), c.error().c_str());
	PROXY_ASSERT(bool(c.get()->net.compress) == compress, "libmariadb's compression is %d",
		     int(c.get()->net.compress));
}

// Whether mariadbd sees the backend link compressed.
std::string backend_compression(MysqlClient &c)
{
	return c.text("SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'COMPRESSION'");
}

std::vector<int> worker_pids()
{
	std::ifstream children("/proc/" + std::to_string(proxy->pid()) + "/task/" + std::to_string(proxy->pid()) +
			       "/children");
	std::vector<int> pids;
	for (int pid; children >> pid;)
		pids.push_back(pid);
	return pids;
}

// A line of /proc/PID/status in kB, summed over the workers.
long workers_status_kb(const char *field)
{
	long total = 0;
	for (int pid : worker_pids()) {
		std::ifstream status("/proc/" + std::to_string(pid) + "/status");
		for (std::string line; std::getline(status, line);)
			if (line.rfind(field, 0) == 0)
				total += std::stol(line.substr(std::strlen(field)));
	}
	return total;
}

// Restarts the workers' peak RSS (VmHWM) from their current RSS.
void reset_workers_peak()
{
	for (int pid : worker_pids())
		std::ofstream("/proc/" + std::to_string(pid) + "/clear_refs") << "5";
}

// A 20 MiB row down (SELECT REPEAT), a 20 MiB INSERT up, and that blob down again, all intact,
// while the worker's memory stays flat.
void move_big_rows(MysqlClient &c, const std::string &tag)
{
	const long rss_before = workers_status_kb("VmRSS:");
	reset_workers_peak();
	const std::string repeated = c.text("SELECT REPEAT('x', " + std::to_string(BIG) + ")");
	PROXY_ASSERT(repeated == std::string(BIG, 'x'), "REPEAT row: %zu bytes", repeated.size());

	const std::string text = random_text(BIG, unsigned(tag.size()));
	const SqlResult insert = c.query("INSERT INTO blobs (tag, b) VALUES ('" + tag + "', '" + text + "')");
	PROXY_ASSERT(insert.ok, "20 MiB INSERT: %s", insert.error.c_str());
	PROXY_ASSERT_STR(c.text("SELECT CONCAT(LENGTH(b), ' ', MD5(b)) FROM blobs WHERE tag = '" + tag + "'"),
			 std::to_string(BIG) + " " + md5_hex(text));
	const std::string back = c.text("SELECT b FROM blobs WHERE tag = '" + tag + "'");
	PROXY_ASSERT(back == text, "the blob came back with %zu bytes, md5 %s", back.size(), md5_hex(back).c_str());
	const long peak = workers_status_kb("VmHWM:");
	// Held whole, one 20 MiB payload alone would add 20 MiB; the relay's windows are 32 KiB.
	PROXY_ASSERT(peak - rss_before < 8 * 1024, "%s: worker RSS grew by %ld kB", tag.c_str(), peak - rss_before);
}

std::size_t workers_fd_count()
{
	std::size_t count = 0;
	for (int pid : worker_pids()) {
		DIR *dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
		if (dir == nullptr)
			continue;
		while (const dirent *entry = readdir(dir))
			count += entry->d_name[0] != '.';
		closedir(dir);
	}
	return count;
}

// What the peer sends until it closes (bounded by a timeout: a hung proxy fails the test).
std::string read_until_closed(int fd)
{
	std::string data;
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
	while (std::chrono::steady_clock::now() < deadline) {
		pollfd p{fd, POLLIN, 0};
		if (::poll(&p, 1, 1000) <= 0)
			continue;
		char buffer[65536];
		const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
		if (n <= 0)
			return data;
		data.append(buffer, std::size_t(n));
	}
	ck_abort_msg("myproxy did not close the connection");
	return data;
}

// The plain packets inside a compressed stream, decoded with the framing's client role.
std::vector<std::string> plain_packets(const std::string &wire)
{
	myproxy::CompressedFraming framing(myproxy::CompressedRole::client);
	std::string plain;
	std::vector<std::uint8_t> out(65536);
	myproxy::ByteSpan rest(reinterpret_cast<const std::uint8_t *>(wire.data()), wire.size());
	for (;;) {
		const auto step = framing.decode(rest, out);
		PROXY_ASSERT(step.fault == myproxy::CompressedFault::none, "myproxy's own frames: %s",
			     myproxy::compressed_fault_name(step.fault));
		rest = rest.subspan(step.consumed);
		plain.append(reinterpret_cast<const char *>(out.data()), step.produced);
		if (step.consumed == 0 && step.produced == 0)
			break;
	}
	std::vector<std::string> packets;
	for (std::size_t at = 0; at + 4 <= plain.size();) {
		const std::size_t length = std::uint8_t(plain[at]) | std::uint8_t(plain[at + 1]) << 8 |
					   std::uint8_t(plain[at + 2]) << 16;
		packets.push_back(plain.substr(at + 4, length));
		at += 4 + length;
	}
	return packets;
}

std::string header(std::size_t wire_length, std::uint8_t sequence, std::size_t plain_length)
{
	return {char(wire_length), char(wire_length >> 8), char(wire_length >> 16), char(sequence),
		char(plain_length), char(plain_length >> 8), char(plain_length >> 16)};
}

std::string deflated(const std::string &plain)
{
	uLongf size = compressBound(plain.size());
	std::string out(size, '\0');
	compress(reinterpret_cast<Bytef *>(out.data()), &size, reinterpret_cast<const Bytef *>(plain.data()), plain.size());
	out.resize(size);
	return out;
}

// A compressed session that sends @frames and must be answered with ERR @code, then closed.
void expect_err_for(const std::string &frames, unsigned code, const char *what)
{
	RawConnection c(proxy_socket().socket_path);
	std::string error;
	PROXY_ASSERT(raw_compressed_login(c, "alice", "alice-pw", error), "%s: login: %s", what, error.c_str());
	PROXY_ASSERT(c.send_bytes(frames), "%s: send failed", what);
	const std::vector<std::string> packets = plain_packets(read_until_closed(c.fd()));
	PROXY_ASSERT(!packets.empty(), "%s: closed without an ERR", what);
	const auto err = parse_raw_error(packets.back());
	PROXY_ASSERT(err && err->code == code && err->sqlstate == "08S01", "%s: expected ERR %u, got %s", what, code,
		     err ? (std::to_string(err->code) + " " + err->message).c_str() : "no ERR");
}

} // namespace

START_TEST(test_libmariadb_compressed_client)
{
	MysqlClient c;
	connect_or_fail(c, "alice", true);
	PROXY_ASSERT_STR(backend_compression(c), "OFF");
	move_big_rows(c, "libmariadb");
	PROXY_ASSERT_STR(c.text("SELECT 1"), "1");
}
END_TEST

START_TEST(test_compressed_backend_link)
{
	MysqlClient plain_client;
	connect_or_fail(plain_client, "carol", false);
	PROXY_ASSERT_STR(backend_compression(plain_client), "ON");
	move_big_rows(plain_client, "carol-plain");

	MysqlClient compressed_client;
	connect_or_fail(compressed_client, "carol", true);
	PROXY_ASSERT_STR(backend_compression(compressed_client), "ON");
	move_big_rows(compressed_client, "carol-both");
	// Commands without an answer (COM_STMT_CLOSE) between others keep the backend's numbering.
	MYSQL_STMT *stmt = mysql_stmt_init(compressed_client.get());
	PROXY_CHECK(mysql_stmt_prepare(stmt, "SELECT 1", 8) == 0);
	PROXY_CHECK(mysql_stmt_close(stmt) == 0);
	PROXY_ASSERT_STR(compressed_client.text("SELECT 2"), "2");
}
END_TEST

// Compression inside TLS, toward the client and toward a compressed backend: both layers hold
// bytes epoll does not announce.
START_TEST(test_compressed_inside_tls)
{
	for (const char *user : {"alice", "carol"}) {
		MysqlClient c;
		const my_bool yes = 1;
		mysql_optionsv(c.get(), MYSQL_OPT_SSL_CA, certs.ca().c_str());
		mysql_optionsv(c.get(), MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes);
		ClientOptions options;
		options.database = "ztest";
		options.flags = CLIENT_COMPRESS;
		PROXY_ASSERT(c.connect(Endpoint::tcp("127.0.0.1", tls_port), user, std::string(user) + "-pw", options),
			     "TLS login as %s: %s", user, c.error().c_str());
		PROXY_ASSERT(mysql_get_ssl_cipher(c.get()) != nullptr && c.get()->net.compress, "%s: TLS %d, compression %d",
			     user, mysql_get_ssl_cipher(c.get()) != nullptr, int(c.get()->net.compress));
		move_big_rows(c, std::string("tls-") + user);
	}
}
END_TEST

START_TEST(test_cli_compress)
{
	const std::string text = random_text(BIG, 7);
	const std::string script = proxy->path("big.sql");
	std::ofstream(script) << "INSERT INTO blobs (tag, b) VALUES ('cli', '" << text << "');\n"
			      << "SELECT CONCAT(LENGTH(b), ' ', MD5(b)) FROM blobs WHERE tag = 'cli';\n"
			      << "SELECT REPEAT('y', " << BIG << ");\n";
	const CommandOutput out =
		run_program({"mariadb", "--no-defaults", "--compress", "--batch", "--skip-column-names",
			     "--max-allowed-packet=64M", "-S", proxy_socket().socket_path,
			     "-u", "alice", "-palice-pw", "ztest", "-e", "source " + script});
	PROXY_ASSERT(out.exit_code == 0, "mariadb --compress: exit %d: %.500s", out.exit_code, out.output.c_str());
	std::istringstream lines(out.output);
	std::string summary, repeated;
	std::getline(lines, summary);
	std::getline(lines, repeated);
	PROXY_ASSERT_STR(summary, std::to_string(BIG) + " " + md5_hex(text));
	PROXY_ASSERT(repeated == std::string(BIG, 'y'), "REPEAT row: %zu bytes", repeated.size());
}
END_TEST

START_TEST(test_php_compress)
{
	const char *script =
		"mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);\n"
		"$big = 20 * 1024 * 1024;\n"
		"$text = bin2hex(random_bytes($big / 2));\n"
		"function check($name, $repeated, $back, $text, $big) {\n"
		"  echo $name, ($repeated === str_repeat('x', $big) && $back === $text) ? ' intact' : ' broken', \"\\n\";\n"
		"}\n"
		"$m = mysqli_init();\n"
		"$m->real_connect('localhost', 'alice', 'alice-pw', 'ztest', 0, $argv[1], MYSQLI_CLIENT_COMPRESS);\n"
		"$repeated = $m->query(\"SELECT REPEAT('x', $big)\")->fetch_row()[0];\n"
		"$m->query(\"INSERT INTO blobs (tag, b) VALUES ('mysqli', '$text')\");\n"
		"$back = $m->query(\"SELECT b FROM blobs WHERE tag = 'mysqli'\")->fetch_row()[0];\n"
		"check('mysqli', $repeated, $back, $text, $big);\n"
		"$p = new PDO(\"mysql:unix_socket=$argv[1];dbname=ztest\", 'alice', 'alice-pw',\n"
		"             [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::MYSQL_ATTR_COMPRESS => true]);\n"
		"$repeated = $p->query(\"SELECT REPEAT('x', $big)\")->fetchColumn();\n"
		"$p->exec(\"INSERT INTO blobs (tag, b) VALUES ('pdo', '$text')\");\n"
		"$back = $p->query(\"SELECT b FROM blobs WHERE tag = 'pdo'\")->fetchColumn();\n"
		"check('pdo', $repeated, $back, $text, $big);\n";
	const CommandOutput out = run_program(
		{"/usr/bin/php", "-d", "memory_limit=-1", "-r", script, "--", proxy_socket().socket_path},
		std::chrono::seconds(120));
	PROXY_ASSERT(out.exit_code == 0 && contains(out.output, "mysqli intact\n") && contains(out.output, "pdo intact\n"),
		     "php: exit %d: %.800s", out.exit_code, out.output.c_str());
}
END_TEST

// Each hostile stream ends only its own session, with the server's ERR; another session goes on,
// and the worker's fds come back to what they were.
START_TEST(test_hostile_frames)
{
	MysqlClient other;
	connect_or_fail(other, "alice", true);
	const std::size_t fds_before = workers_fd_count();

	// A COM_PING, then 16 MiB of zeros in a frame that declares 5 bytes.
	const std::string ping = {1, 0, 0, 0, 0x0E};
	const std::string bomb_body = deflated(ping + std::string(16u << 20, '\0'));
	expect_err_for(header(bomb_body.size(), 0, ping.size()) + bomb_body, 1157, "decompression bomb");

	const std::string query = std::string{9, 0, 0, 0, 0x03} + "SELECT 1";
	std::string corrupt_body = deflated(query + std::string(500, 'q'));
	for (std::size_t i = 2; i < corrupt_body.size(); i += 3)
		corrupt_body[i] = char(corrupt_body[i] ^ 0x5A);
	expect_err_for(header(corrupt_body.size(), 0, query.size() + 500) + corrupt_body, 1157, "corrupt stream");

	const std::string tiny = deflated("x");
	expect_err_for(header(tiny.size(), 0, 0xFFFFFF) + tiny, 1153, "16 MiB claimed by a tiny frame");

	expect_err_for(header(ping.size(), 9, 0) + ping, 1156, "sequence id out of turn");

	PROXY_ASSERT_STR(other.text("SELECT 'still here'"), "still here");
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
	while (workers_fd_count() != fds_before && std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
	PROXY_ASSERT(workers_fd_count() == fds_before, "worker fds: %zu before, %zu after", fds_before,
		     workers_fd_count());
	PROXY_CHECK(contains(proxy->log(), "compressed protocol error: the client's compressed frame declares more"));
	PROXY_CHECK(contains(proxy->log(), "compressed protocol error: the client's corrupt compressed frame"));
	PROXY_CHECK(contains(proxy->log(), "compressed protocol error: the client's compressed frame out of order"));
}
END_TEST

START_TEST(test_clean_shutdown)
{
	PROXY_ASSERT_CLEAN_SHUTDOWN(*proxy);
}
END_TEST

static Suite *compress_suite()
{
	Suite *s = suite_create("proxy_compress");
	TCase *tc = server_tcase("compress", 300);
	tcase_add_test(tc, test_libmariadb_compressed_client);
	tcase_add_test(tc, test_compressed_backend_link);
	tcase_add_test(tc, test_compressed_inside_tls);
	tcase_add_test(tc, test_cli_compress);
	tcase_add_test(tc, test_php_compress);
	tcase_add_test(tc, test_hostile_frames);
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
	const int rc = run_suites_with_servers(spec, {compress_suite()}, [] {
		shared_mariadb().create_user("alice", "alice-pw");
		shared_mariadb().create_user("carol", "carol-pw");
		shared_mariadb().create_database("ztest");
		shared_mariadb().execute("CREATE TABLE IF NOT EXISTS ztest.blobs (tag VARCHAR(32), b LONGBLOB)");
		proxy = new ProxyProcess;
		// OpenSSL frees and takes its record buffers per record (SSL_MODE_RELEASE_BUFFERS), and
		// ASan's quarantine (256 MiB by default) keeps what is freed: a sanitizer build's worker
		// RSS would measure the quarantine, not what myproxy holds.  A 1 MiB quarantine still
		// catches recent use-after-free; the other options are proxy_process.cpp's defaults.
		proxy->set_extra_env({"ASAN_OPTIONS=abort_on_error=0:detect_leaks=1:exitcode=66:quarantine_size_mb=1"});
		certs = make_test_certificates(proxy->dir());
		tls_port = pick_free_tcp_port();
		proxy->start(config_lua(), {proxy->path("compress.sock"), "127.0.0.1:" + std::to_string(tls_port)});
	});
	mysql_library_end();
	return rc;
}
