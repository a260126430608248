// Unit tests for the backends' offer in a real Worker (tests/unit/worker_bench.hpp): after the
// master's BACKEND_OFFER the greeting carries its version, collation and MariaDB's extended
// capabilities; toward the backend the worker asks for exactly the extended capabilities the client
// negotiated; a backend whose greeting lacks one gets no HandshakeResponse41 at all, and the client a
// clear ERR 1105 naming the flag, while the worker goes on.  The backend is a listening socket of
// the test that greets as the test says.
#include "common/backend_offer.hpp"
#include "common/handshake_response41.hpp"
#include "common/handshake_v10.hpp"
#include "tests/unit/worker_bench.hpp"

using namespace myproxy;
using namespace myproxy::test;

namespace {

constexpr std::uint32_t BULK = std::uint32_t(MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32);
constexpr std::uint32_t COM_MULTI = std::uint32_t(MARIADB_CLIENT_COM_MULTI >> 32);
/* What a MariaDB 10.11 greeting offers (LONG_PASSWORD clear), and its reserved bytes. */
constexpr std::uint32_t MARIADB_CAPS = 0xA1FF'F7FE & ~CLIENT_SSL & ~CLIENT_COMPRESS;
constexpr std::uint32_t MARIADB_EXTENDED = 0x1F;

BackendOfferMessage mariadb_offer_message()
{
	return BackendOfferMessage{std::uint64_t(MARIADB_EXTENDED) << 32 | MARIADB_CAPS, 33, "5.5.5-10.11.6-MariaDB"};
}

std::string as_string(const std::vector<std::uint8_t> &bytes)
{
	return std::string(reinterpret_cast<const char *>(bytes.data()), bytes.size());
}

/* A backend's greeting: @capabilities, @extended in the reserved bytes (only without LONG_PASSWORD). */
std::string backend_greeting(std::string_view version, std::uint32_t capabilities, std::uint32_t extended)
{
	static const std::uint8_t scramble[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
	HandshakeV10Params params;
	params.server_version = version;
	params.connection_id = 5;
	params.scramble = ByteSpan(scramble, 20);
	params.capabilities = capabilities;
	params.mariadb_capabilities = extended;
	params.character_set = 45;
	params.auth_plugin_name = "mysql_native_password";
	std::vector<std::uint8_t> payload;
	ck_assert(build_handshake_v10(payload, params));
	return as_string(payload);
}

/* The client's HandshakeResponse41 (mysql_clear_password) asking for @extended. */
void send_login_with(ClientPair &client, std::uint32_t capabilities, std::uint32_t extended)
{
	static const std::uint8_t password[] = {'p', 'w', 0};
	HandshakeResponse41Params response;
	response.capabilities = capabilities;
	response.mariadb_capabilities = extended;
	response.max_packet_size = 1 << 24;
	response.character_set = 45;
	response.user = "alice";
	response.auth_response = ByteSpan(password, 3);
	response.auth_plugin_name = "mysql_clear_password";
	std::vector<std::uint8_t> payload;
	ck_assert(build_handshake_response41(payload, response));
	ck_assert(write_all(client.client, framed(1, as_string(payload))));
}

constexpr std::uint32_t CLIENT_BASE = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH |
				      CLIENT_TRANSACTIONS | CLIENT_DEPRECATE_EOF;

/* Hands a client to the worker; returns its greeting, parsed by @check. */
template <typename Check>
void greet(WorkerBench &bench, ClientPair &client, std::uint64_t id, Check check)
{
	bench.send(new_client_for(client.served, id), {client.served});
	client.handed_over();
	const std::string payload = client.read_payload();
	auto greeting = parse_handshake_v10(ByteSpan(reinterpret_cast<const std::uint8_t *>(payload.data()), payload.size()));
	ck_assert_msg(greeting.ok(), "the greeting does not parse");
	check(*greeting);
}

} // namespace

START_TEST(test_greeting_follows_backend_offer)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair before;
	greet(bench, before, 1, [](const HandshakeV10 &g) {
		ck_assert(g.server_version == default_server_version);
		ck_assert(g.capabilities & CLIENT_LONG_PASSWORD);
		ck_assert_uint_eq(g.mariadb_capabilities, 0);
	});
	bench.send(mariadb_offer_message());
	ClientPair after;
	greet(bench, after, 2, [](const HandshakeV10 &g) {
		ck_assert(g.server_version == "5.5.5-10.11.6-MariaDB");
		ck_assert(!(g.capabilities & CLIENT_LONG_PASSWORD));
		/* Not COM_MULTI, even though the master's message had it: a worker never relays it. */
		ck_assert_uint_eq(g.mariadb_capabilities, MARIADB_EXTENDED & ~COM_MULTI);
		ck_assert_uint_eq(g.character_set, 33);
	});
}
END_TEST

