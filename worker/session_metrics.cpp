// The session counters of one worker (see session_metrics.hpp).  The login start times live in a
// map of this process (one entry per session, erased when it ends); everything else is a relaxed
// add to the shared page.
#include "worker/session_metrics.hpp"

#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/ok_packet.hpp"

#include <new>
#include <unordered_map>

namespace myproxy {

namespace {

std::unordered_map<std::uint64_t, std::uint64_t> &login_starts() noexcept
{
	static std::unordered_map<std::uint64_t, std::uint64_t> starts;
	return starts;
}

void add_gauge(std::atomic<std::int64_t> WorkerCounters::*gauge, std::int64_t delta) noexcept
{
	if (worker_counters_page != nullptr)
		(worker_counters_page->*gauge).fetch_add(delta, std::memory_order_relaxed);
}

constexpr std::uint8_t ERR_HEADER_BYTE = 0xFF;

} // namespace

void metrics_session_started(std::uint64_t client_id) noexcept
{
	if (worker_counters_page == nullptr)
		return;
	add_gauge(&WorkerCounters::sessions_open, 1);
	try {
		login_starts()[client_id] = metrics_clock_usec();
	} catch (const std::bad_alloc &) {
		/* This session's login latency goes unobserved. */
	}
}

void metrics_session_ended(std::uint64_t client_id) noexcept
{
	if (worker_counters_page == nullptr)
		return;
	add_gauge(&WorkerCounters::sessions_open, -1);
	login_starts().erase(client_id);
}

void metrics_login_pending(int delta) noexcept
{
	add_gauge(&WorkerCounters::logins_pending, delta);
}

void metrics_connection_rejected() noexcept
{
	count(&WorkerCounters::connections_rejected);
}

void metrics_client_packet(std::size_t wire_size) noexcept
{
	count(&WorkerCounters::client_packets_received);
	count(&WorkerCounters::client_bytes_received, wire_size);
}

void metrics_client_malformed_packet() noexcept
{
	count(&WorkerCounters::client_malformed_packets);
}

void metrics_handshake_response() noexcept
{
	count(&WorkerCounters::client_handshake_responses);
}

void metrics_auth_ok(std::uint64_t client_id) noexcept
{
	if (worker_counters_page == nullptr)
		return;
	count(&WorkerCounters::client_auth_ok);
	auto &starts = login_starts();
	const auto i = starts.find(client_id);
	if (i == starts.end())
		return;
	observe(worker_counters_page->login_latency, metrics_clock_usec() - i->second);
	/* A COM_CHANGE_USER later is no new login to time. */
	starts.erase(i);
}

void metrics_auth_err() noexcept
{
	count(&WorkerCounters::client_auth_err);
}

void metrics_tls_handshake(bool ok) noexcept
{
	count(ok ? &WorkerCounters::tls_handshakes : &WorkerCounters::tls_handshake_failures);
}

void metrics_backend_login(const SocketAddress &backend, bool ok) noexcept
{
	count_server(worker_server_counters(backend), ok ? &ServerCounters::connects : &ServerCounters::connect_errors);
}

void metrics_backend_parked(const SocketAddress &backend) noexcept
{
	count_server(worker_server_counters(backend), &ServerCounters::idle_parked);
}

void metrics_backend_reused(const SocketAddress &backend) noexcept
{
	count_server(worker_server_counters(backend), &ServerCounters::idle_reused);
}

void metrics_backend_idle(std::size_t connections) noexcept
{
	if (worker_counters_page != nullptr)
		worker_counters_page->backend_idle.store(std::int64_t(connections), std::memory_order_relaxed);
}

void metrics_sessions_disconnected(std::size_t sessions) noexcept
{
	count(&WorkerCounters::sessions_disconnected, sessions);
}

void ServerMetricsTap::command(bool query) noexcept
{
	count(&WorkerCounters::client_packets_received);
	query_started_usec = 0;
	if (!query)
		return;
	count(&WorkerCounters::client_queries);
	if (server == nullptr)
		return;
	count_server(server, &ServerCounters::queries);
	query_started_usec = metrics_clock_usec();
}

void ServerMetricsTap::query_reply(ByteSpan available) noexcept
{
	if (server == nullptr)
		return;
	count_server(server, &ServerCounters::packets_received);
	if (query_started_usec != 0) {
		count_server(server, &ServerCounters::query_wait_usec, metrics_clock_usec() - query_started_usec);
		query_started_usec = 0;
	}
	if (available.size() <= PACKET_HEADER_SIZE)
		return;
	const std::uint8_t first = available[PACKET_HEADER_SIZE];
	if (first == ERR_HEADER_BYTE) {
		count_server(server, &ServerCounters::query_errors);
		return;
	}
	const std::size_t payload_length =
		std::size_t(available[0]) | std::size_t(available[1]) << 8 | std::size_t(available[2]) << 16;
	if (first != OK_HEADER || available.size() < PACKET_HEADER_SIZE + payload_length)
		return;
	const auto ok = parse_ok_packet(available.subspan(PACKET_HEADER_SIZE, payload_length),
					CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS);
	if (!ok) {
		count_server(server, &ServerCounters::malformed_packets);
		return;
	}
	count_server(server, &ServerCounters::affected_rows, ok->affected_rows);
	count_server(server, &ServerCounters::query_warnings, ok->warnings);
	if (ok->status_flags & SERVER_QUERY_NO_GOOD_INDEX_USED)
		count_server(server, &ServerCounters::no_good_index_queries);
	if (ok->status_flags & SERVER_QUERY_NO_INDEX_USED)
		count_server(server, &ServerCounters::no_index_queries);
	if (ok->status_flags & SERVER_QUERY_WAS_SLOW)
		count_server(server, &ServerCounters::slow_queries);
}

} // namespace myproxy
