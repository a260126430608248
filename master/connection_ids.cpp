// The master's connection ids; see connection_ids.hpp.  assign() walks at most one step per id in
// use, which only a wrap-around past a long run of old, still open sessions ever costs.
#include "connection_ids.hpp"

namespace myproxy {

std::uint32_t ConnectionIds::assign()
{
	if (holders.size() >= 0xffffffffull)
		return 0;
	std::uint32_t id = last;
	do {
		++id;
	} while (id == 0 || holders.count(id) != 0);
	holders.emplace(id, 0);
	last = id;
	return id;
}

void ConnectionIds::bind(std::uint32_t id, pid_t pid)
{
	holders[id] = pid;
}

void ConnectionIds::release(std::uint64_t id, pid_t pid) noexcept
{
	if (id == 0 || id > 0xffffffffull)
		return;
	const auto i = holders.find(std::uint32_t(id));
	if (i != holders.end() && i->second == pid)
		holders.erase(i);
}

void ConnectionIds::release_worker(pid_t pid) noexcept
{
	if (pid == 0)
		return;
	for (auto i = holders.begin(); i != holders.end();)
		i = i->second == pid ? holders.erase(i) : std::next(i);
}

std::optional<pid_t> ConnectionIds::holder(std::uint32_t id) const noexcept
{
	const auto i = holders.find(id);
	if (i == holders.end() || i->second == 0)
		return std::nullopt;
	return i->second;
}

} // namespace myproxy
