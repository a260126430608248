// The master's event loop (master side only).  The sd-event loop is created before the first
// fork: workers are respawned while it runs anyway, so the children always inherit its epoll and
// signalfd and always close them (close_range in the pool) - one path, exercised from the start.
// Signals arrive only through sd-event signal sources (blocked with sigprocmask first).  Clients
// are accepted only while some worker is ready; until then they wait in the kernel's backlog.
#include "master.hpp"

#include "common/config.hpp"
#include "common/err_packet.hpp"
#include "common/event_source.hpp"
#include "common/exit_status.hpp"
#include "common/fd_limit.hpp"
#include "common/log.hpp"
#include "common/mysql_errors.hpp"
#include "common/mysql_packet.hpp"
#include "common/refusal.hpp"
#include "master/cluster_monitor.hpp"
#include "master/crash_penalty.hpp"
#include "master/listener.hpp"
#include "master/name_resolver.hpp"
#include "master/operator_interfaces.hpp"
#include "master/peer_info.hpp"

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace myproxy {

namespace {

/* The most clients accepted per wake-up of one listener; the rest wait for the next iteration,
   so the worker channels and the other listeners get their turn. */
constexpr unsigned accept_batch = 64;

/* A refused uid gets one log line per this interval, with the count. */
constexpr std::uint64_t refusal_log_interval_usec = 10'000'000;

constexpr int handled_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};

/* A closed stdin/stdout/stderr would make the next socket fd 0-2, which the worker setup
   (channel dup'ed to 3, everything above closed) and the log writes must never meet. */
void ensure_standard_fds() noexcept
{
	for (int fd = 0; fd <= 2; ++fd) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		const int null_fd = open("/dev/null", O_RDWR | O_NOCTTY);
		if (null_fd >= 0 && null_fd != fd)
			close(null_fd);
	}
}

std::uint64_t monotonic_now_usec() noexcept
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return std::uint64_t(ts.tv_sec) * 1000000 + std::uint64_t(ts.tv_nsec) / 1000;
}

struct EventDeleter {
	void operator()(sd_event *event) const noexcept { sd_event_unref(event); }
};

class Master;

struct ListenerSlot {
	Master *master = nullptr;
	Listener listener;
	EventSource accept_source;
	EventSource pause_timer;
	bool paused = false;
};

class Master {
public:
	Master(sd_event *event_, std::vector<Listener> listeners, unsigned worker_processes,
	       WorkerEntry entry, const MasterOptions &options_)
		: event(event_), options(options_), resolver(event_),
		  pool(event_, worker_processes, std::move(entry), options_.pool),
		  monitor(event_, options.clusters, [this](const NodeStateMessage &m) { pool.broadcast(m); }),
		  penalties(options_.crash_penalty_usec), operators(event_, pool, monitor, options.clusters, counts)
	{
		slots.reserve(listeners.size());
		for (auto &listener : listeners) {
			slots.push_back(std::make_unique<ListenerSlot>());
			slots.back()->master = this;
			slots.back()->listener = std::move(listener);
		}
	}

	~Master()
	{
		close_listeners();
	}

	Master(const Master &) = delete;
	Master &operator=(const Master &) = delete;

	/* Sources, then the workers; returns 0 or an exit status. */
	int start();

private:
	sd_event *event;
	MasterOptions options;
	std::vector<std::unique_ptr<ListenerSlot>> slots;
	/* mysql_resolve() of host names in callbacks (workers have no resolver).  Before the pool:
	   it outlives the workers' channels, whose closing it hears of. */
	NameResolver resolver;
	WorkerPool pool;
	ClusterMonitor monitor;
	std::vector<EventSource> signal_sources;
	EventSource drain_timer;
	EventSource status_timer;
	EventSource watchdog_timer;
	CrashPenalties penalties;
	/* At most one refusal line per uid and interval. */
	RefusalLog refusal_log{refusal_log_interval_usec};
	MasterCounts counts;
	OperatorInterfaces operators;
	std::uint64_t next_client_id = 0;
	std::uint64_t refused_clients = 0;
	bool stopping = false;
	bool notified_ready = false;

