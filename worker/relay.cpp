// The command-phase relay; see relay.hpp.  One pass (run()) classifies what both buffers hold,
// applies verdicts, and writes each direction once; a short write means the kernel buffer is full,
// so the direction waits for EPOLLOUT instead of trying again.
#include "relay.hpp"

#include "worker/uring_ring.hpp"

#include "common/command_packet.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace myproxy {

/* The reply header of a LOCAL INFILE request (the first packet of a COM_QUERY's answer). */
static constexpr std::uint8_t LOCAL_INFILE_HEADER = 0xFB;

static constexpr std::size_t BUFFER_SIZE = RelayBufferPool::buffer_size;

static RelayEvent closed_event(RelayEvent::CloseReason reason, int error_number = 0) noexcept
{
	RelayEvent event;
	event.kind = RelayEvent::Kind::closed;
	event.close_reason = reason;
	event.error_number = error_number;
	return event;
}

const char *relay_close_reason_name(RelayEvent::CloseReason reason) noexcept
{
	switch (reason) {
	case RelayEvent::CloseReason::client_quit:
		return "COM_QUIT";
	case RelayEvent::CloseReason::client_closed:
		return "client closed the connection";
	case RelayEvent::CloseReason::backend_closed:
		return "backend closed the connection";
	case RelayEvent::CloseReason::client_error:
		return "client socket error";
	case RelayEvent::CloseReason::backend_error:
		return "backend socket error";
	case RelayEvent::CloseReason::packet_too_large:
		return "packet too large to inspect";
	case RelayEvent::CloseReason::protocol_error:
		return "protocol error";
	case RelayEvent::CloseReason::out_of_memory:
		return "out of memory";
	case RelayEvent::CloseReason::compression_error:
		return "compressed protocol error";
	}
	return "?";
}

Relay::Relay(RelayBufferPool &buffer_pool, StreamSocket &client, StreamSocket &backend, bool local_files) noexcept
	: pool(buffer_pool), client_stream(client), backend_stream(backend), client_local_files(local_files)
{
}

Relay::~Relay() noexcept
{
	pool.put(std::move(up.buffer));
	pool.put(std::move(down.buffer));
}

void Relay::intercept_command(std::uint8_t command) noexcept
{
	up.tracker.hold_command(command);
	intercepted.set(command);
}

void Relay::intercept_queries(bool (*filter)(ByteSpan payload) noexcept, std::uint32_t max_payload) noexcept
{
	up.tracker.hold_small_command(COM_QUERY, max_payload);
	query_filter = filter;
	query_filter_max = max_payload;
}

bool Relay::query_wanted(const Direction &dir, const PacketStart &start) const noexcept
{
	return query_filter != nullptr && start.first_byte == COM_QUERY && start.complete &&
	       start.header.payload_length <= query_filter_max &&
	       query_filter(ByteSpan(dir.buffer.get() + dir.scanned + PACKET_HEADER_SIZE, start.header.payload_length));
}

bool Relay::ensure_buffer(Direction &dir) noexcept
{
	if (dir.buffer)
		return true;
	try {
		dir.buffer = pool.get();
	} catch (const std::bad_alloc &) {
		return false;
	}
	dir.start = dir.scanned = dir.end = 0;
	return true;
}

void Relay::release_if_empty(Direction &dir) noexcept
{
	if (dir.buffer && dir.start == dir.end && !dir.reported) {
		pool.put(std::move(dir.buffer));
		dir.start = dir.scanned = dir.end = 0;
	}
}

static void compact(std::uint8_t *buffer, std::size_t &start, std::size_t &scanned, std::size_t &end) noexcept
{
	if (start == 0)
		return;
	std::memmove(buffer, buffer + start, end - start);
	scanned -= start;
	end -= start;
	start = 0;
}

bool Relay::can_read(const Direction &dir) const noexcept
{
	if (dir.reported || dir.source_eof)
		return false;
	if (&dir == &up && (quitting || client_held))
		return false;
	return !dir.buffer || dir.end < BUFFER_SIZE || dir.start > 0;
}

std::size_t Relay::input_room(RelaySide side) const noexcept
{
	const Direction &dir = side == RelaySide::client ? up : down;
	if (!can_read(dir))
		return 0;
	return dir.buffer ? BUFFER_SIZE - (dir.end - dir.start) : BUFFER_SIZE;
}

std::uint32_t Relay::wanted_client_events() const noexcept
{
	return (can_read(up) ? std::uint32_t(EPOLLIN) : 0u) | (down.blocked ? std::uint32_t(EPOLLOUT) : 0u);
}

