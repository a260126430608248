// The worker activity page: one shared anonymous page per worker slot, mapped by the master before
// the fork, in which the worker notes which client it is serving right now.  When a worker dies
// from a signal the master reads it and penalizes that client's uid (crash_penalty), without a
// message per event: a store to memory is all the worker pays.  The worker writes, the master only
// reads; a lying worker can at most get one of its own clients' uids penalized.
#pragma once

#include <atomic>
#include <cstdint>

namespace myproxy {

struct WorkerActivityPage {
	/* ClientInfo::client_id of the connection whose event the worker is handling; 0 when idle. */
	std::atomic<std::uint64_t> serving_client_id;
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

/* This process's page: set in a freshly forked worker by the pool, null in the master. */
inline WorkerActivityPage *worker_activity_page = nullptr;

/* The worker starts (@client_id) or ends (0) handling one connection's event. */
inline void note_serving_client(std::uint64_t client_id) noexcept
{
	if (worker_activity_page != nullptr)
		worker_activity_page->serving_client_id.store(client_id, std::memory_order_relaxed);
}

/* Notes the connection for one event handler's scope. */
class ServingClientScope {
public:
	explicit ServingClientScope(std::uint64_t client_id) noexcept { note_serving_client(client_id); }
	~ServingClientScope() { note_serving_client(0); }
	ServingClientScope(const ServingClientScope &) = delete;
	ServingClientScope &operator=(const ServingClientScope &) = delete;
};

} // namespace myproxy
