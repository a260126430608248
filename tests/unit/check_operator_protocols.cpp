// Unit tests for the operator interfaces' parsers (all hostile input): control datagrams
// (common/control_protocol), HTTP request heads (common/http_request), CIDR networks
// (common/network_mask); and the master's side: the control listener's sender check and
// dispatch (master/control_server), the Prometheus text (master/metrics), `--control` parsing.
#include "common/control_protocol.hpp"
#include "common/http_request.hpp"
#include "common/network_mask.hpp"
#include "master/command_line.hpp"
#include "master/control_server.hpp"
#include "master/metrics.hpp"
#include "tests/check_main.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

using namespace myproxy;

namespace {

ByteSpan span(const std::string &s)
{
	return ByteSpan(reinterpret_cast<const std::uint8_t *>(s.data()), s.size());
}

ByteSpan span(const std::vector<std::uint8_t> &v)
{
	return ByteSpan(v.data(), v.size());
}

std::vector<std::uint8_t> datagram(std::initializer_list<std::uint8_t> tail)
{
	std::vector<std::uint8_t> out;
	append_control_magic(out);
	out.insert(out.end(), tail);
	return out;
}

SocketAddress ip(const char *text)
{
	const AddressResult r = parse_numeric_address(text, 1);
	ck_assert_msg(r.ok(), "%s", r.error());
	return r.value();
}

} // namespace

/* --- control datagrams -------------------------------------------------------------------- */

START_TEST(test_control_round_trip)
{
	std::vector<std::uint8_t> d;
	append_control_magic(d);
	ck_assert(append_control_packet(d, 20, span(std::string("acme"))));
	ck_assert(append_control_packet(d, 0, {}));
	const std::uint8_t level = 3;
	ck_assert(append_control_packet(d, 7, ByteSpan(&level, 1)));
	/* magic, 4+4, 4, 4+4 (one byte padded to four) */
	ck_assert_uint_eq(d.size(), 4 + 8 + 4 + 8);
	ck_assert_uint_eq(d[0], 0x63);
	ck_assert_uint_eq(d[3], 0x01);
	const auto packets = parse_control_datagram(span(d));
	ck_assert(packets.ok());
	ck_assert_uint_eq(packets->size(), 3);
	ck_assert_uint_eq((*packets)[0].command, 20);
	ck_assert_uint_eq((*packets)[0].payload.size(), 4);
	ck_assert_uint_eq((*packets)[1].command, 0);
	ck_assert_uint_eq((*packets)[2].payload.size(), 1);
	ck_assert_uint_eq((*packets)[2].payload[0], 3);
	ck_assert_str_eq(control_command_name(20), "DISCONNECT_DATABASE");
	ck_assert_ptr_null(control_command_name(999));
}
END_TEST

START_TEST(test_control_bad_datagrams)
{
	/* Shorter than the magic, a wrong magic. */
	ck_assert(!parse_control_datagram(span(std::string("\x63\x04"))).ok());
	ck_assert(!parse_control_datagram(span(std::string("\x63\x04\x61\x02", 4))).ok());
	/* The magic alone is an empty, valid datagram. */
	ck_assert(parse_control_datagram(span(datagram({}))).ok());
	/* A header cut short, a payload past the end, padding past the end, non-zero padding. */
	ck_assert(!parse_control_datagram(span(datagram({0x00, 0x04, 0x00}))).ok());
	ck_assert(!parse_control_datagram(span(datagram({0x00, 0x08, 0x00, 0x14, 'a', 'b'}))).ok());
	ck_assert(!parse_control_datagram(span(datagram({0x00, 0x01, 0x00, 0x07, 0x03}))).ok());
	const auto bad_padding = parse_control_datagram(span(datagram({0x00, 0x01, 0x00, 0x07, 0x03, 0x00, 0x01, 0x00})));
	ck_assert(!bad_padding.ok());
	ck_assert_str_eq(bad_padding.error().what, "control packet: padding is not zero");
	/* The largest length claims 65535 bytes that are not there. */
	ck_assert(!parse_control_datagram(span(datagram({0xff, 0xff, 0x00, 0x14}))).ok());
	/* Too many packets: 65 NOPs. */
	std::vector<std::uint8_t> many;
	append_control_magic(many);
	for (int i = 0; i < 65; ++i)
		append_control_packet(many, 0, {});
	ck_assert(!parse_control_datagram(span(many)).ok());
	many.resize(4 + 64 * 4);
	ck_assert(parse_control_datagram(span(many)).ok());
}
END_TEST

