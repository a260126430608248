// One generation of workers (master side): the configuration one load of config.lua gave, the
// workers forked with it (they inherit its Lua state) and the cluster monitor that follows its
// clusters (cluster and node indexes mean something only within one generation).  SIGHUP makes a
// new generation; the one it replaces retires: it gets no new client and its workers finish their
// sessions, bounded by reload_drain_timeout, then drain_timeout.  Never runs Lua, owns no listener.
#pragma once

#include "common/config.hpp"
#include "common/event_source.hpp"
#include "common/operator_config.hpp"
#include "master/cluster_monitor.hpp"
#include "master/worker_pool.hpp"

#include <cstdint>
#include <functional>
#include <vector>

typedef struct sd_event sd_event;

namespace myproxy {

struct MetricsSnapshot;

struct MasterOptions {
	/* How long draining workers may keep connections after SIGTERM (sent with DRAIN). */
	std::uint64_t drain_timeout_usec = 10000000;
	/* How long the workers a reload replaced may finish their sessions before they drain. */
	std::uint64_t reload_drain_timeout_usec = reload_drain_timeout_default_usec;
	/* Extra time the master waits for draining workers to exit before it SIGKILLs them. */
	std::uint64_t drain_grace_usec = 1000000;
	/* After accept() ran out of fds (EMFILE/ENFILE), the listener rests this long. */
	std::uint64_t accept_pause_usec = 100000;
	/* How long a uid is refused after a worker crashed serving it (crash_penalty); 0: never. */
	std::uint64_t crash_penalty_usec = 90000000;
	/* Open sessions one uid may have over all workers (max_sessions_per_uid); more get ERR 1040. */
	std::uint64_t max_sessions_per_uid = 16384;
	WorkerPoolOptions pool;
	/* config.lua's mysql_cluster()s; the monitored ones are checked by the master. */
	std::vector<ClusterConfig> clusters;
	/* config.lua's other backends (mysql_resolve() while it loaded): only their greetings are read. */
	std::vector<SocketAddress> backend_addresses;
	/* config.lua's prometheus_listen() and control_listen() (master/operator_interfaces); opened
	   at startup only: a reload keeps those of the first configuration. */
	std::vector<PrometheusListenerConfig> prometheus_listeners;
	std::vector<ControlListenerConfig> control_listeners;
};

/* What one load of config.lua gives the master. */
struct MasterConfig {
	std::vector<ListenerConfig> listeners;
	unsigned worker_processes = 1;
	/* Runs in every worker forked for this configuration; it holds the loaded Lua state. */
	WorkerEntry entry;
	MasterOptions options;
};

class Generation {
public:
	/* @number: 1 for the configuration loaded at startup, then one more per reload that loaded.
	   Its workers are numbered from @first_index on. */
	Generation(sd_event *event, unsigned number, unsigned first_index, MasterConfig config);
	~Generation();
	Generation(const Generation &) = delete;
	Generation &operator=(const Generation &) = delete;

	/* Forks the workers and starts the monitor; 0 or an exit status (logged). */
	int start();

	/* A newer generation serves now: see WorkerPool::retire(); after reload_drain_timeout the
	   workers still busy get DRAIN(drain_timeout), and SIGKILL after its grace. */
	void retire();
	/* Shutdown (SIGTERM): DRAIN(drain_timeout) to every worker, the monitor stops. */
	void drain();
	/* Its workers all exited after retire() or drain(). */
	bool finished() const noexcept { return ended; }

	/* The worker part of a /metrics snapshot: counters always; gauges of the workers, node states
	   and the configured count only for the @serving generation. */
	void add_metrics(MetricsSnapshot &snapshot, bool serving) const;

	unsigned number() const noexcept { return number_; }
	/* Whether a callback of listener @config_index can read client.cgroup (ListenerConfig::
	   reads_client_cgroup): the master reads the cgroup only then. */
	bool reads_client_cgroup(unsigned config_index) const noexcept;
	const MasterConfig &config() const noexcept { return config_; }
	WorkerPool &pool() noexcept { return pool_; }
	const WorkerPool &pool() const noexcept { return pool_; }

	/* Called once when finished() became true (from the pool's callback: do not destroy the
	   generation from within it). */
	void set_on_finished(std::function<void()> callback) { on_finished = std::move(callback); }

private:
	sd_event *event;
	unsigned number_;
	MasterConfig config_;
	WorkerPool pool_;
	ClusterMonitor monitor;
	EventSource limit_timer;
	EventSource kill_timer;
	bool ended = false;
	std::function<void()> on_finished;

	void arm(EventSource &timer, std::uint64_t usec, int (*callback)(sd_event_source *, std::uint64_t, void *));
	static int on_limit(sd_event_source *, std::uint64_t, void *userdata);
	static int on_kill(sd_event_source *, std::uint64_t, void *userdata);
};

} // namespace myproxy
