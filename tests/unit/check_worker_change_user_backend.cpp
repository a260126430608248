// Unit tests for what the backend gets from a client's COM_CHANGE_USER, through a real Worker
// (tests/unit/worker_bench.hpp) and a backend played by the test, which parses the command with
// common/change_user_packet: always a COM_CHANGE_USER (also for the same account), with the script's
// credentials (never the client's auth data), the database the script returns (none when nil) and
// the two-byte character set of the client's packet (the login's when the packet has none); a
// 300-byte password reaches a backend that switches to mysql_clear_password whole (the command's
// auth field has a one-byte length, also with CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA).  Hostile clients:
// truncated commands get ERR 1043, a command larger than the relay can hold ERR 1153; each closes
// only its own session while another one on the same worker goes on.
#include "tests/unit/worker_bench.hpp"

#include "common/change_user_packet.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/native_password.hpp"

using namespace myproxy;
using namespace myproxy::test;

namespace {

/* What the fake backend and the worker agree on (serve_backend_login's greeting). */
constexpr std::uint32_t backend_capabilities = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
const std::string backend_nonce = "abcdefghijklmnopqrst";

/* alice maps to be_alice with the script's own password; "long" passes the client's password
 * on (allowed in clear toward the backend); the database is the client's. */
std::string mapping_config(const FakeBackend &backend)
{
	return "local backend = mysql_resolve('127.0.0.1:" + std::to_string(backend.port) + "')\n"
	       "mysql_listen('/nonexistent/myproxy-test.sock', {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    if hr.user == 'long' then\n"
	       "      return client:connect(backend, hr, {allow_cleartext = true})\n"
	       "    end\n"
	       "    return client:connect(backend, {user = 'be_' .. hr.user, password = 'be-secret',\n"
	       "                                    database = hr.database})\n"
	       "  end,\n"
	       "})\n";
}

int logged_in(WorkerBench &bench, FakeBackend &backend, ClientPair &client, std::uint64_t id)
{
	start_login(bench, client, id);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	const std::string ok = client.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "login: %s", describe_err(ok).c_str());
	return served;
}

std::string u16(std::uint16_t value)
{
	return std::string{char(value & 0xff), char(value >> 8)};
}

/* COM_CHANGE_USER with the password in clear (mysql_clear_password) and a character set. */
std::string change_user(const std::string &user, const std::string &password, const std::string &database,
			std::uint16_t character_set)
{
	return framed(0, "\x11" + user + '\0' + char(password.size()) + password + database + '\0' + u16(character_set) +
				 "mysql_clear_password" + '\0');
}

/* The backend reads the command the worker sent it into @payload; views into it. */
ChangeUserCommand backend_reads_change_user(int served, std::string &payload)
{
	payload = read_packet_payload(served);
	const ByteSpan bytes(reinterpret_cast<const std::uint8_t *>(payload.data()), payload.size());
	auto command = parse_change_user(bytes, backend_capabilities);
	ck_assert_msg(command.ok(), "the backend got no COM_CHANGE_USER (%zu bytes)", payload.size());
	return *command;
}

std::string as_string(ByteSpan bytes)
{
	return std::string(reinterpret_cast<const char *>(bytes.data()), bytes.size());
}

std::string native_scramble(std::string_view password)
{
	const auto nonce = ByteSpan(reinterpret_cast<const std::uint8_t *>(backend_nonce.data()), backend_nonce.size());
	const auto scramble = native_password_scramble(password, nonce);
	ck_assert(scramble.has_value());
	return std::string(reinterpret_cast<const char *>(scramble->data()), scramble->size());
}

void backend_accepts(int served, std::uint8_t sequence_id)
{
	ck_assert(write_all(served, framed(sequence_id, std::string("\0\0\0\x02\0\0\0", 7))));
}

void client_reads_ok(ClientPair &client)
{
	const std::string ok = client.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "expected OK, got '%s'", describe_err(ok).c_str());
}

/* The session still relays a command both ways. */
void session_goes_on(ClientPair &client, int served)
{
	ck_assert(write_all(client.client, framed(0, "\x03" "DO 1")));
	ck_assert(read_packet_payload(served) == "\x03" "DO 1");
	backend_accepts(served, 1);
	client_reads_ok(client);
}

} // namespace

/* The same account twice in a row: each time a COM_CHANGE_USER with the script's user and
 * password, the client's character set (two bytes) and no database when the client names none. */
