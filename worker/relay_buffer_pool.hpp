// Fixed-size I/O buffers for the command-phase relay (worker side), shared by all connections of
// one worker: a connection holds a buffer only while bytes wait in it, so an idle connection holds
// none.  A few released buffers are kept for reuse; the pool never grows past what is in use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace myproxy {

class RelayBufferPool {
public:
	/* One direction's window: the largest packet the relay can hold whole (a command it inspects)
	 * and the most it reads with one call. */
	static constexpr std::size_t buffer_size = 32 * 1024;

	explicit RelayBufferPool(std::size_t max_idle = 64) noexcept : max_idle_(max_idle) {}

	RelayBufferPool(const RelayBufferPool &) = delete;
	RelayBufferPool &operator=(const RelayBufferPool &) = delete;

	/* Throws std::bad_alloc. */
	std::unique_ptr<std::uint8_t[]> get();
	void put(std::unique_ptr<std::uint8_t[]> buffer) noexcept;

	std::size_t idle_count() const noexcept { return idle_.size(); }
	/* Buffers handed out and not yet returned. */
	std::size_t in_use() const noexcept { return in_use_; }

private:
	std::vector<std::unique_ptr<std::uint8_t[]>> idle_;
	std::size_t max_idle_;
	std::size_t in_use_ = 0;
};

} // namespace myproxy
