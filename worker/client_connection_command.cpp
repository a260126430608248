// The command phase of a client connection: reacting to the relay's events, on_init_db, and
// COM_CHANGE_USER (the script decides again; the backend never sees the client's credentials).
// Worker side.  Exchanges with the backend run with the client held, one at a time, and their
// final reply reaches the client with the sequence id it expects.
#include "client_connection.hpp"
#include "worker/session_ending.hpp"

#include "common/change_user_packet.hpp"
#include "worker/connection_util.hpp"
#include "worker/worker_loop.hpp"

#include "common/auth_switch.hpp"
#include "common/command_packet.hpp"
#include "common/err_packet.hpp"
#include "common/log.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/native_password.hpp"
#include "common/ok_packet.hpp"
#include "lua/callback_run.hpp"
#include "lua/lua_auth_verify.hpp"

#include <lua.hpp>
#include <openssl/crypto.h>

#include <cstring>

namespace myproxy {

void ClientConnection::relay_event(RelayEvent event) noexcept
{
	try {
		while (event.kind != RelayEvent::Kind::none) {
			handle_relay_event(event);
			if (phase != Phase::relay)
				return;
			if (script.suspended())
				break; /* resume_callback() goes on */
			event = relay->resume();
		}
		update_events();
	} catch (const std::exception &e) {
		log(LogLevel::error, "relay: %s", e.what());
		close();
	}
}

void ClientConnection::handle_relay_event(RelayEvent &event)
{
	switch (event.kind) {
	case RelayEvent::Kind::none:
		break;
	case RelayEvent::Kind::closed: {
		const char *reason = relay_close_reason_name(event.close_reason);
		switch (event.close_reason) {
		case RelayEvent::CloseReason::client_quit:
		case RelayEvent::CloseReason::client_closed:
			log(LogLevel::debug, "%s", reason);
			break;
		case RelayEvent::CloseReason::backend_closed:
			log(LogLevel::info, "%s", reason);
			(void)send_final_err(*relay, ER_CONNECTION_KILLED, "Lost connection to the backend server",
					     client_capabilities);
			break;
		case RelayEvent::CloseReason::client_error:
		case RelayEvent::CloseReason::backend_error:
			if (event.close_reason == RelayEvent::CloseReason::backend_error)
				(void)send_final_err(*relay, ER_CONNECTION_KILLED, "Lost connection to the backend server",
						     client_capabilities);
			if (event.error_number == tls_errno) {
				const StreamSocket &stream = event.close_reason == RelayEvent::CloseReason::client_error
								     ? client_stream
								     : backend.stream();
				log(LogLevel::info, "%s: %s", reason, stream.tls_error().c_str());
			} else {
				log(LogLevel::info, "%s: %s", reason, std::strerror(event.error_number));
			}
			break;
		case RelayEvent::CloseReason::packet_too_large:
		case RelayEvent::CloseReason::protocol_error:
		case RelayEvent::CloseReason::out_of_memory:
			log(LogLevel::warning, "%s", reason);
			if (event.close_reason == RelayEvent::CloseReason::protocol_error)
				(void)send_final_err(*relay, ER_NET_READ_ERROR,
						     relay->pending_report(RelaySide::backend) != nullptr
							     ? "The backend asked for a LOCAL INFILE the client did not allow"
							     : "Malformed packet",
						     client_capabilities);
			break;
		}
		close();
		break;
	}
	case RelayEvent::Kind::command:
		intercept->command(event);
		break;
	case RelayEvent::Kind::captured:
		intercept->captured(event);
		break;
	}
}

bool ClientConnection::idle_for_drain() const noexcept
{
	return phase == Phase::relay && relay && intercept && intercept->idle() &&
	       !script.suspended() && relay_session_idle(*relay);
}

void ClientConnection::backend_timed_out() noexcept
{
	if (phase != Phase::relay || !relay)
		return;
	log(LogLevel::warning, "closing: the backend was silent for %llu ms (read_timeout)",
	    static_cast<unsigned long long>(backend.read_timeout_usec() / 1000));
	(void)send_final_err(*relay, ER_NET_READ_ERROR, "The backend server did not answer within read_timeout",
			     client_capabilities);
	if (backend.cluster())
		worker.report_node_suspect(*backend.cluster(), backend.node());
	close();
}

void ClientConnection::relay_failed(const char *what) noexcept
{
	log(LogLevel::warning, "%s", what);
	close();
}

} // namespace myproxy
