// Unit tests for backends that fail a client's login in ways a healthy server does not, through a
// real Worker (tests/unit/worker_bench.hpp) and a backend played by the test: one that resets the
// connection after reading the login, and one whose greeting lacks a capability the client uses
// (so relaying would garble the result format).  The client gets an ERR in the proxy's words, the
// log names the backend and the cause, and the worker's next client still logs in.
#include "tests/unit/worker_bench.hpp"

using namespace myproxy;
using namespace myproxy::test;

namespace {

/* HandshakeResponse41 like ClientPair::send_login(), with @extra capability flags. */
void send_login_with(ClientPair &client, const std::string &user, std::uint32_t extra)
{
	const std::uint32_t caps = 0x200 | 0x8000 | 0x80000 | extra;
	std::string payload;
	for (int i = 0; i < 4; ++i)
		payload += char((caps >> (8 * i)) & 0xff);
	payload += std::string("\0\0\0\1\x2d", 5) + std::string(23, '\0') + user + '\0';
	payload += char(3) + std::string("pw\0", 3) + "mysql_clear_password" + '\0';
	ck_assert(write_all(client.client, framed(1, payload)));
}

void next_client_logs_in(WorkerBench &bench, FakeBackend &backend, std::uint64_t id)
{
	ClientPair client;
	start_login(bench, client, id);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	const std::string ok = client.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "login: %s", describe_err(ok).c_str());
	close(served);
}

/* Closes @fd with a reset (SO_LINGER 0), as a crashing server's kernel would. */
void reset(int fd)
{
	const linger hard{1, 0};
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard)), 0);
	close(fd);
}

} // namespace

/* The backend resets the connection after reading the login. */
START_TEST(test_backend_resets_during_login)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	start_login(bench, client, 1);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	const std::uint32_t caps = 0x0001 | 0x0200 | 0x2000 | 0x8000 | 0x80000;
	const std::string greeting = std::string("\x0a") + "10.11.99-fake" + '\0' + std::string("\x07\0\0\0", 4) +
				     "abcdefgh" + '\0' + char(caps & 0xff) + char((caps >> 8) & 0xff) + char(0x2d) +
				     std::string("\x02\0", 2) + char((caps >> 16) & 0xff) + char((caps >> 24) & 0xff) +
				     char(21) + std::string(10, '\0') + "ijklmnopqrst" + '\0' + "mysql_native_password" + '\0';
	ck_assert(write_all(served, framed(0, greeting)));
	ck_assert(!read_packet_payload(served).empty());
	reset(served);
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1105 myproxy: lost the connection to the backend", "got '%s'", err.c_str());
	const std::string name = "backend 127.0.0.1:" + std::to_string(backend.port);
	ck_assert_msg(contains(bench.log(), "receive from " + name + " failed: Connection reset by peer"), "log: %s",
		      bench.log().c_str());
	next_client_logs_in(bench, backend, 2);
}
END_TEST

/* The client speaks CLIENT_LONG_FLAG and MULTI_RESULTS, the backend offers neither: refused
   before any command, since the backend's replies would not be in the client's format. */
START_TEST(test_backend_lacks_client_capability)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	bench.send(new_client_for(client.served, 3), {client.served});
	client.handed_over();
	ck_assert_uint_ge(client.read_payload().size(), 10);
	send_login_with(client, "alice", 0x4 | 0x20000);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served);
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1105 myproxy: the backend lacks a capability the client needs", "got '%s'", err.c_str());
	ck_assert_msg(contains(bench.log(), "backend 127.0.0.1:" + std::to_string(backend.port) + " lacks "),
		      "log: %s", bench.log().c_str());
	close(served);
	next_client_logs_in(bench, backend, 4);
}
END_TEST

int main()
{
	Suite *suite = suite_create("worker_backend_edges");
	TCase *tc = tcase_create("backend_login");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_backend_resets_during_login);
	tcase_add_test(tc, test_backend_lacks_client_capability);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
