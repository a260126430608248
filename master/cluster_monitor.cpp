// The cluster monitor (see cluster_monitor.hpp).  One Node per monitored node: a check is a NodeCheck
// carried by a BackendLink (common/: the connect, TLS with the cluster's context and verification,
// the same road as a worker's backend login), one io source and one timeout timer; between checks
// only the interval timer exists.
#include "master/cluster_monitor.hpp"

#include "common/backend_link.hpp"
#include "common/event_source.hpp"
#include "common/log.hpp"
#include "common/node_check.hpp"

#include <systemd/sd-event.h>

#include <memory>

#include <cerrno>
#include <cstring>
#include <string>

namespace myproxy {

struct ClusterMonitor::Node {
	ClusterMonitor *monitor;
	std::uint32_t cluster_index;
	std::uint32_t node_index;
	const ClusterConfig *cluster;
	const ClusterNodeConfig *node;
	NodeState state = NodeState::unknown;

	/* The check in flight, if any: the conversation, the link that carries it, its io source and
	 * timeout timer. */
	std::unique_ptr<NodeCheck> check;
	std::unique_ptr<BackendLink> link;
	EventSource io;
	EventSource timeout;
	std::uint64_t started_usec = 0;

	EventSource interval_timer;

	~Node() { stop(); }

	void stop() noexcept
	{
		end_check();
		interval_timer.reset();
	}

	void end_check() noexcept
	{
		io.reset();
		timeout.reset();
		/* The link first: it closes the socket (close_notify, best effort). */
		link.reset();
		check.reset();
	}

	void start_check() noexcept;
	void finish(NodeState result, std::string detail) noexcept;
	void schedule_next() noexcept;
	void io_ready(std::uint32_t revents) noexcept;
	void link_event(BackendLink::Event event) noexcept;
	void link_failed() noexcept;

	static int on_io(sd_event_source *, int, std::uint32_t revents, void *userdata)
	{
		static_cast<Node *>(userdata)->io_ready(revents);
		return 0;
	}
	static int on_timeout(sd_event_source *, std::uint64_t, void *userdata)
	{
		auto &node = *static_cast<Node *>(userdata);
		node.finish(NodeState::dead, node.link && node.link->connecting() ? "connect timed out" : "no answer in time");
		return 0;
	}
	static int on_interval(sd_event_source *, std::uint64_t, void *userdata)
	{
		static_cast<Node *>(userdata)->start_check();
		return 0;
	}
};

void ClusterMonitor::Node::start_check() noexcept
{
	end_check();
	sd_event *event = monitor->event;
	sd_event_now(event, CLOCK_MONOTONIC, &started_usec);
	try {
		check = std::make_unique<NodeCheck>(cluster->user, cluster->password, cluster->ssl);
		BackendLinkTls tls;
		tls.context = cluster->ssl_context;
		tls.verify = cluster->ssl_verify;
		/* Without ssl_server_name the certificate must name the node's IP address, as for the
		 * worker's sessions. */
		tls.server_name = cluster->ssl_server_name;
		link = std::make_unique<BackendLink>(*check, std::move(tls));
	} catch (const std::bad_alloc &) {
		finish(NodeState::dead, "out of memory");
		return;
	}
	if (link->connect(node->address) == BackendLink::Event::FAILED) {
		link_failed();
		return;
	}
	int r = sd_event_add_io(event, io.out(), link->fd(), link->poll_events(), on_io, this);
	if (r >= 0)
		r = sd_event_add_time(event, timeout.out(), CLOCK_MONOTONIC, started_usec + cluster->check_timeout_usec,
				      1000, on_timeout, this);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "cluster %u node %s: sd-event", cluster_index,
			  node->name.c_str());
		end_check();
		schedule_next();
	}
}

void ClusterMonitor::Node::io_ready(std::uint32_t revents) noexcept
{
	link_event(link->handle(revents));
}

void ClusterMonitor::Node::link_event(BackendLink::Event event) noexcept
{
	switch (event) {
	case BackendLink::Event::WAITING:
	case BackendLink::Event::TLS_ESTABLISHED:
		sd_event_source_set_io_events(io.get(), link->poll_events());
		return;
	case BackendLink::Event::DONE:
		finish(check->state(), check->detail());
		return;
	case BackendLink::Event::FAILED:
		link_failed();
		return;
	}
}

