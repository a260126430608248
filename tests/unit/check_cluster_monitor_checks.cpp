// Unit tests for master/cluster_monitor on a real sd-event loop with nodes the test plays over TCP
// on 127.0.0.1: a node that greets is alive, one that hangs up before greeting, one nobody listens
// on and one that answers the check's query with an oversized packet are dead with the reason logged, and a worker's NODE_SUSPECT (check_now) starts a
// check at once, but never a second one in flight, never for a node nobody monitors, and never
// after stop().  Every state change is broadcast and known to the next worker (known_states).
#include "master/cluster_monitor.hpp"

#include "common/log.hpp"

#include <systemd/sd-event.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>
// Last: <check.h> must follow the standard headers.
#include "tests/check_main.hpp"

using namespace myproxy;

namespace {

std::string log_path;

void capture_log()
{
	char pattern[] = "/tmp/check_cluster_monitor_checks.log.XXXXXX";
	const int fd = mkstemp(pattern);
	ck_assert_int_ge(fd, 0);
	log_path = pattern;
	dup2(fd, 2);
	close(fd);
	log_set_debug(true);
}

void remove_log()
{
	unlink(log_path.c_str());
}

std::string read_log()
{
	std::string text;
	if (FILE *f = std::fopen(log_path.c_str(), "r")) {
		char chunk[4096];
		std::size_t n;
		while ((n = std::fread(chunk, 1, sizeof(chunk), f)) > 0)
			text.append(chunk, n);
		std::fclose(f);
	}
	return text;
}

std::size_t log_count(const std::string &needle)
{
	const std::string log = read_log();
	std::size_t count = 0;
	for (std::size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1))
		++count;
	return count;
}

#define ck_assert_log(needle) \
	ck_assert_msg(log_count(needle) > 0, "log lacks \"%s\":\n%s", std::string(needle).c_str(), read_log().c_str())

std::uint64_t now_ms()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return std::uint64_t(ts.tv_sec) * 1000 + std::uint64_t(ts.tv_nsec) / 1000000;
}

struct TestLoop {
	sd_event *event = nullptr;
	TestLoop() { ck_assert_int_ge(sd_event_new(&event), 0); }
	~TestLoop() { sd_event_unref(event); }

	/* Runs until @done; false after the safety net (scaled by CK_TIMEOUT_MULTIPLIER). */
	bool run_until(const std::function<bool()> &done)
	{
		const std::uint64_t deadline = now_ms() + 10000 * std::uint64_t(timeout_multiplier());
		while (!done()) {
			if (now_ms() >= deadline)
				return false;
			ck_assert_int_ge(sd_event_run(event, 10000), 0);
		}
		return true;
	}
};

/* A node on 127.0.0.1 that the test answers for. */
struct TestNode {
	int fd = -1;
	std::uint16_t port = 0;
	TestNode()
	{
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		ck_assert_int_ge(fd, 0);
		sockaddr_in address{};
		address.sin_family = AF_INET;
		address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ck_assert_int_eq(bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof(address)), 0);
		ck_assert_int_eq(listen(fd, 8), 0);
		socklen_t length = sizeof(address);
		ck_assert_int_eq(getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length), 0);
		port = ntohs(address.sin_port);
	}
	~TestNode() { close(fd); }
	/* A check's connection, when one is waiting (-1 otherwise). */
	int accept_waiting() { return accept4(fd, nullptr, nullptr, SOCK_CLOEXEC); }
};

/* A port nobody listens on: bound, never listening. */
std::uint16_t closed_port(int &holder)
{
	holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sockaddr_in address{};
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(holder, reinterpret_cast<sockaddr *>(&address), sizeof(address)), 0);
	socklen_t length = sizeof(address);
	ck_assert_int_eq(getsockname(holder, reinterpret_cast<sockaddr *>(&address), &length), 0);
	return ntohs(address.sin_port);
}

