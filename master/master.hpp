// The master process: opens the listeners, forks the workers, and runs its sd-event loop that
// accepts clients and hands them over, relays SIGHUP, and drains on SIGTERM/SIGINT.  It keeps its
// privileges and does little: it never reads or writes MySQL bytes and never runs Lua after
// startup; a misbehaving worker is ended, never the master.
#pragma once

#include "common/cluster_config.hpp"
#include "master/worker_pool.hpp"

#include <cstdint>
#include <vector>

namespace myproxy {

struct ListenerConfig;

struct MasterOptions {
	/* How long draining workers may keep connections after SIGTERM (sent with DRAIN). */
	std::uint64_t drain_timeout_usec = 10000000;
	/* Extra time the master waits for draining workers to exit before it SIGKILLs them. */
	std::uint64_t drain_grace_usec = 1000000;
	/* After accept() ran out of fds (EMFILE/ENFILE), the listener rests this long. */
	std::uint64_t accept_pause_usec = 100000;
	/* How long a uid is refused after a worker crashed serving it (crash_penalty); 0: never. */
	std::uint64_t crash_penalty_usec = 90000000;
	WorkerPoolOptions pool;
	/* config.lua's mysql_cluster()s; the monitored ones are checked by the master. */
	std::vector<ClusterConfig> clusters;
};

/* Runs the master until it has shut down; returns the exit status (common/exit_status.hpp): exit_ok
   after SIGTERM/SIGINT, exit_os_error or exit_config when a listener cannot be opened (the error is
   logged), exit_os_error when the loop or the workers cannot start.
   @entry runs in every forked worker. */
int run_master(const std::vector<ListenerConfig> &listeners, unsigned worker_processes, WorkerEntry entry,
	       const MasterOptions &options = {});

} // namespace myproxy
