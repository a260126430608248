// KILL between sessions (worker side): a session's KILL of a connection id is decided here at once
// when this worker holds the target, or asked of the master (KILL_REQUEST) when another worker
// does, whose answer (KILL_ORDER) goes back to the session that asked.  The same decision answers
// the master's orders for the sessions this worker holds: same backend server -> the backend
// thread id (the requester sends KILL over its own backend connection, so the server checks the
// privileges); other server and other backend user -> ERR 1095; other server, same user -> the
// target session is closed.  Never waits, never trusts an answer for a request it did not make.
#pragma once

#include "common/channel_protocol.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace myproxy {

class KillIntercept;

/* What decides a KILL: the backend server (address text), the backend user and thread id of a
 * session in the relay. */
struct KillFacts {
	std::string server;
	std::string user;
	std::uint32_t backend_thread = 0;
};

struct KillAnswer {
	KillOutcome outcome = KillOutcome::unknown;
	/* same_server: the target's backend thread id. */
	std::uint32_t backend_thread = 0;
};

class KillBoard {
public:
	/* What the worker does for the board. */
	class Host {
	public:
		/* The session with connection id @id if it is in the relay (KILL reaches only those),
		 * else nullptr. */
		virtual KillIntercept *kill_session(std::uint32_t id) noexcept = 0;
		/* Sends @message (which encodes) to the master. */
		virtual void send_kill(const ChannelMessage &message) noexcept = 0;

	protected:
		~Host() = default;
	};

	explicit KillBoard(Host &worker) noexcept : host(worker) {}

	/* Session @requester (facts @facts) asks to KILL [QUERY] @target: the answer when this worker
	 * decides at once, nothing when the master was asked (@requester's answered() follows). */
	std::optional<KillAnswer> request(std::uint32_t requester, std::uint32_t target, bool query,
					  const KillFacts &facts);
	/* A KILL_ORDER from the master: an order about a session of ours, or an answer. */
	void order(const KillOrderMessage &message);

	/* The decision for a KILL [QUERY] of @target (nullptr: not in the relay) asked by a session
	 * with @requester's facts; closes @target when that is the answer. */
	static KillAnswer decide(KillIntercept *target, bool query, const KillFacts &requester);

	std::size_t waiting_count() const noexcept { return waiting.size(); }

private:
	Host &host;
	/* Request id -> the connection id of the session that asked. */
	std::unordered_map<std::uint64_t, std::uint32_t> waiting;
	std::uint64_t last_request = 0;
};

} // namespace myproxy
