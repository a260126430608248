// A login in progress as the worker counts it (worker side): the session's entry in the worker's
// deadline list (connect_timeout) and, for a client with credentials, one of its uid's slots of
// logins in progress.  Both are given back when the login ends, either way, at the latest when the
// slot goes.  Never throws but from watch().
#pragma once

#include <cstdint>
#include <list>
#include <optional>

namespace myproxy {

class ClientConnection;
class Worker;
struct LoginWatch;

class LoginSlot {
public:
	explicit LoginSlot(Worker &owner) noexcept : worker(owner) {}
	~LoginSlot() { end(); }

	LoginSlot(const LoginSlot &) = delete;
	LoginSlot &operator=(const LoginSlot &) = delete;

	/* Starts the deadline of @connection's login. */
	void watch(ClientConnection &connection);
	/* Takes one of @uid's slots; false when it has too many logins in progress. */
	bool reserve(std::uint32_t uid);
	/* The deadline passed: the worker has erased the entry itself. */
	void expired() noexcept { entry.reset(); }
	/* No deadline any more (the session's last packet is on its way, or it is logged in). */
	void unwatch() noexcept;
	/* The login ended: the deadline and the uid's slot go. */
	void end() noexcept;

private:
	Worker &worker;
	std::optional<std::list<LoginWatch>::iterator> entry;
	std::optional<std::uint32_t> reserved_uid;
};

} // namespace myproxy
