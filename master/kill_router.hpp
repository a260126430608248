// KILL across workers (master side): a worker's KILL_REQUEST for a connection id it does not hold
// goes as a KILL_ORDER to the worker that holds it (master/connection_ids), whose KILL_RESULT comes
// back to the requester as a KILL_ORDER with the outcome.  Every request is answered while its
// worker lives: at once (unknown) when no worker holds the id, or when the target's worker goes
// away before it answers.  Bounded: channel_max_kills_per_worker tickets per requester.  Decides
// nothing about the kill itself (the target's worker does) and trusts no worker's message.
#pragma once

#include "common/channel_protocol.hpp"

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <unordered_map>

namespace myproxy {

class ConnectionIds;

class KillRouter {
public:
	/* Sends a message to worker process @pid, whatever its generation; false when it is gone. */
	using Sender = std::function<bool(pid_t pid, const ChannelMessage &message)>;

	KillRouter(const ConnectionIds &connection_ids, Sender sender) : ids(connection_ids), send(std::move(sender)) {}

	/* Worker @requester's KILL_REQUEST; returns a protocol violation (the worker is ended) or
	 * nullptr. */
	const char *request(pid_t requester, const KillRequestMessage &message);
	/* Worker @target_worker's KILL_RESULT; a violation or nullptr. */
	const char *result(pid_t target_worker, const KillResultMessage &message);
	/* Worker @pid's channel closed: its requests are dropped, the requests waiting for it are
	 * answered unknown (the session ended with its worker). */
	void forget(pid_t pid);

	std::size_t tickets_open() const noexcept { return tickets.size(); }

private:
	struct Ticket {
		pid_t requester;
		pid_t target_worker;
		KillFields request;
	};

	const ConnectionIds &ids;
	Sender send;
	std::unordered_map<std::uint64_t, Ticket> tickets;
	std::unordered_map<pid_t, std::size_t> open_per_requester;
	std::uint64_t last_ticket = 0;

	void answer(pid_t requester, const KillFields &request, KillOutcome outcome, std::uint32_t backend_thread);
	void close_ticket(std::unordered_map<std::uint64_t, Ticket>::iterator ticket);
};

} // namespace myproxy
