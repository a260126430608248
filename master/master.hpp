// The master process: opens the listeners, forks the workers, and runs its sd-event loop that
// accepts clients and hands them over, reloads on SIGHUP (a new generation of workers), and
// drains on SIGTERM/SIGINT.  It keeps its privileges and does little: it never reads or writes
// MySQL bytes and runs Lua only to load config.lua; a misbehaving worker is ended, never the master.
#pragma once

#include "master/generation.hpp"

#include <functional>
#include <optional>

namespace myproxy {

/* SIGHUP: loads config.lua afresh (with file access, in its directory, as at startup).  When it
   does not load, logs why (as --check-config says it) and returns nullopt. */
using ConfigReloader = std::function<std::optional<MasterConfig>()>;

/* Runs the master until it has shut down; returns the exit status (common/exit_status.hpp): exit_ok
   after SIGTERM/SIGINT, exit_os_error or exit_config when a listener cannot be opened (the error is
   logged), exit_os_error when the loop or the workers cannot start.
   @config's entry runs in every forked worker of the first generation. */
int run_master(MasterConfig config, ConfigReloader reload);

} // namespace myproxy