std::uint32_t Relay::wanted_backend_events() const noexcept
{
	return (can_read(down) ? std::uint32_t(EPOLLIN) : 0u) | (up.blocked ? std::uint32_t(EPOLLOUT) : 0u);
}

ssize_t Relay::read_from(StreamSocket &stream, RelaySide side, std::uint8_t *to, std::size_t size) noexcept
{
	if (CompressedLink *const link = link_of(side))
		return link->read(stream, to, size);
	if (uring != nullptr)
		return uring->read(side == RelaySide::client ? uring_slot : uring_slot + 1, to, size);
	return stream.read(to, size);
}

ssize_t Relay::write_to(StreamSocket &stream, RelaySide side, const std::uint8_t *from, std::size_t size) noexcept
{
	if (CompressedLink *const link = link_of(side))
		return link->write(stream, from, size);
	if (uring != nullptr)
		return uring->write(side == RelaySide::client ? uring_slot : uring_slot + 1, from, size);
	return stream.write(from, size);
}

RelayEvent Relay::receive(Direction &dir, StreamSocket &stream, RelaySide side) noexcept
{
	if (!ensure_buffer(dir))
		return closed_event(RelayEvent::CloseReason::out_of_memory);
	if (dir.end == BUFFER_SIZE)
		compact(dir.buffer.get(), dir.start, dir.scanned, dir.end);
	CompressedLink *const link = link_of(side);
	const ssize_t n = read_from(stream, side, dir.buffer.get() + dir.end, BUFFER_SIZE - dir.end);
	if (n < 0 && link != nullptr && link->fault() != CompressedFault::none) {
		RelayEvent event = closed_event(RelayEvent::CloseReason::compression_error, int(link->fault()));
		event.side = side;
		return event;
	}
	if (n > 0) {
		dir.end += std::size_t(n);
		(side == RelaySide::client ? counters_.bytes_from_client : counters_.bytes_from_backend) +=
			std::size_t(n);
		counters_.client_spoke_last = side == RelaySide::client;
		side == RelaySide::client ? metrics.client_bytes(std::size_t(n)) : metrics.backend_bytes(std::size_t(n));
	} else if (n == 0) {
		dir.source_eof = true;
	} else if (errno != EAGAIN && errno != EINTR) {
		return closed_event(side == RelaySide::client ? RelayEvent::CloseReason::client_error
							      : RelayEvent::CloseReason::backend_error,
				    errno);
	}
	return {};
}

RelayEvent Relay::flush(Direction &dir, StreamSocket &stream, RelaySide destination) noexcept
{
	const std::size_t available = dir.scanned - dir.start;
	if ((available == 0 && !output_pending(destination)) || dir.blocked)
		return {};
	const std::uint8_t *const from = dir.buffer ? dir.buffer.get() + dir.start : nullptr;
	const ssize_t n = write_to(stream, destination, from, available);
	if (n >= 0) {
		dir.start += std::size_t(n);
		if (std::size_t(n) < available || output_pending(destination))
			dir.blocked = true;
		progress = progress || n > 0;
		return {};
	}
	if (errno == EAGAIN) {
		dir.blocked = true;
		return {};
	}
	if (errno == EINTR)
		return {};
	return closed_event(destination == RelaySide::client ? RelayEvent::CloseReason::client_error
							     : RelayEvent::CloseReason::backend_error,
			    errno);
}

/* A command the connection does not intercept: count it, watch the reply of a COM_QUERY for a
 * LOCAL INFILE request, pass it on.  COM_QUIT ends the relay once it is written. */
void Relay::pass_command(const PacketStart &start) noexcept
{
	++counters_.commands;
	metrics.command(start.header.payload_length > 0 && start.first_byte == COM_QUERY);
	if (start.header.payload_length > 0 && start.first_byte == COM_QUERY) {
		watching_query_reply = true;
		down.tracker.report_next_start(false);
	} else if (watching_query_reply) {
		watching_query_reply = false;
		down.tracker.cancel_report_next();
	}
	if (start.header.payload_length > 0 && start.first_byte == COM_QUIT)
		quitting = true;
	up.tracker.pass_packet();
	up.reported = false;
}

