// The worker process's entry point.  A worker is forked by the master's worker pool; it serves the
// clients the master passes over its channel, running config.lua's callbacks and relaying MySQL.
// It never touches listeners or other workers' channels, and never runs as a privileged process
// once sandboxed.
#pragma once

#include "common/unique_fd.hpp"
#include "worker/sandbox.hpp"

namespace myproxy {

struct LoadedConfig;

/* Runs the worker until the master says DRAIN (and the connections finished) or the channel closes;
 * returns the process exit status.  Called in the freshly forked child, after the pool closed every
 * descriptor but @channel and the standard ones.  Enters the sandbox (@sandbox) first; if that fails
 * it returns the sandbox's exit status without ever saying WORKER_READY.  @run_reload: a SIGHUP
 * started this worker's generation, so config.lua's reload() runs (as a coroutine) before it says
 * WORKER_READY. */
int run_worker(LoadedConfig &config, UniqueFd channel, unsigned worker_index, const SandboxOptions &sandbox,
	       bool run_reload = false);

} // namespace myproxy
