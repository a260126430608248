// The compressed protocol's framing; see compressed_framing.hpp.  Each frame is its own zlib
// stream (MySQL compresses every frame with compress()), so both zlib states are reset per frame.
#include "compressed_framing.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace myproxy {

/* Deflate's best ratio is about 1032:1; a header claiming more than that of its frame's bytes
 * (plus the zlib wrapper) cannot be honest. */
static constexpr std::size_t max_inflate_ratio = 1032;
static constexpr std::size_t zlib_wrapper_size = 64;
/* Our deflater: a small window and hash (about 96 KiB per link instead of zlib's default 256 KiB);
 * any inflater reads its streams. */
static constexpr int deflate_window_bits = 13;
static constexpr int deflate_memory_level = 7;

struct ZlibStreams {
	z_stream inflater{};
	z_stream deflater{};
};

const char *compressed_fault_name(CompressedFault fault) noexcept
{
	switch (fault) {
	case CompressedFault::none:
		return "no fault";
	case CompressedFault::corrupt:
		return "corrupt compressed frame (bad zlib stream, or more or fewer bytes than declared)";
	case CompressedFault::too_large:
		return "compressed frame declares more than it can inflate to";
	case CompressedFault::out_of_order:
		return "compressed frame out of order (sequence id)";
	case CompressedFault::out_of_memory:
		return "out of memory for zlib";
	}
	return "?";
}

static std::size_t read3(const std::uint8_t *p) noexcept
{
	return std::size_t(p[0]) | std::size_t(p[1]) << 8 | std::size_t(p[2]) << 16;
}

static void write3(std::uint8_t *p, std::size_t value) noexcept
{
	p[0] = std::uint8_t(value);
	p[1] = std::uint8_t(value >> 8);
	p[2] = std::uint8_t(value >> 16);
}

CompressedFraming::CompressedFraming(CompressedRole role_) noexcept : role(role_)
{
}

CompressedFraming::~CompressedFraming() noexcept
{
	if (inflater_ready)
		inflateEnd(&zlib->inflater);
	if (deflater_ready)
		deflateEnd(&zlib->deflater);
}

CompressedFraming::Step CompressedFraming::fail(Step step, CompressedFault why) noexcept
{
	fault = why;
	step.fault = why;
	return step;
}

/* The header is complete: checks it and prepares the frame's zlib stream. */
CompressedFault CompressedFraming::start_frame() noexcept
{
	const std::size_t wire_length = read3(header);
	const std::uint8_t frame_sequence = header[3];
	const std::size_t plain_length = read3(header + 4);
	header_have = 0;

	/* A client starts each command at 0; within an exchange, and always from a backend we
	 * follow (a backend is trusted to count, and resynchronises us when it restarts). */
	if (role == CompressedRole::server && frame_sequence != sequence && frame_sequence != 0)
		return CompressedFault::out_of_order;
	sequence = std::uint8_t(frame_sequence + 1);
	peer_spoke = true;
	frame_starts_command = role == CompressedRole::server && frame_sequence == 0 &&
			       (last_peer_frame != 255 || answered) && incoming.header_have == 0 &&
			       incoming.payload_left == 0 && !incoming.continued;
	answered = false;
	last_peer_frame = frame_sequence;

	stored = plain_length == 0;
	inflated_to_the_brim = false;
	wire_left = wire_length;
	plain_left = stored ? wire_length : plain_length;
	if (!stored) {
		if (wire_length == 0)
			return CompressedFault::corrupt;
		if (plain_length > wire_length * max_inflate_ratio + zlib_wrapper_size)
			return CompressedFault::too_large;
		if (const CompressedFault why = prepare_inflater(); why != CompressedFault::none)
			return why;
	}
	in_frame = wire_left > 0;
	return CompressedFault::none;
}

/* A fresh zlib stream for the frame (the state is allocated once, then reset). */
CompressedFault CompressedFraming::prepare_inflater() noexcept
{
	try {
		if (!zlib)
			zlib = std::make_unique<ZlibStreams>();
	} catch (const std::bad_alloc &) {
		return CompressedFault::out_of_memory;
	}
	const int result = inflater_ready ? inflateReset(&zlib->inflater) : inflateInit(&zlib->inflater);
	if (result != Z_OK)
		return result == Z_MEM_ERROR ? CompressedFault::out_of_memory : CompressedFault::corrupt;
	inflater_ready = true;
	return CompressedFault::none;
}

