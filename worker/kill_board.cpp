// KILL between sessions (worker side); see kill_board.hpp.
#include "kill_board.hpp"

#include "worker/kill_intercept.hpp"

#include "common/log.hpp"

#include <vector>

namespace myproxy {

KillAnswer KillBoard::decide(KillIntercept *target, bool query, const KillFacts &requester)
{
	if (target == nullptr)
		return {KillOutcome::unknown, 0};
	const KillFacts facts = target->facts();
	/* Same server: the server decides (a session killing itself always lands here, so it never
	 * closes itself from inside its own command).  A thread id the greeting did not give is
	 * nothing to translate to. */
	if (facts.server == requester.server)
		return {facts.backend_thread != 0 ? KillOutcome::same_server : KillOutcome::unknown, facts.backend_thread};
	if (facts.user != requester.user)
		return {KillOutcome::not_owner, 0};
	/* Another server, the same user: the server would let the user kill it.  Without a
	 * connection of ours to that server that could interrupt just the query, KILL QUERY ends
	 * the session too (man/myproxy.8). */
	target->kill_session(query);
	return {KillOutcome::done, 0};
}

std::optional<KillAnswer> KillBoard::request(std::uint32_t requester, std::uint32_t target, bool query,
					     const KillFacts &facts)
{
	if (KillIntercept *local = host.kill_session(target))
		return decide(local, query, facts);
	if (waiting.size() >= channel_max_kills_per_worker) {
		log_warning("%zu KILLs wait for the master already; passing KILL %u to the backend", waiting.size(),
			    unsigned(target));
		return KillAnswer{KillOutcome::unknown, 0};
	}
	KillRequestMessage message;
	message.tag = ++last_request;
	message.target = target;
	message.query = query;
	message.server = std::string_view(facts.server).substr(0, channel_max_kill_server);
	message.user = std::string_view(facts.user).substr(0, channel_max_kill_user);
	/* Facts the channel cannot carry (a NUL, a user name too long) name no session there. */
	std::vector<std::uint8_t> encoded;
	if (message.user.size() != facts.user.size() || !encode_channel_message(encoded, message))
		return KillAnswer{KillOutcome::unknown, 0};
	waiting.emplace(message.tag, requester);
	host.send_kill(message);
	return std::nullopt;
}

void KillBoard::order(const KillOrderMessage &message)
{
	if (message.outcome == KillOutcome::pending) {
		KillFacts requester;
		requester.server = std::string(message.server);
		requester.user = std::string(message.user);
		const KillAnswer answer = decide(host.kill_session(message.target), message.query, requester);
		KillResultMessage result;
		result.tag = message.tag;
		result.target = message.target;
		result.query = message.query;
		result.outcome = answer.outcome;
		result.backend_thread = answer.outcome == KillOutcome::same_server ? answer.backend_thread : 0;
		host.send_kill(result);
		return;
	}
	const auto i = waiting.find(message.tag);
	if (i == waiting.end()) {
		log_warning("the master answered KILL request %llu, which is not waiting",
			    static_cast<unsigned long long>(message.tag));
		return;
	}
	const std::uint32_t requester = i->second;
	waiting.erase(i);
	/* The session that asked may have ended meanwhile. */
	if (KillIntercept *session = host.kill_session(requester))
		session->answered({message.outcome, message.backend_thread});
}

} // namespace myproxy