/* --- HTTP request heads ------------------------------------------------------------------- */

START_TEST(test_http_good)
{
	/* The views point into the buffer: keep it alive. */
	const std::string request("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n");
	const auto head = parse_http_request_head(span(request));
	ck_assert(head.status == HttpRequestHead::Status::complete);
	ck_assert(head.method == "GET");
	ck_assert(head.target == "/metrics?x=1");
	ck_assert(http_target_path(head.target) == "/metrics");
	ck_assert_int_eq(head.minor_version, 1);
	/* Bare LF line ends, leading empty lines, HTTP/1.0 without headers. */
	const std::string lf_request("\r\n\nHEAD /metrics HTTP/1.0\n\n");
	const auto lf = parse_http_request_head(span(lf_request));
	ck_assert(lf.status == HttpRequestHead::Status::complete);
	ck_assert(lf.method == "HEAD");
	ck_assert_int_eq(lf.minor_version, 0);
}
END_TEST

START_TEST(test_http_incomplete_and_too_large)
{
	ck_assert(parse_http_request_head(span(std::string("GET /metrics HTTP/1.1\r\nHost: a\r\n"))).status ==
		  HttpRequestHead::Status::incomplete);
	ck_assert(parse_http_request_head({}).status == HttpRequestHead::Status::incomplete);
	/* Empty lines before the request line are skipped (RFC 9112 2.2), but count toward the limit. */
	ck_assert(parse_http_request_head(span(std::string("\r\n\r\n"))).status == HttpRequestHead::Status::incomplete);
	ck_assert(parse_http_request_head(span(std::string(http_request_head_max, '\n'))).status ==
		  HttpRequestHead::Status::too_large);
	std::string huge = "GET /metrics HTTP/1.1\r\nX: ";
	huge.append(http_request_head_max, 'a');
	ck_assert(parse_http_request_head(span(huge)).status == HttpRequestHead::Status::too_large);
	/* The blank line past the limit does not count. */
	huge += "\r\n\r\n";
	ck_assert(parse_http_request_head(span(huge)).status == HttpRequestHead::Status::too_large);
}
END_TEST

START_TEST(test_http_bad)
{
	const char *bad[] = {
		"GET\r\n\r\n",
		"GET /metrics\r\n\r\n",
		"GET metrics HTTP/1.1\r\n\r\n",
		"GET /met rics HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/2.0\r\n\r\n",
		"GET /metrics HTTP/1.1 \r\n\r\n",
		"G(T /metrics HTTP/1.1\r\n\r\n",
		"VERYLONGMETHODNAMEXX /metrics HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nNo colon here\r\n\r\n",
		"GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nX: a\x01b\r\n\r\n",
		" GET /metrics HTTP/1.1\r\n\r\n",
	};
	for (const char *text : bad) {
		const auto head = parse_http_request_head(span(std::string(text)));
		ck_assert_msg(head.status == HttpRequestHead::Status::bad, "accepted: %s", text);
		ck_assert_ptr_nonnull(head.problem);
	}
	const std::string nul("GET /metrics HTTP/1.1\r\nX: \0\r\n\r\n", 30);
	ck_assert(parse_http_request_head(span(nul)).status == HttpRequestHead::Status::bad);
	std::string long_target = "GET /";
	long_target.append(2000, 'a');
	long_target += " HTTP/1.1\r\n\r\n";
	ck_assert(parse_http_request_head(span(long_target)).status == HttpRequestHead::Status::bad);
}
END_TEST

/* --- networks ----------------------------------------------------------------------------- */

