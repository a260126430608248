// The bookkeeping of idle backend connections; see idle_backends.hpp.
#include "worker/idle_backends.hpp"

#include <cstring>

namespace myproxy {

std::size_t ReuseKeyHash::operator()(const ReuseKey &key) const noexcept
{
	/* The key is a keyed digest already: any 8 bytes of it are as good a hash as any. */
	std::size_t value;
	std::memcpy(&value, key.digest.data(), sizeof(value));
	return value;
}

void IdleBackends::put(const ReuseKey &key, std::size_t per_key, std::string account,
		       std::unique_ptr<ParkedBackend> connection, bool ready, std::uint64_t now_usec)
{
	if (max_total == 0 || per_key == 0 || connection->born_usec + max_age <= now_usec)
		return; /* closed as it goes */
	/* erase() drops a key's list with its last entry: look it up each time. */
	for (auto list = by_key.find(key); list != by_key.end() && list->second.size() >= per_key; list = by_key.find(key))
		erase(list->second.front());
	while (entries.size() >= max_total)
		erase(entries.begin());
	entries.push_back(Entry{key, std::move(account), std::move(connection), ready});
	by_key[key].push_back(std::prev(entries.end()));
}

void IdleBackends::erase(EntryList::iterator entry) noexcept
{
	const auto list = by_key.find(entry->key);
	if (list != by_key.end()) {
		list->second.remove(entry);
		if (list->second.empty())
			by_key.erase(list);
	}
	entries.erase(entry);
}

IdleBackends::EntryList::iterator IdleBackends::find(const ParkedBackend &connection) noexcept
{
	for (auto i = entries.begin(); i != entries.end(); ++i)
		if (i->connection.get() == &connection)
			return i;
	return entries.end();
}

void IdleBackends::mark_ready(const ParkedBackend &connection, bool ready) noexcept
{
	const auto entry = find(connection);
	if (entry == entries.end())
		return;
	if (ready)
		entry->ready = true;
	else
		erase(entry);
}

std::unique_ptr<ParkedBackend> IdleBackends::take(const ReuseKey &key, std::string_view database,
						  std::uint64_t now_usec) noexcept
{
	const auto list = by_key.find(key);
	if (list == by_key.end())
		return nullptr;
	std::optional<EntryList::iterator> chosen;
	/* Newest first: the warmest connection, and the old ones are left to expire. */
	for (auto i = list->second.rbegin(); i != list->second.rend(); ++i) {
		const Entry &entry = **i;
		if (!entry.ready || entry.connection->born_usec + max_age <= now_usec)
			continue;
		if (entry.connection->database == database) {
			chosen = *i;
			break;
		}
		/* "No schema" cannot be set again on a session that has one. */
		if (!database.empty() && !chosen)
			chosen = *i;
	}
	if (!chosen)
		return nullptr;
	std::unique_ptr<ParkedBackend> connection = std::move((*chosen)->connection);
	erase(*chosen);
	return connection;
}

void IdleBackends::drop(const ParkedBackend &connection) noexcept
{
	const auto entry = find(connection);
	if (entry != entries.end())
		erase(entry);
}

std::size_t IdleBackends::erase_if(const std::function<bool(const Entry &)> &condemned) noexcept
{
	std::size_t count = 0;
	for (auto i = entries.begin(); i != entries.end();) {
		const auto next = std::next(i);
		if (condemned(*i)) {
			erase(i);
			++count;
		}
		i = next;
	}
	return count;
}

std::optional<std::uint64_t> IdleBackends::expire(std::uint64_t now_usec) noexcept
{
	erase_if([&](const Entry &entry) { return entry.connection->born_usec + max_age <= now_usec; });
	return next_expiry();
}

std::optional<std::uint64_t> IdleBackends::next_expiry() const noexcept
{
	std::optional<std::uint64_t> earliest;
	for (const Entry &entry : entries) {
		const std::uint64_t due = entry.connection->born_usec + max_age;
		if (!earliest || due < *earliest)
			earliest = due;
	}
	return earliest;
}

std::size_t IdleBackends::drop_node(std::uint32_t cluster, std::uint32_t node) noexcept
{
	return erase_if([&](const Entry &entry) {
		return entry.connection->cluster == cluster && entry.connection->node == node;
	});
}

std::size_t IdleBackends::drop_account(std::string_view account) noexcept
{
	return erase_if([&](const Entry &entry) { return entry.account == account; });
}

void IdleBackends::clear() noexcept
{
	by_key.clear();
	entries.clear();
}

std::size_t IdleBackends::size(const ReuseKey &key) const noexcept
{
	const auto list = by_key.find(key);
	return list == by_key.end() ? 0 : list->second.size();
}

} // namespace myproxy
