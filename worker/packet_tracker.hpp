// Packet boundaries in one direction of the command-phase relay (worker side), without I/O: the
// relay shows it the bytes it has not classified yet, and it says how many may pass unchanged or
// that a packet starts there which the relay wants to see (a client command, a backend reply).
// It never copies or buffers payload bytes, so 16 MiB payloads stream through, and it never takes
// the first byte of a continuation packet (or of LOCAL INFILE data) for a command.
#pragma once

#include "common/byte_reader.hpp"
#include "common/mysql_packet.hpp"

#include <bitset>
#include <cstddef>
#include <cstdint>

namespace myproxy {

/* A packet the tracker stopped at: it starts at the first byte of the span given to step(). */
struct PacketStart {
	PacketHeader header;
	/* The first payload byte (a command, or a reply's header byte); 0 when the payload is empty. */
	std::uint8_t first_byte = 0;
	/* The whole packet is in the span (always so for packets the tracker was told to hold). */
	bool complete = false;
	/* PACKET_HEADER_SIZE + payload length. */
	std::size_t wire_size = 0;
};

struct TrackerStep {
	enum class Kind : std::uint8_t {
		/* The span ends before anything can be decided: keep it, receive more.  length is how
		 * many bytes (from the start of the span) are needed at least. */
		need_more,
		/* The first length bytes of the span may be forwarded unchanged. */
		pass,
		/* A reported packet starts here (see start); call pass_packet() or skip_packet(). */
		packet_start,
	};

	Kind kind = Kind::need_more;
	std::size_t length = 0;
	PacketStart start;
};

class PacketTracker {
	/* Commands whose whole packet must be present before they are reported (COM_INIT_DB, ...). */
	std::bitset<256> hold_commands;
	/* One more command held whole only up to this payload size (COM_QUERY for KILL); 0: none. */
	std::uint8_t small_command = 0;
	std::uint32_t small_command_max = 0;
	/* Bytes of the current packet's header and payload that have not been passed yet. */
	std::uint32_t header_left = 0;
	std::uint32_t payload_left = 0;
	/* The last header announced MAX_PACKET_PAYLOAD bytes: the next packet continues its payload. */
	bool continued = false;
	/* Report packets with sequence id 0 that start a logical payload (the client's side). */
	bool report_commands = false;
	/* Client side, after a backend's LOCAL INFILE request: every packet is file data until the
	 * empty packet that ends it. */
	bool infile = false;
	/* Report the next logical packet start whatever its sequence id, once; whole if hold_next. */
	bool report_next = false;
	bool hold_next = false;
	/* The last packet's sequence id, and whether the other side sent anything since: a packet with
	 * sequence id 0 right after one with 255, the peer silent in between, continues an exchange
	 * (LOCAL INFILE data the relay did not see requested) and is never a command. */
	std::uint8_t last_sequence_id = 0;
	bool peer_spoke = true;
	/* A packet_start was returned and waits for pass_packet() or skip_packet(). */
	bool pending = false;
	PacketHeader pending_header;

public:
	/* @commands: the client's side (command packets are reported); otherwise nothing is reported
	 * unless report_next_start() asks for it. */
	explicit PacketTracker(bool commands) noexcept : report_commands(commands) {}

	/* Commands reported only with their whole packet present (the caller parses them). */
	void hold_command(std::uint8_t command) noexcept { hold_commands.set(command); }
	/* @command is reported whole when its payload is at most @max_payload bytes (longer ones are
	 * reported as they start, like any command). */
	void hold_small_command(std::uint8_t command, std::uint32_t max_payload) noexcept
	{
		small_command = command;
		small_command_max = max_payload;
	}

	/* Classifies the bytes at the start of @data, which follow everything earlier steps covered.
	 * Must not be called while a packet_start waits for its verdict. */
	TrackerStep step(ByteSpan data) noexcept;

	/* The reported packet goes through unchanged; the next step() passes it. */
	void pass_packet() noexcept;

	/* The caller removed the reported packet (which was complete) from the stream; the next step()
	 * looks at what followed it.  A packet announcing a continuation cannot be skipped: returns
	 * false and changes nothing. */
	bool skip_packet() noexcept;

	/* Reports the next packet that starts a logical payload, whatever its sequence id, once
	 * (the backend's first reply to a command; a client's auth response).  @whole: only once the
	 * whole packet is there. */
	void report_next_start(bool whole) noexcept {
		report_next = true;
		hold_next = whole;
	}
	void cancel_report_next() noexcept { report_next = false; }

	/* The backend asked the client for a LOCAL INFILE: the client's next packets are data. */
	void start_infile() noexcept { infile = true; }
	/* The other direction passed bytes (see last_sequence_id). */
	void note_peer_spoke() noexcept { peer_spoke = true; }
	bool in_infile() const noexcept { return infile; }
	/* The sequence id of the last packet header seen (for an ERR of our own that follows it). */
	std::uint8_t last_sequence() const noexcept { return last_sequence_id; }

	/* Nothing has been passed of a packet that is not complete yet and no logical payload is
	 * being continued: bytes of our own may be inserted into the stream here. */
	bool at_boundary() const noexcept {
		return header_left == 0 && payload_left == 0 && !continued && !pending;
	}
};

} // namespace myproxy