	void update_accepting();
	void accept_clients(ListenerSlot &slot);
	void pause_listener(ListenerSlot &slot);
	void hand_over(ListenerSlot &slot, UniqueFd client, const SocketAddress &peer);
	bool refuse_over_limits(const PeerInfo &info, int client_fd);
	void begin_shutdown(const char *why);
	void close_listeners();
	void workers_ready_changed();
	void notify_status() noexcept;
	int start_notify_timers();

	static int on_status_timer(sd_event_source *source, std::uint64_t usec, void *userdata);
	static int on_watchdog_timer(sd_event_source *source, std::uint64_t usec, void *userdata);

	static int on_accept(sd_event_source *, int, std::uint32_t, void *userdata)
	{
		auto &slot = *static_cast<ListenerSlot *>(userdata);
		slot.master->accept_clients(slot);
		return 0;
	}
	static int on_pause_end(sd_event_source *, std::uint64_t, void *userdata)
	{
		auto &slot = *static_cast<ListenerSlot *>(userdata);
		slot.paused = false;
		slot.master->update_accepting();
		return 0;
	}
	static int on_signal(sd_event_source *, const struct signalfd_siginfo *info, void *userdata);
	static int on_drain_timeout(sd_event_source *, std::uint64_t, void *userdata);
};

int Master::start()
{
	for (auto &slot : slots) {
		int r = sd_event_add_io(event, slot->accept_source.out(), slot->listener.fd.get(), EPOLLIN,
					on_accept, slot.get());
		if (r >= 0)
			r = sd_event_source_set_enabled(slot->accept_source.get(), SD_EVENT_OFF);
		if (r < 0) {
			log_errno(LogLevel::error, -r, nullptr, "sd_event_add_io(%s)",
				  slot->listener.description.c_str());
			return exit_os_error;
		}
	}
	for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
		EventSource &source = signal_sources.emplace_back();
		const int r = sd_event_add_signal(event, source.out(), sig, on_signal, this);
		if (r < 0) {
			log_errno(LogLevel::error, -r, nullptr, "sd_event_add_signal(%s)", sigabbrev_np(sig));
			return exit_os_error;
		}
	}

	pool.set_on_ready_changed([this] { workers_ready_changed(); });
	pool.set_on_node_suspect([this](std::uint32_t cluster, std::uint32_t node) { monitor.check_now(cluster, node); });
	pool.set_on_all_exited([this] { sd_event_exit(event, 0); });
	pool.set_on_crash([this](std::uint32_t uid, std::uint64_t) {
		if (penalties.duration_usec() == 0)
			return;
		penalties.penalize(uid, monotonic_now_usec());
		log_warning("crash penalty: uid=%u is refused for %llu s", unsigned(uid),
			    static_cast<unsigned long long>(penalties.duration_usec() / 1000000));
	});
	if (start_notify_timers() < 0)
		return exit_os_error;
	if (const int r = resolver.start(); r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "name resolver");
		return exit_os_error;
	}
	pool.set_on_resolve_request([this](pid_t worker, const ResolveRequestMessage &request) {
		return resolver.resolve(worker, request, [this, worker](const ResolveReplyMessage &reply) {
			pool.send_to(worker, reply);
		});
	});
	pool.set_on_channel_closed([this](pid_t worker) { resolver.forget(worker); });
	pool.set_on_worker_ready([this] {
		std::vector<ChannelMessage> first;
		for (const NodeStateMessage &state : monitor.known_states())
			first.emplace_back(state);
		return first;
	});
	if (const int status = operators.open(options.prometheus_listeners, options.control_listeners))
		return status;
	if (pool.start() < 0)
		return exit_os_error;
	if (monitor.start() < 0)
		return exit_os_error;
	log_info("started %u workers; listening on %zu sockets", pool.size(), slots.size());
	return 0;
}

