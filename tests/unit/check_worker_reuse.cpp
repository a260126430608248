// Unit tests for backend connection reuse through a real Worker (tests/unit/worker_bench.hpp) and a
// backend played by the test: the client's COM_QUIT never reaches a connection kept for reuse; the
// parking exchange answered as a server does keeps it, and the next client's commands arrive on it;
// a backend that answers the parking with garbage or an ERR, or a taken connection's COM_INIT_DB with
// an ERR, loses that connection, and the next client logs in afresh without hearing of it; RETIRE
// (a reload) closes the parked connection at once and a session still running parks nothing.
#include "tests/unit/worker_bench.hpp"

using namespace myproxy;
using namespace myproxy::test;

namespace {

/* The schema goes in the login: the fake backend must offer CLIENT_CONNECT_WITH_DB. */
constexpr std::uint32_t connect_with_db = 0x08;

/* Every login goes to the backend as `app`, with the client's user name as its schema, and one
 * account, so all logins but the schema are the same. */
std::string reuse_config(const FakeBackend &backend)
{
	return "backend_idle_timeout = 60\n"
	       "local backend = mysql_resolve('127.0.0.1:" + std::to_string(backend.port) + "')\n"
	       "mysql_listen('/nonexistent/myproxy-test.sock', {\n"
	       "  on_handshake_response = function(client, hr)\n"
	       "    client.account = 'tenant'\n"
	       "    hr.database = hr.user\n"
	       "    hr.user = 'app'\n"
	       "    return client:connect(backend, hr, {reuse = true})\n"
	       "  end,\n"
	       "})\n";
}

std::string ok_payload()
{
	return std::string("\0\0\0\x02\0\0\0", 7);
}

std::string lenenc(const std::string &s)
{
	return char(s.size()) + s;
}

/* The parking exchange as the backend reads it: COM_PING, COM_RESET_CONNECTION, then the token
 * query; returns the token (empty when the packets are not these). */
std::string read_parking(int fd)
{
	const std::string ping = read_packet_payload(fd);
	const std::string reset = read_packet_payload(fd);
	const std::string query = read_packet_payload(fd);
	const std::string prefix = "\x03SELECT DATABASE(), '";
	if (ping != "\x0e" || reset != "\x1f" || query.compare(0, prefix.size(), prefix) != 0)
		return {};
	return query.substr(prefix.size(), query.size() - prefix.size() - 1);
}

/* What a server answers to the parking exchange (no CLIENT_DEPRECATE_EOF: the fake's login). */
std::string parking_answer(const std::string &token, const std::string &database)
{
	const std::string column = lenenc("def") + std::string(4, '\0') + lenenc("c") + '\0' +
				   std::string("\x0c\x21\0\0\1\0\0\xfd\0\0\x1f\0\0", 13);
	const std::string eof = std::string("\xfe\0\0\x02\0", 5);
	return framed(1, ok_payload()) + framed(1, ok_payload()) + framed(1, "\x02") + framed(2, column) +
	       framed(3, column) + framed(4, eof) + framed(5, lenenc(database) + lenenc(token)) + framed(6, eof);
}

/* A client logs in as @user; the worker logs in to a new backend connection, returned. */
int fresh_login(WorkerBench &bench, FakeBackend &backend, ClientPair &client, const char *user, std::uint64_t id)
{
	bench.send(new_client_for(client.served, id), {client.served});
	client.handed_over();
	ck_assert_uint_ge(client.read_payload().size(), 10);
	client.send_login(user);
	const int served = backend.accept_one();
	ck_assert_int_ge(served, 0);
	serve_backend_login(served, connect_with_db);
	const std::string ok = client.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "login: %s", describe_err(ok).c_str());
	return served;
}

void quit(ClientPair &client)
{
	ck_assert(write_all(client.client, framed(0, "\x01")));
}

/* Whether the backend side of @fd sees the worker close it. */
bool closed_by_worker(int fd)
{
	return read_packet_payload(fd).empty();
}

/* An idle connection the pool drops says COM_QUIT, then closes. */
bool quit_by_worker(int fd)
{
	return read_packet_payload(fd) == "\x01" && closed_by_worker(fd);
}

} // namespace

/* Parked as a server answers: the next client's commands go to the same connection, and neither
 * client's COM_QUIT ever reaches it. */
START_TEST(test_parked_connection_serves_the_next_client)
{
	FakeBackend backend;
	WorkerBench bench(reuse_config(backend));
	ClientPair first;
	const int served = fresh_login(bench, backend, first, "shop", 1);
	quit(first);
	const std::string token = read_parking(served);
	ck_assert_msg(token.size() == 32, "not the parking exchange");
	ck_assert(write_all(served, parking_answer(token, "shop")));

	/* Parked once the answer is read; the next client's login comes after that through the
	 * same loop, so it finds it. */
	ClientPair second;
	bench.send(new_client_for(second.served, 2), {second.served});
	second.handed_over();
	ck_assert_uint_ge(second.read_payload().size(), 10);
	second.send_login("shop");
	const std::string ok = second.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "login: %s", describe_err(ok).c_str());
	ck_assert(write_all(second.client, framed(0, "\x03SELECT 1")));
	const std::string query = read_packet_payload(served);
	ck_assert_str_eq(query.c_str(), "\x03SELECT 1");
	close(served);
}
END_TEST

