// The worker pool (master side): fork, load balancing, supervision, retirement.  Signals reach
// workers only through sd-event's pidfds, so a recycled pid is never hit.  The child branch of
// fork() never returns (master/worker_process).  The channel's receiving side, the table of what
// a worker may send and the heartbeat are in worker_pool_channel.cpp.
#include "master/connection_ids.hpp"
#include "master/pool_worker.hpp"

#include "common/channel_socket.hpp"
#include "common/event_source.hpp"
#include "common/log.hpp"
#include "master/crash_penalty.hpp"

#include <systemd/sd-event.h>

#include <sys/epoll.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace myproxy {

WorkerPool::WorkerPool(sd_event *event_, unsigned worker_count, WorkerEntry entry_, WorkerPoolOptions options_)
	: event(event_), entry(std::move(entry_)), options(options_)
{
	workers.reserve(worker_count);
	for (unsigned i = 0; i < worker_count; ++i)
		workers.push_back(std::make_unique<Worker>(this, options.first_index + i));
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
		run_worker_process(entry, worker_end.get(), w.index, w.activity, w.counters);

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
	w.started_usec = pool_monotonic_usec();
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
	if (pool.draining || pool.retiring || w.pid != 0)
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
	log_message((draining || retiring) && clean ? LogLevel::info : LogLevel::warning, nullptr, "worker[%u] pid %d %s",
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

	if (draining || retiring) {
		if (running_count() == 0 && on_all_exited)
			on_all_exited();
		return;
	}

	const std::uint64_t uptime = pool_monotonic_usec() - w.started_usec;
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

bool WorkerPool::send_client(const ClientInfo &info, UniqueFd client)
{
	const std::uint64_t attempt = ++send_attempt;
	const int fds[] = {client.get()};
	const std::span<const int> attached(fds);
	const NewClientMessage message{info};

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
			if (connection_ids != nullptr)
				connection_ids->bind(std::uint32_t(info.client_id), best->pid);
			if (info.has_credentials && best->client_uids.emplace(info.client_id, info.uid).second)
				add_uid_session(info.uid);
			return true;
		}
	}
	log_warning("no worker ready for client %llu; closing it",
		    static_cast<unsigned long long>(info.client_id));
	return false;
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

void WorkerPool::retire(std::uint32_t drain_timeout_ms)
{
	retiring = true;
	retire_drain_ms = drain_timeout_ms;
	for (auto &w : workers) {
		if (w->respawn_timer)
			sd_event_source_set_enabled(w->respawn_timer.get(), SD_EVENT_OFF);
		set_ready(*w, false);
		/* Its idle backend connections go now, not when its last session ends. */
		if (w->channel)
			send_message(*w, RetireMessage{}, {});
		retire_if_idle(*w);
	}
	if (running_count() == 0 && on_all_exited)
		on_all_exited();
}

/* The master hands a retired worker nothing more, so once its count is 0 it serves nobody: DRAIN
   closes nothing and the worker exits. */
void WorkerPool::retire_if_idle(Worker &w)
{
	if (retiring && !draining && w.connections == 0 && w.channel)
		send_message(w, DrainMessage{retire_drain_ms}, {});
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

} // namespace myproxy