RelayEvent Relay::process(Direction &dir, RelaySide side) noexcept
{
	Direction &other = side == RelaySide::client ? down : up;
	while (true) {
		if (dir.reported) {
			if (dir.announced)
				return {};
			if (side == RelaySide::client && !dir.report_is_capture && !down.tracker.at_boundary())
				/* Announced once the backend's reply in flight has reached a boundary, so
				 * the connection may answer the client itself. */
				return {};
			dir.announced = true;
			RelayEvent event;
			event.kind = dir.report_is_capture ? RelayEvent::Kind::captured : RelayEvent::Kind::command;
			event.side = side;
			event.start = dir.report;
			event.packet = ByteSpan(dir.buffer.get() + dir.scanned, dir.report.wire_size);
			return event;
		}
		if (dir.scanned == dir.end)
			return {};
		/* After COM_QUIT (once it has passed) and while held, the client's bytes stay put. */
		if (side == RelaySide::client && (client_held || (quitting && dir.tracker.at_boundary())))
			return {};

		const TrackerStep step =
			dir.tracker.step(ByteSpan(dir.buffer.get() + dir.scanned, dir.end - dir.scanned));
		switch (step.kind) {
		case TrackerStep::Kind::pass:
			dir.scanned += step.length;
			other.tracker.note_peer_spoke();
			progress = true;
			break;

		case TrackerStep::Kind::need_more:
			if (step.length > BUFFER_SIZE) {
				/* This side is done: a final ERR may still go the other way (resume()). */
				dir.end = dir.scanned;
				dir.source_eof = true;
				RelayEvent event = closed_event(RelayEvent::CloseReason::packet_too_large);
				event.side = side;
				return event;
			}
			return {};

		case TrackerStep::Kind::packet_start:
			progress = true;
			dir.reported = true;
			dir.report = step.start;
			dir.report_is_capture = dir.capture_requested;
			dir.capture_requested = false;
			if (dir.report_is_capture)
				break; /* announced at the top of the loop */
			if (side == RelaySide::client) {
				if (step.start.header.payload_length > 0 &&
				    (intercepted.test(step.start.first_byte) || query_wanted(dir, step.start)))
					break;
				pass_command(step.start);
			} else {
				/* The first packet of a COM_QUERY's reply. */
				watching_query_reply = false;
				metrics.query_reply(ByteSpan(dir.buffer.get() + dir.scanned, dir.end - dir.scanned));
				if (step.start.header.payload_length > 0 &&
				    step.start.first_byte == LOCAL_INFILE_HEADER) {
					if (!client_local_files)
						return closed_event(RelayEvent::CloseReason::protocol_error);
					up.tracker.start_infile();
				}
				down.tracker.pass_packet();
				down.reported = false;
			}
			break;
		}
	}
}

RelayEvent Relay::run() noexcept
{
	do {
		progress = false;
		RelayEvent event = process(up, RelaySide::client);
		if (event.kind != RelayEvent::Kind::none)
			return event;
		event = process(down, RelaySide::backend);
		if (event.kind != RelayEvent::Kind::none)
			return event;
		event = flush(up, backend_stream, RelaySide::backend);
		if (event.kind != RelayEvent::Kind::none)
			return event;
		event = flush(down, client_stream, RelaySide::client);
		if (event.kind != RelayEvent::Kind::none)
			return event;
	} while (progress);

	release_if_empty(up);
	release_if_empty(down);

	if (quitting && up.start == up.scanned && up.tracker.at_boundary() && !output_pending(RelaySide::backend))
		return closed_event(RelayEvent::CloseReason::client_quit);
	if (up.source_eof)
		return closed_event(RelayEvent::CloseReason::client_closed);
	if (down.source_eof)
		/* What the backend said last (often an ERR such as "connection killed") has been sent
		 * to the client as far as its socket took it. */
		return closed_event(RelayEvent::CloseReason::backend_closed);
	return {};
}

RelayEvent Relay::handle(Direction &from, Direction &to, StreamSocket &stream, RelaySide side,
			 std::uint32_t revents) noexcept
{
	if (revents & EPOLLOUT)
		to.blocked = false;
	if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (can_read(from)) {
			RelayEvent event = receive(from, stream, side);
			if (event.kind != RelayEvent::Kind::none)
				return event;
		} else if (revents & (EPOLLHUP | EPOLLERR)) {
			/* The peer is gone while we are not reading from it (a verdict is pending):
			 * level-triggered HUP would wake us forever. */
			return closed_event(side == RelaySide::client ? RelayEvent::CloseReason::client_closed
								      : RelayEvent::CloseReason::backend_closed);
		}
	}
	return run();
}

RelayEvent Relay::handle_client(std::uint32_t revents) noexcept
{
	return handle(up, down, client_stream, RelaySide::client, revents);
}

