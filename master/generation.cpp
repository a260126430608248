// One generation of workers and its retirement (see generation.hpp).  Master side.
#include "master/generation.hpp"

#include "common/exit_status.hpp"
#include "common/log.hpp"
#include "master/metrics.hpp"

#include <systemd/sd-event.h>

#include <signal.h>

namespace myproxy {

namespace {

std::uint32_t to_timeout_ms(std::uint64_t usec) noexcept
{
	const std::uint64_t ms = usec / 1000;
	return ms > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(ms);
}

WorkerPoolOptions numbered(WorkerPoolOptions options, unsigned first_index) noexcept
{
	options.first_index = first_index;
	return options;
}

} // namespace

Generation::Generation(sd_event *event_, unsigned number, unsigned first_index, MasterConfig config)
	: event(event_), number_(number), config_(std::move(config)),
	  pool_(event_, config_.worker_processes, config_.entry, numbered(config_.options.pool, first_index)),
	  monitor(event_, config_.options.clusters, config_.options.backend_addresses,
		  [this](const ChannelMessage &m) { pool_.broadcast(m); })
{
	pool_.set_on_node_suspect([this](std::uint32_t cluster, std::uint32_t node) { monitor.check_now(cluster, node); });
	/* Before any client: the channel keeps the order, so a worker's first login already knows. */
	pool_.set_on_worker_ready([this] { return monitor.known_messages(); });
	pool_.set_on_all_exited([this] {
		if (ended)
			return;
		ended = true;
		monitor.stop();
		limit_timer.reset();
		kill_timer.reset();
		if (on_finished)
			on_finished();
	});
}

Generation::~Generation() = default;

bool Generation::reads_client_cgroup(unsigned config_index) const noexcept
{
	return config_index >= config_.listeners.size() || config_.listeners[config_index].reads_client_cgroup;
}

int Generation::start()
{
	if (!config_.listeners.empty() && !config_.listeners.front().reads_client_cgroup)
		log_info("no function of config.lua names client.cgroup: clients' cgroups are not read");
	if (pool_.start() < 0 || monitor.start() < 0)
		return exit_os_error; /* the cause is logged */
	return 0;
}

void Generation::arm(EventSource &timer, std::uint64_t usec, int (*callback)(sd_event_source *, std::uint64_t, void *))
{
	const int r = sd_event_add_time_relative(event, timer.out(), CLOCK_MONOTONIC, usec, 1000, callback, this);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "generation %u: timer; killing its workers now", number_);
		pool_.kill_all(SIGKILL);
	}
}

void Generation::retire()
{
	const MasterOptions &o = config_.options;
	log_info("generation %u retires: %u workers finish %llu sessions (at most %llu s, then drain_timeout)", number_,
		 pool_.running_count(), static_cast<unsigned long long>(pool_.connection_count()),
		 static_cast<unsigned long long>(o.reload_drain_timeout_usec / 1000000));
	pool_.retire(to_timeout_ms(o.drain_timeout_usec));
	if (!ended)
		arm(limit_timer, o.reload_drain_timeout_usec, on_limit);
}

void Generation::drain()
{
	monitor.stop();
	limit_timer.reset();
	pool_.drain(to_timeout_ms(config_.options.drain_timeout_usec));
	if (!ended && !kill_timer)
		arm(kill_timer, config_.options.drain_timeout_usec + config_.options.drain_grace_usec, on_kill);
}

int Generation::on_limit(sd_event_source *, std::uint64_t, void *userdata)
{
	Generation &g = *static_cast<Generation *>(userdata);
	log_warning("generation %u: reload_drain_timeout reached with %llu sessions; draining them", g.number_,
		    static_cast<unsigned long long>(g.pool_.connection_count()));
	g.drain();
	return 0;
}

int Generation::on_kill(sd_event_source *, std::uint64_t, void *userdata)
{
	Generation &g = *static_cast<Generation *>(userdata);
	log_warning("generation %u: drain timeout: killing %u workers", g.number_, g.pool_.running_count());
	g.pool_.kill_all(SIGKILL);
	return 0;
}

void Generation::add_metrics(MetricsSnapshot &s, bool serving) const
{
	add_counter_totals(s.counters, pool_.ended_workers_counters());
	s.worker_crashes += pool_.crash_count();
	for (unsigned i = 0; i < pool_.size(); ++i) {
		const WorkerStatus status = pool_.status(i);
		s.workers_alive += status.pid != 0;
		s.worker_restarts += status.starts > 1 ? status.starts - 1 : 0;
		if (serving)
			s.workers_ready += status.ready;
		if (const WorkerCounters *page = pool_.live_counters(i)) {
			add_worker_counters(s.counters, *page);
			s.sessions_open += page->sessions_open.load(std::memory_order_relaxed);
			s.backend_idle += page->backend_idle.load(std::memory_order_relaxed);
			s.logins_pending += page->logins_pending.load(std::memory_order_relaxed);
		}
	}
	if (!serving)
		return;
	s.workers_configured = pool_.size();
	const std::vector<ClusterConfig> &clusters = config_.options.clusters;
	for (const ClusterConfig &cluster : clusters)
		for (const ClusterNodeConfig &node : cluster.nodes)
			/* A node with no traffic yet still gets its server_* series. */
			s.counters.servers.try_emplace(node.name);
	for (const NodeStateMessage &state : monitor.known_states()) {
		if (state.cluster_index >= clusters.size() || state.node_index >= clusters[state.cluster_index].nodes.size())
			continue;
		s.nodes.push_back({clusters[state.cluster_index].nodes[state.node_index].name, state.state});
	}
}

} // namespace myproxy
