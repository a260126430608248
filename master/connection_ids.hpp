// The connection ids of all clients (master side): one 32-bit id per accepted client, unique among
// the live ones over every worker and generation, increasing until it wraps (then 0 and the ids
// still in use are skipped), and which worker process holds each.  The greeting carries the id
// (NEW_CLIENT's client_id); KILL names it, and the master finds the worker to ask here.  Trusts no
// worker: a worker can release only ids it holds.  Pure bookkeeping: no I/O.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <unordered_map>

namespace myproxy {

class ConnectionIds {
public:
	/* The next free id after the last one given (reserved, held by nobody yet); 0 when all
	 * 2^32-1 are in use. */
	std::uint32_t assign();
	/* The client @id went to worker process @pid. */
	void bind(std::uint32_t id, pid_t pid);
	/* The client never reached a worker, or worker @pid reported it closed: @id is free again.
	 * Ignored when @pid does not hold it (0: the master's own reservation). */
	void release(std::uint64_t id, pid_t pid) noexcept;
	/* Worker @pid is gone: every id it held is free. */
	void release_worker(pid_t pid) noexcept;
	/* The worker process holding @id, if a worker holds it. */
	std::optional<pid_t> holder(std::uint32_t id) const noexcept;
	std::size_t in_use() const noexcept { return holders.size(); }

	/* For tests of the wrap-around: the id assign() gave last. */
	void set_last(std::uint32_t id) noexcept { last = id; }

private:
	/* id -> worker pid (0 while reserved, before the worker has it). */
	std::unordered_map<std::uint32_t, pid_t> holders;
	std::uint32_t last = 0;
};

} // namespace myproxy
