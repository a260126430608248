// The worker pool (master side): fork, channel I/O, load balancing, supervision.  A worker's
// messages pass the codec and then a table of what a worker may send; a violation SIGKILLs that
// worker and the master goes on.  Signals reach workers only through sd-event's pidfds, so a
// recycled pid is never hit.  The child branch of fork() never returns: it must not run any of
// the master's destructors (a Listener's would unlink the socket path).
#include "worker_pool.hpp"

#include "common/channel_socket.hpp"
#include "common/exit_status.hpp"
#include "common/log.hpp"

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
	sd_event_source *channel_source = nullptr;
	sd_event_source *child_source = nullptr;
	sd_event_source *respawn_timer = nullptr;
	bool ready = false;
	/* This process sent WORKER_READY (ready may be false again while draining). */
	bool announced_ready = false;
	std::uint64_t connections = 0;
	unsigned starts = 0;
	std::uint64_t started_usec = 0;
	std::uint64_t backoff_usec = 0;
	/* send_client() tries each worker at most once per client. */
	std::uint64_t tried_in_attempt = 0;
	StatsReplyMessage last_stats;
	/* Shared with the worker process (see common/worker_activity.hpp); null if mmap failed. */
	WorkerActivityPage *activity = nullptr;
	/* The uid of every client handed over and not yet closed (those with credentials only). */
	std::unordered_map<std::uint64_t, std::uint32_t> client_uids;
	/* The master signalled this process itself: its death is no crash. */
	bool signalled_by_master = false;

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
		default:
			signal(sig, SIG_DFL);
		}
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, nullptr);
}

[[noreturn]] void run_child(const WorkerEntry &entry, int channel_fd, unsigned index,
			    WorkerActivityPage *activity) noexcept
{
	log_set_role("worker[%u]", index);
	worker_activity_page = activity;

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
		if (w->child_source != nullptr) {
			sd_event_source_send_child_signal(w->child_source, SIGKILL, nullptr, 0);
			siginfo_t info;
			while (waitid(P_PID, static_cast<id_t>(w->pid), &info, WEXITED) < 0 && errno == EINTR) {
			}
		}
		sd_event_source_unref(w->child_source);
		sd_event_source_unref(w->channel_source);
		sd_event_source_unref(w->respawn_timer);
	}
}

int WorkerPool::start()
{
	for (auto &w : workers) {
		const int r = spawn(*w);
		if (r < 0)
			return r;
	}
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

	const pid_t pid = fork();
	if (pid < 0) {
		r = errno;
		log_errno(LogLevel::error, r, nullptr, "worker[%u]: fork()", w.index);
		return -r;
	}
	if (w.activity != nullptr)
		w.activity->serving_client_id.store(0, std::memory_order_relaxed);
	if (pid == 0)
		run_child(entry, worker_end.get(), w.index, w.activity);

	worker_end.reset();
	r = sd_event_add_child(event, &w.child_source, pid, WEXITED, on_child, &w);
	if (r < 0) {
		/* Unsupervised, it would never be reaped nor replaced. */
		log_errno(LogLevel::error, -r, nullptr, "worker[%u]: sd_event_add_child(%d)", w.index,
			  static_cast<int>(pid));
		kill(pid, SIGKILL);
		waitpid(pid, nullptr, 0);
		return r;
	}
	w.pid = pid;
	r = sd_event_add_io(event, &w.channel_source, master_end.get(), EPOLLIN, on_channel, &w);
	if (r < 0) {
		log_errno(LogLevel::error, -r, nullptr, "worker[%u]: sd_event_add_io(channel)", w.index);
		sd_event_source_send_child_signal(w.child_source, SIGKILL, nullptr, 0);
	} else {
		w.channel = std::move(master_end);
	}
	w.starts++;
	w.started_usec = monotonic_usec();
	w.ready = false;
	w.announced_ready = false;
	w.connections = 0;
	w.client_uids.clear();
	w.signalled_by_master = false;
	log_debug("worker[%u] started, pid %d", w.index, static_cast<int>(pid));
	return 0;
}

void WorkerPool::schedule_respawn(Worker &w, std::uint64_t delay_usec)
{
	int r;
	if (w.respawn_timer != nullptr) {
		r = sd_event_source_set_time_relative(w.respawn_timer, delay_usec);
		if (r >= 0)
			r = sd_event_source_set_enabled(w.respawn_timer, SD_EVENT_ONESHOT);
	} else {
		r = sd_event_add_time_relative(event, &w.respawn_timer, CLOCK_MONOTONIC, delay_usec,
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

	/* A signal nobody here sent (SIGSYS from seccomp, SIGSEGV, SIGABRT): the client whose event
	   the worker was handling is the prime suspect. */
	const bool crashed = (code == CLD_KILLED || code == CLD_DUMPED) && !w.signalled_by_master;
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
	w.client_uids.clear();

	/* sd-event reaps the child after this callback; unref'ing its source here is allowed. */
	w.child_source = sd_event_source_unref(w.child_source);
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
	/* Unref before close: within the source's own dispatch, sd-event then drops the fd from
	   its epoll first. */
	w.channel_source = sd_event_source_unref(w.channel_source);
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

void WorkerPool::signal_worker(Worker &w, int signal_number)
{
	if (w.child_source == nullptr)
		return;
	w.signalled_by_master = true;
	sd_event_source_send_child_signal(w.child_source, signal_number, nullptr, 0);
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
			    (best == nullptr || w->connections < best->connections))
				best = w.get();
		if (best == nullptr)
			break;
		best->tried_in_attempt = attempt;
		if (send_message(*best, message, attached)) {
			best->connections++;
			if (info.has_credentials)
				best->client_uids.emplace(info.client_id, info.uid);
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
		if (w->respawn_timer != nullptr)
			sd_event_source_set_enabled(w->respawn_timer, SD_EVENT_OFF);
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
			/* Usually the worker is exiting.  While draining that is expected, and the
			   drain timeout bounds it: killing it here would log a clean exit as SIGKILL.
			   Otherwise one that lives on without a channel could never be drained, so
			   it goes (the exit status stays what it was). */
			log_debug("worker[%u] closed its channel", w.index);
			close_channel(w);
			set_ready(w, false);
			/* Not signal_worker(): usually the worker is dead already (its crash closed
			   the channel before SIGCHLD arrived), and its death must still count. */
			if (!draining && w.child_source != nullptr)
				sd_event_source_send_child_signal(w.child_source, SIGKILL, nullptr, 0);
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
		{ChannelMessageType::stats_reply, &WorkerPool::handle_stats_reply},
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
	w.client_uids.erase(closed.client_id);
	return nullptr;
}

const char *WorkerPool::handle_stats_reply(Worker &w, const ChannelMessage &message)
{
	w.last_stats = std::get<StatsReplyMessage>(message);
	return nullptr;
}

} // namespace myproxy
