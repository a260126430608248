// The command phase of one client connection (worker side): bytes flow client -> backend and
// backend -> client through one bounded buffer per direction, cut through at packet boundaries
// (packet_tracker.hpp), with back-pressure.  No event loop here: the connection calls
// handle_client()/handle_backend() when a socket is ready and polls for what wanted_events() says.
// Never allocates per packet, never logs per query, never reads a socket twice in one wake-up.
#pragma once

#include "worker/compressed_link.hpp"
#include "worker/packet_tracker.hpp"
#include "worker/relay_buffer_pool.hpp"
#include "common/stream_socket.hpp"

#include "common/byte_reader.hpp"
#include "worker/session_metrics.hpp"

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace myproxy {

class UringRing;

struct RelayCounters {
	/* Command packets the client started (COM_QUERY, COM_STMT_EXECUTE, ...). */
	std::uint64_t commands = 0;
	std::uint64_t bytes_from_client = 0;
	std::uint64_t bytes_from_backend = 0;
	/* The last bytes read came from the client: it waits for an answer (worker/session_ending). */
	bool client_spoke_last = false;
};

enum class RelaySide : std::uint8_t { client, backend };

struct RelayEvent {
	enum class Kind : std::uint8_t {
		none,
		/* The client started a command the connection intercepts (intercept_command()); the whole
		 * packet is in @packet.  Decide with forward_packet(), drop_packet() or replace_packet().
		 * Reported only when nothing of a backend reply is half-way to the client, so the
		 * connection may answer with send_to_client(). */
		command,
		/* The packet capture_next(side) asked for, whole, in @packet; decide as for command. */
		captured,
		/* The connection is over: see close_reason / error_number.  Nothing more may be called
		 * but send_to_client() and resume() (a final ERR, worker/session_ending) and the
		 * destructor. */
		closed,
	};
	enum class CloseReason : std::uint8_t {
		client_quit,     /* COM_QUIT (forwarded to the backend, best effort) */
		client_closed,   /* EOF or hang-up from the client */
		backend_closed,  /* EOF or hang-up from the backend */
		client_error,    /* recv/send on the client socket failed: error_number */
		backend_error,   /* the same on the backend socket */
		packet_too_large,/* a packet the relay must hold whole does not fit its buffer (from side) */
		protocol_error,  /* a LOCAL INFILE request the client did not negotiate, an empty command */
		out_of_memory,
		compression_error, /* @side's compressed stream is broken: error_number is a CompressedFault */
	};

	Kind kind = Kind::none;
	RelaySide side = RelaySide::client;
	/* command/captured: the packet (header included), valid until the next call into the relay. */
	ByteSpan packet;
	PacketStart start;
	CloseReason close_reason = CloseReason::client_closed;
	int error_number = 0;
};

/* For log lines: "COM_QUIT", "client closed", ... */
const char *relay_close_reason_name(RelayEvent::CloseReason reason) noexcept;

class Relay {
public:
	/* The relay does not own the streams (both non-blocking, plain or TLS).  @client_local_files:
	 * the client negotiated CLIENT_LOCAL_FILES, so a backend may ask it for a file. */
	Relay(RelayBufferPool &pool, StreamSocket &client, StreamSocket &backend, bool client_local_files) noexcept;
	~Relay() noexcept;

	Relay(const Relay &) = delete;
	Relay &operator=(const Relay &) = delete;

	/* Hold and report this client command (COM_INIT_DB, COM_CHANGE_USER) instead of passing it. */
	void intercept_command(std::uint8_t command) noexcept;
	/* Hold COM_QUERY packets of at most @max_payload bytes whole and report those @filter accepts
	 * (the payload, command byte first); every other query passes as before (KILL statements). */
	void intercept_queries(bool (*filter)(ByteSpan payload) noexcept, std::uint32_t max_payload) noexcept;

	/* The socket is ready (@revents from epoll, translated by StreamSocket::ready_events()).  Reads at most once from it, writes what can go,
	 * and returns the first event that needs the connection's decision (or none). */
	RelayEvent handle_client(std::uint32_t revents) noexcept;
	RelayEvent handle_backend(std::uint32_t revents) noexcept;

	/* The EPOLLIN/EPOLLOUT mask each socket should be polled for now (logical: pass it through
	 * StreamSocket::poll_events()). */
	std::uint32_t wanted_client_events() const noexcept;
	std::uint32_t wanted_backend_events() const noexcept;

	/* Verdicts on the reported packet of @side (command or captured).  They only record the
	 * decision; call resume() to move data on. */
	void forward_packet(RelaySide side) noexcept;
	void drop_packet(RelaySide side) noexcept;
	/* Drops the packet and puts @replacement (framed packets) in its place.  False when it does
	 * not fit the buffer (the packet stays reported). */
	[[nodiscard]] bool replace_packet(RelaySide side, ByteSpan replacement) noexcept;

	/* Queues bytes of our own (framed packets) for the client or the backend, after everything
	 * already passed and before anything not yet passed.  False when the stream is not at a packet
	 * boundary there or the buffer has no room. */
	[[nodiscard]] bool send_to_client(ByteSpan packets) noexcept;
	[[nodiscard]] bool send_to_backend(ByteSpan packets) noexcept;

	/* Reports the next packet from @side that starts a logical payload, whole, as captured: the
	 * backend's reply to something we sent, or the client's answer to our AuthSwitchRequest.
	 * Call it after the verdict on the packet @side reported before, if any. */
	void capture_next(RelaySide side) noexcept;

	/* Bytes read from @side before the relay took over (what the login phase read past its last
	 * packet).  False when they do not fit the buffer. */
	[[nodiscard]] bool preload(RelaySide side, ByteSpan bytes) noexcept;

	/* From now on the stream of @side speaks the compressed protocol (worker/compressed_link);
	 * toward the client the first @plain_prefix bytes still go as they are (the login's OK, already
	 * queued).  False when out of memory. */
	[[nodiscard]] bool compress(RelaySide side, std::size_t plain_prefix = 0) noexcept;
	/* A compressed link of @side holds input epoll will not announce (like TLS's pending()). */
	bool input_buffered(RelaySide side) const noexcept
	{
		const auto &link = side == RelaySide::client ? client_link : backend_link;
		return link && link->input_buffered();
	}

	/* From now on both plain streams are read and written through @ring's slots @first_slot
	 * (client) and @first_slot + 1 (backend) (worker/uring_ring); nullptr: through the streams
	 * again.  Never with TLS or compression. */
	void use_ring(UringRing *ring, int first_slot) noexcept
	{
		uring = ring;
		uring_slot = first_slot;
	}
	UringRing *ring() const noexcept { return uring; }
	int ring_slot() const noexcept { return uring_slot; }
	/* Either side speaks the compressed protocol (compress()). */
	bool compressed() const noexcept { return client_link || backend_link; }

	/* While held, nothing more is read or passed from the client (myproxy talks to the backend
	 * on its own); captures of the client's side need it released. */
	void hold_client(bool held) noexcept { client_held = held; }

	/* Continues after verdicts or sends: writes, processes what is buffered, and returns the next
	 * event (or none). */
	RelayEvent resume() noexcept;

	/* Whether the relay would read from @side now: with TLS, bytes OpenSSL holds are not announced
	 * by epoll, so the connection reads them when this says so. */
	bool wants_input(RelaySide side) const noexcept { return can_read(side == RelaySide::client ? up : down); }
	/* The most one read from @side could take now (0 while the relay does not read from it). */
	std::size_t input_room(RelaySide side) const noexcept;

	/* True when no packet waits for a verdict from either side. */
	bool idle() const noexcept;
	/* Nothing buffered in either direction and both streams at a packet boundary. */
	bool buffers_empty() const noexcept;
	/* The sequence id of the last packet header seen from @side. */
	std::uint8_t last_sequence_id(RelaySide side) const noexcept;
	/* The packet @side reported and that waits for a verdict, or nullptr. */
	const PacketStart *pending_report(RelaySide side) const noexcept;

	const RelayCounters &counters() const noexcept { return counters_; }
	/* The Prometheus counters of this session's traffic (worker/session_metrics.hpp). */
	ServerMetricsTap &metrics_tap() noexcept { return metrics; }

private:
	struct Direction {
		explicit Direction(bool commands) noexcept : tracker(commands) {}

		std::unique_ptr<std::uint8_t[]> buffer;
		/* [start, scanned): may be written; [scanned, end): not classified yet. */
		std::size_t start = 0, scanned = 0, end = 0;
		PacketTracker tracker;
		/* The tracker reported a packet; nothing moves until the verdict. */
		bool reported = false;
		PacketStart report;
		/* capture_next() asked for the next report; the current report is that capture (else
		 * it is a client command). */
		bool capture_requested = false;
		bool report_is_capture = false;
		/* The event for the reported packet has been returned to the connection. */
		bool announced = false;
		/* The destination's last send would block: wait for EPOLLOUT. */
		bool blocked = false;
		bool source_eof = false;
	};

	RelayEvent handle(Direction &from, Direction &to, StreamSocket &stream, RelaySide side,
			  std::uint32_t revents) noexcept;
	/* Reads once from @stream into @dir; returns a closed event on EOF/error. */
	RelayEvent receive(Direction &dir, StreamSocket &stream, RelaySide side) noexcept;
	/* Sends what @dir may pass to @stream; returns a closed event on error. */
	RelayEvent flush(Direction &dir, StreamSocket &stream, RelaySide destination) noexcept;
	RelayEvent process(Direction &dir, RelaySide side) noexcept;
	RelayEvent run() noexcept;
	void pass_command(const PacketStart &start) noexcept;
	bool ensure_buffer(Direction &dir) noexcept;
	void release_if_empty(Direction &dir) noexcept;
	bool insert(Direction &dir, ByteSpan bytes) noexcept;
	bool can_read(const Direction &dir) const noexcept;
	Direction &direction_from(RelaySide side) noexcept { return side == RelaySide::client ? up : down; }
	CompressedLink *link_of(RelaySide side) const noexcept
	{
		return (side == RelaySide::client ? client_link : backend_link).get();
	}
	bool output_pending(RelaySide destination) const noexcept
	{
		const CompressedLink *link = link_of(destination);
		return link != nullptr && link->output_pending();
	}

	RelayBufferPool &pool;
	StreamSocket &client_stream;
	StreamSocket &backend_stream;
	/* Set by compress(): the relay reads and writes that side through it. */
	std::unique_ptr<CompressedLink> client_link, backend_link;
	/* Set by use_ring(): both sides go through the worker's io_uring. */
	UringRing *uring = nullptr;
	int uring_slot = -1;
	ssize_t read_from(StreamSocket &stream, RelaySide side, std::uint8_t *to, std::size_t size) noexcept;
	ssize_t write_to(StreamSocket &stream, RelaySide side, const std::uint8_t *from, std::size_t size) noexcept;
	bool client_local_files;
	/* client -> backend, backend -> client */
	Direction up{true}, down{false};
	/* The last command forwarded was COM_QUERY: the backend's first reply may be a LOCAL INFILE
	 * request (down's tracker reports it). */
	bool watching_query_reply = false;
	bool client_held = false;
	/* COM_QUIT passed: close once it is written. */
	bool quitting = false;
	/* Set by whatever moves data during run(), which loops until nothing does. */
	bool progress = false;
	std::bitset<256> intercepted;
	bool (*query_filter)(ByteSpan payload) noexcept = nullptr;
	std::uint32_t query_filter_max = 0;
	bool query_wanted(const Direction &dir, const PacketStart &start) const noexcept;
	RelayCounters counters_;
	ServerMetricsTap metrics;
};

} // namespace myproxy
