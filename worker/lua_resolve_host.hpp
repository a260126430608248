// The worker's side of mysql_resolve() in callbacks: each host name goes to the master as a
// RESOLVE_REQUEST with a fresh id, the callback waits, and the master's RESOLVE_REPLY resumes it.
// Worker side.  Bounded like the master (channel_max_resolves_per_worker unanswered, abandoned
// ones included, so both count alike).  Must outlive every callback that may resolve: the worker
// destroys it after its connections and the pg host.
#pragma once

#include "common/channel_protocol.hpp"
#include "lua/callback_run.hpp"
#include "lua/lua_resolve.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

struct lua_State;

namespace myproxy {

class LuaResolveHost final : public ResolveDriver {
public:
	/* Queues a message for the master (Worker::send_message). */
	using Sender = std::function<void(const ChannelMessage &message)>;

	/* Installs itself as the state's resolve driver. */
	LuaResolveHost(lua_State *L, Sender send) noexcept;
	~LuaResolveHost();
	LuaResolveHost(const LuaResolveHost &) = delete;
	LuaResolveHost &operator=(const LuaResolveHost &) = delete;

	AsyncOperation *resolve(CallbackRun &waiter, const HostName &host, char *error,
				std::size_t error_size) noexcept override;

	/* The master's RESOLVE_REPLY. */
	void reply(const ResolveReplyMessage &reply) noexcept;

private:
	struct Lookup final : AsyncOperation {
		/* nullptr once the callback is gone: the answer is dropped. */
		CallbackRun *waiter = nullptr;
		std::uint16_t port = 0;
		void abandon() noexcept override { waiter = nullptr; }
	};

	lua_State *L;
	Sender send;
	std::uint64_t last_id = 0;
	/* Unanswered requests by id, abandoned ones included. */
	std::unordered_map<std::uint64_t, std::unique_ptr<Lookup>> lookups;
};

} // namespace myproxy
