// KILL across workers (master side); see kill_router.hpp.
#include "kill_router.hpp"

#include "master/connection_ids.hpp"

#include "common/log.hpp"

#include <vector>

namespace myproxy {

void KillRouter::answer(pid_t requester, const KillFields &request, KillOutcome outcome, std::uint32_t backend_thread)
{
	KillOrderMessage reply;
	reply.tag = request.tag;
	reply.target = request.target;
	reply.query = request.query;
	reply.outcome = outcome;
	reply.backend_thread = outcome == KillOutcome::same_server ? backend_thread : 0;
	/* A requester that is gone needs no answer. */
	(void)send(requester, reply);
}

const char *KillRouter::request(pid_t requester, const KillRequestMessage &message)
{
	const auto holder = ids.holder(message.target);
	if (!holder) {
		answer(requester, message, KillOutcome::unknown, 0);
		return nullptr;
	}
	std::size_t &open = open_per_requester[requester];
	if (open >= channel_max_kills_per_worker)
		return "sent more KILL_REQUESTs than may be unanswered";
	const std::uint64_t ticket = ++last_ticket;
	KillOrderMessage order;
	static_cast<KillFields &>(order) = message;
	order.tag = ticket;
	/* The views of @message point into the receive buffer: the ticket keeps only what the
	   answer needs (tag, target, query). */
	KillFields kept;
	kept.tag = message.tag;
	kept.target = message.target;
	kept.query = message.query;
	if (!send(*holder, order)) {
		answer(requester, kept, KillOutcome::unknown, 0);
		return nullptr;
	}
	tickets.emplace(ticket, Ticket{requester, *holder, kept});
	++open;
	return nullptr;
}

void KillRouter::close_ticket(std::unordered_map<std::uint64_t, Ticket>::iterator ticket)
{
	const auto open = open_per_requester.find(ticket->second.requester);
	if (open != open_per_requester.end() && --open->second == 0)
		open_per_requester.erase(open);
	tickets.erase(ticket);
}

const char *KillRouter::result(pid_t target_worker, const KillResultMessage &message)
{
	const auto ticket = tickets.find(message.tag);
	if (ticket == tickets.end()) {
		/* The requester's worker went away meanwhile (forget() dropped the ticket). */
		log_debug("KILL_RESULT for ticket %llu, which is closed", static_cast<unsigned long long>(message.tag));
		return nullptr;
	}
	if (ticket->second.target_worker != target_worker || ticket->second.request.target != message.target)
		return "sent a KILL_RESULT for a KILL_ORDER it did not get";
	answer(ticket->second.requester, ticket->second.request, message.outcome, message.backend_thread);
	close_ticket(ticket);
	return nullptr;
}

void KillRouter::forget(pid_t pid)
{
	std::vector<std::uint64_t> orphaned;
	for (const auto &[number, ticket] : tickets)
		if (ticket.requester == pid || ticket.target_worker == pid)
			orphaned.push_back(number);
	for (const std::uint64_t number : orphaned) {
		const auto ticket = tickets.find(number);
		if (ticket->second.requester != pid)
			answer(ticket->second.requester, ticket->second.request, KillOutcome::unknown, 0);
		close_ticket(ticket);
	}
	open_per_requester.erase(pid);
}

} // namespace myproxy
