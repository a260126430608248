// What a worker's sessions count for the Prometheus exporter (worker side): one small function per
// event, called from the session code (client_connection*, relay) with one line each, writing the
// worker counters page (common/worker_counters.hpp) with relaxed atomics.  No locks, no system
// calls but the vDSO clock, no allocation on the relay's path; never throws.
#pragma once

#include "common/byte_reader.hpp"
#include "common/socket_address.hpp"
#include "common/worker_counters.hpp"

#include <cstddef>
#include <cstdint>

namespace myproxy {

/* A session was created (the worker took a client) or ended.  The start time feeds the login
   latency histogram. */
void metrics_session_started(std::uint64_t client_id) noexcept;
void metrics_session_ended(std::uint64_t client_id) noexcept;

/* A login slot of a uid was taken or given back (max_pending_logins_per_uid). */
void metrics_login_pending(int delta) noexcept;
/* The worker refused a client (too many pending logins, draining). */
void metrics_connection_rejected() noexcept;

/* Login-phase packets from the client (the command phase counts in ServerMetricsTap). */
void metrics_client_packet(std::size_t wire_size) noexcept;
void metrics_client_malformed_packet() noexcept;
void metrics_handshake_response() noexcept;
/* The login ended: OK sent to the client (with the login latency), or an ERR. */
void metrics_auth_ok(std::uint64_t client_id) noexcept;
void metrics_auth_err() noexcept;

/* A TLS handshake with a client or a backend ended. */
void metrics_tls_handshake(bool ok) noexcept;

/* A backend connect and login ended: logged in, or failed (connect error or refused login). */
void metrics_backend_login(const SocketAddress &backend, bool ok) noexcept;

/* Backend connection reuse (worker/backend_pool): a connection was reset cleanly and kept idle, a
   login took one, and how many the worker keeps now. */
void metrics_backend_parked(const SocketAddress &backend) noexcept;
void metrics_backend_reused(const SocketAddress &backend) noexcept;
void metrics_backend_idle(std::size_t connections) noexcept;

/* DISCONNECT_ACCOUNT closed @sessions sessions. */
void metrics_sessions_disconnected(std::size_t sessions) noexcept;

/* The relay's view of one session's backend: command-phase traffic and the first reply packet of
   each COM_QUERY (OK: affected rows, warnings, index and slow flags; ERR: a query error).  A member
   of the Relay; inert until attach(). */
class ServerMetricsTap {
	ServerCounters *server = nullptr;
	std::uint64_t query_started_usec = 0;

public:
	void attach(const SocketAddress &backend) noexcept { server = worker_server_counters(backend); }

	void client_bytes(std::size_t n) noexcept { count(&WorkerCounters::client_bytes_received, n); }
	void backend_bytes(std::size_t n) noexcept { count_server(server, &ServerCounters::bytes_received, n); }
	/* A client command passes to the backend (@query: it is a COM_QUERY). */
	void command(bool query) noexcept;
	/* The first packet of a COM_QUERY's reply starts: @available holds its header and as much of
	   it as arrived (a whole OK packet is parsed; a partial one counts only as a reply). */
	void query_reply(ByteSpan available) noexcept;
};

} // namespace myproxy
