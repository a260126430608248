// The worker counters page: one shared anonymous mapping per worker slot, created by the master
// before the fork (like worker_activity.hpp), in which the worker counts what the Prometheus
// exporter reports.  The worker writes with relaxed atomic adds and takes no lock; the master only
// reads, when /metrics is scraped, and folds a dead worker's counts into its own totals before the
// slot's next process starts, so counters never go backwards.  What a worker writes here is gossip:
// the master bounds and escapes the backend address texts before printing them.
#pragma once

#include "common/socket_address.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ctime>

namespace myproxy {

using Counter = std::atomic<std::uint64_t>;
static_assert(Counter::is_always_lock_free);

/* Upper bounds, in microseconds, of the histogram buckets (Prometheus "le" labels); +Inf is implied. */
inline constexpr std::uint64_t histogram_bounds_usec[] = {1000, 5000, 10000, 50000, 100000, 500000, 1000000, 5000000};
inline constexpr std::size_t histogram_buckets = std::size(histogram_bounds_usec) + 1;

struct Histogram {
	/* Not cumulative: each observation lands in one bucket; the exporter sums them up. */
	Counter buckets[histogram_buckets];
	Counter sum_usec;
};

/* One backend server's counters, named as upstream's myproxy_server_* metrics, then ours: backend
   connections kept idle after a clean reset (client:connect()'s reuse), and logins served by one. */
struct ServerCounters {
	Counter connects, connect_errors, bytes_received, packets_received, malformed_packets, queries,
		query_errors, query_warnings, no_good_index_queries, no_index_queries, slow_queries,
		affected_rows, query_wait_usec;
	Counter idle_parked, idle_reused;
};

/* The most backend servers one worker tracks; the rest are counted in the slot "other". */
inline constexpr std::size_t worker_counters_max_servers = 64;

struct ServerSlot {
	/* Written once by the worker before it publishes the slot (ServerTable::used, release). */
	SocketAddress address;
	ServerCounters counters;
};

struct ServerTable {
	/* Slots [0, used) are published; the worker appends, never removes. */
	std::atomic<std::uint32_t> used;
	ServerSlot slots[worker_counters_max_servers];
	/* Servers beyond the table. */
	ServerCounters other;
};

struct WorkerCounters {
	/* Upstream's myproxy_client_* and myproxy_lua_errors. */
	Counter client_bytes_received, client_packets_received, client_malformed_packets,
		client_handshake_responses, client_auth_ok, client_auth_err, client_queries, lua_errors;
	/* Refused by the worker: too many pending logins of one uid, or draining. */
	Counter connections_rejected;
	Counter tls_handshakes, tls_handshake_failures;
	/* Accounts whose sessions DISCONNECT_ACCOUNT closed, and how many sessions. */
	Counter sessions_disconnected;
	/* Gauges, meaningful only while the worker lives (never folded into the master's totals). */
	std::atomic<std::int64_t> sessions_open, logins_pending;
	/* Backend connections kept idle for reuse (worker/backend_pool), parked or being reset. */
	std::atomic<std::int64_t> backend_idle;
	Histogram login_latency, lua_callback_time;
	ServerTable servers;
};

/* This process's page: set in a freshly forked worker by the pool, null in the master (then
   every count_*() is a no-op). */
inline WorkerCounters *worker_counters_page = nullptr;

inline void count(Counter WorkerCounters::*counter, std::uint64_t n = 1) noexcept
{
	if (worker_counters_page != nullptr)
		(worker_counters_page->*counter).fetch_add(n, std::memory_order_relaxed);
}

inline void count_server(ServerCounters *server, Counter ServerCounters::*counter, std::uint64_t n = 1) noexcept
{
	if (server != nullptr)
		(server->*counter).fetch_add(n, std::memory_order_relaxed);
}

inline void observe(Histogram &histogram, std::uint64_t usec) noexcept
{
	std::size_t i = 0;
	while (i < std::size(histogram_bounds_usec) && usec > histogram_bounds_usec[i])
		++i;
	histogram.buckets[i].fetch_add(1, std::memory_order_relaxed);
	histogram.sum_usec.fetch_add(usec, std::memory_order_relaxed);
}

inline std::uint64_t metrics_clock_usec() noexcept
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return std::uint64_t(ts.tv_sec) * 1000000 + std::uint64_t(ts.tv_nsec) / 1000;
}

/* Times one stretch of Lua (a callback's run up to its end or its next yield). */
class LuaTimeScope {
	std::uint64_t start = worker_counters_page != nullptr ? metrics_clock_usec() : 0;

public:
	LuaTimeScope() noexcept = default;
	~LuaTimeScope()
	{
		if (worker_counters_page != nullptr)
			observe(worker_counters_page->lua_callback_time, metrics_clock_usec() - start);
	}
	LuaTimeScope(const LuaTimeScope &) = delete;
	LuaTimeScope &operator=(const LuaTimeScope &) = delete;
};

/* The worker's slot for @address in its page (claimed on first use), or the "other" slot when the
   table is full; nullptr without a page.  Worker side only (one writer per page). */
ServerCounters *worker_server_counters(const SocketAddress &address) noexcept;

/* Master side: a fresh page (zeroed) for one worker slot, or nullptr when mmap fails (logged by
   the caller); unmapped with unmap_worker_counters(). */
WorkerCounters *map_worker_counters() noexcept;
void unmap_worker_counters(WorkerCounters *page) noexcept;
/* Zeroes a page before the slot's next process starts. */
void reset_worker_counters(WorkerCounters &page) noexcept;

} // namespace myproxy
