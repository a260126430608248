// Opening and serving the operator interfaces (see operator_interfaces.hpp).
#include "master/operator_interfaces.hpp"

#include "common/log.hpp"
#include "common/config.hpp"
#include "common/exit_status.hpp"
#include "master/cluster_monitor.hpp"
#include "master/listener.hpp"
#include "master/metrics.hpp"
#include "master/worker_pool.hpp"

#include <unistd.h>

namespace myproxy {

OperatorInterfaces::OperatorInterfaces(sd_event *event_, WorkerPool &pool_, const ClusterMonitor &monitor_,
				       const std::vector<ClusterConfig> &clusters_, const MasterCounts &counts_)
	: event(event_), pool(pool_), monitor(monitor_), clusters(clusters_), counts(counts_)
{
}

OperatorInterfaces::~OperatorInterfaces()
{
	stop();
}

int OperatorInterfaces::open(const std::vector<PrometheusListenerConfig> &prometheus,
			     const std::vector<ControlListenerConfig> &control)
{
	for (const PrometheusListenerConfig &config : prometheus) {
		std::vector<Listener> opened;
		if (auto error = open_address_listener(config.address, 0, opened)) {
			log_error("prometheus_listen: %s", error->message.c_str());
			return error->exit_code;
		}
		Listener &listener = opened.front();
		if (!listener.socket_path.empty())
			exporter_paths.push_back(listener.socket_path);
		auto server = std::make_unique<HttpServer>(event, std::move(listener.fd), config.description,
							   [this] { return render(); });
		if (server->start() < 0)
			return exit_os_error;
		exporters.push_back(std::move(server));
		log_info("prometheus exporter on %s", config.description.c_str());
	}
	for (const ControlListenerConfig &config : control) {
		UniqueFd fd;
		if (auto problem = open_control_socket(config, fd)) {
			log_error("control_listen: %s", problem->c_str());
			return exit_os_error;
		}
		ControlActions actions;
		actions.disconnect_account = [this](std::string_view account) {
			DisconnectAccountMessage message;
			message.account = account;
			pool.broadcast(message);
		};
		auto server = std::make_unique<ControlServer>(event, std::move(fd), config, std::move(actions));
		if (server->start() < 0)
			return exit_os_error;
		controls.push_back(std::move(server));
		log_info("control listener on %s", config.description.c_str());
	}
	return 0;
}

void OperatorInterfaces::stop() noexcept
{
	for (auto &exporter : exporters)
		exporter->stop();
	for (const std::string &path : exporter_paths)
		unlink(path.c_str());
	exporter_paths.clear();
	for (auto &control : controls)
		control->stop();
}

std::string OperatorInterfaces::render() const
{
	MetricsSnapshot s;
	s.counters = pool.ended_workers_counters();
	for (unsigned i = 0; i < pool.size(); ++i) {
		const WorkerStatus status = pool.status(i);
		s.workers_alive += status.pid != 0;
		s.workers_ready += status.ready;
		s.worker_restarts += status.starts > 1 ? status.starts - 1 : 0;
		if (const WorkerCounters *page = pool.live_counters(i)) {
			add_worker_counters(s.counters, *page);
			s.sessions_open += page->sessions_open.load(std::memory_order_relaxed);
			s.logins_pending += page->logins_pending.load(std::memory_order_relaxed);
		}
	}
	s.workers_configured = pool.size();
	s.worker_crashes = pool.crash_count();
	s.connections_accepted = counts.accepted;
	s.connections_rejected_by_master = counts.not_handed_over + counts.crash_penalty_refusals;
	s.crash_penalty_refusals = counts.crash_penalty_refusals;
	for (const auto &control : controls) {
		s.control_datagrams += control->accepted();
		s.control_datagrams_dropped += control->dropped();
	}
	for (const ClusterConfig &cluster : clusters)
		for (const ClusterNodeConfig &node : cluster.nodes)
			/* A node with no traffic yet still gets its server_* series. */
			s.counters.servers.try_emplace(node.name);
	for (const NodeStateMessage &state : monitor.known_states()) {
		if (state.cluster_index >= clusters.size() || state.node_index >= clusters[state.cluster_index].nodes.size())
			continue;
		const std::string &name = clusters[state.cluster_index].nodes[state.node_index].name;
		s.nodes.push_back({name, state.state});
	}
	return render_metrics(s);
}

} // namespace myproxy