START_TEST(test_networks)
{
	const auto ten = parse_network("10.0.0.0/8");
	ck_assert(ten.has_value());
	ck_assert(network_contains(*ten, ip("10.1.2.3")));
	ck_assert(!network_contains(*ten, ip("11.0.0.1")));
	ck_assert(network_contains(*ten, ip("[::ffff:10.9.9.9]")));
	const auto host = parse_network("192.0.2.7");
	ck_assert(host && host->prefix_length == 32);
	ck_assert(network_contains(*host, ip("192.0.2.7")));
	ck_assert(!network_contains(*host, ip("192.0.2.8")));
	const auto v6 = parse_network("fd00::/8");
	ck_assert(v6 && network_contains(*v6, ip("[fd12::1]")));
	ck_assert(!network_contains(*v6, ip("10.0.0.1")));
	const auto odd = parse_network("10.0.0.0/12");
	ck_assert(odd && network_contains(*odd, ip("10.15.255.255")) && !network_contains(*odd, ip("10.16.0.0")));
	for (const char *bad : {"", "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8x", "host.example", "fd00::/129",
				"[::1]", "10.0.0.0/-1"})
		ck_assert_msg(!parse_network(bad).has_value(), "accepted '%s'", bad);
	ck_assert(is_loopback_address(ip("127.0.0.1")));
	ck_assert(is_loopback_address(ip("127.9.9.9")));
	ck_assert(is_loopback_address(ip("[::1]")));
	ck_assert(is_loopback_address(ip("[::ffff:127.0.0.1]")));
	ck_assert(!is_loopback_address(ip("10.0.0.1")));
	ck_assert(!is_loopback_address(ip("[::2]")));
	ck_assert(!is_loopback_address(ip("/run/x.sock")));
}
END_TEST

/* --- the control listener's decisions ------------------------------------------------------ */

START_TEST(test_control_senders)
{
	ControlListenerConfig udp;
	udp.address = ip("127.0.0.1:5478");
	udp.allow.push_back(*parse_network("192.0.2.0/24"));
	ControlServer udp_server(nullptr, UniqueFd(), udp, {});
	ck_assert(udp_server.sender_allowed(ip("127.0.0.1:4000"), std::nullopt));
	ck_assert(udp_server.sender_allowed(ip("192.0.2.99:4000"), std::nullopt));
	ck_assert(!udp_server.sender_allowed(ip("198.51.100.1:4000"), std::nullopt));

	ControlListenerConfig local;
	local.address = ip("@myproxy-control-test");
	ControlServer local_server(nullptr, UniqueFd(), local, {});
	ck_assert(local_server.sender_allowed(local.address, 0u));
	ck_assert(local_server.sender_allowed(local.address, getuid()));
	ck_assert(!local_server.sender_allowed(local.address, getuid() + 1));
	/* No credentials: refused. */
	ck_assert(!local_server.sender_allowed(local.address, std::nullopt));
}
END_TEST

START_TEST(test_control_dispatch)
{
	std::vector<std::string> disconnected;
	ControlActions actions;
	actions.disconnect_account = [&](std::string_view account) { disconnected.emplace_back(account); };
	ControlListenerConfig local;
	local.address = ip("@myproxy-control-test");
	ControlServer server(nullptr, UniqueFd(), local, actions);

	std::vector<std::uint8_t> d;
	append_control_magic(d);
	append_control_packet(d, 0, {});
	append_control_packet(d, 20, span(std::string("acme")));
	append_control_packet(d, 999, span(std::string("whatever")));
	append_control_packet(d, 20, span(std::string("bad\nname")));
	append_control_packet(d, 20, {});
	append_control_packet(d, 20, span(std::string("other")));
	server.handle_datagram(span(d), "test");
	ck_assert_uint_eq(disconnected.size(), 2);
	ck_assert(disconnected[0] == "acme");
	ck_assert(disconnected[1] == "other");
	ck_assert_uint_eq(server.accepted(), 1);

	/* A malformed datagram runs nothing, not even its good first packet. */
	d.push_back(0x01);
	server.handle_datagram(span(d), "test");
	ck_assert_uint_eq(disconnected.size(), 2);
	ck_assert_uint_eq(server.dropped(), 1);
}
END_TEST

/* --- the Prometheus text ------------------------------------------------------------------ */

