// The master's side of the workers: forks them, owns one channel per worker, hands clients to the
// least loaded ready one, and replaces workers that die (with back-off, so a crash loop does not
// spin).  What a worker sends is gossip: checked against a table of allowed messages; anything
// else ends that worker with SIGKILL, never the master.  The forked child never returns into the
// master's code: it closes every inherited fd but its channel, runs the entry function, _exit()s.
#pragma once

#include "common/channel_protocol.hpp"
#include "common/event_source.hpp"
#include "common/unique_fd.hpp"
#include "common/worker_activity.hpp"
#include "common/worker_counters.hpp"
#include "master/metrics.hpp"
#include "master/worker_process.hpp"

#include <signal.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

/* As <systemd/sd-event.h> declares them; users of this header need no libsystemd flags. */
typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;

namespace myproxy {

class ConnectionIds;

struct WorkerPoolOptions {
	/* A worker that dies sooner than this after its start is respawned only after a delay. */
	std::uint64_t min_uptime_usec = 1000000;
	/* The first delay; it doubles with every further quick death, up to max_backoff_usec. */
	std::uint64_t initial_backoff_usec = 1000000;
	std::uint64_t max_backoff_usec = 30000000;
	/* A worker that closed its channel is given this long to exit on its own, so the master logs
	   its own exit status (77, 79, ...) rather than a SIGKILL of its making; then it is killed. */
	std::uint64_t channel_eof_grace_usec = 3000000;
	/* Sessions a worker gets at most (its fd budget, common/fd_limit.hpp); a full worker is
	   skipped, and when all are full the master refuses the client itself. */
	std::uint64_t max_connections_per_worker = UINT64_MAX;
	/* HEARTBEAT goes to every ready worker this often; one that has not answered for
	   2 intervals gets no new clients, one silent for heartbeat_timeout_usec is killed and
	   replaced (stopped, livelocked).  0 turns the heartbeat off. */
	std::uint64_t heartbeat_interval_usec = 1000000;
	std::uint64_t heartbeat_timeout_usec = 5000000;
	/* The index of this pool's first worker ("worker[N]" in the log, the entry's worker_index):
	   a reloaded generation's workers are numbered after the previous generation's. */
	unsigned first_index = 0;
};

/* A snapshot of one worker slot, for tests and statistics. */
struct WorkerStatus {
	/* 0 while no process runs in this slot (waiting for a respawn). */
	pid_t pid = 0;
	/* Said WORKER_READY and gets clients. */
	bool ready = false;
	/* Clients handed over and not yet reported closed. */
	std::uint64_t connections = 0;
	/* Processes started in this slot, the first included. */
	unsigned starts = 0;
	/* The delay the next quick death will wait, 0 after a worker lived long enough. */
	std::uint64_t backoff_usec = 0;
};

class WorkerPool {
public:
	/* @event must outlive the pool, and SIGCHLD must be blocked before start(). */
	WorkerPool(sd_event *event, unsigned worker_count, WorkerEntry entry,
		   WorkerPoolOptions options = {});
	/* SIGKILLs and reaps the workers still running. */
	~WorkerPool();

	WorkerPool(const WorkerPool &) = delete;
	WorkerPool &operator=(const WorkerPool &) = delete;

	/* Forks every worker; returns 0 or a negative errno (fork or socketpair failed). */
	int start();

	/* Hands a client to the ready worker with the fewest connections: NEW_CLIENT with @info
	   and the client socket.  The pool's copy is closed either way; returns false (logged)
	   when no worker took it. */
	bool send_client(const ClientInfo &info, UniqueFd client);

	/* Shutdown: DRAIN to every running worker; from now on nothing is respawned. */
	void drain(std::uint32_t timeout_ms);

	/* A newer generation took over (SIGHUP): no new clients, nothing respawned, no session
	   closed for it.  Each worker gets RETIRE at once (it closes its idle backend connections),
	   then DRAIN(@drain_timeout_ms) once the master knows it has no session left, and exits;
	   drain() later ends those that are still busy. */
	void retire(std::uint32_t drain_timeout_ms);

	/* Sends @message to every worker that has a channel (NODE_STATE changes). */
	void broadcast(const ChannelMessage &message);

	/* Signals every running worker (through its pidfd, so never a recycled pid). */
	void kill_all(int signal_number);

	unsigned size() const noexcept { return static_cast<unsigned>(workers.size()); }
	unsigned running_count() const noexcept;
	unsigned ready_count() const noexcept;
	WorkerStatus status(unsigned index) const noexcept;

	/* Called when ready_count() changes (to pause or resume accepting). */
	void set_on_ready_changed(std::function<void()> callback) { on_ready_changed = std::move(callback); }
	/* Called when a worker process said WORKER_READY, before it gets its first client: returns
	   the messages it must have first (the full cluster state). */
	void set_on_worker_ready(std::function<std::vector<ChannelMessage>()> callback)
	{
		on_worker_ready = std::move(callback);
	}
	/* Called once draining and the last worker exited. */
	void set_on_all_exited(std::function<void()> callback) { on_all_exited = std::move(callback); }
	/* Called when a worker died from a signal the master did not send while it was serving a
	   client that came with credentials: that client's uid and id (for the crash penalty). */
	void set_on_crash(std::function<void(std::uint32_t uid, std::uint64_t client_id)> callback)
	{
		on_crash = std::move(callback);
	}

	/* Some ready worker has room for one more session (max_connections_per_worker). */
	bool has_room() const noexcept;
	/* Sessions of @uid (clients with credentials) handed over and not yet closed, all workers. */
	std::uint64_t sessions_of(std::uint32_t uid) const noexcept;

