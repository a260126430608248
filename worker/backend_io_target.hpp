// Who handles a backend socket's wake-ups (worker side): the session's backend half while a session
// uses the connection, the pool while it is parked.  The socket's one sd-event source moves with the
// connection and only its userdata changes, so parking and taking cost no epoll_ctl.  A target must
// not be destroyed while the source points to it.
#pragma once

#include <cstdint>

typedef struct sd_event_source sd_event_source;

namespace myproxy {

class BackendIoTarget {
public:
	virtual void backend_io(std::uint32_t revents) noexcept = 0;

protected:
	~BackendIoTarget() = default;
};

/* The callback of every backend socket's source: @userdata is a BackendIoTarget. */
int backend_io_trampoline(sd_event_source *source, int fd, std::uint32_t revents, void *userdata);

} // namespace myproxy
