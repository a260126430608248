// A worker's pool of idle backend connections for client:connect()'s reuse option (worker side):
// the key of a login (a keyed BLAKE2b digest of everything a fresh login with this client would
// depend on, never a cleartext credential), parking a session's connection when the session ends
// cleanly (one write: a query with a random token and COM_RESET_CONNECTION, common/reuse_exchange;
// the connection joins the idle set once the server answered both as it must), watching idle
// connections (a backend that hangs up or speaks is dropped), their age (one timer), and dropping
// them for a node the monitor gave up, an account disconnected, a drain or a reload (RETIRE).
// Never blocks; a connection that misbehaves in any way is closed, never handed out.
#pragma once

#include "common/event_source.hpp"
#include "worker/idle_backends.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

typedef struct sd_event sd_event;

namespace myproxy {

struct ConnectAction;

/* What the backend session of a login depends on besides the script's action. */
struct ReuseLoginContext {
	std::string_view account;
	/* The node chosen (or the address). */
	const SocketAddress *address = nullptr;
	/* What the client negotiated and passes on (MariaDB's extended ones shifted up by 32). */
	std::uint64_t capabilities = 0;
	std::uint8_t character_set = 0;
	std::uint32_t max_packet_size = 0;
};

class BackendPool {
public:
	/* @max_total: backend_idle_max; @max_age_usec: backend_idle_timeout. */
	BackendPool(sd_event *event, std::size_t max_total, std::uint64_t max_age_usec);
	~BackendPool();

	BackendPool(const BackendPool &) = delete;
	BackendPool &operator=(const BackendPool &) = delete;

	/* Whether connections may be parked at all (bounds above 0, not draining or retired). */
	bool accepting() const noexcept { return open && max_total > 0 && idle.max_age_usec() > 0; }
	/* The key of the login @action asks for in @context; nullopt when such a login is never reused
	 * (the compressed protocol, capabilities whose replies the parking exchange cannot read). */
	std::optional<ReuseKey> key(const ConnectAction &action, const ReuseLoginContext &context) const;

	/* A session ended cleanly on @connection (its stream at a command boundary, nothing buffered):
	 * starts the parking exchange.  The pool owns it from now on, whatever happens. */
	void park(const ReuseKey &key, std::size_t per_key, std::string account, std::unique_ptr<ParkedBackend> connection);
	/* A ready connection for @key, preferably with default schema @database; nullptr when none. */
	std::unique_ptr<ParkedBackend> take(const ReuseKey &key, std::string_view database) noexcept;

	void drop_node(std::uint32_t cluster, std::uint32_t node) noexcept;
	void drop_account(std::string_view account) noexcept;
	/* Draining, or a reload retired this worker (RETIRE): closes them all and parks no more. */
	void close() noexcept;

	std::size_t size() const noexcept { return idle.size(); }

	/* ParkedBackend's wake-ups. */
	void connection_event(ParkedBackend &connection, std::uint32_t revents) noexcept;

private:
	sd_event *event;
	std::size_t max_total;
	IdleBackends idle;
	EventSource timer;
	bool open = true;
	/* crypto_generichash's key for this worker's digests (keys and parking tokens). */
	std::array<std::uint8_t, 32> secret{};
	/* Parkings so far: each token is the digest of the next count. */
	std::uint64_t parkings = 0;

	std::uint64_t now() const noexcept;
	void idle_changed() noexcept;
	void arm_timer() noexcept;
	static int on_timer(sd_event_source *source, std::uint64_t usec, void *userdata);
	void parking_read(ParkedBackend &connection) noexcept;
};

} // namespace myproxy