void Master::workers_ready_changed()
{
	update_accepting();
	if (!notified_ready && !stopping && pool.ready_count() == pool.size()) {
		notified_ready = true;
		sd_notify(0, "READY=1");
		log_info("ready: %u workers", pool.size());
	}
	notify_status();
}

/* STATUS= for systemctl status: what runs and how busy it is.  sd_notify() is a no-op without
   NOTIFY_SOCKET, so this costs nothing outside systemd. */
void Master::notify_status() noexcept
{
	char status[192];
	std::snprintf(status, sizeof(status), "STATUS=%s%u/%u workers ready, %llu connections, %llu refused (crash penalty)",
		      stopping ? "draining; " : "", pool.ready_count(), pool.size(),
		      static_cast<unsigned long long>(pool.connection_count()),
		      static_cast<unsigned long long>(refused_clients));
	sd_notify(0, status);
}

int Master::start_notify_timers()
{
	int r = sd_event_add_time_relative(event, status_timer.out(), CLOCK_MONOTONIC, 5000000, 1000000, on_status_timer,
					   this);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "status timer");
		return r;
	}
	sd_event_source_set_enabled(status_timer.get(), SD_EVENT_ON);
	/* WATCHDOG_USEC (and WATCHDOG_PID) from systemd: ping at half the interval. */
	std::uint64_t watchdog_usec = 0;
	if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
		r = sd_event_add_time_relative(event, watchdog_timer.out(), CLOCK_MONOTONIC, watchdog_usec / 2,
					       watchdog_usec / 8, on_watchdog_timer, this);
		if (r < 0) {
			log_errno(LogLevel::error, -r, nullptr, "watchdog timer");
			return r;
		}
		sd_event_source_set_enabled(watchdog_timer.get(), SD_EVENT_ON);
		log_info("watchdog: pinging every %llu ms", static_cast<unsigned long long>(watchdog_usec / 2000));
	}
	return 0;
}

int Master::on_status_timer(sd_event_source *source, std::uint64_t usec, void *userdata)
{
	static_cast<Master *>(userdata)->notify_status();
	sd_event_source_set_time(source, usec + 5000000);
	return 0;
}

int Master::on_watchdog_timer(sd_event_source *source, std::uint64_t usec, void *userdata)
{
	(void)userdata;
	sd_notify(0, "WATCHDOG=1");
	std::uint64_t watchdog_usec = 0;
	if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0)
		sd_event_source_set_time(source, usec + watchdog_usec / 2);
	return 0;
}

void Master::update_accepting()
{
	const bool accepting = !stopping && pool.ready_count() > 0;
	for (auto &slot : slots)
		if (slot->accept_source)
			sd_event_source_set_enabled(slot->accept_source.get(),
						    accepting && !slot->paused ? SD_EVENT_ON : SD_EVENT_OFF);
}

void Master::pause_listener(ListenerSlot &slot)
{
	slot.paused = true;
	int r;
	if (slot.pause_timer) {
		r = sd_event_source_set_time_relative(slot.pause_timer.get(), options.accept_pause_usec);
		if (r >= 0)
			r = sd_event_source_set_enabled(slot.pause_timer.get(), SD_EVENT_ONESHOT);
	} else {
		r = sd_event_add_time_relative(event, slot.pause_timer.out(), CLOCK_MONOTONIC,
					       options.accept_pause_usec, 1000, on_pause_end, &slot);
	}
	if (r < 0) {
		/* Without the timer the listener would stay off for good; better to retry soon. */
		log_errno(LogLevel::error, -r, nullptr, "pause timer for %s",
			  slot.listener.description.c_str());
		slot.paused = false;
	}
	update_accepting();
}