ClusterNodeConfig node_at(std::uint16_t port)
{
	ClusterNodeConfig node;
	sockaddr_in *in = reinterpret_cast<sockaddr_in *>(&node.address.storage);
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	in->sin_port = htons(port);
	node.address.length = sizeof(sockaddr_in);
	node.name = "127.0.0.1:" + std::to_string(port);
	return node;
}

/* Monitored without a user (a greeting is enough), checked again only when asked. */
ClusterConfig monitored(std::vector<ClusterNodeConfig> nodes)
{
	ClusterConfig cluster;
	cluster.nodes = std::move(nodes);
	cluster.monitoring = true;
	cluster.check_interval_usec = 3600ull * 1000000;
	cluster.check_timeout_usec = 10ull * 1000000 * timeout_multiplier();
	cluster.origin = "check.lua:1";
	return cluster;
}

/* A Handshake V10 as a MariaDB server sends it first. */
std::string greeting()
{
	const std::uint32_t caps = 0x0001 | 0x0200 | 0x8000 | 0x80000;
	std::string payload = std::string("\x0a") + "10.11.99-check" + '\0' + std::string("\x07\0\0\0", 4) + "abcdefgh" +
			      '\0' + char(caps & 0xff) + char((caps >> 8) & 0xff) + char(0x2d) + std::string("\x02\0", 2) +
			      char((caps >> 16) & 0xff) + char((caps >> 24) & 0xff) + char(21) + std::string(10, '\0') +
			      "ijklmnopqrst" + '\0' + "mysql_native_password" + '\0';
	return std::string{char(payload.size()), char(payload.size() >> 8), char(payload.size() >> 16), '\0'} + payload;
}

} // namespace

/* A node that greets is alive; a NODE_SUSPECT checks it again at once, once. */
START_TEST(test_suspect_node_checked_now)
{
	TestLoop loop;
	TestNode node;
	std::vector<ClusterConfig> clusters{monitored({node_at(node.port)})};
	std::vector<NodeStateMessage> broadcasts;
	ClusterMonitor monitor(loop.event, clusters, {}, [&](const ChannelMessage &m) {
		/* BACKEND_OFFER too (the greetings it reads): only the node states matter here. */
		if (const auto *state = std::get_if<NodeStateMessage>(&m))
			broadcasts.push_back(*state);
	});
	ck_assert_int_eq(monitor.start(), 0);

	std::vector<int> served;
	const auto serve_one = [&] {
		const int fd = node.accept_waiting();
		if (fd < 0)
			return false;
		const std::string hello = greeting();
		ck_assert(write(fd, hello.data(), hello.size()) == ssize_t(hello.size()));
		served.push_back(fd);
		return true;
	};
	ck_assert(loop.run_until([&] { return serve_one() || !broadcasts.empty(); }));
	ck_assert(loop.run_until([&] { return !broadcasts.empty(); }));
	ck_assert_int_eq(int(broadcasts[0].state), int(NodeState::alive));
	const std::string name = "node 127.0.0.1:" + std::to_string(node.port);
	ck_assert_log("cluster 0 (check.lua:1) " + name + ": unknown -> alive");
	ck_assert_uint_eq(monitor.known_states().size(), 1);

	/* Suspect: a new check starts now, and a second suspect while it runs adds none. */
	monitor.check_now(0, 0);
	monitor.check_now(0, 0);
	ck_assert_uint_eq(log_count("suspect (read_timeout in a worker); checking it now"), 1);
	ck_assert(loop.run_until([&] { return served.size() == 2 || serve_one(); }));
	ck_assert(loop.run_until([&] { return served.size() == 2; }));

	/* Neither an unknown node nor a stopped monitor checks anything. */
	monitor.check_now(0, 9);
	monitor.check_now(4, 0);
	ck_assert_log("NODE_SUSPECT for cluster 0 node 9, which is not monitored");
	ck_assert_log("NODE_SUSPECT for cluster 4 node 0, which is not monitored");
	monitor.stop();
	monitor.check_now(0, 0);
	ck_assert_uint_eq(log_count("checking it now"), 1);
	for (int fd : served)
		close(fd);
}
END_TEST

