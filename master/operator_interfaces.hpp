// The master's operator interfaces: the Prometheus exporters (prometheus_listen) and the control
// listeners (control_listen), opened at startup and served on the master's loop.  Gathers one
// metrics snapshot per scrape from the worker workers
// (live pages and ended workers' totals, of every generation), the cluster monitor and the master's own counts; turns DISCONNECT_DATABASE into DISCONNECT_ACCOUNT
// for every worker.  Never blocks the master; a failing scrape or datagram affects only itself.
#pragma once

#include "common/channel_protocol.hpp"
#include "common/operator_config.hpp"
#include "master/control_server.hpp"
#include "master/http_server.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

typedef struct sd_event sd_event;

namespace myproxy {

struct MetricsSnapshot;

/* Where the interfaces get the workers' side (from every generation of workers, master.cpp). */
struct OperatorSources {
	/* Adds the workers' counters, gauges and node states to a scrape's snapshot. */
	std::function<void(MetricsSnapshot &)> add_worker_metrics;
	/* Sends @message to every worker (DISCONNECT_ACCOUNT). */
	std::function<void(const ChannelMessage &)> broadcast;
};

/* Counts only the master keeps. */
struct MasterCounts {
	std::uint64_t accepted = 0;
	/* Refused by the master: no worker took the client. */
	std::uint64_t not_handed_over = 0;
	std::uint64_t crash_penalty_refusals = 0;
};

class OperatorInterfaces {
public:
	OperatorInterfaces(sd_event *event, OperatorSources sources, const MasterCounts &counts);
	~OperatorInterfaces();

	/* Binds every configured socket and starts serving; returns 0, or an exit status after
	   logging what failed. */
	int open(const std::vector<PrometheusListenerConfig> &prometheus, const std::vector<ControlListenerConfig> &control);
	/* Shutdown: closes the sockets (control socket files are removed). */
	void stop() noexcept;

	/* The /metrics text now. */
	std::string render() const;

private:
	sd_event *event;
	OperatorSources sources;
	const MasterCounts &counts;
	std::vector<std::unique_ptr<HttpServer>> exporters;
	std::vector<std::unique_ptr<ControlServer>> controls;
	/* Socket files the exporters bound (removed at stop). */
	std::vector<std::string> exporter_paths;
};

} // namespace myproxy
