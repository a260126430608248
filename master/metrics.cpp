// Summing the workers' counters and rendering them (see metrics.hpp).  The metric names of
// upstream's exporter stay as they are, so existing dashboards keep working; ours carry the same
// myproxy_ prefix.  No label takes values that grow with tenants: servers are the configured or
// connected backends (at most worker_counters_max_servers per worker, the rest in "other").
#include "master/metrics.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#include <cinttypes>
#include <cstdio>

namespace myproxy {

namespace {

struct WorkerField {
	const char *name;
	const char *help;
	Counter WorkerCounters::*field;
};

constexpr WorkerField worker_fields[metrics_worker_fields] = {
	{"myproxy_client_bytes_received", "Bytes received from clients", &WorkerCounters::client_bytes_received},
	{"myproxy_client_packets_received", "Packets received from clients (login packets and command starts)",
	 &WorkerCounters::client_packets_received},
	{"myproxy_client_malformed_packets", "Malformed packets received from clients",
	 &WorkerCounters::client_malformed_packets},
	{"myproxy_client_handshake_responses", "HandshakeResponse packets received",
	 &WorkerCounters::client_handshake_responses},
	{"myproxy_client_auth_ok", "Logins that reached the command phase", &WorkerCounters::client_auth_ok},
	{"myproxy_client_auth_err", "Logins that ended with an error packet", &WorkerCounters::client_auth_err},
	{"myproxy_client_queries", "COM_QUERY commands relayed", &WorkerCounters::client_queries},
	{"myproxy_lua_errors", "Lua callbacks that failed", &WorkerCounters::lua_errors},
	{"myproxy_worker_connections_rejected", "Clients a worker refused (too many pending logins, draining)",
	 &WorkerCounters::connections_rejected},
	{"myproxy_tls_handshakes", "TLS handshakes completed (with clients and backends)",
	 &WorkerCounters::tls_handshakes},
	{"myproxy_tls_handshake_failures", "TLS handshakes failed (with clients and backends)",
	 &WorkerCounters::tls_handshake_failures},
	{"myproxy_sessions_disconnected", "Sessions closed by DISCONNECT_DATABASE",
	 &WorkerCounters::sessions_disconnected},
};

/* Index of connections_rejected in worker_fields: the total of upstream's metric includes it. */
constexpr std::size_t worker_rejected_field = 8;

struct ServerField {
	const char *name;
	const char *help;
	Counter ServerCounters::*field;
	/* Rendered in seconds instead of microseconds. */
	bool seconds = false;
};

constexpr ServerField server_fields[metrics_server_fields] = {
	{"myproxy_server_connects", "Backend logins that succeeded", &ServerCounters::connects},
	{"myproxy_server_connect_errors", "Backend connects or logins that failed", &ServerCounters::connect_errors},
	{"myproxy_server_bytes_received", "Bytes received from the backend in the command phase",
	 &ServerCounters::bytes_received},
	{"myproxy_server_packets_received", "First reply packets of COM_QUERY received", &ServerCounters::packets_received},
	{"myproxy_server_malformed_packets", "Malformed OK packets received", &ServerCounters::malformed_packets},
	{"myproxy_server_queries", "COM_QUERY commands sent", &ServerCounters::queries},
	{"myproxy_server_query_errors", "COM_QUERY answered with an error packet", &ServerCounters::query_errors},
	{"myproxy_server_query_warnings", "Warnings of COM_QUERY answered with OK", &ServerCounters::query_warnings},
	{"myproxy_server_no_good_index_queries", "OK packets with SERVER_QUERY_NO_GOOD_INDEX_USED",
	 &ServerCounters::no_good_index_queries},
	{"myproxy_server_no_index_queries", "OK packets with SERVER_QUERY_NO_INDEX_USED", &ServerCounters::no_index_queries},
	{"myproxy_server_slow_queries", "OK packets with SERVER_QUERY_WAS_SLOW", &ServerCounters::slow_queries},
	{"myproxy_server_affected_rows", "Affected rows of COM_QUERY answered with OK", &ServerCounters::affected_rows},
	{"myproxy_server_query_wait", "Seconds from COM_QUERY to the first reply packet", &ServerCounters::query_wait_usec,
	 true},
	{"myproxy_server_idle_parked", "Backend connections kept idle for reuse after a clean reset",
	 &ServerCounters::idle_parked},
	{"myproxy_server_idle_reused", "Logins served by an idle backend connection", &ServerCounters::idle_reused},
};

/* A worker's address slot as label text; empty when the bytes make no sense. */
std::string address_label(const SocketAddress &raw)
{
	SocketAddress address = raw;
	if (address.length > sizeof(address.storage))
		return {};
	const int family = address.family();
	if ((family == AF_INET && address.length != sizeof(sockaddr_in)) ||
	    (family == AF_INET6 && address.length != sizeof(sockaddr_in6)) ||
	    (family == AF_UNIX && address.length <= offsetof(sockaddr_un, sun_path)) ||
	    (family != AF_INET && family != AF_INET6 && family != AF_UNIX))
		return {};
	return to_string(address);
}

void add_histogram(HistogramTotals &totals, const Histogram &histogram)
{
	for (std::size_t i = 0; i < histogram_buckets; ++i)
		totals.buckets[i] += histogram.buckets[i].load(std::memory_order_relaxed);
	totals.sum_usec += histogram.sum_usec.load(std::memory_order_relaxed);
}

void add_server(std::array<std::uint64_t, metrics_server_fields> &totals, const ServerCounters &server)
{
	for (std::size_t i = 0; i < metrics_server_fields; ++i)
		totals[i] += (server.*(server_fields[i].field)).load(std::memory_order_relaxed);
}

class Text {
public:
	std::string out;

