// The cluster monitor (see cluster_monitor.hpp).  One Node per monitored node and per backend whose
// greeting is only read: a check is a NodeCheck (without a user: the greeting alone) carried by a
// BackendLink (common/: the connect, TLS with the cluster's context and verification, the same road
// as a worker's backend login), one io source and one timeout timer; between checks only the
// interval timer exists.
#include "master/cluster_monitor.hpp"

#include "common/backend_link.hpp"
#include "common/event_source.hpp"
#include "common/log.hpp"
#include "common/node_check.hpp"

#include <systemd/sd-event.h>

#include <memory>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace myproxy {

struct ClusterMonitor::Node {
	ClusterMonitor *monitor;
	std::uint32_t cluster_index;
	std::uint32_t node_index;
	/* nullptr for an address named outside clusters. */
	const ClusterConfig *cluster;
	SocketAddress address;
	/* "10.0.0.1:3306", for log lines. */
	std::string name;
	/* A node of a cluster with monitoring: logs in, has a state, NODE_STATE.  Otherwise only the
	 * greeting is read. */
	bool monitored = false;
	NodeState state = NodeState::unknown;
	/* What its last usable greeting offered (kept while it is down: servers rarely change). */
	std::optional<BackendOffer> offer;
	/* Greeting reads that failed in a row (the retry backs off); the first one is logged. */
	unsigned probe_failures = 0;

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
	void learn_offer() noexcept;
	void report_state(NodeState result, const std::string &detail) noexcept;
	void note_probe(NodeState result, const std::string &detail) noexcept;
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
		BackendLinkTls tls;
		if (monitored) {
			check = std::make_unique<NodeCheck>(cluster->user, cluster->password, cluster->ssl);
			tls.context = cluster->ssl_context;
			tls.verify = cluster->ssl_verify;
			/* Without ssl_server_name the certificate must name the node's IP address, as for
			 * the worker's sessions. */
			tls.server_name = cluster->ssl_server_name;
		} else {
			/* No user: the greeting alone, nothing is ever written (not even for TLS). */
			check = std::make_unique<NodeCheck>(std::string_view(), std::string_view(), false);
		}
		link = std::make_unique<BackendLink>(*check, std::move(tls));
	} catch (const std::bad_alloc &) {
		finish(NodeState::dead, "out of memory");
		return;
	}
	if (link->connect(address) == BackendLink::Event::FAILED) {
		link_failed();
		return;
	}
	int r = sd_event_add_io(event, io.out(), link->fd(), link->poll_events(), on_io, this);
	const std::uint64_t timeout_usec = monitored ? cluster->check_timeout_usec : probe_timeout_usec;
	if (r >= 0)
		r = sd_event_add_time(event, timeout.out(), CLOCK_MONOTONIC, started_usec + timeout_usec, 1000,
				      on_timeout, this);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "backend %s: sd-event", name.c_str());
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
	learn_offer();
	end_check();
	if (monitored)
		report_state(result, detail);
	else
		note_probe(result, detail);
	schedule_next();
}

/* The greeting the check read (if any, usable or not), whatever became of the rest of the check. */
void ClusterMonitor::Node::learn_offer() noexcept
{
	if (!check)
		return;
	const std::optional<BackendOffer> &seen = check->offer();
	if (!seen) {
		if (!check->offer_problem().empty())
			log_warning("backend %s: greeting ignored: %s", name.c_str(), check->offer_problem().c_str());
		return;
	}
	if (offer == seen)
		return;
	try {
		offer = seen;
	} catch (const std::bad_alloc &) {
		return;
	}
	log_info("backend %s offers %s (capabilities 0x%llx, collation %u)", name.c_str(), offer->server_version.c_str(),
		 static_cast<unsigned long long>(offer->capabilities), offer->collation);
	monitor->offers_changed();
}

void ClusterMonitor::Node::report_state(NodeState result, const std::string &detail) noexcept
{
	if (result == state)
		return;
	const bool bad = !node_state_available(result);
	log_message(bad ? LogLevel::warning : LogLevel::info, nullptr, "cluster %u (%s) node %s: %s -> %s (%s)",
		    cluster_index, cluster->origin.c_str(), name.c_str(), node_state_name(state), node_state_name(result),
		    detail.c_str());
	state = result;
	NodeStateMessage message;
	message.cluster_index = cluster_index;
	message.node_index = node_index;
	message.state = result;
	try {
		monitor->broadcast(message);
	} catch (const std::exception &e) {
		log_error("cluster %u node %s: broadcast: %s", cluster_index, name.c_str(), e.what());
	}
}

/* A greeting read: the first failure in a row is worth a line (a backend down at startup, or one
 * that sends garbage), the retries are not. */