/* The connection ended before the check did: dead, with the call that failed as the detail. */
void ClusterMonitor::Node::link_failed() noexcept
{
	const BackendLinkFailure &failure = link->failure();
	const char *call = nullptr;
	switch (failure.kind) {
	case BackendLinkFailure::Kind::CONNECT:
		call = "connect()";
		break;
	case BackendLinkFailure::Kind::SEND:
		call = "send()";
		break;
	case BackendLinkFailure::Kind::RECEIVE:
		call = "recv()";
		break;
	case BackendLinkFailure::Kind::CLOSED:
		finish(NodeState::dead, "the node closed the connection");
		return;
	case BackendLinkFailure::Kind::OUT_OF_MEMORY:
		finish(NodeState::dead, "out of memory");
		return;
	case BackendLinkFailure::Kind::TLS_START:
	case BackendLinkFailure::Kind::TLS_HANDSHAKE:
		break;
	}
	std::string detail;
	try {
		if (call == nullptr || failure.error == tls_errno)
			detail = failure.reason;
		else
			detail = std::string(call) + ": " + std::strerror(failure.error);
	} catch (const std::bad_alloc &) {
	}
	finish(NodeState::dead, std::move(detail));
}

void ClusterMonitor::Node::finish(NodeState result, std::string detail) noexcept
{
	end_check();
	if (result != state) {
		const bool bad = !node_state_available(result);
		log_message(bad ? LogLevel::warning : LogLevel::info, nullptr, "cluster %u (%s) node %s: %s -> %s (%s)",
			    cluster_index, cluster->origin.c_str(), node->name.c_str(), node_state_name(state),
			    node_state_name(result), detail.c_str());
		state = result;
		NodeStateMessage message;
		message.cluster_index = cluster_index;
		message.node_index = node_index;
		message.state = result;
		try {
			monitor->broadcast(message);
		} catch (const std::exception &e) {
			log_error("cluster %u node %s: broadcast: %s", cluster_index, node->name.c_str(), e.what());
		}
	}
	schedule_next();
}

void ClusterMonitor::Node::schedule_next() noexcept
{
	/* From the start of the check: the interval is a period, not a pause after each check. */
	std::uint64_t now = 0;
	sd_event_now(monitor->event, CLOCK_MONOTONIC, &now);
	std::uint64_t when = started_usec + cluster->check_interval_usec;
	if (when < now)
		when = now;
	int r;
	if (!interval_timer) {
		r = sd_event_add_time(monitor->event, interval_timer.out(), CLOCK_MONOTONIC, when, 1000, on_interval, this);
	} else {
		r = sd_event_source_set_time(interval_timer.get(), when);
		if (r >= 0)
			r = sd_event_source_set_enabled(interval_timer.get(), SD_EVENT_ONESHOT);
	}
	if (r < 0)
		log_errno(LogLevel::error, -r, nullptr, "cluster %u node %s: cannot schedule the next check; "
			  "monitoring of this node stops", cluster_index, node->name.c_str());
}

ClusterMonitor::ClusterMonitor(sd_event *event_, const std::vector<ClusterConfig> &clusters_, Broadcast broadcast_)
	: event(event_), clusters(clusters_), broadcast(std::move(broadcast_))
{
	for (std::size_t c = 0; c < clusters.size(); ++c) {
		if (!clusters[c].monitoring)
			continue;
		for (std::size_t n = 0; n < clusters[c].nodes.size(); ++n) {
			auto node = std::make_unique<Node>();
			node->monitor = this;
			node->cluster_index = static_cast<std::uint32_t>(c);
			node->node_index = static_cast<std::uint32_t>(n);
			node->cluster = &clusters[c];
			node->node = &clusters[c].nodes[n];
			nodes.push_back(std::move(node));
		}
	}
}

ClusterMonitor::~ClusterMonitor()
{
	stop();
}

int ClusterMonitor::start()
{
	if (!nodes.empty())
		log_info("monitoring %zu cluster nodes", nodes.size());
	for (auto &node : nodes)
		node->start_check();
	return 0;
}

void ClusterMonitor::stop() noexcept
{
	stopped = true;
	for (auto &node : nodes)
		node->stop();
}

void ClusterMonitor::check_now(std::uint32_t cluster, std::uint32_t node) noexcept
{
	if (stopped)
		return;
	for (auto &n : nodes) {
		if (n->cluster_index != cluster || n->node_index != node)
			continue;
		if (n->io)
			return; /* a check is in flight already */
		log_info("cluster %u node %s: suspect (read_timeout in a worker); checking it now", cluster,
			 n->node->name.c_str());
		n->start_check();
		return;
	}
	log_debug("NODE_SUSPECT for cluster %u node %u, which is not monitored", cluster, node);
}

std::vector<NodeStateMessage> ClusterMonitor::known_states() const
{
	std::vector<NodeStateMessage> states;
	for (const auto &node : nodes)
		if (node->state != NodeState::unknown)
			states.push_back({node->cluster_index, node->node_index, node->state});
	return states;
}

} // namespace myproxy
