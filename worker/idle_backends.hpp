// The bookkeeping of a worker's idle backend connections (client:connect()'s reuse), without I/O:
// which connections wait under which key, in which order they were parked, their bounds (per worker,
// per key: the least recently parked goes first) and their age (a connection is never handed out
// past backend_idle_timeout from its login).  worker/backend_pool does the I/O around it.  Owns the
// connections it holds: dropping one closes it.  Never looks at a credential: keys are digests.
#pragma once

#include "common/backend_link.hpp"
#include "common/client_login.hpp"
#include "common/event_source.hpp"
#include "common/reuse_exchange.hpp"
#include "common/socket_address.hpp"
#include "worker/backend_io_target.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace myproxy {

/* Everything a login depends on, digested (worker/backend_pool: reuse_key()). */
struct ReuseKey {
	std::array<std::uint8_t, 32> digest{};
	bool operator==(const ReuseKey &) const noexcept = default;
};

struct ReuseKeyHash {
	std::size_t operator()(const ReuseKey &key) const noexcept;
};

/* A backend connection out of any session: its link (socket and stream), what its login learned,
 * and where it goes. */
class BackendPool;

struct ParkedBackend final : BackendIoTarget {
	ParkedBackend() = default;
	ParkedBackend(const ParkedBackend &) = delete;
	ParkedBackend &operator=(const ParkedBackend &) = delete;
	/* Says COM_QUIT to an idle connection that is dropped (see backend_pool.cpp). */
	~ParkedBackend();

	/* The pool's wake-ups (worker/backend_pool). */
	void backend_io(std::uint32_t revents) noexcept override;
	/* Set while parked. */
	BackendPool *pool = nullptr;
	/* The parking exchange while it runs. */
	std::unique_ptr<ReuseParking> parking;

	std::unique_ptr<BackendLink> link;
	/* The backend socket's sd-event source, carried from session to pool and back. */
	EventSource source;
	std::uint32_t events = 0;
	ClientLoginSuccess session;
	SocketAddress address;
	std::optional<std::uint32_t> cluster;
	std::uint32_t node = 0;
	std::string user;
	/* CLOCK_MONOTONIC of the backend login: the age backend_idle_timeout bounds. */
	std::uint64_t born_usec = 0;
	/* The default schema after the reset (empty: none). */
	std::string database;
};

class IdleBackends {
public:
	/* @max_total: connections over all keys (0: none is kept); @max_age_usec: from the login. */
	IdleBackends(std::size_t max_connections, std::uint64_t max_age_usec) noexcept
		: max_total(max_connections), max_age(max_age_usec) {}

	/* Takes @connection under @key (the account's, at most @per_key of that key).  Over a bound, the
	 * least recently parked of the key, else of the worker, is closed to make room; a connection
	 * already too old is closed at once.  @ready: it may be handed out now (else mark_ready() later). */
	void put(const ReuseKey &key, std::size_t per_key, std::string account, std::unique_ptr<ParkedBackend> connection,
		 bool ready, std::uint64_t now_usec);
	/* The parking exchange of @connection ended: it may be handed out (false: drop it). */
	void mark_ready(const ParkedBackend &connection, bool ready) noexcept;
	/* The most recently parked ready connection of @key with default schema @database, or, when
	 * @database is not empty, with any schema (the caller sends COM_INIT_DB); nullptr when none. */
	std::unique_ptr<ParkedBackend> take(const ReuseKey &key, std::string_view database, std::uint64_t now_usec) noexcept;

	/* Closes @connection (its backend hung up or spoke). */
	void drop(const ParkedBackend &connection) noexcept;
	/* Closes those past their age; the time the next one is due, if any. */
	std::optional<std::uint64_t> expire(std::uint64_t now_usec) noexcept;
	/* Closes the connections to node @node of cluster @cluster. */
	std::size_t drop_node(std::uint32_t cluster, std::uint32_t node) noexcept;
	/* Closes the connections parked by sessions of @account. */
	std::size_t drop_account(std::string_view account) noexcept;
	/* Closes them all. */
	void clear() noexcept;

	std::size_t size() const noexcept { return entries.size(); }
	std::size_t size(const ReuseKey &key) const noexcept;
	/* When the oldest connection expires, if any. */
	std::optional<std::uint64_t> next_expiry() const noexcept;
	std::uint64_t max_age_usec() const noexcept { return max_age; }

private:
	struct Entry {
		ReuseKey key;
		std::string account;
		std::unique_ptr<ParkedBackend> connection;
		bool ready = false;
	};
	using EntryList = std::list<Entry>;

	std::size_t max_total;
	std::uint64_t max_age;
	/* Least recently parked first. */
	EntryList entries;
	/* Per key, the same entries in the same order. */
	std::unordered_map<ReuseKey, std::list<EntryList::iterator>, ReuseKeyHash> by_key;

	void erase(EntryList::iterator entry) noexcept;
	EntryList::iterator find(const ParkedBackend &connection) noexcept;
	std::size_t erase_if(const std::function<bool(const Entry &)> &condemned) noexcept;
};

} // namespace myproxy
