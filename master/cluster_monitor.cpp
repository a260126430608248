// The cluster monitor (see cluster_monitor.hpp).  One Node per monitored node: a check is a socket,
// one io source, one timeout timer and a NodeCheck; between checks only the interval timer
// exists.  The connect is done here rather than with worker/connect_socket (master/ never includes
// worker/): it is a socket() and a connect(), nothing to share.  A cluster with ssl checks over TLS
// with the worker's StreamSocket (common/) and the cluster's context and verification: the
// certificate must name ssl_server_name, or else the node's IP address.
#include "master/cluster_monitor.hpp"

#include "common/event_source.hpp"
#include "common/log.hpp"
#include "common/node_check.hpp"
#include "common/stream_socket.hpp"
#include "common/unique_fd.hpp"

#include <systemd/sd-event.h>

#include <arpa/inet.h>
#include <netinet/in.h>
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
	StreamSocket stream;
	EventSource io;
	EventSource timeout;
	std::unique_ptr<NodeCheck> check;
	std::vector<std::uint8_t> out;
	bool connecting = false;
	/* Between START_TLS and the end of the TLS handshake. */
	bool tls_handshake = false;
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
		/* close_notify (best effort) while the socket is still open. */
		stream.detach();
		fd.reset();
		check.reset();
		out.clear();
	}

	void start_check() noexcept;
	void finish(NodeState result, std::string detail) noexcept;
	void schedule_next() noexcept;
	void io_ready(std::uint32_t revents) noexcept;
	bool start_tls() noexcept;
	void continue_handshake() noexcept;
	bool handle(NodeCheckStatus status) noexcept;
	void watch(std::uint32_t wanted) noexcept;
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
		check = std::make_unique<NodeCheck>(cluster->user, cluster->password, cluster->ssl);
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
	stream.attach(s);
	connecting = true;
	tls_handshake = false;
	if (connect(s, reinterpret_cast<const sockaddr *>(&node->address.storage), node->address.length) < 0 &&
	    errno != EINPROGRESS) {
		fail("connect()", errno);
		return;
	}
	int r = sd_event_add_io(event, io.out(), s, EPOLLOUT, on_io, this);
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

/* Polls for what the stream needs to move the check on: @wanted is EPOLLIN, plus EPOLLOUT while
 * bytes wait to go out; TLS may turn either into the other. */
void ClusterMonitor::Node::watch(std::uint32_t wanted) noexcept
{
	sd_event_source_set_io_events(io.get(), tls_handshake ? stream.poll_events(0) : stream.poll_events(wanted));
}

bool ClusterMonitor::Node::flush() noexcept
{
	while (!out.empty()) {
		const ssize_t n = stream.write(out.data(), out.size());
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			if (errno == tls_errno) {
				finish(NodeState::dead, stream.tls_error());
				return false;
			}
			fail("send()", errno);
			return false;
		}
		out.erase(out.begin(), out.begin() + n);
	}
	watch(out.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT);
	return true;
}

bool ClusterMonitor::Node::start_tls() noexcept
{
	/* The SSLRequest goes out in clear before the handshake starts; it is 36 bytes, so a socket
	 * that cannot take it at once is as good as dead. */
	while (!out.empty()) {
		const ssize_t n = stream.write(out.data(), out.size());
		if (n < 0) {
			fail("send()", errno == EAGAIN ? EMSGSIZE : errno);
			return false;
		}
		out.erase(out.begin(), out.begin() + n);
	}
	std::string name = cluster->ssl_server_name;
	if (name.empty() && cluster->ssl_verify) {
		/* As the worker does: the node's own IP address (a UNIX socket gets no name check). */
		char text[INET6_ADDRSTRLEN] = "";
		const sockaddr *address = reinterpret_cast<const sockaddr *>(&node->address.storage);
		if (address->sa_family == AF_INET)
			inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in *>(address)->sin_addr, text, sizeof(text));
		else if (address->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6 *>(address)->sin6_addr, text,
				  sizeof(text));
		try {
			name = text;
		} catch (const std::bad_alloc &) {
			finish(NodeState::dead, "out of memory");
			return false;
		}
	}
	if (!stream.start_tls(cluster->ssl_context, false, nullptr, 0, name, cluster->ssl_verify)) {
		finish(NodeState::dead, stream.tls_error());
		return false;
	}
	tls_handshake = true;
	continue_handshake();
	return false;
}

void ClusterMonitor::Node::continue_handshake() noexcept
{
	const int r = stream.handshake();
	if (r < 0) {
		finish(NodeState::dead, stream.tls_error());
		return;
	}
	if (r == 0) {
		watch(0);
		return;
	}
	tls_handshake = false;
	NodeCheckStatus status;
	try {
		status = check->tls_established(out);
	} catch (const std::bad_alloc &) {
		finish(NodeState::dead, "out of memory");
		return;
	}
	if (handle(status))
		flush();
}

/* Acts on what the check said; true when the check goes on (the caller flushes). */
bool ClusterMonitor::Node::handle(NodeCheckStatus status) noexcept
{
	switch (status) {
	case NodeCheckStatus::CONTINUE:
		return true;
	case NodeCheckStatus::START_TLS:
		return start_tls();
	case NodeCheckStatus::DONE:
		break;
	}
	/* COM_QUIT, best effort: the node would see an aborted connection otherwise. */
	if (!out.empty() && (!stream.tls() || stream.secure()))
		(void)stream.write(out.data(), out.size());
	finish(check->state(), check->detail());
	return false;
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
		sd_event_source_set_io_events(io.get(), EPOLLIN);
		return;
	}
	if (tls_handshake) {
		continue_handshake();
		return;
	}
	const std::uint32_t events = stream.ready_events(revents);
	if ((events & EPOLLOUT) && !flush())
		return;
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	/* Read until the socket would block: with TLS, OpenSSL may hold decrypted bytes that epoll
	 * will not announce. */
	for (;;) {
		std::uint8_t buffer[4096];
		const ssize_t n = stream.read(buffer, sizeof(buffer));
		if (n < 0) {
			if (errno == tls_errno)
				finish(NodeState::dead, stream.tls_error());
			else if (errno != EAGAIN)
				fail("recv()", errno);
			else
				flush();
			return;
		}
		if (n == 0) {
			finish(NodeState::dead, "the node closed the connection");
			return;
		}
		NodeCheckStatus status;
		try {
			status = check->receive(ByteSpan(buffer, std::size_t(n)), out);
		} catch (const std::bad_alloc &) {
			finish(NodeState::dead, "out of memory");
			return;
		}
		if (!handle(status))
			return;
	}
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
