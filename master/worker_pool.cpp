// The worker pool (master side): fork, channel I/O, load balancing, supervision.  A worker's
// messages pass the codec and then a table of what a worker may send; a violation SIGKILLs that
// worker and the master goes on.  Signals reach workers only through sd-event's pidfds, so a
// recycled pid is never hit.  The child branch of fork() never returns: it must not run any of
// the master's destructors (a Listener's would unlink the socket path).
#include "worker_pool.hpp"

#include "common/channel_socket.hpp"
#include "common/event_source.hpp"
#include "common/exit_status.hpp"
#include "common/log.hpp"
#include "master/crash_penalty.hpp"

#include <systemd/sd-event.h>

#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <exception>
#include <new>
#include <unordered_map>

namespace myproxy {

struct WorkerPool::Worker {
	WorkerPool *pool;
	unsigned index;
	pid_t pid = 0;
	UniqueFd channel;
	EventSource channel_source;
	EventSource child_source;
	EventSource respawn_timer;
	/* Armed when the channel closed while the process lives on (see kill_after_grace()). */
	EventSource grace_timer;
	bool ready = false;
	/* This process sent WORKER_READY (ready may be false again while draining). */
	bool announced_ready = false;
	std::uint64_t connections = 0;
	unsigned starts = 0;
	std::uint64_t started_usec = 0;
	std::uint64_t backoff_usec = 0;
	/* send_client() tries each worker at most once per client. */
	std::uint64_t tried_in_attempt = 0;
	/* Shared with the worker process (see common/worker_activity.hpp); null if mmap failed. */
	WorkerActivityPage *activity = nullptr;
	/* Shared too (common/worker_counters.hpp); null if mmap failed (then no metrics of it). */
	WorkerCounters *counters = map_worker_counters();
	/* The uid of every client handed over and not yet closed (those with credentials only). */
	std::unordered_map<std::uint64_t, std::uint32_t> client_uids;
	/* The master signalled this process itself: its death is no crash. */
	bool signalled_by_master = false;
	/* When this process last answered a HEARTBEAT (or started). */
	std::uint64_t heartbeat_usec = 0;
	/* It missed heartbeats and gets no clients until it answers again. */
	bool heartbeat_late = false;

