// The MySQL compressed protocol's framing, without I/O (used by the worker's relay on either link):
// frames of a 7-byte header (3-byte compressed length, sequence id, 3-byte uncompressed length, 0
// meaning stored) around one zlib stream each, inflated straight into the caller's buffer and
// deflated in bounded chunks, so no frame is ever held whole.  Input is hostile: a length the frame
// cannot produce, a stream that inflates past its declared length (a bomb), a corrupt stream or a
// sequence id out of turn ends in a fault, never in more memory.  Never logs.
#pragma once

#include "common/byte_reader.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace myproxy {

inline constexpr std::size_t COMPRESSED_HEADER_SIZE = 7;

/* Why a compressed stream cannot go on (what the peer is told: see the relay's session ending). */
enum class CompressedFault : std::uint8_t {
	none,
	/* Not a zlib stream, a frame that ends before its stream or has bytes behind it, a stream
	 * that produces more than the header declared (a decompression bomb). */
	corrupt,
	/* The header declares more than a frame of that compressed length can inflate to. */
	too_large,
	/* A sequence id that is neither the next one nor (from a client) 0 for a new command. */
	out_of_order,
	out_of_memory,
};

/* For log lines: "corrupt zlib stream", ... */
const char *compressed_fault_name(CompressedFault fault) noexcept;

/* Which end of the link we are: the server toward a client, the client toward a backend. */
enum class CompressedRole : std::uint8_t { server, client };

struct ZlibStreams;

class CompressedFraming {
public:
	/* The most plain bytes one frame of ours carries; a frame of ours fits frame_wire_max. */
	static constexpr std::size_t frame_payload_max = 32 * 1024 - COMPRESSED_HEADER_SIZE;
	static constexpr std::size_t frame_wire_max = COMPRESSED_HEADER_SIZE + frame_payload_max;
	/* Shorter payloads go stored, as MySQL's own servers and clients send them. */
	static constexpr std::size_t compress_min_length = 50;

	struct Step {
		/* Bytes taken from the input and written to the output. */
		std::size_t consumed = 0;
		std::size_t produced = 0;
		CompressedFault fault = CompressedFault::none;
	};

	explicit CompressedFraming(CompressedRole role) noexcept;
	~CompressedFraming() noexcept;

	CompressedFraming(const CompressedFraming &) = delete;
	CompressedFraming &operator=(const CompressedFraming &) = delete;

	/* Takes frames (or parts of them) from @wire and writes their plain bytes to @plain, as far
	 * as both go.  After a fault nothing more is decoded. */
	Step decode(ByteSpan wire, std::span<std::uint8_t> plain) noexcept;

	/* Frames a prefix of @plain as one frame into @wire (which holds at least frame_wire_max
	 * bytes): compressed when that makes it smaller, else stored.  Toward a backend a frame
	 * ends before a packet that starts a new command, and that frame's sequence id is 0. */
	Step encode(ByteSpan plain, std::span<std::uint8_t> wire) noexcept;

	/* The sequence id the next frame of ours carries. */
	std::uint8_t next_sequence() const noexcept { return sequence; }
	/* No frame of the peer's is half read. */
	bool at_frame_boundary() const noexcept { return !in_frame && header_have == 0; }
	/* zlib may hold plain bytes of the current frame that need no more input: the last decode()
	 * filled its output.  Call decode() again (with any wire bytes) when there is room. */
	bool plain_pending() const noexcept { return in_frame && !stored && inflated_to_the_brim; }

private:
	CompressedRole role;
	std::unique_ptr<ZlibStreams> zlib;
	bool inflater_ready = false, deflater_ready = false, deflater_failed = false;
	CompressedFault fault = CompressedFault::none;
	std::uint8_t sequence = 0;

	/* The peer's frame being read: its header, then what is left of it. */
	std::uint8_t header[COMPRESSED_HEADER_SIZE];
	std::size_t header_have = 0;
	bool in_frame = false, stored = false;
	std::size_t wire_left = 0, plain_left = 0;
	bool inflated_to_the_brim = false;

	/* The MySQL packets inside the frames, each way.  Compressed peers number them loosely
	 * (libmariadb sends 0 for every packet of a command, servers follow the frame numbering), so
	 * what we decode is renumbered to continue @conversation, the numbering an uncompressed peer
	 * on the relay's other side expects: 0 for a command, then one more for each packet. */
	struct InnerPackets {
		std::uint8_t header[4];
		std::size_t header_have = 0;
		std::size_t payload_left = 0;
		/* The last packet carried 16 MiB - 1 bytes: the next one continues its payload. */
		bool continued = false;
	};
	InnerPackets outgoing, incoming;
	std::uint8_t conversation = 0;
	/* The peer's current frame starts a command (a client's frame 0 at a packet boundary). */
	bool frame_starts_command = false;
	/* Since the peer's last frame we sent one (it was answered), and that frame's sequence id. */
	bool answered = true;
	std::uint8_t last_peer_frame = 0;
	/* Toward a backend: the last packet we sent, and whether the backend spoke since. */
	std::uint8_t last_inner_sequence = 0;
	bool peer_spoke = true;

	Step fail(Step step, CompressedFault why) noexcept;
	CompressedFault start_frame() noexcept;
	CompressedFault prepare_inflater() noexcept;
	void decode_stored(ByteSpan &wire, std::span<std::uint8_t> &plain, Step &step) noexcept;
	CompressedFault decode_deflated(ByteSpan &wire, std::span<std::uint8_t> &plain, Step &step) noexcept;
	void renumber(std::span<std::uint8_t> plain) noexcept;
	std::size_t frame_length(ByteSpan plain, bool &new_command) noexcept;
	bool starts_command(std::uint8_t inner_sequence) const noexcept;
	std::size_t deflate_into(ByteSpan plain, std::uint8_t *out, std::size_t capacity) noexcept;
};

} // namespace myproxy
