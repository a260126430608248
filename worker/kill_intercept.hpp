// One session's KILL translation (worker side): the relay reports `KILL [CONNECTION | QUERY] n`
// statements and COM_PROCESS_KILL (common/kill_statement); when n is one of myproxy's connection
// ids the worker's KillBoard decides, here or through the master, and the client's request becomes
// the same KILL of the target's backend thread id over this session's backend connection, an ERR
// 1095, or an OK; an n that is no session of myproxy's goes to the backend unchanged.  While the
// master is asked, the request stays held in the relay.  Also the target's side: its facts and its
// end.  Never touches a socket or the event loop itself.
#pragma once

#include "worker/kill_board.hpp"

#include "common/kill_statement.hpp"

#include <cstdint>
#include <optional>

namespace myproxy {

class BackendSide;
class Relay;
class SessionLog;
struct RelayEvent;

class KillIntercept {
public:
	/* What the session does for the translation. */
	class Host {
	public:
		/* A verdict came later than the relay's event (the master answered): move the relay on. */
		virtual void kill_resume() noexcept = 0;
		/* A KILL from a session on another backend server ends this one: ERR 1927 as the answer
		 * to its command, then close. */
		virtual void kill_end() noexcept = 0;
		/* The session cannot go on: log @what, close. */
		virtual void relay_failed(const char *what) noexcept = 0;

	protected:
		~Host() = default;
	};

	/* All references must outlive the interception; @id: this session's connection id;
	 * @capabilities: what the client negotiated. */
	KillIntercept(Relay &relay, BackendSide &backend, KillBoard &board, Host &host, const SessionLog &log,
		      std::uint32_t id, std::uint32_t capabilities) noexcept;

	/* Asks the relay for the commands it translates. */
	void watch() noexcept;
	/* A command the relay reported: false when it is not one of ours (the caller decides). */
	bool command(const RelayEvent &event);
	/* The master's answer to the request in progress. */
	void answered(const KillAnswer &answer) noexcept;
	/* No request waits for the master. */
	bool idle() const noexcept { return !pending; }

	/* The target's side: its backend server, user and thread id. */
	KillFacts facts() const;
	/* The target's side: a KILL [QUERY] from a session on another backend server ends it. */
	void kill_session(bool query) noexcept;

private:
	Relay &relay;
	BackendSide &backend;
	KillBoard &board;
	Host &host;
	const SessionLog &log;
	std::uint32_t id;
	std::uint32_t capabilities;
	/* The request waiting for the master, and the sequence id of the client's answer. */
	std::optional<KillCommand> pending;
	std::uint8_t client_sequence = 1;

	void apply(const KillCommand &command, const KillAnswer &answer) noexcept;
	bool answer_client(std::vector<std::uint8_t> packet);
};

} // namespace myproxy