void ClusterMonitor::Node::note_probe(NodeState result, const std::string &detail) noexcept
{
	if (node_state_available(result)) {
		probe_failures = 0;
		return;
	}
	if (probe_failures++ == 0)
		log_warning("backend %s: cannot read its greeting (%s); retrying", name.c_str(), detail.c_str());
}

void ClusterMonitor::Node::schedule_next() noexcept
{
	/* From the start of the check: the interval is a period, not a pause after each check. */
	std::uint64_t now = 0;
	sd_event_now(monitor->event, CLOCK_MONOTONIC, &now);
	std::uint64_t interval = probe_refresh_usec;
	if (monitored)
		interval = cluster->check_interval_usec;
	else if (probe_failures > 0)
		interval = std::min(probe_retry_max_usec, probe_retry_first_usec << std::min(probe_failures - 1, 6u));
	std::uint64_t when = started_usec + interval;
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
		log_errno(LogLevel::error, -r, nullptr, "backend %s: cannot schedule the next check; "
			  "monitoring of this node stops", name.c_str());
}

ClusterMonitor::ClusterMonitor(sd_event *event_, const std::vector<ClusterConfig> &clusters_,
			       const std::vector<SocketAddress> &backends, Broadcast broadcast_)
	: event(event_), clusters(clusters_), broadcast(std::move(broadcast_))
{
	for (std::size_t c = 0; c < clusters.size(); ++c)
		for (std::size_t n = 0; n < clusters[c].nodes.size(); ++n)
			add(&clusters[c], std::uint32_t(c), std::uint32_t(n), clusters[c].nodes[n].address,
			    clusters[c].nodes[n].name);
	for (const SocketAddress &address : backends) {
		const bool known = std::any_of(nodes.begin(), nodes.end(),
					       [&](const auto &node) { return node->address == address; });
		if (!known)
			add(nullptr, 0, 0, address, to_string(address));
	}
}

void ClusterMonitor::add(const ClusterConfig *cluster, std::uint32_t cluster_index, std::uint32_t node_index,
			 const SocketAddress &address, std::string name)
{
	auto node = std::make_unique<Node>();
	node->monitor = this;
	node->cluster_index = cluster_index;
	node->node_index = node_index;
	node->cluster = cluster;
	node->address = address;
	node->name = std::move(name);
	node->monitored = cluster != nullptr && cluster->monitoring;
	nodes.push_back(std::move(node));
}

void ClusterMonitor::offers_changed() noexcept
{
	try {
		std::vector<BackendOffer> offers;
		for (const auto &node : nodes)
			if (node->offer)
				offers.push_back(*node->offer);
		BackendOffer next = announce(offers);
		if (announced == next)
			return;
		announced = std::move(next);
		log_info("greetings announce %s (capabilities 0x%llx, collation %u) from %zu of %zu backends",
			 announced->server_version.c_str(), static_cast<unsigned long long>(announced->capabilities),
			 announced->collation, offers.size(), nodes.size());
		broadcast(BackendOfferMessage{announced->capabilities, announced->collation, announced->server_version});
	} catch (const std::exception &e) {
		log_error("backend offers: %s", e.what());
	}
}

ClusterMonitor::~ClusterMonitor()
{
	stop();
}

int ClusterMonitor::start()
{
	const auto monitored = std::count_if(nodes.begin(), nodes.end(), [](const auto &node) { return node->monitored; });
	if (monitored > 0)
		log_info("monitoring %zu cluster nodes", std::size_t(monitored));
	if (std::size_t(monitored) < nodes.size())
		log_info("reading the greetings of %zu more backends", nodes.size() - std::size_t(monitored));
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
		if (!n->monitored || n->cluster_index != cluster || n->node_index != node)
			continue;
		if (n->io)
			return; /* a check is in flight already */
		log_info("cluster %u node %s: suspect (read_timeout in a worker); checking it now", cluster,
			 n->name.c_str());
		n->start_check();
		return;
	}
	log_debug("NODE_SUSPECT for cluster %u node %u, which is not monitored", cluster, node);
}

std::vector<NodeStateMessage> ClusterMonitor::known_states() const
{
	std::vector<NodeStateMessage> states;
	for (const auto &node : nodes)
		if (node->monitored && node->state != NodeState::unknown)
			states.push_back({node->cluster_index, node->node_index, node->state});
	return states;
}

std::vector<ChannelMessage> ClusterMonitor::known_messages() const
{
	std::vector<ChannelMessage> messages;
	for (const NodeStateMessage &state : known_states())
		messages.emplace_back(state);
	if (announced)
		messages.emplace_back(
			BackendOfferMessage{announced->capabilities, announced->collation, announced->server_version});
	return messages;
}

} // namespace myproxy
