// An owning file descriptor: closes it when destroyed, moves but never copies.  Both processes use
// it for every fd they hold, above all for fds received over the channel, so no error path can
// leak one.  It never duplicates an fd and never closes one it does not own.
#pragma once

#include <unistd.h>

namespace myproxy {

class UniqueFd {
	int fd = -1;

public:
	UniqueFd() noexcept = default;
	explicit UniqueFd(int owned) noexcept : fd(owned) {}

	UniqueFd(UniqueFd &&other) noexcept : fd(other.release()) {}
	UniqueFd &operator=(UniqueFd &&other) noexcept {
		reset(other.release());
		return *this;
	}

	UniqueFd(const UniqueFd &) = delete;
	UniqueFd &operator=(const UniqueFd &) = delete;

	~UniqueFd() { reset(); }

	int get() const noexcept { return fd; }
	bool is_valid() const noexcept { return fd >= 0; }
	explicit operator bool() const noexcept { return is_valid(); }

	/* Gives up ownership without closing; the caller now owns the returned fd. */
	[[nodiscard]] int release() noexcept {
		const int result = fd;
		fd = -1;
		return result;
	}

	/* Closes the current fd (if any) and takes ownership of @owned.  close() errors are ignored:
	   on Linux the fd is gone either way, and retrying could close someone else's fd. */
	void reset(int owned = -1) noexcept {
		if (fd >= 0 && fd != owned)
			::close(fd);
		fd = owned;
	}
};

} // namespace myproxy