void Master::accept_clients(ListenerSlot &slot)
{
	for (unsigned i = 0; i < accept_batch && !stopping && !slot.paused; ++i) {
		SocketAddress peer;
		peer.length = sizeof(peer.storage);
		const int fd = accept4(slot.listener.fd.get(), reinterpret_cast<sockaddr *>(&peer.storage),
				       &peer.length, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			hand_over(slot, UniqueFd(fd), peer);
			continue;
		}
		switch (errno) {
		case EAGAIN:
			return;
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
		case EPERM:
			/* This client is gone or refused; the next one may be fine. */
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			log_errno(LogLevel::warning, errno, nullptr, "accept4(%s); pausing it",
				  slot.listener.description.c_str());
			pause_listener(slot);
			return;
		default:
			log_errno(LogLevel::error, errno, nullptr, "accept4(%s); pausing it",
				  slot.listener.description.c_str());
			pause_listener(slot);
			return;
		}
	}
}

void Master::hand_over(ListenerSlot &slot, UniqueFd client, const SocketAddress &peer)
{
	++counts.accepted;
	PeerInfo info;
	if (!read_peer_info(client.get(), slot.listener.is_unix, peer, info))
		return;
	if (info.has_credentials) {
		if (const std::uint64_t left = penalties.remaining(info.uid, monotonic_now_usec())) {
			char message[160];
			std::snprintf(message, sizeof(message),
				      "myproxy: uid %u is refused for %llu more seconds: one of its connections crashed a worker",
				      unsigned(info.uid), static_cast<unsigned long long>((left + 999999) / 1000000));
			if (const std::uint64_t count = refusal_log.note(info.uid, monotonic_now_usec()))
				log_message(LogLevel::info, nullptr, "pid=%d uid=%u refused: crash penalty (%llu refusals)",
					    int(info.pid), unsigned(info.uid), static_cast<unsigned long long>(count));
			send_pre_greeting_err(client.get(), ER_HOST_IS_BLOCKED, message);
			++refused_clients;
			++counts.crash_penalty_refusals;
			return;
		}
	}
	if (refuse_over_limits(info, client.get()))
		return;
	const std::uint64_t id = ++next_client_id;
	if (log_enabled(LogLevel::debug))
		log_debug("client %llu on %s: pid=%d uid=%u cgroup=%s", static_cast<unsigned long long>(id),
			  slot.listener.description.c_str(), static_cast<int>(info.pid),
			  static_cast<unsigned>(info.uid), info.cgroup_path.c_str());
	if (!pool.send_client(info.client_info(id, slot.listener.config_index), std::move(client),
			      std::move(info.pidfd)))
		++counts.not_handed_over;
}

/* Before a client costs a worker anything: its uid's session cap (max_sessions_per_uid), and room
   in some worker's fd budget.  The master answers ERR 1040 itself, as mysqld does for
   max_connections. */
bool Master::refuse_over_limits(const PeerInfo &info, int client_fd)
{
	const char *why = nullptr;
	char message[160];
	if (info.has_credentials && pool.sessions_of(info.uid) >= options.max_sessions_per_uid) {
		std::snprintf(message, sizeof(message), "Too many connections: uid %u has %llu sessions (max_sessions_per_uid)",
			      unsigned(info.uid), static_cast<unsigned long long>(options.max_sessions_per_uid));
		why = "max_sessions_per_uid";
	} else if (!pool.has_room()) {
		std::snprintf(message, sizeof(message), "Too many connections: every worker is at its fd limit");
		why = "every worker at its fd limit";
	} else {
		return false;
	}
	if (const std::uint64_t count = refusal_log.note(info.has_credentials ? info.uid : UINT32_MAX, monotonic_now_usec()))
		log_message(LogLevel::warning, nullptr, "pid=%d uid=%u refused: %s (%llu refusals)", int(info.pid),
			    unsigned(info.uid), why, static_cast<unsigned long long>(count));
	send_pre_greeting_err(client_fd, ER_CON_COUNT_ERROR, message);
	++refused_clients;
	return true;
}

