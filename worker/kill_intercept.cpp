// One session's KILL translation; see kill_intercept.hpp.
#include "kill_intercept.hpp"

#include "worker/backend_side.hpp"
#include "worker/relay.hpp"
#include "worker/session_log.hpp"

#include "common/command_packet.hpp"
#include "common/err_packet.hpp"
#include "common/log.hpp"
#include "common/mysql_errors.hpp"
#include "common/mysql_packet.hpp"
#include "common/ok_packet.hpp"

#include <cstdio>

namespace myproxy {

KillIntercept::KillIntercept(Relay &relay_, BackendSide &backend_, KillBoard &board_, Host &host_,
			     const SessionLog &log_, std::uint32_t id_, std::uint32_t capabilities_) noexcept
	: relay(relay_), backend(backend_), board(board_), host(host_), log(log_), id(id_), capabilities(capabilities_)
{
}

void KillIntercept::watch() noexcept
{
	relay.intercept_command(COM_PROCESS_KILL);
	relay.intercept_queries(is_kill_command, kill_statement_max_payload);
}

KillFacts KillIntercept::facts() const
{
	KillFacts facts;
	char address[socket_address_text_max];
	backend.format_address(address, sizeof(address));
	facts.server = address;
	facts.user = backend.login_user();
	facts.backend_thread = backend.session().connection_id;
	return facts;
}

bool KillIntercept::command(const RelayEvent &event)
{
	const std::uint8_t first = event.start.first_byte;
	if (first != COM_QUERY && first != COM_PROCESS_KILL)
		return false;
	client_sequence = std::uint8_t(event.start.header.sequence_id + 1);
	const auto command = parse_kill_command(event.packet.subspan(PACKET_HEADER_SIZE));
	if (!command) {
		/* A COM_PROCESS_KILL of another length: the server answers it. */
		relay.forward_packet(RelaySide::client);
		return true;
	}
	if (const auto answer = board.request(id, command->id, command->query, facts())) {
		apply(*command, *answer);
		return true;
	}
	log(LogLevel::info, "connection %u: KILL %s%u names no session of this worker; asking the master",
	    unsigned(id), command->query ? "QUERY " : "", unsigned(command->id));
	pending = command;
	return true;
}

void KillIntercept::answered(const KillAnswer &answer) noexcept
{
	if (!pending)
		return;
	const KillCommand command = *pending;
	pending.reset();
	apply(command, answer);
	host.kill_resume();
}

bool KillIntercept::answer_client(std::vector<std::uint8_t> packet)
{
	relay.drop_packet(RelaySide::client);
	if (relay.send_to_client(packet))
		return true;
	host.relay_failed("cannot queue the answer to a KILL for the client");
	return false;
}

void KillIntercept::apply(const KillCommand &command, const KillAnswer &answer) noexcept
{
	try {
		std::vector<std::uint8_t> out;
		switch (answer.outcome) {
		case KillOutcome::pending:
		case KillOutcome::unknown:
			relay.forward_packet(RelaySide::client);
			return;
		case KillOutcome::same_server:
			build_kill_command(out, command, answer.backend_thread);
			log(LogLevel::info, "connection %u: KILL %s%u is backend thread %u", unsigned(id),
			    command.query ? "QUERY " : "", unsigned(command.id), unsigned(answer.backend_thread));
			if (!relay.replace_packet(RelaySide::client, out))
				host.relay_failed("cannot put the translated KILL in the relay");
			return;
		case KillOutcome::not_owner: {
			char message[64];
			std::snprintf(message, sizeof(message), "You are not owner of thread %u", unsigned(command.id));
			log(LogLevel::info, "connection %u: KILL %u refused: another backend server and user", unsigned(id),
			    unsigned(command.id));
			const std::size_t start = begin_packet(out);
			build_err_packet(out, ER_KILL_DENIED_ERROR, message, capabilities);
			std::uint8_t sequence = client_sequence;
			finish_packet(out, start, sequence);
			answer_client(std::move(out));
			return;
		}
		case KillOutcome::done: {
			OkPacket ok;
			ok.status_flags = backend.session().status_flags;
			const std::size_t start = begin_packet(out);
			build_ok_packet(out, ok, capabilities);
			std::uint8_t sequence = client_sequence;
			finish_packet(out, start, sequence);
			log(LogLevel::info, "connection %u: KILL %s%u closed that session (another backend server)",
			    unsigned(id), command.query ? "QUERY " : "", unsigned(command.id));
			answer_client(std::move(out));
			return;
		}
		}
	} catch (const std::bad_alloc &) {
		host.relay_failed("out of memory translating a KILL");
	}
}

void KillIntercept::kill_session(bool query) noexcept
{
	log(LogLevel::info, "closing: KILL %sfrom a session on another backend server", query ? "QUERY " : "");
	host.kill_end();
}

} // namespace myproxy
