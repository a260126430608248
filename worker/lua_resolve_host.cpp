// LuaResolveHost (see lua_resolve_host.hpp).
#include "worker/lua_resolve_host.hpp"

#include "common/log.hpp"
#include "common/socket_address.hpp"

#include <cstdio>
#include <new>

namespace myproxy {

LuaResolveHost::LuaResolveHost(lua_State *L_, Sender send_) noexcept : L(L_), send(std::move(send_))
{
	set_lua_resolve_driver(L, this);
}

LuaResolveHost::~LuaResolveHost()
{
	set_lua_resolve_driver(L, nullptr);
}

AsyncOperation *LuaResolveHost::resolve(CallbackRun &waiter, const HostName &host, char *error,
					std::size_t error_size) noexcept
{
	if (lookups.size() >= channel_max_resolves_per_worker) {
		std::snprintf(error, error_size, "cannot resolve '%s': %zu lookups of this worker are in progress",
			      host.text, channel_max_resolves_per_worker);
		return nullptr;
	}
	try {
		auto lookup = std::make_unique<Lookup>();
		lookup->waiter = &waiter;
		lookup->port = host.port;
		const std::uint64_t id = ++last_id;
		Lookup *pointer = lookup.get();
		lookups.emplace(id, std::move(lookup));
		send(ResolveRequestMessage{id, std::string_view(host.text, host.length)});
		return pointer;
	} catch (const std::bad_alloc &) {
		std::snprintf(error, error_size, "cannot resolve '%s': out of memory", host.text);
		return nullptr;
	}
}

void LuaResolveHost::reply(const ResolveReplyMessage &reply) noexcept
{
	const auto i = lookups.find(reply.request_id);
	if (i == lookups.end()) {
		log_warning("RESOLVE_REPLY for request %llu, which is not waiting",
			    static_cast<unsigned long long>(reply.request_id));
		return;
	}
	const std::unique_ptr<Lookup> lookup = std::move(i->second);
	lookups.erase(i);
	if (lookup->waiter == nullptr)
		return;
	AddressError error{};
	if (reply.address.empty())
		std::snprintf(error.text, sizeof(error.text), "%.*s", int(reply.error.size()), reply.error.data());
	const AddressResult result = reply.address.empty()
					     ? AddressResult(error)
					     : make_ip_address(reply.address.data(), reply.address.size(), lookup->port);
	complete_lua_resolve(L, *lookup->waiter, result);
}

} // namespace myproxy