void CompressedFraming::decode_stored(ByteSpan &wire, std::span<std::uint8_t> &plain, Step &step) noexcept
{
	const std::size_t n = std::min({wire_left, wire.size(), plain.size()});
	std::memcpy(plain.data(), wire.data(), n);
	wire = wire.subspan(n);
	plain = plain.subspan(n);
	step.consumed += n;
	step.produced += n;
	wire_left -= n;
	in_frame = wire_left > 0;
}

/* Inflates what @wire holds of the frame into @plain, never past the declared length: a stream
 * that would produce one byte more is a bomb. */
CompressedFault CompressedFraming::decode_deflated(ByteSpan &wire, std::span<std::uint8_t> &plain, Step &step) noexcept
{
	z_stream &z = zlib->inflater;
	std::uint8_t overflow_probe;
	const bool probing = plain_left == 0;
	const std::size_t in_size = std::min(wire_left, wire.size());
	const std::size_t out_size = probing ? 1 : std::min(plain_left, plain.size());
	z.next_in = const_cast<Bytef *>(wire.data());
	z.avail_in = static_cast<uInt>(in_size);
	z.next_out = probing ? &overflow_probe : plain.data();
	z.avail_out = static_cast<uInt>(out_size);
	const int result = inflate(&z, Z_NO_FLUSH);
	const std::size_t taken = in_size - z.avail_in, made = out_size - z.avail_out;
	if (probing && made > 0)
		return CompressedFault::corrupt;
	wire = wire.subspan(taken);
	wire_left -= taken;
	step.consumed += taken;
	inflated_to_the_brim = !probing && z.avail_out == 0;
	if (!probing) {
		plain = plain.subspan(made);
		plain_left -= made;
		step.produced += made;
	}
	if (result == Z_MEM_ERROR)
		return CompressedFault::out_of_memory;
	if (result == Z_STREAM_END) {
		if (wire_left != 0 || plain_left != 0)
			return CompressedFault::corrupt;
		in_frame = false;
		return CompressedFault::none;
	}
	if (result != Z_OK && result != Z_BUF_ERROR)
		return CompressedFault::corrupt;
	/* All of the frame is in and zlib had room, yet the stream did not end: truncated. */
	if (wire_left == 0 && z.avail_out > 0)
		return CompressedFault::corrupt;
	return CompressedFault::none;
}

CompressedFraming::Step CompressedFraming::decode(ByteSpan wire, std::span<std::uint8_t> plain) noexcept
{
	Step step;
	if (fault != CompressedFault::none)
		return fail(step, fault);
	while (true) {
		if (!in_frame) {
			if (wire.empty())
				break;
			const std::size_t n = std::min(wire.size(), COMPRESSED_HEADER_SIZE - header_have);
			std::memcpy(header + header_have, wire.data(), n);
			header_have += n;
			wire = wire.subspan(n);
			step.consumed += n;
			if (header_have < COMPRESSED_HEADER_SIZE)
				break;
			if (const CompressedFault why = start_frame(); why != CompressedFault::none)
				return fail(step, why);
			continue;
		}
		if (plain.empty() && (stored || plain_left > 0))
			break;
		const std::size_t before = step.consumed + step.produced;
		const std::span<std::uint8_t> output = plain;
		if (stored) {
			decode_stored(wire, plain, step);
		} else if (const CompressedFault why = decode_deflated(wire, plain, step);
			   why != CompressedFault::none) {
			return fail(step, why);
		}
		renumber(output.first(output.size() - plain.size()));
		if (step.consumed + step.produced == before)
			break; /* the frame's next bytes have not arrived */
	}
	return step;
}

/* Gives each packet header in @plain (fresh output, in stream order) the conversation's next
 * sequence id, or 0 for the first packet of a command. */
void CompressedFraming::renumber(std::span<std::uint8_t> plain) noexcept
{
	for (std::size_t at = 0; at < plain.size();) {
		if (incoming.payload_left > 0) {
			const std::size_t n = std::min(incoming.payload_left, plain.size() - at);
			incoming.payload_left -= n;
			at += n;
			continue;
		}
		incoming.header[incoming.header_have] = plain[at];
		if (incoming.header_have < 3) {
			++incoming.header_have;
			++at;
			continue;
		}
		plain[at] = frame_starts_command ? 0 : std::uint8_t(conversation + 1);
		conversation = plain[at];
		frame_starts_command = false;
		incoming.header_have = 0;
		incoming.payload_left = read3(incoming.header);
		incoming.continued = incoming.payload_left == 0xFFFFFF;
		++at;
	}
}