void Master::close_listeners()
{
	for (auto &slot : slots) {
		slot->accept_source.reset();
		slot->pause_timer.reset();
		remove_socket_file(slot->listener);
		slot->listener.fd.reset();
	}
}

void Master::begin_shutdown(const char *why)
{
	stopping = true;
	sd_notify(0, "STOPPING=1");
	notify_status();
	monitor.stop();
	close_listeners();
	operators.stop();
	const std::uint64_t timeout_ms = options.drain_timeout_usec / 1000;
	log_info("%s: draining %u workers (at most %llu ms)", why, pool.running_count(),
		 static_cast<unsigned long long>(timeout_ms));
	const int r = sd_event_add_time_relative(event, drain_timer.out(), CLOCK_MONOTONIC,
						 options.drain_timeout_usec + options.drain_grace_usec,
						 1000, on_drain_timeout, this);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "drain timer; killing the workers now");
		pool.kill_all(SIGKILL);
	}
	pool.drain(timeout_ms > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(timeout_ms));
}

int Master::on_signal(sd_event_source *, const struct signalfd_siginfo *info, void *userdata)
{
	Master &m = *static_cast<Master *>(userdata);
	const int sig = static_cast<int>(info->ssi_signo);
	if (sig == SIGHUP) {
		if (!m.stopping) {
			/* RELOADING=1 needs MONOTONIC_USEC (systemd 253+ Type=notify-reload checks it). */
			char reloading[64];
			std::snprintf(reloading, sizeof(reloading), "RELOADING=1\nMONOTONIC_USEC=%llu",
				      static_cast<unsigned long long>(monotonic_now_usec()));
			sd_notify(0, reloading);
			log_info("SIGHUP: reloading the workers");
			m.pool.broadcast_reload();
			/* Workers reload asynchronously and log their own errors; nothing waits for them. */
			sd_notify(0, "READY=1");
			m.notify_status();
		}
		return 0;
	}
	if (!m.stopping) {
		m.begin_shutdown(sig == SIGINT ? "SIGINT" : "SIGTERM");
		return 0;
	}
	log_warning("second %s: killing %u workers and exiting now", sig == SIGINT ? "SIGINT" : "SIGTERM",
		    m.pool.running_count());
	m.pool.kill_all(SIGKILL);
	sd_event_exit(m.event, 0);
	return 0;
}

int Master::on_drain_timeout(sd_event_source *, std::uint64_t, void *userdata)
{
	Master &m = *static_cast<Master *>(userdata);
	log_warning("drain timeout: killing %u workers", m.pool.running_count());
	m.pool.kill_all(SIGKILL);
	return 0;
}

} // namespace

int run_master(const std::vector<ListenerConfig> &listener_configs, unsigned worker_processes,
	       WorkerEntry entry, const MasterOptions &options)
{
	ensure_standard_fds();

	sigset_t mask;
	sigemptyset(&mask);
	for (int sig : handled_signals)
		sigaddset(&mask, sig);
	if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0) {
		log_errno(LogLevel::error, errno, nullptr, "sigprocmask()");
		return exit_os_error;
	}

	std::vector<Listener> listeners;
	if (auto error = open_listeners(listener_configs, listeners)) {
		log_error("%s", error->message.c_str());
		return error->exit_code;
	}

	sd_event *raw_event = nullptr;
	int r = sd_event_new(&raw_event);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "sd_event_new()");
		for (auto &listener : listeners)
			remove_socket_file(listener);
		return exit_os_error;
	}
	const std::unique_ptr<sd_event, EventDeleter> event(raw_event);

	Master master(event.get(), std::move(listeners), worker_processes, std::move(entry), options);
	r = master.start();
	if (r == 0) {
		r = sd_event_loop(event.get());
		if (r < 0) {
			log_errno(LogLevel::error, -r, nullptr, "sd_event_loop()");
			r = exit_os_error;
		}
	}
	return r;
}

} // namespace myproxy
