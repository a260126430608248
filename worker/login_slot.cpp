// A login in progress as the worker counts it; see login_slot.hpp.
#include "login_slot.hpp"

#include "worker/worker_loop.hpp"

namespace myproxy {

void LoginSlot::watch(ClientConnection &connection)
{
	entry = worker.watch_login(connection);
}

bool LoginSlot::reserve(std::uint32_t uid)
{
	if (!worker.reserve_pending_login(uid))
		return false;
	reserved_uid = uid;
	return true;
}

void LoginSlot::unwatch() noexcept
{
	if (entry) {
		worker.unwatch_login(*entry);
		entry.reset();
	}
}

void LoginSlot::end() noexcept
{
	unwatch();
	if (reserved_uid) {
		worker.release_pending_login(*reserved_uid);
		reserved_uid.reset();
	}
}

} // namespace myproxy
