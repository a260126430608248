// The Prometheus text the exporter serves (master side): sums the workers' counter pages
// (common/worker_counters.hpp) with the counts of workers that died, adds what only the master
// knows (accepted clients, workers, restarts, crashes, node states), and renders the text
// exposition format.  Reads worker pages as gossip: address texts are validated and escaped, slot
// counts clamped.  Never blocks; allocates only the text it returns.
#pragma once

#include "common/node_state.hpp"
#include "common/worker_counters.hpp"

#include <cstdint>
#include <array>
#include <map>
#include <string>
#include <vector>

namespace myproxy {

/* The number of counters in each table (master/metrics.cpp's field lists). */
inline constexpr std::size_t metrics_worker_fields = 12;
inline constexpr std::size_t metrics_server_fields = 15;

struct HistogramTotals {
	std::uint64_t buckets[histogram_buckets]{};
	std::uint64_t sum_usec = 0;
};

/* Plain sums of worker pages: of dead workers (folded when they exit), or of everything for a scrape. */
struct CounterTotals {
	std::uint64_t worker[metrics_worker_fields]{};
	/* Keyed by the backend's address text. */
	std::map<std::string, std::array<std::uint64_t, metrics_server_fields>> servers;
	HistogramTotals login_latency, lua_callback_time;
};

/* Adds one page's counters (not its gauges) to @totals. */
void add_worker_counters(CounterTotals &totals, const WorkerCounters &page);
/* Adds @more to @totals (the ended workers of several generations). */
void add_counter_totals(CounterTotals &totals, const CounterTotals &more);

struct NodeMetric {
	/* The node's address text. */
	std::string address;
	NodeState state = NodeState::unknown;
};

/* Everything one scrape shows. */
struct MetricsSnapshot {
	CounterTotals counters;
	/* Gauges of the live workers. */
	std::int64_t sessions_open = 0, logins_pending = 0, backend_idle = 0;
	std::uint64_t connections_accepted = 0, connections_rejected_by_master = 0, crash_penalty_refusals = 0;
	unsigned workers_configured = 0, workers_alive = 0, workers_ready = 0;
	std::uint64_t worker_restarts = 0, worker_crashes = 0;
	std::uint64_t control_datagrams = 0, control_datagrams_dropped = 0;
	/* Monitored cluster nodes. */
	std::vector<NodeMetric> nodes;
};

/* The text exposition format (version 0.0.4) of @snapshot. */
std::string render_metrics(const MetricsSnapshot &snapshot);

/* A label value with \\, \" and \n escaped. */
std::string escape_label_value(std::string_view value);

} // namespace myproxy
