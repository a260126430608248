// The master's event loop (master side only).  The sd-event loop is created before the first
// fork: workers are respawned while it runs anyway, so the children always inherit its epoll and
// signalfd and always close them (close_range in master/worker_process) - one path, exercised from
// the start.  Signals arrive only through sd-event signal sources (blocked with sigprocmask first).
// Clients are accepted only while some worker of the serving generation is ready; until then they
// wait in the kernel's backlog.  A reload never drops a client: the old generation keeps serving
// until the new one is ready, then finishes its sessions (master/generation).
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
#include "master/connection_ids.hpp"
#include "master/crash_penalty.hpp"
#include "master/kill_router.hpp"
#include "master/listener.hpp"
#include "master/listener_set.hpp"
#include "master/metrics.hpp"
#include "master/name_resolver.hpp"
#include "master/operator_interfaces.hpp"
#include "master/peer_info.hpp"

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include <fcntl.h>
#include <signal.h>
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

class Master {
public:
	Master(sd_event *event_, MasterConfig config, ConfigReloader reload)
		: event(event_), reloader(std::move(reload)), options(config.options), first_config(std::move(config)),
		  listeners(event_, options.accept_pause_usec,
			    [this](const Listener &l, UniqueFd client, const SocketAddress &peer) {
				    hand_over(l, std::move(client), peer);
			    }),
		  resolver(event_), penalties(options.crash_penalty_usec),
		  operators(event_, OperatorSources{[this](MetricsSnapshot &s) { add_worker_metrics(s); },
						    [this](const ChannelMessage &m) { broadcast(m); }},
			    counts)
	{
	}

	Master(const Master &) = delete;
	Master &operator=(const Master &) = delete;

	/* Sources, then the first generation; returns 0 or an exit status. */
	int start(std::vector<Listener> opened);

private:
	sd_event *event;
	ConfigReloader reloader;
	/* Of the serving generation. */
	MasterOptions options;
	/* Until start() moves it into the first generation. */
	MasterConfig first_config;
	ListenerSet listeners;
	/* mysql_resolve() of host names in callbacks (workers have no resolver).  Before the
	   generations: it outlives the workers' channels, whose closing it hears of. */
	NameResolver resolver;
	/* Every client's connection id, over all generations, and KILL between workers (master/
	   connection_ids, master/kill_router); before the generations, like the resolver. */
	ConnectionIds connection_ids;
	KillRouter kill_router{connection_ids, [this](pid_t pid, const ChannelMessage &message) {
				       return send_to_worker(pid, message);
			       }};
	/* Gets the new clients. */
	std::unique_ptr<Generation> serving;
	/* A reload's generation until all its workers are ready (reload() may still run in them). */
	std::unique_ptr<Generation> incoming;
	/* Replaced generations finishing their sessions. */
	std::vector<std::unique_ptr<Generation>> retired;
	/* Counts of the generations that ended, for /metrics. */
	CounterTotals ended_generations_counters;
	std::uint64_t ended_generations_crashes = 0;
	unsigned generation_count = 0;
	unsigned next_worker_index = 0;
	EventSource collect_source;
	std::vector<EventSource> signal_sources;
	EventSource status_timer;
	EventSource watchdog_timer;
	CrashPenalties penalties;
	/* At most one refusal line per uid and interval. */
	RefusalLog refusal_log{refusal_log_interval_usec};
	MasterCounts counts;
	OperatorInterfaces operators;
	std::uint64_t refused_clients = 0;
	bool stopping = false;
	bool notified_ready = false;

	std::unique_ptr<Generation> make_generation(MasterConfig config);
	/* Sends @message to worker process @pid of any generation; false when none has it. */
	bool send_to_worker(pid_t pid, const ChannelMessage &message);
	void reload();
	void promote_incoming();
	void abandon_incoming();
	void collect_ended();
	bool all_ended() const noexcept;
	std::uint64_t sessions_of(std::uint32_t uid) const noexcept;
	std::uint64_t connection_count() const noexcept;
	void broadcast(const ChannelMessage &message);
	void add_worker_metrics(MetricsSnapshot &s) const;
	void update_accepting();
	void hand_over(const Listener &listener, UniqueFd client, const SocketAddress &peer);
	bool refuse_over_limits(const PeerInfo &info, int client_fd);
	void begin_shutdown(const char *why);
	void workers_ready_changed(Generation *generation);
	void notify_status() noexcept;
	int start_notify_timers();

