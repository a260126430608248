// Log lines of one client session (worker side), every one with the client's name as its subject
// ("acct=acme pid=123 uid=1000", else the peer, else the client id), as STYLE.md asks.  The parts of
// a session (worker/client_connection and the rooms it wires) share one; it reads the attributes
// at each line, so an account set by the script shows from then on.  Never throws.
#pragma once

#include "lua/lua_client.hpp"

#include <cstddef>
#include <cstdint>

namespace myproxy {

enum class LogLevel;

class SessionLog {
public:
	SessionLog(const ClientAttributes &client, std::uint64_t id) noexcept
		: attributes(client), client_id(id)
	{
	}

	void operator()(LogLevel level, const char *format, ...) const noexcept __attribute__((format(printf, 3, 4)));

private:
	const ClientAttributes &attributes;
	std::uint64_t client_id;

	std::size_t format_subject(char *buffer, std::size_t size) const noexcept;
};

} // namespace myproxy