	Worker(WorkerPool *owner, unsigned i) : pool(owner), index(i)
	{
		void *page = mmap(nullptr, sizeof(WorkerActivityPage), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (page == MAP_FAILED)
			log_errno(LogLevel::warning, errno, nullptr, "worker[%u]: mmap(activity page); no crash penalty", i);
		else
			activity = new (page) WorkerActivityPage{};
	}
	~Worker()
	{
		if (activity != nullptr)
			munmap(activity, sizeof(WorkerActivityPage));
		unmap_worker_counters(counters);
	}
	Worker(const Worker &) = delete;
	Worker &operator=(const Worker &) = delete;
};

namespace {

/* The most messages handled per wake-up of one channel, so one chatty worker cannot starve the
   listeners and the other channels. */
constexpr unsigned channel_batch = 64;

std::uint64_t monotonic_usec() noexcept
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return std::uint64_t(ts.tv_sec) * 1000000 + std::uint64_t(ts.tv_nsec) / 1000;
}

/* Dispositions go back to default, except the fault signals: their handlers belong to the
   sanitizers and crash reporters, which are as useful in a worker as in the master. */
void reset_signals() noexcept
{
	for (int sig = 1; sig < NSIG; ++sig) {
		switch (sig) {
		case SIGKILL:
		case SIGSTOP:
		case SIGSEGV:
		case SIGBUS:
		case SIGILL:
		case SIGFPE:
		case SIGTRAP:
		case SIGABRT:
			continue;
		case SIGHUP:
		case SIGINT:
		case SIGTERM:
			/* A worker takes orders only from the master, over its channel: signals to
			   the whole process group (Ctrl-C, systemctl kill) must not end it. */
			signal(sig, SIG_IGN);
			break;
		default:
			signal(sig, SIG_DFL);
		}
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, nullptr);
}

[[noreturn]] void run_child(const WorkerEntry &entry, int channel_fd, unsigned index,
			    WorkerActivityPage *activity, WorkerCounters *counters) noexcept
{
	log_set_role("worker[%u]", index);
	worker_activity_page = activity;
	worker_counters_page = counters;

	/* Everything the master holds (listeners, other workers' channels, sd-event's epoll,
	   signalfd and pidfds, clients in flight) is closed; only fds 0-2 and the channel stay. */
	constexpr int channel_target = 3;
	if (channel_fd != channel_target && dup3(channel_fd, channel_target, O_CLOEXEC) < 0) {
		log_errno(LogLevel::error, errno, nullptr, "dup3(channel, 3)");
		_exit(exit_software);
	}
	if (close_range(channel_target + 1, ~0U, 0) < 0) {
		log_errno(LogLevel::error, errno, nullptr, "close_range(4)");
		_exit(exit_software);
	}
	reset_signals();

	int status = exit_software;
	try {
		status = entry(UniqueFd(channel_target), index);
	} catch (const std::exception &e) {
		log_error("uncaught exception: %s", e.what());
	} catch (...) {
		log_error("uncaught exception");
	}
	_exit(status);
}

} // namespace

void describe_child_exit(char *buffer, std::size_t size, int code, int status) noexcept
{
	if (size == 0)
		return;
	switch (code) {
	case CLD_EXITED: {
		const std::string_view name = exit_status_name(status);
		if (name.empty())
			std::snprintf(buffer, size, "exited with status %d", status);
		else
			std::snprintf(buffer, size, "exited with status %d (%.*s)", status, int(name.size()),
				      name.data());
		return;
	}
	case CLD_KILLED:
	case CLD_DUMPED: {
		const char *abbrev = sigabbrev_np(status);
		const char *dumped = code == CLD_DUMPED ? ", core dumped" : "";
		if (abbrev != nullptr)
			std::snprintf(buffer, size, "killed by signal %d (SIG%s)%s", status, abbrev, dumped);
		else
			std::snprintf(buffer, size, "killed by signal %d%s", status, dumped);
		return;
	}
	default:
		std::snprintf(buffer, size, "changed state (code %d, status %d)", code, status);
	}
}

WorkerPool::WorkerPool(sd_event *event_, unsigned worker_count, WorkerEntry entry_, WorkerPoolOptions options_)
	: event(event_), entry(std::move(entry_)), options(options_)
{
	workers.reserve(worker_count);
	for (unsigned i = 0; i < worker_count; ++i)
		workers.push_back(std::make_unique<Worker>(this, i));
}

WorkerPool::~WorkerPool()
{
	for (auto &w : workers) {
		if (w->child_source) {
			sd_event_source_send_child_signal(w->child_source.get(), SIGKILL, nullptr, 0);
			siginfo_t info;
			while (waitid(P_PID, static_cast<id_t>(w->pid), &info, WEXITED) < 0 && errno == EINTR) {
			}
		}
	}
}

int WorkerPool::start()
{
	for (auto &w : workers) {
		const int r = spawn(*w);
		if (r < 0)
			return r;
	}
	if (options.heartbeat_interval_usec == 0)
		return 0;
	const int r = sd_event_add_time_relative(event, heartbeat_timer.out(), CLOCK_MONOTONIC,
						 options.heartbeat_interval_usec, 10000, on_heartbeat_timer, this);
	if (r >= 0)
		sd_event_source_set_enabled(heartbeat_timer.get(), SD_EVENT_ON);
	else
		log_errno(LogLevel::warning, -r, nullptr, "heartbeat timer; hung workers go unnoticed");
	return 0;
}

int WorkerPool::on_heartbeat_timer(sd_event_source *source, std::uint64_t usec, void *userdata)
{
	auto &pool = *static_cast<WorkerPool *>(userdata);
	pool.check_heartbeats(monotonic_usec());
	sd_event_source_set_time(source, usec + pool.options.heartbeat_interval_usec);
	return 0;
}

/* Judges every worker by its last answer, then asks again.  The master's own loop runs this: if
   the master is stuck, nothing here runs, and neither does its watchdog ping. */
void WorkerPool::check_heartbeats(std::uint64_t now_usec)
{
	if (draining)
		return;
	const HeartbeatMessage ping{++heartbeat_sequence};
	for (auto &w : workers) {
		if (!w->channel || !w->announced_ready)
			continue;
		const std::uint64_t silent = now_usec - w->heartbeat_usec;
		if (options.heartbeat_timeout_usec != 0 && silent >= options.heartbeat_timeout_usec) {
			char reason[96];
			std::snprintf(reason, sizeof(reason), "missed its heartbeat for %llu ms",
				      static_cast<unsigned long long>(silent / 1000));
			kill_worker(*w, reason);
			continue;
		}
		if (silent >= 2 * options.heartbeat_interval_usec && !w->heartbeat_late) {
			log_warning("worker[%u] pid %d silent for %llu ms; no new clients for it", w->index,
				    static_cast<int>(w->pid), static_cast<unsigned long long>(silent / 1000));
			w->heartbeat_late = true;
			set_ready(*w, false);
		}
		send_message(*w, ping, {});
	}
}

int WorkerPool::spawn(Worker &w)
{
	UniqueFd master_end, worker_end;
	int r = create_channel_pair(master_end, worker_end);
	if (r != 0) {
		log_errno(LogLevel::error, r, nullptr, "worker[%u]: socketpair()", w.index);
		return -r;
	}

	/* Before the fork: the new process may count at once.  The previous one's counts were
	   folded when it exited. */
	if (w.counters != nullptr)
		reset_worker_counters(*w.counters);
	const pid_t pid = fork();
	if (pid < 0) {
		r = errno;
		log_errno(LogLevel::error, r, nullptr, "worker[%u]: fork()", w.index);
		return -r;
	}
	if (w.activity != nullptr)
		w.activity->serving_client_id.store(0, std::memory_order_relaxed);
	if (pid == 0)
		run_child(entry, worker_end.get(), w.index, w.activity, w.counters);

	worker_end.reset();
	r = sd_event_add_child(event, w.child_source.out(), pid, WEXITED, on_child, &w);
	if (r < 0) {
		/* Unsupervised, it would never be reaped nor replaced. */
		log_errno(LogLevel::error, -r, nullptr, "worker[%u]: sd_event_add_child(%d)", w.index,
			  static_cast<int>(pid));
		kill(pid, SIGKILL);
		waitpid(pid, nullptr, 0);
		return r;
	}
	w.pid = pid;
	r = sd_event_add_io(event, w.channel_source.out(), master_end.get(), EPOLLIN, on_channel, &w);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "worker[%u]: sd_event_add_io(channel)", w.index);
		sd_event_source_send_child_signal(w.child_source.get(), SIGKILL, nullptr, 0);
	} else {
		w.channel = std::move(master_end);
	}
	w.starts++;
	w.started_usec = monotonic_usec();
	w.ready = false;
	w.announced_ready = false;
	w.connections = 0;
	drop_uid_sessions(w);
	w.signalled_by_master = false;
	w.heartbeat_usec = w.started_usec;
	w.heartbeat_late = false;
	log_debug("worker[%u] started, pid %d", w.index, static_cast<int>(pid));
	return 0;
}