	static int on_status_timer(sd_event_source *source, std::uint64_t usec, void *userdata);
	static int on_watchdog_timer(sd_event_source *source, std::uint64_t usec, void *userdata);
	static int on_signal(sd_event_source *, const struct signalfd_siginfo *info, void *userdata);
	static int on_collect(sd_event_source *, void *userdata);
};

int Master::start(std::vector<Listener> opened)
{
	if (listeners.adopt(std::move(opened)) < 0)
		return exit_os_error;
	for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
		EventSource &source = signal_sources.emplace_back();
		const int r = sd_event_add_signal(event, source.out(), sig, on_signal, this);
		if (r < 0) {
			log_errno(LogLevel::error, -r, nullptr, "sd_event_add_signal(%s)", sigabbrev_np(sig));
			return exit_os_error;
		}
	}
	int r = sd_event_add_defer(event, collect_source.out(), on_collect, this);
	if (r >= 0)
		r = sd_event_source_set_enabled(collect_source.get(), SD_EVENT_OFF);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "sd_event_add_defer()");
		return exit_os_error;
	}
	if (start_notify_timers() < 0)
		return exit_os_error;
	if ((r = resolver.start()) < 0) {
		log_errno(LogLevel::error, -r, nullptr, "name resolver");
		return exit_os_error;
	}
	if (const int status = operators.open(options.prometheus_listeners, options.control_listeners))
		return status;
	serving = make_generation(std::move(first_config));
	if (const int status = serving->start())
		return status;
	log_info("started %u workers; listening on %zu sockets", serving->pool().size(), listeners.size());
	return 0;
}

std::unique_ptr<Generation> Master::make_generation(MasterConfig config)
{
	const unsigned workers = config.worker_processes;
	auto generation = std::make_unique<Generation>(event, ++generation_count, next_worker_index, std::move(config));
	next_worker_index += workers;
	Generation *g = generation.get();
	WorkerPool &pool = g->pool();
	pool.set_on_ready_changed([this, g] { workers_ready_changed(g); });
	pool.set_on_crash([this](std::uint32_t uid, std::uint64_t) {
		if (penalties.duration_usec() == 0)
			return;
		penalties.penalize(uid, monotonic_now_usec());
		log_warning("crash penalty: uid=%u is refused for %llu s", unsigned(uid),
			    static_cast<unsigned long long>(penalties.duration_usec() / 1000000));
	});
	pool.set_on_resolve_request([this, &pool](pid_t worker, const ResolveRequestMessage &request) {
		return resolver.resolve(worker, request, [&pool, worker](const ResolveReplyMessage &reply) {
			pool.send_to(worker, reply);
		});
	});
	pool.set_connection_ids(&connection_ids);
	pool.set_on_kill([this](pid_t worker, const ChannelMessage &message) -> const char * {
		if (const auto *request = std::get_if<KillRequestMessage>(&message))
			return kill_router.request(worker, *request);
		return kill_router.result(worker, std::get<KillResultMessage>(message));
	});
	pool.set_on_channel_closed([this](pid_t worker) {
		resolver.forget(worker);
		connection_ids.release_worker(worker);
		kill_router.forget(worker);
	});
	/* Never destroyed from within its own pool's callback: the defer source collects it. */
	g->set_on_finished([this] { sd_event_source_set_enabled(collect_source.get(), SD_EVENT_ONESHOT); });
	return generation;
}

bool Master::send_to_worker(pid_t pid, const ChannelMessage &message)
{
	if (serving && serving->pool().send_to(pid, message))
		return true;
	if (incoming && incoming->pool().send_to(pid, message))
		return true;
	for (const auto &g : retired)
		if (g->pool().send_to(pid, message))
			return true;
	return false;
}

void Master::workers_ready_changed(Generation *g)
{
	if (g == incoming.get() && !stopping && g->pool().ready_count() == g->pool().size()) {
		promote_incoming();
	} else if (g == serving.get()) {
		update_accepting();
		if (!notified_ready && !stopping && g->pool().ready_count() == g->pool().size()) {
			notified_ready = true;
			sd_notify(0, "READY=1");
			log_info("ready: %u workers", g->pool().size());
		}
	}
	notify_status();
}

