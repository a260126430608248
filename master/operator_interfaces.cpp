// Opening and serving the operator interfaces (see operator_interfaces.hpp).
#include "master/operator_interfaces.hpp"

#include "common/log.hpp"
#include "common/config.hpp"
#include "common/exit_status.hpp"
#include "master/listener.hpp"
#include "master/metrics.hpp"

#include <unistd.h>

namespace myproxy {

OperatorInterfaces::OperatorInterfaces(sd_event *event_, OperatorSources sources_, const MasterCounts &counts_)
	: event(event_), sources(std::move(sources_)), counts(counts_)
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
			sources.broadcast(message);
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
	sources.add_worker_metrics(s);
	s.connections_accepted = counts.accepted;
	s.connections_rejected_by_master = counts.not_handed_over + counts.crash_penalty_refusals;
	s.crash_penalty_refusals = counts.crash_penalty_refusals;
	for (const auto &control : controls) {
		s.control_datagrams += control->accepted();
		s.control_datagrams_dropped += control->dropped();
	}
	return render_metrics(s);
}

} // namespace myproxy