void WorkerPool::schedule_respawn(Worker &w, std::uint64_t delay_usec)
{
	int r;
	if (w.respawn_timer) {
		r = sd_event_source_set_time_relative(w.respawn_timer.get(), delay_usec);
		if (r >= 0)
			r = sd_event_source_set_enabled(w.respawn_timer.get(), SD_EVENT_ONESHOT);
	} else {
		r = sd_event_add_time_relative(event, w.respawn_timer.out(), CLOCK_MONOTONIC, delay_usec,
					       1000, on_respawn_timer, &w);
	}
	if (r < 0)
		log_errno(LogLevel::error, -r, nullptr, "worker[%u]: respawn timer; slot stays empty",
			  w.index);
}

/* The back-off: grows with every death (or failed fork) soon after a start, resets after a
   worker that lived. */
static std::uint64_t next_backoff(std::uint64_t current, const WorkerPoolOptions &options) noexcept
{
	if (current == 0)
		return options.initial_backoff_usec;
	return current >= options.max_backoff_usec / 2 ? options.max_backoff_usec : current * 2;
}

int WorkerPool::on_respawn_timer(sd_event_source *, std::uint64_t, void *userdata)
{
	Worker &w = *static_cast<Worker *>(userdata);
	WorkerPool &pool = *w.pool;
	if (pool.draining || w.pid != 0)
		return 0;
	if (pool.spawn(w) < 0) {
		w.backoff_usec = next_backoff(w.backoff_usec, pool.options);
		pool.schedule_respawn(w, w.backoff_usec);
	}
	return 0;
}