/* --- encoding -------------------------------------------------------------------------------- */

/* Toward a backend, an inner packet with sequence id 0 starts a command, unless it follows one
 * with 255 while the backend was silent: then it continues a long exchange (LOCAL INFILE data). */
bool CompressedFraming::starts_command(std::uint8_t inner_sequence) const noexcept
{
	return inner_sequence == 0 && (last_inner_sequence != 255 || peer_spoke);
}

/* How much of @plain the next frame carries.  Follows the packets we send (the conversation's
 * numbering); toward a backend a frame ends before a packet that starts a new command. */
std::size_t CompressedFraming::frame_length(ByteSpan plain, bool &new_command) noexcept
{
	const std::size_t limit = std::min(plain.size(), frame_payload_max);
	const bool toward_backend = role == CompressedRole::client;
	new_command = false;
	std::size_t at = 0;
	while (at < limit) {
		if (outgoing.payload_left > 0) {
			const std::size_t n = std::min(outgoing.payload_left, limit - at);
			outgoing.payload_left -= n;
			at += n;
			continue;
		}
		/* The next command goes in a frame of its own, numbered from 0; a header is never
		 * split but at the start of a frame (the relay passes whole headers). */
		if (toward_backend && outgoing.header_have == 0 && at > 0 &&
		    (limit - at < 4 || starts_command(plain[at + 3])))
			break;
		const std::size_t n = std::min(4 - outgoing.header_have, limit - at);
		std::memcpy(outgoing.header + outgoing.header_have, plain.data() + at, n);
		if (toward_backend && outgoing.header_have == 0 && at == 0 && n == 4 && starts_command(outgoing.header[3]))
			new_command = true;
		outgoing.header_have += n;
		at += n;
		if (outgoing.header_have == 4) {
			outgoing.header_have = 0;
			outgoing.payload_left = read3(outgoing.header);
			last_inner_sequence = conversation = outgoing.header[3];
			peer_spoke = false;
		}
	}
	return at;
}

/* Deflates @plain as one zlib stream into @out; 0 when it would not come out smaller (or zlib
 * is unavailable: stored frames are always correct). */
std::size_t CompressedFraming::deflate_into(ByteSpan plain, std::uint8_t *out, std::size_t capacity) noexcept
{
	if (plain.size() < compress_min_length || deflater_failed)
		return 0;
	if (!deflater_ready) {
		try {
			if (!zlib)
				zlib = std::make_unique<ZlibStreams>();
		} catch (const std::bad_alloc &) {
			return 0;
		}
		if (deflateInit2(&zlib->deflater, Z_DEFAULT_COMPRESSION, Z_DEFLATED, deflate_window_bits,
				 deflate_memory_level, Z_DEFAULT_STRATEGY) != Z_OK) {
			deflater_failed = true;
			return 0;
		}
		deflater_ready = true;
	} else if (deflateReset(&zlib->deflater) != Z_OK) {
		return 0;
	}
	z_stream &z = zlib->deflater;
	z.next_in = const_cast<Bytef *>(plain.data());
	z.avail_in = static_cast<uInt>(plain.size());
	z.next_out = out;
	/* Only worth it when smaller. */
	z.avail_out = static_cast<uInt>(std::min(capacity, plain.size() - 1));
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		return 0;
	return std::size_t(z.total_out);
}

CompressedFraming::Step CompressedFraming::encode(ByteSpan plain, std::span<std::uint8_t> wire) noexcept
{
	Step step;
	if (plain.empty() || wire.size() < frame_wire_max)
		return step;
	bool new_command = false;
	const ByteSpan payload = plain.first(frame_length(plain, new_command));
	if (new_command)
		sequence = 0;
	answered = true;

	std::uint8_t *const body = wire.data() + COMPRESSED_HEADER_SIZE;
	std::size_t body_size = deflate_into(payload, body, wire.size() - COMPRESSED_HEADER_SIZE);
	std::size_t plain_length = payload.size();
	if (body_size == 0) {
		std::memcpy(body, payload.data(), payload.size());
		body_size = payload.size();
		plain_length = 0;
	}
	write3(wire.data(), body_size);
	wire[3] = sequence++;
	write3(wire.data() + 4, plain_length);
	step.consumed = payload.size();
	step.produced = COMPRESSED_HEADER_SIZE + body_size;
	return step;
}

} // namespace myproxy