RelayEvent Relay::handle_backend(std::uint32_t revents) noexcept
{
	return handle(down, up, backend_stream, RelaySide::backend, revents);
}

void Relay::forward_packet(RelaySide side) noexcept
{
	Direction &dir = direction_from(side);
	if (!dir.reported)
		return;
	if (side == RelaySide::client && !dir.report_is_capture) {
		pass_command(dir.report);
	} else {
		dir.tracker.pass_packet();
		dir.reported = false;
	}
	dir.announced = dir.report_is_capture = false;
}

void Relay::drop_packet(RelaySide side) noexcept
{
	Direction &dir = direction_from(side);
	if (!dir.reported || !dir.report.complete || !dir.tracker.skip_packet())
		return;
	const std::size_t packet_end = dir.scanned + dir.report.wire_size;
	std::memmove(dir.buffer.get() + dir.scanned, dir.buffer.get() + packet_end, dir.end - packet_end);
	dir.end -= dir.report.wire_size;
	dir.reported = dir.announced = dir.report_is_capture = false;
}

bool Relay::insert(Direction &dir, ByteSpan bytes) noexcept
{
	if (!dir.tracker.at_boundary() || dir.reported)
		return false;
	if (!ensure_buffer(dir))
		return false;
	if (dir.end - dir.start + bytes.size() > BUFFER_SIZE)
		return false;
	if (dir.end + bytes.size() > BUFFER_SIZE)
		compact(dir.buffer.get(), dir.start, dir.scanned, dir.end);
	std::uint8_t *const at = dir.buffer.get() + dir.scanned;
	std::memmove(at + bytes.size(), at, dir.end - dir.scanned);
	std::memcpy(at, bytes.data(), bytes.size());
	dir.scanned += bytes.size();
	dir.end += bytes.size();
	(&dir == &up ? down : up).tracker.note_peer_spoke();
	return true;
}

bool Relay::replace_packet(RelaySide side, ByteSpan replacement) noexcept
{
	Direction &dir = direction_from(side);
	if (!dir.reported || !dir.report.complete)
		return false;
	if (dir.end - dir.start - dir.report.wire_size + replacement.size() > BUFFER_SIZE)
		return false;
	drop_packet(side);
	if (dir.reported)
		return false;
	return insert(dir, replacement);
}

bool Relay::send_to_client(ByteSpan packets) noexcept
{
	return insert(down, packets);
}

bool Relay::send_to_backend(ByteSpan packets) noexcept
{
	return insert(up, packets);
}

void Relay::capture_next(RelaySide side) noexcept
{
	Direction &dir = direction_from(side);
	dir.capture_requested = true;
	dir.tracker.report_next_start(true);
	if (side == RelaySide::backend)
		watching_query_reply = false;
}

bool Relay::compress(RelaySide side, std::size_t plain_prefix) noexcept
{
	auto &link = side == RelaySide::client ? client_link : backend_link;
	try {
		link = std::make_unique<CompressedLink>(
			pool, side == RelaySide::client ? CompressedRole::server : CompressedRole::client);
	} catch (const std::bad_alloc &) {
		return false;
	}
	link->pass_plain(plain_prefix);
	return true;
}

bool Relay::preload(RelaySide side, ByteSpan bytes) noexcept
{
	if (bytes.empty())
		return true;
	if (CompressedLink *link = link_of(side))
		return link->preload(bytes);
	Direction &dir = direction_from(side);
	if (!ensure_buffer(dir) || dir.end + bytes.size() > BUFFER_SIZE)
		return false;
	std::memcpy(dir.buffer.get() + dir.end, bytes.data(), bytes.size());
	dir.end += bytes.size();
	return true;
}

RelayEvent Relay::resume() noexcept
{
	return run();
}

bool Relay::idle() const noexcept
{
	return !up.reported && !down.reported;
}

bool Relay::buffers_empty() const noexcept
{
	return up.start == up.end && down.start == down.end && up.tracker.at_boundary() &&
	       down.tracker.at_boundary() && !output_pending(RelaySide::client) && !output_pending(RelaySide::backend);
}

std::uint8_t Relay::last_sequence_id(RelaySide side) const noexcept
{
	return (side == RelaySide::client ? up : down).tracker.last_sequence();
}

const PacketStart *Relay::pending_report(RelaySide side) const noexcept
{
	const Direction &dir = side == RelaySide::client ? up : down;
	return dir.reported ? &dir.report : nullptr;
}

} // namespace myproxy