START_TEST(test_same_account_gets_change_user)
{
	FakeBackend backend;
	WorkerBench bench(mapping_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 1);
	for (const std::uint16_t character_set : {std::uint16_t(8), std::uint16_t(0x0121)}) {
		ck_assert(write_all(client.client, change_user("alice", "client-pw", "", character_set)));
		std::string payload;
		const ChangeUserCommand seen = backend_reads_change_user(served, payload);
		ck_assert(seen.user == "be_alice");
		ck_assert(seen.database.empty());
		ck_assert(seen.character_set == character_set);
		ck_assert(seen.auth_plugin_name == "mysql_native_password");
		/* The script's password answers the backend's nonce; the client's never goes there. */
		ck_assert(as_string(seen.auth_response) == native_scramble("be-secret"));
		ck_assert(!contains(payload, "client-pw"));
		backend_accepts(served, 1);
		client_reads_ok(client);
	}
	session_goes_on(client, served);
	close(served);
}
END_TEST

/* A database named by the client reaches the backend in the command itself (no COM_INIT_DB). */
START_TEST(test_database_in_the_command)
{
	FakeBackend backend;
	WorkerBench bench(mapping_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 2);
	ck_assert(write_all(client.client, change_user("bob", "x", "app_db", 33)));
	std::string payload;
	const ChangeUserCommand seen = backend_reads_change_user(served, payload);
	ck_assert(seen.user == "be_bob");
	ck_assert(seen.database == "app_db");
	ck_assert(seen.character_set == 33);
	backend_accepts(served, 1);
	client_reads_ok(client);
	session_goes_on(client, served);
	close(served);
}
END_TEST

/* A packet that ends after the database: the worker asks for the password, and the backend gets the
 * character set of the client's login (0x2d). */
START_TEST(test_no_character_set_keeps_the_login_one)
{
	FakeBackend backend;
	WorkerBench bench(mapping_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 3);
	ck_assert(write_all(client.client, framed(0, std::string("\x11" "alice\0\0\0", 9))));
	const std::string request = client.read_payload();
	ck_assert_msg(!request.empty() && std::uint8_t(request[0]) == 0xfe, "expected an AuthSwitchRequest");
	ck_assert(write_all(client.client, framed(2, std::string("pw\0", 3))));
	std::string payload;
	ck_assert(backend_reads_change_user(served, payload).character_set == 0x2d);
	backend_accepts(served, 1);
	const std::string header = client.read_exactly(4);
	ck_assert_uint_eq(header.size(), 4);
	ck_assert_uint_eq(std::uint8_t(header[3]), 3); /* after the client's packet 2 */
	ck_assert(client.read_exactly(std::uint8_t(header[0]))[0] == 0);
	close(served);
}
END_TEST

/* A 300-byte password: the client sends it in clear after the switch, the backend's COM_CHANGE_USER
 * carries its 20-byte scramble, and when the backend switches to mysql_clear_password it gets the
 * password whole in its own packet (the command's auth field holds at most 255 bytes). */
START_TEST(test_long_password)
{
	FakeBackend backend;
	WorkerBench bench(mapping_config(backend));
	ClientPair client;
	const int served = logged_in(bench, backend, client, 4);
	std::string password;
	for (int i = 0; i < 300; ++i)
		password += char('a' + i % 26);
	/* No plugin named: the worker asks for the cleartext password. */
	ck_assert(write_all(client.client, framed(0, "\x11" "long" + std::string("\0\0\0", 3) + u16(45) + '\0')));
	const std::string request = client.read_payload();
	ck_assert_msg(!request.empty() && std::uint8_t(request[0]) == 0xfe, "expected an AuthSwitchRequest");
	ck_assert(write_all(client.client, framed(2, password + '\0')));

	std::string payload;
	const ChangeUserCommand seen = backend_reads_change_user(served, payload);
	ck_assert(seen.user == "long");
	ck_assert(as_string(seen.auth_response) == native_scramble(password));
	ck_assert(write_all(served, framed(1, std::string("\xfe" "mysql_clear_password\0", 22))));
	ck_assert(read_packet_payload(served) == password + '\0');
	backend_accepts(served, 3);
	const std::string ok = client.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "expected OK, got '%s'", describe_err(ok).c_str());
	session_goes_on(client, served);
	close(served);
}
END_TEST

/* The auth field of COM_CHANGE_USER has a one-byte length even with
 * CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA (0xfc is 252 bytes, not a lenenc prefix), as mysqld reads it;
 * the builder refuses what one byte cannot count. */