/* A node that hangs up before it greets, and one nobody listens on: dead, each with its reason. */
START_TEST(test_dead_nodes_with_reasons)
{
	TestLoop loop;
	TestNode hangs_up;
	int holder = -1;
	const std::uint16_t refused = closed_port(holder);
	std::vector<ClusterConfig> clusters{monitored({node_at(hangs_up.port), node_at(refused)})};
	std::vector<NodeStateMessage> broadcasts;
	ClusterMonitor monitor(loop.event, clusters, {}, [&](const ChannelMessage &m) {
		/* BACKEND_OFFER too (the greetings it reads): only the node states matter here. */
		if (const auto *state = std::get_if<NodeStateMessage>(&m))
			broadcasts.push_back(*state);
	});
	ck_assert_int_eq(monitor.start(), 0);
	ck_assert(loop.run_until([&] {
		const int fd = hangs_up.accept_waiting();
		if (fd >= 0)
			close(fd);
		return broadcasts.size() == 2;
	}));
	for (const auto &m : broadcasts)
		ck_assert_int_eq(int(m.state), int(NodeState::dead));
	ck_assert_log("node 127.0.0.1:" + std::to_string(hangs_up.port) +
		      ": unknown -> dead (the node closed the connection)");
	ck_assert_log("node 127.0.0.1:" + std::to_string(refused) + ": unknown -> dead (connect(): Connection refused)");
	ck_assert_uint_eq(monitor.known_states().size(), 2);
	close(holder);
}
END_TEST

/* A node that accepts the monitor's login and then answers its query with a packet header
   announcing more than any check reads: dead, "malformed packet", never buffered. */
START_TEST(test_malformed_answer_is_dead)
{
	TestLoop loop;
	TestNode node;
	ClusterConfig config = monitored({node_at(node.port)});
	config.user = "monitor";
	config.password = "pw";
	std::vector<ClusterConfig> clusters{config};
	std::vector<NodeStateMessage> broadcasts;
	ClusterMonitor monitor(loop.event, clusters, {}, [&](const ChannelMessage &m) {
		/* BACKEND_OFFER too (the greetings it reads): only the node states matter here. */
		if (const auto *state = std::get_if<NodeStateMessage>(&m))
			broadcasts.push_back(*state);
	});
	ck_assert_int_eq(monitor.start(), 0);
	int fd = -1;
	ck_assert(loop.run_until([&] { return (fd = node.accept_waiting()) >= 0; }));
	const std::string hello = greeting();
	ck_assert(write(fd, hello.data(), hello.size()) == ssize_t(hello.size()));
	/* The login, then OK; the query, then a header announcing 16 MiB - 1. */
	const auto read_some = [&] {
		pollfd p{fd, POLLIN, 0};
		ck_assert(loop.run_until([&] { return poll(&p, 1, 0) == 1; }));
		char buffer[4096];
		ck_assert_int_gt(read(fd, buffer, sizeof(buffer)), 0);
	};
	read_some();
	const std::string ok("\x07\0\0\x02\0\0\0\x02\0\0\0", 11);
	ck_assert(write(fd, ok.data(), ok.size()) == ssize_t(ok.size()));
	read_some();
	const std::string huge("\xff\xff\xff\x01", 4);
	ck_assert(write(fd, huge.data(), huge.size()) == ssize_t(huge.size()));
	ck_assert(loop.run_until([&] { return !broadcasts.empty(); }));
	ck_assert_int_eq(int(broadcasts[0].state), int(NodeState::dead));
	ck_assert_log("node 127.0.0.1:" + std::to_string(node.port) + ": unknown -> dead (malformed packet: ");
	close(fd);
}
END_TEST

int main()
{
	Suite *suite = suite_create("cluster_monitor_checks");
	TCase *tc = tcase_create("checks");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, capture_log, remove_log);
	tcase_add_test(tc, test_suspect_node_checked_now);
	tcase_add_test(tc, test_dead_nodes_with_reasons);
	tcase_add_test(tc, test_malformed_answer_is_dead);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
