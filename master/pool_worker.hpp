// One worker slot of a WorkerPool (master side): the process running in it, its channel, its
// shared pages and its counts.  Private to the pool's two files (worker_pool.cpp: processes and
// clients; worker_pool_channel.cpp: what a worker sends, heartbeats); nothing else includes it.
#pragma once

#include "master/worker_pool.hpp"

#include "common/log.hpp"

#include <sys/mman.h>
#include <time.h>

#include <cerrno>
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

inline std::uint64_t pool_monotonic_usec() noexcept
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return std::uint64_t(ts.tv_sec) * 1000000 + std::uint64_t(ts.tv_nsec) / 1000;
}

} // namespace myproxy