START_TEST(test_auth_length_is_one_byte)
{
	const std::uint32_t lenenc = backend_capabilities | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA;
	const std::string payload = "\x11" "u" + std::string(1, '\0') + "\xfc" + std::string(252, 'a') + "db" + '\0' +
				    u16(45) + "mysql_native_password" + '\0';
	const ByteSpan bytes(reinterpret_cast<const std::uint8_t *>(payload.data()), payload.size());
	auto command = parse_change_user(bytes, lenenc);
	ck_assert(command.ok());
	ck_assert_uint_eq(command->auth_response.size(), 252);
	ck_assert(command->database == "db");

	std::vector<std::uint8_t> out;
	const std::vector<std::uint8_t> auth255(255, 'x'), auth256(256, 'x');
	ChangeUserParams params;
	params.user = "u";
	params.auth_response = ByteSpan(auth255.data(), auth255.size());
	ck_assert(build_change_user(out, params, lenenc));
	ck_assert_uint_eq(out[3], 255); /* 0x11, 'u', NUL, then the length byte */
	out.clear();
	params.auth_response = ByteSpan(auth256.data(), auth256.size());
	ck_assert(!build_change_user(out, params, lenenc));
	ck_assert(out.empty());
}
END_TEST

/* Truncated commands: ERR 1043 and the end of that session only; the backend sees nothing of them
 * and another session on the worker goes on. */
START_TEST(test_truncated_change_user)
{
	FakeBackend backend;
	WorkerBench bench(mapping_config(backend));
	ClientPair bystander;
	const int bystander_served = logged_in(bench, backend, bystander, 5);
	const std::string truncated[] = {
		std::string("\x11", 1),                         /* no user at all */
		std::string("\x11" "bob", 4),                   /* user without NUL */
		std::string("\x11" "bob\0", 5),                 /* no auth length */
		std::string("\x11" "bob\0\x02" "pw", 8),        /* no database */
		std::string("\x11" "bob\0\x02" "pw\0\x2d", 10), /* character set cut short */
	};
	std::uint64_t id = 6;
	for (const std::string &payload : truncated) {
		ClientPair client;
		const int served = logged_in(bench, backend, client, id++);
		ck_assert(write_all(client.client, framed(0, payload)));
		const std::string err = describe_err(client.read_payload());
		ck_assert_msg(err == "1043 Bad handshake", "%zu bytes: got '%s'", payload.size(), err.c_str());
		ck_assert(client.read_payload().empty());
		ck_assert(read_packet_payload(served).empty());
		close(served);
		session_goes_on(bystander, bystander_served);
	}
	ck_assert_msg(contains(bench.log(), "malformed COM_CHANGE_USER: COM_CHANGE_USER: character set cut short"),
		      "log: %s", bench.log().c_str());
	close(bystander_served);
}
END_TEST

/* A command larger than the relay holds: ERR 1153 (what the server says past max_allowed_packet),
 * logged, and only that session ends. */
START_TEST(test_oversized_change_user)
{
	FakeBackend backend;
	WorkerBench bench(mapping_config(backend));
	ClientPair bystander;
	const int bystander_served = logged_in(bench, backend, bystander, 20);
	ClientPair client;
	const int served = logged_in(bench, backend, client, 21);
	const std::string huge = "\x11" + std::string(40000, 'u') + '\0' + std::string("\0\0", 2) + u16(45);
	ck_assert(write_all(client.client, framed(0, huge)));
	const std::string header = client.read_exactly(4);
	ck_assert_msg(header.size() == 4, "no ERR; log: %s", bench.log().c_str());
	ck_assert_uint_eq(std::uint8_t(header[3]), 1);
	const std::string err = describe_err(client.read_exactly(std::uint8_t(header[0])));
	ck_assert_msg(err == "1153 Got a packet bigger than 'max_allowed_packet' bytes", "got '%s'", err.c_str());
	ck_assert(client.read_payload().empty());
	ck_assert(read_packet_payload(served).empty());
	close(served);
	ck_assert_msg(contains(bench.log(), "packet too large to inspect"), "log: %s", bench.log().c_str());
	session_goes_on(bystander, bystander_served);
	close(bystander_served);
}
END_TEST

int main()
{
	Suite *suite = suite_create("worker_change_user_backend");
	TCase *tc = tcase_create("backend");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_same_account_gets_change_user);
	tcase_add_test(tc, test_database_in_the_command);
	tcase_add_test(tc, test_no_character_set_keeps_the_login_one);
	tcase_add_test(tc, test_long_password);
	tcase_add_test(tc, test_auth_length_is_one_byte);
	suite_add_tcase(suite, tc);
	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_truncated_change_user);
	tcase_add_test(tc, test_oversized_change_user);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