	/* Called when a worker reports a cluster node suspect (NODE_SUSPECT: read_timeout). */
	void set_on_node_suspect(std::function<void(std::uint32_t cluster, std::uint32_t node)> callback)
	{
		on_node_suspect = std::move(callback);
	}

	/* Called for a worker's RESOLVE_REQUEST with the worker's pid: null, or why the request is a
	   protocol violation (the worker is then killed). */
	void set_on_resolve_request(std::function<const char *(pid_t, const ResolveRequestMessage &)> callback)
	{
		on_resolve_request = std::move(callback);
	}
	/* The master's connection ids (master/connection_ids): the pool records which worker got
	   each client and frees the id when that worker reports it closed.  Optional. */
	void set_connection_ids(ConnectionIds *ids) noexcept { connection_ids = ids; }
	/* Called for a worker's KILL_REQUEST or KILL_RESULT with the worker's pid (master/
	   kill_router): null, or why the message is a protocol violation. */
	void set_on_kill(std::function<const char *(pid_t, const ChannelMessage &)> callback)
	{
		on_kill = std::move(callback);
	}
	/* Called when the channel of worker process @pid closes (it exits, dies or is killed). */
	void set_on_channel_closed(std::function<void(pid_t)> callback) { on_channel_closed = std::move(callback); }
	/* Sends @message to worker process @pid while its channel is open; false otherwise. */
	bool send_to(pid_t pid, const ChannelMessage &message);

	/* Clients handed over and not yet reported closed, over all workers (for STATUS=). */
	std::uint64_t connection_count() const noexcept;

	/* For the Prometheus exporter: the counter page of the process running in slot @index
	   (nullptr while none runs or the page could not be mapped), the counts of worker
	   processes that ended (folded from their pages), and crashes (deaths by a signal the
	   master did not send). */
	const WorkerCounters *live_counters(unsigned index) const noexcept;
	const CounterTotals &ended_workers_counters() const noexcept { return ended_counters; }
	std::uint64_t crash_count() const noexcept { return crashes; }

	struct Worker;

private:
	sd_event *event;
	WorkerEntry entry;
	WorkerPoolOptions options;
	std::vector<std::unique_ptr<Worker>> workers;
	/* Open sessions per uid over all workers (the sum of the workers' client_uids). */
	std::unordered_map<std::uint32_t, std::uint64_t> uid_sessions;
	EventSource heartbeat_timer;
	std::uint64_t heartbeat_sequence = 0;
	bool draining = false;
	bool retiring = false;
	/* What retire() sends an idle worker. */
	std::uint32_t retire_drain_ms = 0;
	/* Numbers send_client() calls, so each tries every worker at most once. */
	std::uint64_t send_attempt = 0;
	std::function<void()> on_ready_changed;
	std::function<void()> on_all_exited;
	std::function<void(std::uint32_t, std::uint64_t)> on_crash;
	std::function<std::vector<ChannelMessage>()> on_worker_ready;
	std::function<void(std::uint32_t, std::uint32_t)> on_node_suspect;
	std::function<const char *(pid_t, const ResolveRequestMessage &)> on_resolve_request;
	std::function<void(pid_t)> on_channel_closed;
	std::function<const char *(pid_t, const ChannelMessage &)> on_kill;
	ConnectionIds *connection_ids = nullptr;
	/* Shared receive and send buffers: the master handles one message at a time. */
	std::array<std::uint8_t, channel_max_message_size> receive_buffer;
	std::vector<std::uint8_t> send_buffer;
	CounterTotals ended_counters;
	std::uint64_t crashes = 0;

	int spawn(Worker &worker);
	void schedule_respawn(Worker &worker, std::uint64_t delay_usec);
	bool send_message(Worker &worker, const ChannelMessage &message, std::span<const int> fds);
	void receive_messages(Worker &worker);
	void dispatch(Worker &worker, const ChannelMessage &message);
	void kill_worker(Worker &worker, const char *reason);
	void close_channel(Worker &worker);
	void set_ready(Worker &worker, bool ready);
	void signal_worker(Worker &worker, int signal_number);
	void handle_exit(Worker &worker, int code, int status);
	void kill_after_grace(Worker &worker);
	static int on_grace_timer(sd_event_source *source, std::uint64_t usec, void *userdata);
	void add_uid_session(std::uint32_t uid);
	void drop_uid_session(std::uint32_t uid) noexcept;
	void drop_uid_sessions(Worker &worker) noexcept;
	void retire_if_idle(Worker &worker);

	/* The handlers of the messages a worker may send (the dispatch table in the .cpp); each
	   returns null, or why the message is a protocol violation. */
	const char *handle_worker_ready(Worker &worker, const ChannelMessage &message);
	const char *handle_connection_closed(Worker &worker, const ChannelMessage &message);
	const char *handle_heartbeat_reply(Worker &worker, const ChannelMessage &message);
	const char *handle_node_suspect(Worker &worker, const ChannelMessage &message);
	const char *handle_resolve_request(Worker &worker, const ChannelMessage &message);
	const char *handle_kill(Worker &worker, const ChannelMessage &message);
	void check_heartbeats(std::uint64_t now_usec);
	static int on_heartbeat_timer(sd_event_source *source, std::uint64_t usec, void *userdata);

	static int on_channel(sd_event_source *source, int fd, std::uint32_t revents, void *userdata);
	static int on_child(sd_event_source *source, const siginfo_t *info, void *userdata);
	static int on_respawn_timer(sd_event_source *source, std::uint64_t usec, void *userdata);
};

} // namespace myproxy