int WorkerPool::on_child(sd_event_source *, const siginfo_t *info, void *userdata)
{
	Worker &w = *static_cast<Worker *>(userdata);
	w.pool->handle_exit(w, info->si_code, info->si_status);
	return 0;
}

void WorkerPool::handle_exit(Worker &w, int code, int status)
{
	char description[96];
	describe_child_exit(description, sizeof(description), code, status);
	const bool clean = code == CLD_EXITED && status == 0;
	log_message(draining && clean ? LogLevel::info : LogLevel::warning, nullptr, "worker[%u] pid %d %s",
		    w.index, static_cast<int>(w.pid), description);

	/* A crash signal nobody here sent (SIGSYS from seccomp, SIGSEGV, SIGABRT): the client whose
	   event the worker was handling is the prime suspect.  SIGKILL (operator, OOM killer) is no
	   crash and penalizes nobody. */
	const bool crashed = (code == CLD_KILLED || code == CLD_DUMPED) && !w.signalled_by_master &&
			     is_crash_signal(status);
	crashes += crashed;
	/* Its counts live on in the totals; the page is zeroed before the slot's next process. */
	if (w.counters != nullptr)
		add_worker_counters(ended_counters, *w.counters);
	const std::uint64_t suspect =
		crashed && w.activity != nullptr ? w.activity->serving_client_id.load(std::memory_order_relaxed) : 0;
	if (suspect != 0) {
		const auto i = w.client_uids.find(suspect);
		if (i != w.client_uids.end()) {
			log_warning("worker[%u] pid %d crashed while serving client %llu (uid=%u)", w.index,
				    static_cast<int>(w.pid), static_cast<unsigned long long>(suspect), unsigned(i->second));
			if (on_crash)
				on_crash(i->second, suspect);
		} else {
			log_warning("worker[%u] pid %d crashed while serving client %llu (no credentials)", w.index,
				    static_cast<int>(w.pid), static_cast<unsigned long long>(suspect));
		}
	}
	drop_uid_sessions(w);

	/* sd-event reaps the child after this callback; unref'ing its source here is allowed. */
	w.child_source.reset();
	w.grace_timer.reset();
	close_channel(w);
	w.pid = 0;
	w.connections = 0;
	set_ready(w, false);

	if (draining) {
		if (running_count() == 0 && on_all_exited)
			on_all_exited();
		return;
	}

	const std::uint64_t uptime = monotonic_usec() - w.started_usec;
	if (uptime >= options.min_uptime_usec) {
		w.backoff_usec = 0;
		if (spawn(w) == 0)
			return;
	}
	w.backoff_usec = next_backoff(w.backoff_usec, options);
	log_warning("worker[%u] died %llu ms after its start; respawning in %llu ms", w.index,
		    static_cast<unsigned long long>(uptime / 1000),
		    static_cast<unsigned long long>(w.backoff_usec / 1000));
	schedule_respawn(w, w.backoff_usec);
}

void WorkerPool::close_channel(Worker &w)
{
	if (w.channel && w.pid != 0 && on_channel_closed)
		on_channel_closed(w.pid);
	/* Unref before close: within the source's own dispatch, sd-event then drops the fd from
	   its epoll first. */
	w.channel_source.reset();
	w.channel.reset();
}

void WorkerPool::set_ready(Worker &w, bool ready)
{
	if (w.ready == ready)
		return;
	w.ready = ready;
	if (on_ready_changed)
		on_ready_changed();
}

void WorkerPool::kill_worker(Worker &w, const char *reason)
{
	log_error("worker[%u] pid %d %s; killing it", w.index, static_cast<int>(w.pid), reason);
	/* The signal first: once SIGKILL is pending the worker runs no more code, so it cannot
	   see the channel close and exit on its own terms, and its exit reads as the kill. */
	signal_worker(w, SIGKILL);
	close_channel(w);
	set_ready(w, false);
}

