// The worker counters page (see worker_counters.hpp): the worker's slot lookup and the master's
// mapping and reset.  Summing pages for the exporter is the master's (master/metrics.cpp).
#include "common/worker_counters.hpp"

#include <sys/mman.h>

#include <new>

namespace myproxy {

ServerCounters *worker_server_counters(const SocketAddress &address) noexcept
{
	WorkerCounters *page = worker_counters_page;
	if (page == nullptr)
		return nullptr;
	ServerTable &table = page->servers;
	/* One writer (this worker): a relaxed load of our own count is exact. */
	const std::uint32_t used = table.used.load(std::memory_order_relaxed);
	for (std::uint32_t i = 0; i < used; ++i)
		if (table.slots[i].address == address)
			return &table.slots[i].counters;
	if (used == worker_counters_max_servers)
		return &table.other;
	table.slots[used].address = address;
	/* Release: the master, reading used with acquire, sees the address written. */
	table.used.store(used + 1, std::memory_order_release);
	return &table.slots[used].counters;
}

WorkerCounters *map_worker_counters() noexcept
{
	void *page = mmap(nullptr, sizeof(WorkerCounters), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return nullptr;
	/* Anonymous mappings are zero-filled: every counter starts at 0. */
	return new (page) WorkerCounters{};
}

void unmap_worker_counters(WorkerCounters *page) noexcept
{
	if (page != nullptr)
		munmap(page, sizeof(WorkerCounters));
}

void reset_worker_counters(WorkerCounters &page) noexcept
{
	/* Only between two processes of a slot: nobody writes it now. */
	new (&page) WorkerCounters{};
}

} // namespace myproxy