/* Garbage, or an ERR for the reset: the connection is closed, the next login is fresh and fine. */
START_TEST(test_bad_parking_answers_drop_the_connection)
{
	const std::string answers[] = {
		framed(1, "\x42garbage"),
		framed(1, ok_payload()) + framed(1, std::string("\xff\x17\x04", 3) + "#08S01Unknown command"),
		framed(1, ok_payload()) + framed(1, ok_payload()) + framed(1, ok_payload()),
	};
	std::uint64_t id = 1;
	for (const std::string &answer : answers) {
		FakeBackend backend;
		WorkerBench bench(reuse_config(backend));
		ClientPair first;
		const int served = fresh_login(bench, backend, first, "shop", id++);
		quit(first);
		ck_assert_uint_eq(read_parking(served).size(), 32);
		ck_assert(write_all(served, answer));
		ck_assert(closed_by_worker(served));
		close(served);
		ClientPair second;
		close(fresh_login(bench, backend, second, "shop", id++));
		ck_assert_msg(contains(bench.log(), "not kept"), "log: %s", bench.log().c_str());
	}
}
END_TEST

/* A taken connection whose COM_INIT_DB fails is closed; the client logs in afresh. */
START_TEST(test_failed_init_db_logs_in_afresh)
{
	FakeBackend backend;
	WorkerBench bench(reuse_config(backend));
	ClientPair first;
	const int served = fresh_login(bench, backend, first, "shop", 1);
	quit(first);
	ck_assert(write_all(served, parking_answer(read_parking(served), "shop")));

	ClientPair second;
	bench.send(new_client_for(second.served, 2), {second.served});
	second.handed_over();
	ck_assert_uint_ge(second.read_payload().size(), 10);
	second.send_login("blog");
	const std::string init_db = read_packet_payload(served);
	ck_assert_str_eq(init_db.c_str(), "\x02" "blog");
	ck_assert(write_all(served, framed(1, std::string("\xff\x19\x04", 3) + "#42000Unknown database 'blog'")));
	ck_assert(closed_by_worker(served));
	close(served);
	const int fresh = backend.accept_one();
	ck_assert_int_ge(fresh, 0);
	serve_backend_login(fresh, connect_with_db);
	const std::string ok = second.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "login: %s", describe_err(ok).c_str());
	ck_assert_msg(contains(bench.log(), "COM_INIT_DB failed; logging in afresh"), "log: %s", bench.log().c_str());
	close(fresh);
}
END_TEST

/* A reload retired the worker: the parked connection says COM_QUIT and is closed at once; the session still running
 * goes on, and at its COM_QUIT its backend connection gets the COM_QUIT and is closed, not parked. */
START_TEST(test_retire_closes_parked_and_parks_no_more)
{
	FakeBackend backend;
	WorkerBench bench(reuse_config(backend));
	ClientPair running;
	const int running_served = fresh_login(bench, backend, running, "shop", 1);
	ClientPair first;
	const int parked = fresh_login(bench, backend, first, "shop", 2);
	quit(first);
	ck_assert(write_all(parked, parking_answer(read_parking(parked), "shop")));

	bench.send(RetireMessage{});
	ck_assert(quit_by_worker(parked));
	close(parked);

	ck_assert(write_all(running.client, framed(0, "\x03SELECT 1")));
	const std::string query = read_packet_payload(running_served);
	ck_assert_str_eq(query.c_str(), "\x03SELECT 1");
	ck_assert(write_all(running_served, framed(1, ok_payload())));
	const std::string ok = running.read_payload();
	ck_assert_msg(!ok.empty() && ok[0] == 0, "query: %s", describe_err(ok).c_str());
	quit(running);
	const std::string forwarded_quit = read_packet_payload(running_served);
	ck_assert_str_eq(forwarded_quit.c_str(), "\x01");
	ck_assert(closed_by_worker(running_served));
	close(running_served);
	ck_assert_msg(contains(bench.log(), "retired: 1 idle backend connections closed; 1 sessions finish"), "log: %s",
		      bench.log().c_str());
}
END_TEST

static Suite *worker_reuse_suite()
{
	Suite *s = suite_create("worker_reuse");
	TCase *tc = tcase_create("reuse");
	tcase_set_timeout(tc, 60 * timeout_multiplier());
	tcase_add_test(tc, test_parked_connection_serves_the_next_client);
	tcase_add_test(tc, test_bad_parking_answers_drop_the_connection);
	tcase_add_test(tc, test_failed_init_db_logs_in_afresh);
	tcase_add_test(tc, test_retire_closes_parked_and_parks_no_more);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({worker_reuse_suite()});
}