void WorkerPool::kill_after_grace(Worker &w)
{
	if (!w.child_source || w.grace_timer)
		return;
	const int r = sd_event_add_time_relative(event, w.grace_timer.out(), CLOCK_MONOTONIC,
						 options.channel_eof_grace_usec, 1000, on_grace_timer, &w);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "worker[%u]: grace timer; killing it now", w.index);
		signal_worker(w, SIGKILL);
	}
}

int WorkerPool::on_grace_timer(sd_event_source *, std::uint64_t, void *userdata)
{
	Worker &w = *static_cast<Worker *>(userdata);
	/* Still alive (handle_exit() drops the timer): a worker without a channel serves nobody. */
	w.grace_timer.reset();
	log_error("worker[%u] pid %d closed its channel %llu ms ago but lives on; killing it", w.index,
		  static_cast<int>(w.pid),
		  static_cast<unsigned long long>(w.pool->options.channel_eof_grace_usec / 1000));
	w.pool->signal_worker(w, SIGKILL);
	return 0;
}

void WorkerPool::signal_worker(Worker &w, int signal_number)
{
	if (!w.child_source)
		return;
	w.signalled_by_master = true;
	sd_event_source_send_child_signal(w.child_source.get(), signal_number, nullptr, 0);
}

bool WorkerPool::send_message(Worker &w, const ChannelMessage &message, std::span<const int> fds)
{
	const char *name = channel_message_name(channel_message_type(message));
	send_buffer.clear();
	auto encoded = encode_channel_message(send_buffer, message);
	if (!encoded) {
		log_error("worker[%u]: cannot encode %s: %s", w.index, name, encoded.error().what);
		return false;
	}
	const auto result = send_channel_message(w.channel.get(), ByteSpan(send_buffer), fds);
	switch (result.status) {
	case ChannelIoStatus::ok:
		return true;
	case ChannelIoStatus::would_block:
		log_warning("worker[%u] channel full; %s not sent", w.index, name);
		return false;
	case ChannelIoStatus::peer_closed:
		log_debug("worker[%u] channel closed; %s not sent", w.index, name);
		return false;
	case ChannelIoStatus::error:
		break;
	}
	log_errno(LogLevel::error, result.error_number, nullptr, "worker[%u]: send(%s)", w.index, name);
	kill_worker(w, "has a broken channel");
	return false;
}

bool WorkerPool::send_client(const ClientInfo &info, UniqueFd client, UniqueFd pidfd)
{
	const std::uint64_t attempt = ++send_attempt;
	const int fds[] = {client.get(), pidfd.get()};
	const std::span<const int> attached(fds, pidfd ? 2 : 1);
	const NewClientMessage message{info, pidfd.is_valid()};

	for (;;) {
		Worker *best = nullptr;
		for (auto &w : workers)
			if (w->ready && w->channel && w->tried_in_attempt != attempt &&
			    w->connections < options.max_connections_per_worker &&
			    (best == nullptr || w->connections < best->connections))
				best = w.get();
		if (best == nullptr)
			break;
		best->tried_in_attempt = attempt;
		if (send_message(*best, message, attached)) {
			best->connections++;
			if (info.has_credentials && best->client_uids.emplace(info.client_id, info.uid).second)
				add_uid_session(info.uid);
			return true;
		}
	}
	log_warning("no worker ready for client %llu; closing it",
		    static_cast<unsigned long long>(info.client_id));
	return false;
}

void WorkerPool::broadcast_reload()
{
	for (auto &w : workers)
		if (w->channel)
			send_message(*w, ReloadMessage{}, {});
}

void WorkerPool::broadcast(const ChannelMessage &message)
{
	for (auto &w : workers)
		if (w->channel)
			send_message(*w, message, {});
}

void WorkerPool::drain(std::uint32_t timeout_ms)
{
	draining = true;
	for (auto &w : workers) {
		if (w->respawn_timer)
			sd_event_source_set_enabled(w->respawn_timer.get(), SD_EVENT_OFF);
		if (w->channel)
			send_message(*w, DrainMessage{timeout_ms}, {});
		set_ready(*w, false);
	}
	if (running_count() == 0 && on_all_exited)
		on_all_exited();
}

