// Unit tests for hostile peers during the login, through a real Worker (tests/unit/worker_bench.hpp):
// a client whose login packet claims more than a login may hold gets ERR 1153; a backend that
// answers the connect with a packet too large for a login, or hangs up at once, costs the client
// its login with a clean ERR 1105 and a log line naming the backend, and the worker goes on (the
// next client is served).  The backend is a listening socket of the test.
#include "tests/unit/worker_bench.hpp"

using namespace myproxy;
using namespace myproxy::test;

START_TEST(test_oversized_login_packet)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	bench.send(new_client_for(client.served, 1), {client.served});
	client.handed_over();
	ck_assert_uint_ge(client.read_payload().size(), 10);
	const std::string claim("\xff\xff\xff\x01junk", 8);
	ck_assert(::write(client.client, claim.data(), claim.size()) == ssize_t(claim.size()));
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err == "1153 Got a packet bigger than 'max_allowed_packet' bytes", "got '%s'", err.c_str());
	ck_assert_msg(contains(bench.log(), "malformed packet during login"), "log: %s", bench.log().c_str());
}
END_TEST

START_TEST(test_backend_sends_oversized_greeting)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	start_login(bench, client, 2);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	const std::string claim("\xff\xff\xff\x00garbage", 11);
	ck_assert(::write(served, claim.data(), claim.size()) == ssize_t(claim.size()));
	const std::string err = describe_err(client.read_payload());
	close(served);
	ck_assert_msg(err == "1105 myproxy: the backend sent a malformed packet", "got '%s'", err.c_str());
	const std::string expected = "backend 127.0.0.1:" + std::to_string(backend.port) + ": malformed packet during login";
	ck_assert_msg(contains(bench.log(), expected), "log: %s", bench.log().c_str());
}
END_TEST

START_TEST(test_backend_hangs_up_then_next_client_served)
{
	FakeBackend backend;
	WorkerBench bench(connect_config(backend));
	ClientPair client;
	start_login(bench, client, 3);
	close(backend.accept_one());
	const std::string err = describe_err(client.read_payload());
	ck_assert_msg(err.rfind("1105 ", 0) == 0, "got '%s'", err.c_str());
	auto closed = bench.receive();
	ck_assert(closed && std::get<ConnectionClosedMessage>(*closed).client_id == 3);

	/* The worker goes on: the next client is greeted and reaches the backend. */
	ClientPair next;
	start_login(bench, next, 4);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	close(served);
}
END_TEST

int main()
{
	Suite *suite = suite_create("worker_login");
	TCase *tc = tcase_create("hostile");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_oversized_login_packet);
	tcase_add_test(tc, test_backend_sends_oversized_greeting);
	tcase_add_test(tc, test_backend_hangs_up_then_next_client_served);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