	void header(const char *name, const char *help, const char *type)
	{
		out += "# HELP ";
		out += name;
		out += ' ';
		out += help;
		out += "\n# TYPE ";
		out += name;
		out += ' ';
		out += type;
		out += '\n';
	}
	void sample(const char *name, const char *labels, std::uint64_t value)
	{
		char line[512];
		std::snprintf(line, sizeof(line), "%s%s %" PRIu64 "\n", name, labels, value);
		out += line;
	}
	void sample_signed(const char *name, std::int64_t value)
	{
		char line[256];
		std::snprintf(line, sizeof(line), "%s %" PRId64 "\n", name, value);
		out += line;
	}
	void sample_seconds(const char *name, const std::string &labels, std::uint64_t usec)
	{
		char line[512];
		std::snprintf(line, sizeof(line), "%s%s %.6f\n", name, labels.c_str(), double(usec) / 1e6);
		out += line;
	}
	void one(const char *name, const char *help, const char *type, std::uint64_t value)
	{
		header(name, help, type);
		sample(name, "", value);
	}
	void histogram(const char *name, const char *help, const HistogramTotals &h)
	{
		header(name, help, "histogram");
		std::uint64_t cumulative = 0;
		char labels[64];
		std::string bucket = std::string(name) + "_bucket";
		for (std::size_t i = 0; i < histogram_buckets; ++i) {
			cumulative += h.buckets[i];
			if (i < std::size(histogram_bounds_usec))
				std::snprintf(labels, sizeof(labels), "{le=\"%g\"}", double(histogram_bounds_usec[i]) / 1e6);
			else
				std::snprintf(labels, sizeof(labels), "{le=\"+Inf\"}");
			sample(bucket.c_str(), labels, cumulative);
		}
		sample_seconds((std::string(name) + "_sum").c_str(), "", h.sum_usec);
		sample((std::string(name) + "_count").c_str(), "", cumulative);
	}
};

} // namespace

std::string escape_label_value(std::string_view value)
{
	std::string out;
	out.reserve(value.size());
	for (char c : value) {
		if (c == '\\')
			out += "\\\\";
		else if (c == '"')
			out += "\\\"";
		else if (c == '\n')
			out += "\\n";
		else
			out += c;
	}
	return out;
}

void add_worker_counters(CounterTotals &totals, const WorkerCounters &page)
{
	for (std::size_t i = 0; i < metrics_worker_fields; ++i)
		totals.worker[i] += (page.*(worker_fields[i].field)).load(std::memory_order_relaxed);
	add_histogram(totals.login_latency, page.login_latency);
	add_histogram(totals.lua_callback_time, page.lua_callback_time);
	/* Acquire: the addresses of the published slots are complete. */
	std::uint32_t used = page.servers.used.load(std::memory_order_acquire);
	if (used > worker_counters_max_servers)
		used = worker_counters_max_servers;
	for (std::uint32_t i = 0; i < used; ++i) {
		const std::string label = address_label(page.servers.slots[i].address);
		add_server(totals.servers[label.empty() ? "invalid" : label], page.servers.slots[i].counters);
	}
	bool other_used = false;
	for (const ServerField &field : server_fields)
		other_used = other_used || (page.servers.other.*(field.field)).load(std::memory_order_relaxed) != 0;
	if (other_used)
		add_server(totals.servers["other"], page.servers.other);
}

void add_counter_totals(CounterTotals &totals, const CounterTotals &more)
{
	for (std::size_t i = 0; i < metrics_worker_fields; ++i)
		totals.worker[i] += more.worker[i];
	for (const auto &[label, counts] : more.servers) {
		auto &sum = totals.servers[label];
		for (std::size_t i = 0; i < metrics_server_fields; ++i)
			sum[i] += counts[i];
	}
	for (auto [to, from] : {std::pair{&totals.login_latency, &more.login_latency},
				std::pair{&totals.lua_callback_time, &more.lua_callback_time}}) {
		for (std::size_t i = 0; i < histogram_buckets; ++i)
			to->buckets[i] += from->buckets[i];
		to->sum_usec += from->sum_usec;
	}
}

std::string render_metrics(const MetricsSnapshot &s)
{
	Text t;
	t.one("myproxy_connections_accepted", "Clients accepted by the master", "counter", s.connections_accepted);
	t.one("myproxy_connections_rejected", "Clients refused (crash penalty, no worker, worker refusals)", "counter",
	      s.connections_rejected_by_master + s.counters.worker[worker_rejected_field]);
	for (std::size_t i = 0; i < metrics_worker_fields; ++i)
		t.one(worker_fields[i].name, worker_fields[i].help, "counter", s.counters.worker[i]);

	t.header("myproxy_sessions_open", "Client sessions open in the workers", "gauge");
	t.sample_signed("myproxy_sessions_open", s.sessions_open);
	t.header("myproxy_logins_pending", "Logins in progress of clients with credentials", "gauge");
	t.sample_signed("myproxy_logins_pending", s.logins_pending);
	t.header("myproxy_backend_idle_connections", "Backend connections kept idle for reuse in the workers", "gauge");
	t.sample_signed("myproxy_backend_idle_connections", s.backend_idle);
	t.one("myproxy_workers", "Worker processes configured", "gauge", s.workers_configured);
	t.one("myproxy_workers_alive", "Worker processes running", "gauge", s.workers_alive);
	t.one("myproxy_workers_ready", "Worker processes taking clients", "gauge", s.workers_ready);
	t.one("myproxy_worker_restarts", "Worker processes started again after one ended", "counter", s.worker_restarts);
	t.one("myproxy_worker_crashes", "Worker processes killed by a signal the master did not send", "counter",
	      s.worker_crashes);
	t.one("myproxy_crash_penalty_refusals", "Clients refused because their uid crashed a worker", "counter",
	      s.crash_penalty_refusals);
	t.one("myproxy_control_datagrams", "Control datagrams accepted", "counter", s.control_datagrams);
	t.one("myproxy_control_datagrams_dropped", "Control datagrams dropped (malformed or unauthorised)", "counter",
	      s.control_datagrams_dropped);
	t.histogram("myproxy_login_seconds", "Time from a client's arrival in a worker to its login OK", s.counters.login_latency);
	t.histogram("myproxy_lua_callback_seconds", "Time of one run of a Lua callback (to its end or next yield)",
		    s.counters.lua_callback_time);

	t.header("myproxy_server_state", "Monitored node state: 0 unknown, 1 alive, 2 read_only, 3 auth_failed, 4 dead",
		 "gauge");
	for (const NodeMetric &node : s.nodes) {
		const std::string labels = "{server=\"" + escape_label_value(node.address) + "\"}";
		t.sample("myproxy_server_state", labels.c_str(), static_cast<std::uint64_t>(node.state));
	}
	for (std::size_t i = 0; i < metrics_server_fields; ++i) {
		const ServerField &field = server_fields[i];
		t.header(field.name, field.help, "counter");
		for (const auto &[address, values] : s.counters.servers) {
			const std::string labels = "{server=\"" + escape_label_value(address) + "\"}";
			if (field.seconds)
				t.sample_seconds(field.name, labels, values[i]);
			else
				t.sample(field.name, labels.c_str(), values[i]);
		}
	}
	return std::move(t.out);
}

} // namespace myproxy