void WorkerPool::kill_all(int signal_number)
{
	for (auto &w : workers)
		signal_worker(*w, signal_number);
}

bool WorkerPool::has_room() const noexcept
{
	for (const auto &w : workers)
		if (w->ready && w->channel && w->connections < options.max_connections_per_worker)
			return true;
	return false;
}

std::uint64_t WorkerPool::sessions_of(std::uint32_t uid) const noexcept
{
	const auto i = uid_sessions.find(uid);
	return i == uid_sessions.end() ? 0 : i->second;
}

void WorkerPool::add_uid_session(std::uint32_t uid)
{
	++uid_sessions[uid];
}

void WorkerPool::drop_uid_session(std::uint32_t uid) noexcept
{
	const auto i = uid_sessions.find(uid);
	if (i != uid_sessions.end() && --i->second == 0)
		uid_sessions.erase(i);
}

void WorkerPool::drop_uid_sessions(Worker &w) noexcept
{
	for (const auto &[client_id, uid] : w.client_uids)
		drop_uid_session(uid);
	w.client_uids.clear();
}

const WorkerCounters *WorkerPool::live_counters(unsigned index) const noexcept
{
	if (index >= workers.size() || workers[index]->pid == 0)
		return nullptr;
	return workers[index]->counters;
}

std::uint64_t WorkerPool::connection_count() const noexcept
{
	std::uint64_t n = 0;
	for (const auto &w : workers)
		n += w->connections;
	return n;
}

unsigned WorkerPool::running_count() const noexcept
{
	unsigned n = 0;
	for (const auto &w : workers)
		n += w->pid != 0;
	return n;
}

unsigned WorkerPool::ready_count() const noexcept
{
	unsigned n = 0;
	for (const auto &w : workers)
		n += w->ready;
	return n;
}

WorkerStatus WorkerPool::status(unsigned index) const noexcept
{
	if (index >= workers.size())
		return {};
	const Worker &w = *workers[index];
	return {w.pid, w.ready, w.connections, w.starts, w.backoff_usec};
}

int WorkerPool::on_channel(sd_event_source *, int, std::uint32_t, void *userdata)
{
	Worker &w = *static_cast<Worker *>(userdata);
	w.pool->receive_messages(w);
	return 0;
}

void WorkerPool::receive_messages(Worker &w)
{
	for (unsigned i = 0; i < channel_batch && w.channel; ++i) {
		auto received = receive_channel_message(w.channel.get(), receive_buffer);
		switch (received.status) {
		case ChannelIoStatus::would_block:
			return;
		case ChannelIoStatus::peer_closed:
			/* Usually the worker is exiting: its channel closes just before its _exit(),
			   or its crash closed it before SIGCHLD arrived.  While draining that is
			   expected, and the drain timeout bounds it.  Otherwise one that lives on
			   without a channel could never be drained, so it goes, but only after a
			   grace: killing it at once would log an exit status as SIGKILL. */
			log_debug("worker[%u] closed its channel", w.index);
			close_channel(w);
			set_ready(w, false);
			if (!draining)
				kill_after_grace(w);
			return;
		case ChannelIoStatus::error: {
			char reason[160];
			std::snprintf(reason, sizeof(reason), "broke the channel (%s%s%s)",
				      received.what != nullptr ? received.what : "receive",
				      received.error_number != 0 ? ": " : "",
				      received.error_number != 0 ? strerrorname_np(received.error_number) : "");
			kill_worker(w, reason);
			return;
		}
		case ChannelIoStatus::ok:
			break;
		}

		auto decoded = decode_channel_message(ByteSpan(receive_buffer.data(), received.size),
						      received.fd_count, ChannelDirection::worker_to_master);
		if (!decoded) {
			char reason[160];
			std::snprintf(reason, sizeof(reason), "sent garbage (%s at offset %zu)",
				      decoded.error().what, decoded.error().offset);
			kill_worker(w, reason);
			return;
		}
		dispatch(w, decoded.value());
	}
}

