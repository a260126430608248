// The command phase of a worker session; see command_phase.hpp.
#include "command_phase.hpp"

#include "worker/backend_side.hpp"
#include "worker/client_side.hpp"
#include "worker/session_ending.hpp"
#include "worker/session_log.hpp"
#include "worker/session_metrics.hpp"

#include "common/command_packet.hpp"
#include "common/log.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/ok_packet.hpp"

#include <sys/epoll.h>

namespace myproxy {

CommandPhase::CommandPhase(RelayBufferPool &buffers, ClientSide &client_side, BackendSide &backend_side,
			   SessionScript &script, const SessionLog &session_log, CommandIntercept::Host &host,
			   KillBoard &kill_board, KillIntercept::Host &kill_host, std::uint32_t connection_id)
	: client(client_side), backend(backend_side), log(session_log),
	  relay_(buffers, client.stream(), backend.stream(), (client.capabilities() & CLIENT_LOCAL_FILES) != 0),
	  intercept(relay_, client.login(), script, backend, log, host, client.capabilities()),
	  kill_(relay_, backend, kill_board, kill_host, log, connection_id, client.capabilities())
{
}

CommandPhase::~CommandPhase() noexcept = default;

bool CommandPhase::start(std::uint64_t client_id)
{
	OkPacket ok;
	ok.status_flags = backend.session().status_flags;
	ok.warnings = backend.session().warnings;
	std::vector<std::uint8_t> out;
	const std::size_t start = begin_packet(out);
	build_ok_packet(out, ok, client.capabilities());
	std::uint8_t sequence_id = client.sequence();
	finish_packet(out, start, sequence_id);

	relay_.intercept_command(COM_INIT_DB);
	relay_.intercept_command(COM_CHANGE_USER);
	kill_.watch();
	relay_.metrics_tap().attach(backend.address());
	metrics_auth_ok(client_id);
	/* The compressed protocol starts after the OK, on each side that negotiated it. */
	const bool compressed_client = (client.capabilities() & CLIENT_COMPRESS) != 0;
	const bool compressed_backend = (backend.session().capabilities & CLIENT_COMPRESS) != 0;
	if ((compressed_client && !relay_.compress(RelaySide::client, out.size())) ||
	    (compressed_backend && !relay_.compress(RelaySide::backend))) {
		log(LogLevel::error, "cannot start the compressed protocol: out of memory");
		return false;
	}
	if (!relay_.send_to_client(out) || !relay_.preload(RelaySide::client, client.early_bytes()) ||
	    !relay_.preload(RelaySide::backend, backend.early_bytes())) {
		log(LogLevel::error, "cannot start the relay");
		return false;
	}
	char address[socket_address_text_max];
	backend.format_address(address, sizeof(address));
	log(LogLevel::debug, "logged in to backend %s as '%s'", address, backend.login_user().c_str());
	backend.login_done();
	client.release_buffers();
	return true;
}

bool CommandPhase::handle(RelayEvent &event)
{
	switch (event.kind) {
	case RelayEvent::Kind::none:
		break;
	case RelayEvent::Kind::closed:
		report_relay_end(event, relay_, client.stream(), backend.stream(), client.capabilities(), log);
		return true;
	case RelayEvent::Kind::command:
		if (!kill_.command(event))
			intercept.command(event);
		break;
	case RelayEvent::Kind::captured:
		intercept.captured(event);
		break;
	}
	return false;
}

bool CommandPhase::pending_input(RelaySide side) const noexcept
{
	const StreamSocket &stream = side == RelaySide::client ? client.stream() : backend.stream();
	return (stream.pending() || relay_.input_buffered(side)) && relay_.wants_input(side);
}

bool CommandPhase::idle() const noexcept
{
	return intercept.idle() && kill_.idle() && relay_session_idle(relay_);
}

void CommandPhase::final_err(const ServerError &error, const char *message) noexcept
{
	(void)send_final_err(relay_, error, message, client.capabilities());
}

bool CommandPhase::killed(const char *message) noexcept
{
	std::vector<std::uint8_t> err;
	try {
		/* Sequence id 1: the answer to the client's next command, which is where it reads it. */
		err = client.make_err(ER_CONNECTION_KILLED, message, 1, false);
	} catch (const std::bad_alloc &) {
		return false;
	}
	/* Only at a packet boundary toward the client, and only if it all goes out now; else the
	 * client just sees the connection end. */
	return relay_.send_to_client(err) && relay_.resume().kind != RelayEvent::Kind::closed &&
	       (relay_.wanted_client_events() & EPOLLOUT) == 0;
}

} // namespace myproxy
