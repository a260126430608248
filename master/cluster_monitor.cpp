// The cluster monitor (see cluster_monitor.hpp).  One Node per monitored node: a check is a socket,
// one io source, one timeout timer and a NodeCheck; between checks only the interval timer
// exists.  The connect is done here rather than with worker/connect_socket (master/ never includes
// worker/): it is a socket() and a connect(), nothing to share.
#include "master/cluster_monitor.hpp"

#include "common/log.hpp"
#include "common/node_check.hpp"
#include "common/unique_fd.hpp"

#include <systemd/sd-event.h>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

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

	/* The check in flight, if any. */
	UniqueFd fd;
	sd_event_source *io = nullptr;
	sd_event_source *timeout = nullptr;
	std::unique_ptr<NodeCheck> check;
	std::vector<std::uint8_t> out;
	bool connecting = false;
	std::uint64_t started_usec = 0;

	sd_event_source *interval_timer = nullptr;

	~Node() { stop(); }

	void stop() noexcept
	{
		end_check();
		interval_timer = sd_event_source_disable_unref(interval_timer);
	}

	void end_check() noexcept
	{
		io = sd_event_source_disable_unref(io);
		timeout = sd_event_source_disable_unref(timeout);
		fd.reset();
		check.reset();
		out.clear();
	}

	void start_check() noexcept;
	void finish(NodeState result, std::string detail) noexcept;
	void schedule_next() noexcept;
	void io_ready(std::uint32_t revents) noexcept;
	bool flush() noexcept;
	void fail(const char *what, int error) noexcept;

	static int on_io(sd_event_source *, int, std::uint32_t revents, void *userdata)
	{
		static_cast<Node *>(userdata)->io_ready(revents);
		return 0;
	}
	static int on_timeout(sd_event_source *, std::uint64_t, void *userdata)
	{
		auto &node = *static_cast<Node *>(userdata);
		node.finish(NodeState::dead, node.connecting ? "connect timed out" : "no answer in time");
		return 0;
	}
	static int on_interval(sd_event_source *, std::uint64_t, void *userdata)
	{
		static_cast<Node *>(userdata)->start_check();
		return 0;
	}
};

void ClusterMonitor::Node::fail(const char *what, int error) noexcept
{
	char detail[128];
	std::snprintf(detail, sizeof(detail), "%s: %s", what, std::strerror(error));
	finish(NodeState::dead, detail);
}

void ClusterMonitor::Node::start_check() noexcept
{
	end_check();
	sd_event *event = monitor->event;
	sd_event_now(event, CLOCK_MONOTONIC, &started_usec);
	try {
		check = std::make_unique<NodeCheck>(cluster->user, cluster->password);
	} catch (const std::bad_alloc &) {
		finish(NodeState::dead, "out of memory");
		return;
	}
	const int s = socket(node->address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0) {
		fail("socket()", errno);
		return;
	}
	fd = UniqueFd(s);
	connecting = true;
	if (connect(s, reinterpret_cast<const sockaddr *>(&node->address.storage), node->address.length) < 0 &&
	    errno != EINPROGRESS) {
		fail("connect()", errno);
		return;
	}
	int r = sd_event_add_io(event, &io, s, EPOLLOUT, on_io, this);
	if (r >= 0)
		r = sd_event_add_time(event, &timeout, CLOCK_MONOTONIC, started_usec + cluster->check_timeout_usec,
				      1000, on_timeout, this);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "cluster %u node %s: sd-event", cluster_index,
			  node->name.c_str());
		end_check();
		schedule_next();
	}
}

bool ClusterMonitor::Node::flush() noexcept
{
	while (!out.empty()) {
		const ssize_t n = send(fd.get(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			fail("send()", errno);
			return false;
		}
		out.erase(out.begin(), out.begin() + n);
	}
	sd_event_source_set_io_events(io, out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT);
	return true;
}

void ClusterMonitor::Node::io_ready(std::uint32_t revents) noexcept
{
	if (connecting) {
		int error = 0;
		socklen_t length = sizeof(error);
		if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) < 0)
			error = errno;
		if (error != 0) {
			fail("connect()", error);
			return;
		}
		connecting = false;
		sd_event_source_set_io_events(io, EPOLLIN);
		return;
	}
	if ((revents & EPOLLOUT) && !flush())
		return;
	if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	std::uint8_t buffer[4096];
	const ssize_t n = recv(fd.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			fail("recv()", errno);
		return;
	}
	if (n == 0) {
		finish(NodeState::dead, "the node closed the connection");
		return;
	}
	try {
		const NodeCheckStatus status = check->receive(ByteSpan(buffer, std::size_t(n)), out);
		if (status == NodeCheckStatus::DONE) {
			/* COM_QUIT, best effort: the node would see an aborted connection otherwise. */
			if (!out.empty())
				(void)send(fd.get(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
			finish(check->state(), check->detail());
			return;
		}
	} catch (const std::bad_alloc &) {
		finish(NodeState::dead, "out of memory");
		return;
	}
	flush();
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
	if (interval_timer == nullptr) {
		r = sd_event_add_time(monitor->event, &interval_timer, CLOCK_MONOTONIC, when, 1000, on_interval, this);
	} else {
		r = sd_event_source_set_time(interval_timer, when);
		if (r >= 0)
			r = sd_event_source_set_enabled(interval_timer, SD_EVENT_ONESHOT);
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
	for (auto &node : nodes)
		node->stop();
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
