// The command phase of a worker session; see command_phase.hpp.
#include "command_phase.hpp"

#include "worker/backend_side.hpp"
#include "worker/client_side.hpp"
#include "worker/session_ending.hpp"
#include "worker/session_reuse.hpp"
#include "worker/session_log.hpp"
#include "worker/session_metrics.hpp"
#include "worker/uring_session.hpp"

#include "common/command_packet.hpp"
#include "common/log.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/ok_packet.hpp"

#include <systemd/sd-event.h>
#include <sys/epoll.h>

#include <new>

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

CommandPhase::~CommandPhase() noexcept
{
	unwatch(false);
	if (home != nullptr)
		home->session_ended();
}

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

void CommandPhase::watch(RelayPoller &relay_poller, RelayWatch::Handler client_io, RelayWatch::Handler backend_io,
			 void *userdata) noexcept
{
	/* A plain session relays through the worker's io_uring when it has one (worker/uring_session). */
	const RelayWatch::Handler handlers[2] = {client_io, backend_io};
	if (relay_poller.ring() != nullptr &&
	    uring_session_join(*relay_poller.ring(), relay_, client, backend, handlers, userdata, log))
		return;
	home = &relay_poller;
	relay_poller.session_started();
	client_handler = client_io;
	backend_handler = backend_io;
	handler_data = userdata;
}

/* A seat in the poller (allocated only now); the sockets' sd-event sources are switched off (not
 * freed: ClientSide and BackendSide own them) while the poller watches the same descriptors.  False
 * when something refused (all as before). */
bool CommandPhase::move_to_poller(std::uint32_t client_events, std::uint32_t backend_events) noexcept
{
	seat.reset(new (std::nothrow) PollerSeat);
	if (!seat)
		return false;
	if (!home->add(seat->client_watch, client.fd(), client_events, client_handler, handler_data) ||
	    !home->add(seat->backend_watch, backend.fd(), backend_events, backend_handler, handler_data)) {
		home->remove(seat->client_watch);
		seat.reset();
		return false;
	}
	if (sd_event_source_set_enabled(client.io_source(), SD_EVENT_OFF) < 0 ||
	    sd_event_source_set_enabled(backend.io_source(), SD_EVENT_OFF) < 0) {
		unwatch(true);
		return false;
	}
	return true;
}

bool CommandPhase::poll(std::uint32_t client_wanted, std::uint32_t backend_wanted) noexcept
{
	/* The login's output buffer is gone (start()): only the relay writes to the client now. */
	const std::uint32_t client_events = client.stream().poll_events(client_wanted);
	const std::uint32_t backend_events = backend.stream().poll_events(backend_wanted);
	if (relay_.ring() != nullptr) {
		uring_session_poll(relay_, client_events, backend_events);
		return true;
	}
	const bool usable = home != nullptr && !home_refused;
	const bool wanted = usable && home->engaged() && relay_.counters().commands >= RelayPoller::join_after_commands;
	if (usable && wanted != (seat != nullptr)) {
		if (seat != nullptr)
			unwatch(true);
		else if (move_to_poller(client_events, backend_events)) {
			log(LogLevel::debug, "relay: the session's sockets move into the worker's poller");
			return true;
		}
		else
			home_refused = true; /* epoll refused (out of memory, max_user_watches): not again */
	}
	if (seat == nullptr)
		return client.poll(client_wanted) && backend.poll(backend_events);
	return home->modify(seat->client_watch, client_events) && home->modify(seat->backend_watch, backend_events);
}

void CommandPhase::unwatch(bool give_back) noexcept
{
	uring_session_leave(relay_, client, backend, give_back);
	if (seat == nullptr)
		return;
	home->remove(seat->client_watch);
	home->remove(seat->backend_watch);
	seat.reset();
	if (give_back) {
		if (client.io_source() != nullptr)
			(void)sd_event_source_set_enabled(client.io_source(), SD_EVENT_ON);
		if (backend.io_source() != nullptr)
			(void)sd_event_source_set_enabled(backend.io_source(), SD_EVENT_ON);
	}
}

bool CommandPhase::park_backend(const RelayEvent &event, std::string_view account)
{
	if (!backend.reusing() || !ends_session(event))
		return false;
	/* A parked connection is watched by its own source: out of the relay poller first. */
	unwatch(true);
	return end_session_for_reuse(event, relay_, backend, account);
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
	return (stream.pending() || relay_.input_buffered(side) || uring_session_input(relay_, side)) &&
	       relay_.wants_input(side);
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