START_TEST(test_metrics_text)
{
	MetricsSnapshot s;
	s.connections_accepted = 7;
	s.counters.worker[0] = 1234;
	s.counters.servers["10.0.0.1:3306"][5] = 3;
	s.counters.servers["odd\"\\\nname"];
	s.counters.login_latency.buckets[0] = 2;
	s.counters.login_latency.buckets[histogram_buckets - 1] = 1;
	s.nodes.push_back({"10.0.0.1:3306", NodeState::dead});
	const std::string text = render_metrics(s);
	for (const char *line : {"myproxy_connections_accepted 7\n", "myproxy_client_bytes_received 1234\n",
				 "myproxy_server_queries{server=\"10.0.0.1:3306\"} 3\n",
				 "myproxy_server_state{server=\"10.0.0.1:3306\"} 4\n",
				 "myproxy_server_queries{server=\"odd\\\"\\\\\\nname\"} 0\n",
				 "myproxy_login_seconds_bucket{le=\"0.001\"} 2\n",
				 "myproxy_login_seconds_bucket{le=\"+Inf\"} 3\n", "myproxy_login_seconds_count 3\n",
				 "# TYPE myproxy_server_query_wait counter\n"})
		ck_assert_msg(text.find(line) != std::string::npos, "no '%s' in\n%s", line, text.c_str());
	ck_assert(escape_label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
}
END_TEST

START_TEST(test_metrics_fold)
{
	WorkerCounters *page = map_worker_counters();
	ck_assert_ptr_nonnull(page);
	worker_counters_page = page;
	count(&WorkerCounters::client_auth_ok, 5);
	ServerCounters *server = worker_server_counters(ip("10.0.0.2:3306"));
	count_server(server, &ServerCounters::queries, 2);
	ck_assert_ptr_eq(worker_server_counters(ip("10.0.0.2:3306")), server);
	/* A full table sends the rest to "other". */
	for (unsigned i = 0; i < worker_counters_max_servers + 3; ++i) {
		const std::string address = "10.1.0." + std::to_string(i % 250) + ":" + std::to_string(1000 + i);
		count_server(worker_server_counters(ip(address.c_str())), &ServerCounters::connects);
	}
	worker_counters_page = nullptr;

	CounterTotals totals;
	add_worker_counters(totals, *page);
	add_worker_counters(totals, *page);
	ck_assert_uint_eq(totals.worker[4], 10);
	ck_assert_uint_eq(totals.servers["10.0.0.2:3306"][5], 4);
	ck_assert_uint_eq(totals.servers["other"][0], 2 * 4);
	ck_assert_uint_eq(totals.servers.size(), worker_counters_max_servers + 1);

	/* A lying worker: a slot count past the table and an address of garbage. */
	page->servers.used.store(1000);
	page->servers.slots[0].address.length = 60000;
	CounterTotals lied;
	add_worker_counters(lied, *page);
	ck_assert(lied.servers.count("invalid") == 1);
	reset_worker_counters(*page);
	ck_assert_uint_eq(page->client_auth_ok.load(), 0);
	ck_assert_uint_eq(page->servers.used.load(), 0);
	unmap_worker_counters(page);
}
END_TEST

/* --- the command line ---------------------------------------------------------------------- */

START_TEST(test_control_command_line)
{
	const char *ok[] = {"--control", "@myproxy-control", "disconnect-database", "acme"};
	const auto line = parse_command_line(ok);
	ck_assert(line.ok());
	ck_assert(line.value().control_address == "@myproxy-control");
	ck_assert_uint_eq(line.value().control_command.size(), 2);
	const char *no_command[] = {"--control", "@x"};
	ck_assert(!parse_command_line(no_command).ok());
	const char *stray[] = {"disconnect-database", "acme"};
	ck_assert(!parse_command_line(stray).ok());
}
END_TEST

static Suite *operator_suite()
{
	Suite *s = suite_create("operator_protocols");
	TCase *tc = tcase_create("parsers");
	tcase_add_test(tc, test_control_round_trip);
	tcase_add_test(tc, test_control_bad_datagrams);
	tcase_add_test(tc, test_http_good);
	tcase_add_test(tc, test_http_incomplete_and_too_large);
	tcase_add_test(tc, test_http_bad);
	tcase_add_test(tc, test_networks);
	suite_add_tcase(s, tc);
	tc = tcase_create("master");
	tcase_add_test(tc, test_control_senders);
	tcase_add_test(tc, test_control_dispatch);
	tcase_add_test(tc, test_metrics_text);
	tcase_add_test(tc, test_metrics_fold);
	tcase_add_test(tc, test_control_command_line);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({operator_suite()});
}