void WorkerPool::dispatch(Worker &w, const ChannelMessage &message)
{
	struct Row {
		ChannelMessageType type;
		const char *(WorkerPool::*handle)(Worker &, const ChannelMessage &);
	};
	/* Everything a worker may send the master; any other type ends the worker. */
	static constexpr Row allowed[] = {
		{ChannelMessageType::worker_ready, &WorkerPool::handle_worker_ready},
		{ChannelMessageType::connection_closed, &WorkerPool::handle_connection_closed},
		{ChannelMessageType::heartbeat_reply, &WorkerPool::handle_heartbeat_reply},
		{ChannelMessageType::node_suspect, &WorkerPool::handle_node_suspect},
		{ChannelMessageType::resolve_request, &WorkerPool::handle_resolve_request},
	};

	const ChannelMessageType type = channel_message_type(message);
	for (const Row &row : allowed) {
		if (row.type != type)
			continue;
		if (const char *violation = (this->*row.handle)(w, message))
			kill_worker(w, violation);
		return;
	}
	char reason[96];
	std::snprintf(reason, sizeof(reason), "sent %s, which workers may not send",
		      channel_message_name(type));
	kill_worker(w, reason);
}

const char *WorkerPool::handle_worker_ready(Worker &w, const ChannelMessage &)
{
	/* The one-time promise that the sandbox is up: a second one is confusion. */
	if (w.announced_ready)
		return "sent WORKER_READY twice";
	w.announced_ready = true;
	if (draining)
		return nullptr;
	if (w.starts > 1)
		log_info("worker[%u] pid %d ready (respawned)", w.index, static_cast<int>(w.pid));
	else
		log_debug("worker[%u] pid %d ready", w.index, static_cast<int>(w.pid));
	/* Before any client: the channel keeps the order, so its first login already knows. */
	if (on_worker_ready) {
		/* A message that cannot be sent is logged; the worker serves with what it has. */
		for (const ChannelMessage &first : on_worker_ready())
			send_message(w, first, {});
		if (!w.channel)
			return nullptr;
	}
	set_ready(w, true);
	return nullptr;
}

const char *WorkerPool::handle_connection_closed(Worker &w, const ChannelMessage &message)
{
	const auto &closed = std::get<ConnectionClosedMessage>(message);
	if (w.connections == 0) {
		log_warning("worker[%u] reported client %llu closed, but holds no clients", w.index,
			    static_cast<unsigned long long>(closed.client_id));
		return nullptr;
	}
	w.connections--;
	if (const auto i = w.client_uids.find(closed.client_id); i != w.client_uids.end()) {
		drop_uid_session(i->second);
		w.client_uids.erase(i);
	}
	return nullptr;
}

const char *WorkerPool::handle_heartbeat_reply(Worker &w, const ChannelMessage &message)
{
	if (std::get<HeartbeatReplyMessage>(message).sequence > heartbeat_sequence)
		return "answered a HEARTBEAT never sent";
	w.heartbeat_usec = monotonic_usec();
	if (w.heartbeat_late) {
		w.heartbeat_late = false;
		log_info("worker[%u] pid %d answers again", w.index, static_cast<int>(w.pid));
		if (!draining && w.announced_ready)
			set_ready(w, true);
	}
	return nullptr;
}

const char *WorkerPool::handle_node_suspect(Worker &, const ChannelMessage &message)
{
	const auto &suspect = std::get<NodeSuspectMessage>(message);
	/* The monitor checks the indexes against the configuration. */
	if (on_node_suspect)
		on_node_suspect(suspect.cluster_index, suspect.node_index);
	return nullptr;
}

const char *WorkerPool::handle_resolve_request(Worker &w, const ChannelMessage &message)
{
	const auto &request = std::get<ResolveRequestMessage>(message);
	if (!on_resolve_request) {
		send_message(w, ResolveReplyMessage{request.request_id, {}, "the master resolves no names"}, {});
		return nullptr;
	}
	return on_resolve_request(w.pid, request);
}

bool WorkerPool::send_to(pid_t pid, const ChannelMessage &message)
{
	for (auto &w : workers)
		if (w->pid == pid && pid != 0 && w->channel)
			return send_message(*w, message, {});
	return false;
}

} // namespace myproxy