START_TEST(test_backend_lacking_a_negotiated_capability)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	bench.send(mariadb_offer_message());
	ClientPair client;
	greet(bench, client, 1, [](const HandshakeV10 &) {});
	send_login_with(client, CLIENT_BASE, BULK);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	/* A MySQL-like backend: CLIENT_LONG_PASSWORD set, no extended capabilities. */
	ck_assert(write_all(served, framed(0, backend_greeting("8.0.36", MARIADB_CAPS | CLIENT_LONG_PASSWORD, 0))));
	const std::string err = describe_err(client.read_payload());
	const std::string expected = "1105 myproxy: backend 127.0.0.1:" + std::to_string(backend.port) +
				     " (8.0.36) does not offer MARIADB_CLIENT_STMT_BULK_OPERATIONS, which this client "
				     "negotiated; connect without it";
	ck_assert_msg(err == expected, "got '%s'", err.c_str());
	/* The backend never saw a HandshakeResponse41: the connection just closes. */
	ck_assert(read_packet_payload(served).empty());
	close(served);
	ck_assert_msg(contains(bench.log(), "(8.0.36) does not offer MARIADB_CLIENT_STMT_BULK_OPERATIONS, which the "
					    "client negotiated"),
		      "log: %s", bench.log().c_str());

	/* The worker goes on: a client that asks for nothing the backend lacks logs in. */
	ClientPair next;
	greet(bench, next, 2, [](const HandshakeV10 &) {});
	send_login_with(next, CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH, 0);
	const int second = backend.accept_one();
	ck_assert_int_ge(second, 0);
	serve_backend_login(second);
	const std::string ok = next.read_payload();
	close(second);
	ck_assert_msg(!ok.empty() && ok[0] == 0, "expected OK, got '%s'", describe_err(ok).c_str());
}
END_TEST

START_TEST(test_backend_gets_exactly_what_the_client_negotiated)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	bench.send(mariadb_offer_message());
	ClientPair client;
	greet(bench, client, 1, [](const HandshakeV10 &) {});
	/* COM_MULTI is not announced, so it is not negotiated, whatever the client asks; the backend
	 * offers it and PROGRESS, and gets neither. */
	send_login_with(client, CLIENT_BASE, BULK | COM_MULTI);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	ck_assert(write_all(served, framed(0, backend_greeting("5.5.5-10.11.6-MariaDB", MARIADB_CAPS, MARIADB_EXTENDED))));
	const std::string payload = read_packet_payload(served);
	auto response = parse_handshake_response41(
		ByteSpan(reinterpret_cast<const std::uint8_t *>(payload.data()), payload.size()));
	ck_assert_msg(response.ok(), "no HandshakeResponse41");
	ck_assert(!(response->capabilities & CLIENT_LONG_PASSWORD));
	ck_assert_uint_eq(response->mariadb_capabilities, BULK);
	ck_assert(response->capabilities & CLIENT_DEPRECATE_EOF);
	ck_assert(write_all(served, framed(2, std::string("\0\0\0\x02\0\0\0", 7))));
	const std::string ok = client.read_payload();
	close(served);
	ck_assert_msg(!ok.empty() && ok[0] == 0, "expected OK, got '%s'", describe_err(ok).c_str());
}
END_TEST

static Suite *worker_backend_offer_suite()
{
	Suite *s = suite_create("worker_backend_offer");
	TCase *tc = tcase_create("offer");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_greeting_follows_backend_offer);
	tcase_add_test(tc, test_backend_lacking_a_negotiated_capability);
	tcase_add_test(tc, test_backend_gets_exactly_what_the_client_negotiated);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({worker_backend_offer_suite()});
}
