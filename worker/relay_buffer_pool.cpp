// The relay's buffer free list; see relay_buffer_pool.hpp.
#include "relay_buffer_pool.hpp"

namespace myproxy {

std::unique_ptr<std::uint8_t[]> RelayBufferPool::get()
{
	std::unique_ptr<std::uint8_t[]> buffer;
	if (!idle_.empty()) {
		buffer = std::move(idle_.back());
		idle_.pop_back();
	} else {
		/* Not value-initialised: the relay writes before it reads. */
		buffer.reset(new std::uint8_t[buffer_size]);
	}
	++in_use_;
	return buffer;
}

void RelayBufferPool::put(std::unique_ptr<std::uint8_t[]> buffer) noexcept
{
	if (!buffer)
		return;
	--in_use_;
	if (idle_.size() < max_idle_) {
		try {
			idle_.push_back(std::move(buffer));
		} catch (...) {
			/* The buffer is freed by its unique_ptr. */
		}
	}
}

} // namespace myproxy