/* SIGHUP: config.lua loads afresh, its listeners are prepared, its workers start.  Any failure
   leaves the serving generation as it was. */
void Master::reload()
{
	/* RELOADING=1 needs MONOTONIC_USEC (systemd 253+ Type=notify-reload checks it). */
	char reloading[64];
	std::snprintf(reloading, sizeof(reloading), "RELOADING=1\nMONOTONIC_USEC=%llu",
		      static_cast<unsigned long long>(monotonic_now_usec()));
	sd_notify(0, reloading);
	log_info("SIGHUP: reloading the configuration");
	if (incoming) {
		log_warning("reload: generation %u is not ready yet (reload() still running?); replacing it",
			    incoming->number());
		abandon_incoming();
	}
	/* The loader logged why it did not load. */
	std::optional<MasterConfig> loaded = reloader();
	bool started = false;
	if (loaded) {
		if (auto error = listeners.prepare(loaded->listeners)) {
			log_error("%s", error->message.c_str());
		} else {
			incoming = make_generation(std::move(*loaded));
			started = incoming->start() == 0;
			if (!started) {
				listeners.abandon();
				abandon_incoming();
			}
		}
	}
	if (!started) {
		log_error("reload failed: generation %u keeps serving with its configuration", serving->number());
		sd_notify(0, "READY=1");
		return;
	}
	log_info("reload: generation %u starts %u workers", incoming->number(), incoming->pool().size());
}

void Master::promote_incoming()
{
	if (listeners.commit() < 0) {
		log_error("reload failed: generation %u keeps serving with its configuration", serving->number());
		abandon_incoming();
		sd_notify(0, "READY=1");
		return;
	}
	std::unique_ptr<Generation> old = std::move(serving);
	serving = std::move(incoming);
	options = serving->config().options;
	penalties.set_duration_usec(options.crash_penalty_usec);
	notified_ready = true;
	log_info("reload: generation %u serves", serving->number());
	old->retire();
	retired.push_back(std::move(old));
	update_accepting();
	sd_notify(0, "READY=1");
}

/* Its workers have no client yet: they go at once. */
void Master::abandon_incoming()
{
	if (!incoming)
		return;
	incoming->pool().retire(0);
	incoming->pool().kill_all(SIGKILL);
	retired.push_back(std::move(incoming));
}

int Master::on_collect(sd_event_source *, void *userdata)
{
	static_cast<Master *>(userdata)->collect_ended();
	return 0;
}

void Master::collect_ended()
{
	for (auto i = retired.begin(); i != retired.end();) {
		if (!(*i)->finished()) {
			++i;
			continue;
		}
		log_info("generation %u ended", (*i)->number());
		add_counter_totals(ended_generations_counters, (*i)->pool().ended_workers_counters());
		ended_generations_crashes += (*i)->pool().crash_count();
		i = retired.erase(i);
	}
	if (stopping && all_ended())
		sd_event_exit(event, 0);
	notify_status();
}

bool Master::all_ended() const noexcept
{
	return serving->finished() && !incoming && retired.empty();
}

std::uint64_t Master::sessions_of(std::uint32_t uid) const noexcept
{
	std::uint64_t n = serving->pool().sessions_of(uid);
	for (const auto &g : retired)
		n += g->pool().sessions_of(uid);
	return n;
}

std::uint64_t Master::connection_count() const noexcept
{
	std::uint64_t n = serving->pool().connection_count();
	for (const auto &g : retired)
		n += g->pool().connection_count();
	return n;
}

/* An account's sessions may be in any generation. */
void Master::broadcast(const ChannelMessage &message)
{
	serving->pool().broadcast(message);
	for (const auto &g : retired)
		g->pool().broadcast(message);
}

void Master::add_worker_metrics(MetricsSnapshot &s) const
{
	add_counter_totals(s.counters, ended_generations_counters);
	s.worker_crashes += ended_generations_crashes;
	serving->add_metrics(s, true);
	for (const auto &g : retired)
		g->add_metrics(s, false);
	if (incoming)
		incoming->add_metrics(s, false);
}

/* STATUS= for systemctl status: what runs and how busy it is.  sd_notify() is a no-op without
   NOTIFY_SOCKET, so this costs nothing outside systemd. */
