// mysql_resolve(name) once config.lua has loaded, as upstream's asynchronous resolver: numeric
// addresses and socket paths at once; a host name is looked up by the master (the sandboxed worker
// has no resolver) while the callback's coroutine waits and the worker serves other clients.
// The Lua side lives here; a worker implements ResolveDriver over its channel
// (worker/lua_resolve_host).  A failed lookup is data (nil, message), never a Lua error.
#pragma once

#include <cstddef>

struct lua_State;

namespace myproxy {

class AddressResult;
class AsyncOperation;
class CallbackRun;
struct HostName;

class ResolveDriver {
public:
	/* Starts looking up @host; the driver later calls complete_lua_resolve() for @waiter.
	 * nullptr (and a message in @error) when it cannot start. */
	virtual AsyncOperation *resolve(CallbackRun &waiter, const HostName &host, char *error,
					std::size_t error_size) noexcept = 0;

protected:
	~ResolveDriver() = default;
};

/* mysql_resolve(name) after loading: lua_address's mysql_resolve() hands over here once name
 * lookups are off.  A Lua C function. */
int lua_resolve_at_runtime(lua_State *L);

/* The worker's driver; nullptr removes it (a host name then raises, as at the top level of a
 * state without one). */
void set_lua_resolve_driver(lua_State *L, ResolveDriver *driver) noexcept;

/* For the driver: the lookup for @waiter ended with @result; pushes the address (or nil and the
 * error) on its coroutine and resumes it.  @L is the main state.  Never raises. */
void complete_lua_resolve(lua_State *L, CallbackRun &waiter, const AddressResult &result) noexcept;

} // namespace myproxy
