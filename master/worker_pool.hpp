// The master's side of the workers: forks them, owns one channel per worker, hands clients to the
// least loaded ready one, and replaces workers that die (with back-off, so a crash loop does not
// spin).  What a worker sends is gossip: checked against a table of allowed messages; anything
// else ends that worker with SIGKILL, never the master.  The forked child never returns into the
// master's code: it closes every inherited fd but its channel, runs the entry function, _exit()s.
#pragma once

#include "common/channel_protocol.hpp"
#include "common/unique_fd.hpp"
#include "common/worker_activity.hpp"

#include <signal.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

/* As <systemd/sd-event.h> declares them; users of this header need no libsystemd flags. */
typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;

namespace myproxy {

/* Runs in the forked child with its channel (fd 3) and index; returns the exit status. */
using WorkerEntry = std::function<int(UniqueFd channel, unsigned worker_index)>;

struct WorkerPoolOptions {
	/* A worker that dies sooner than this after its start is respawned only after a delay. */
	std::uint64_t min_uptime_usec = 1000000;
	/* The first delay; it doubles with every further quick death, up to max_backoff_usec. */
	std::uint64_t initial_backoff_usec = 1000000;
	std::uint64_t max_backoff_usec = 30000000;
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

/* "exited with status 77 (EXIT_PRIVILEGE_DROP)" (the name from common/exit_status.hpp when the
   status has one), "exited with status 3", "killed by signal 31 (SIGSYS)", "killed by signal 11 (SIGSEGV), core
   dumped": @code and @status as in siginfo_t (CLD_EXITED, ...).  Pure, for the exit log line. */
void describe_child_exit(char *buffer, std::size_t size, int code, int status) noexcept;

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

	/* Hands a client to the ready worker with the fewest connections: NEW_CLIENT with @info,
	   the client socket and, when valid, the pidfd.  The pool's copies are closed either way;
	   returns false (logged) when no worker took it. */
	bool send_client(const ClientInfo &info, UniqueFd client, UniqueFd pidfd);

	/* SIGHUP: RELOAD to every running worker. */
	void broadcast_reload();

	/* Shutdown: DRAIN to every running worker; from now on nothing is respawned. */
	void drain(std::uint32_t timeout_ms);

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

	/* Clients handed over and not yet reported closed, over all workers (for STATUS=). */
	std::uint64_t connection_count() const noexcept;

	struct Worker;

private:
	sd_event *event;
	WorkerEntry entry;
	WorkerPoolOptions options;
	std::vector<std::unique_ptr<Worker>> workers;
	bool draining = false;
	/* Numbers send_client() calls, so each tries every worker at most once. */
	std::uint64_t send_attempt = 0;
	std::function<void()> on_ready_changed;
	std::function<void()> on_all_exited;
	std::function<void(std::uint32_t, std::uint64_t)> on_crash;
	std::function<std::vector<ChannelMessage>()> on_worker_ready;
	/* Shared receive and send buffers: the master handles one message at a time. */
	std::array<std::uint8_t, channel_max_message_size> receive_buffer;
	std::vector<std::uint8_t> send_buffer;

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

	/* The handlers of the messages a worker may send (the dispatch table in the .cpp); each
	   returns null, or why the message is a protocol violation. */
	const char *handle_worker_ready(Worker &worker, const ChannelMessage &message);
	const char *handle_connection_closed(Worker &worker, const ChannelMessage &message);
	const char *handle_stats_reply(Worker &worker, const ChannelMessage &message);

	static int on_channel(sd_event_source *source, int fd, std::uint32_t revents, void *userdata);
	static int on_child(sd_event_source *source, const siginfo_t *info, void *userdata);
	static int on_respawn_timer(sd_event_source *source, std::uint64_t usec, void *userdata);
};

} // namespace myproxy