void Master::notify_status() noexcept
{
	if (!serving)
		return;
	char status[224];
	std::snprintf(status, sizeof(status),
		      "STATUS=%s%u/%u workers ready, %llu connections, %llu refused (crash penalty); generation %u, %zu older finishing",
		      stopping ? "draining; " : "", serving->pool().ready_count(), serving->pool().size(),
		      static_cast<unsigned long long>(connection_count()), static_cast<unsigned long long>(refused_clients),
		      serving->number(), retired.size());
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
	listeners.set_accepting(!stopping && serving && serving->pool().ready_count() > 0);
}

void Master::hand_over(const Listener &listener, UniqueFd client, const SocketAddress &peer)
{
	++counts.accepted;
	PeerInfo info;
	if (!read_peer_info(client.get(), listener.is_unix, peer, info, serving->reads_client_cgroup(listener.config_index)))
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
	const std::uint32_t id = connection_ids.assign();
	if (id == 0) {
		send_pre_greeting_err(client.get(), ER_CON_COUNT_ERROR, "Too many connections: no connection id is free");
		++refused_clients;
		return;
	}
	if (log_enabled(LogLevel::debug))
		log_debug("client %llu on %s: pid=%d uid=%u cgroup=%s", static_cast<unsigned long long>(id),
			  listener.description.c_str(), static_cast<int>(info.pid),
			  static_cast<unsigned>(info.uid), info.cgroup_path.c_str());
	if (!serving->pool().send_client(info.client_info(id, listener.config_index), std::move(client))) {
		connection_ids.release(id, 0);
		++counts.not_handed_over;
	}
}

/* Before a client costs a worker anything: its uid's session cap (max_sessions_per_uid), and room
   in some worker's fd budget.  The master answers ERR 1040 itself, as mysqld does for
   max_connections. */
bool Master::refuse_over_limits(const PeerInfo &info, int client_fd)
{
	const char *why = nullptr;
	char message[160];
	if (info.has_credentials && sessions_of(info.uid) >= options.max_sessions_per_uid) {
		std::snprintf(message, sizeof(message), "Too many connections: uid %u has %llu sessions (max_sessions_per_uid)",
			      unsigned(info.uid), static_cast<unsigned long long>(options.max_sessions_per_uid));
		why = "max_sessions_per_uid";
	} else if (!serving->pool().has_room()) {
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

void Master::begin_shutdown(const char *why)
{
	stopping = true;
	sd_notify(0, "STOPPING=1");
	notify_status();
	listeners.close_all();
	operators.stop();
	abandon_incoming();
	log_info("%s: draining %llu connections (at most %llu ms)", why, static_cast<unsigned long long>(connection_count()),
		 static_cast<unsigned long long>(options.drain_timeout_usec / 1000));
	serving->drain();
	for (const auto &g : retired)
		g->drain();
	if (all_ended())
		sd_event_exit(event, 0);
}

int Master::on_signal(sd_event_source *, const struct signalfd_siginfo *info, void *userdata)
{
	Master &m = *static_cast<Master *>(userdata);
	const int sig = static_cast<int>(info->ssi_signo);
	if (sig == SIGHUP) {
		if (!m.stopping) {
			m.reload();
			m.notify_status();
		}
		return 0;
	}
	if (!m.stopping) {
		m.begin_shutdown(sig == SIGINT ? "SIGINT" : "SIGTERM");
		return 0;
	}
	log_warning("second %s: killing the workers and exiting now", sig == SIGINT ? "SIGINT" : "SIGTERM");
	m.serving->pool().kill_all(SIGKILL);
	for (const auto &g : m.retired)
		g->pool().kill_all(SIGKILL);
	sd_event_exit(m.event, 0);
	return 0;
}

} // namespace

int run_master(MasterConfig config, ConfigReloader reload)
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

	std::vector<Listener> opened;
	if (auto error = open_listeners(config.listeners, opened)) {
		log_error("%s", error->message.c_str());
		return error->exit_code;
	}

	sd_event *raw_event = nullptr;
	int r = sd_event_new(&raw_event);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "sd_event_new()");
		for (auto &listener : opened)
			remove_socket_file(listener);
		return exit_os_error;
	}
	const std::unique_ptr<sd_event, EventDeleter> event(raw_event);

	Master master(event.get(), std::move(config), std::move(reload));
	r = master.start(std::move(opened));
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
