// The control datagram protocol of upstream's daemon family (beng-proxy's "control" packets), which
// control_listen() receives and `myproxy --control` sends.  Pure: no I/O; parsing allocates nothing
// (payloads are views into the datagram).  Every datagram is hostile input: the parser never reads
// past it and rejects the whole datagram on the first inconsistency.
//
// Wire format (big-endian, unlike the MySQL protocol):
//   u32 magic 0x63046101, then packets: u16 payload length, u16 command, payload, zero padding to 4
#pragma once

#include "byte_reader.hpp"
#include "parse_result.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace myproxy {

inline constexpr std::uint32_t control_magic = 0x63046101;
/* The UDP port control_listen() and `myproxy --control` use when an address names none. */
inline constexpr std::uint16_t control_default_port = 5478;
/* Largest datagram accepted: upstream's receive buffer size; anything longer is cut by the kernel
   (MSG_TRUNC) and dropped whole. */
inline constexpr std::size_t control_max_datagram = 4096;
/* A datagram carrying more packets than this is refused (bounds the work of one datagram). */
inline constexpr std::size_t control_max_packets = 64;

/* The commands of the protocol that myproxy acts on or that the Lua control_client sends to other
   daemons of the family (beng-proxy, workshop); the numbers are upstream's wire format. */
enum class ControlCommand : std::uint16_t {
	nop = 0,
	verbose = 7,
	fade_children = 8,
	flush_filter_cache = 12,
	discard_session = 14,
	flush_http_cache = 15,
	terminate_children = 16,
	disconnect_database = 20,
	reset_limiter = 22,
	reject_client = 23,
	tarpit_client = 24,
	cancel_job = 25,
};

struct ControlPacket {
	std::uint16_t command = 0;
	/* Without the padding; a view into the datagram. */
	ByteSpan payload;
};

/* "NOP", "VERBOSE", "DISCONNECT_DATABASE", "FADE_CHILDREN", ..., or nullptr for a command not in
   ControlCommand. */
const char *control_command_name(std::uint16_t command) noexcept;

/* Splits one datagram into its packets.  Errors: short or wrong magic, a packet header or payload
   past the end, non-zero padding, more than control_max_packets packets.  An empty packet list
   (the magic alone) is valid. */
ParseResult<std::vector<ControlPacket>> parse_control_datagram(ByteSpan datagram);

/* Appends one packet (header, payload, padding) to @out, which must start with the magic
   (append_control_magic).  False when the payload exceeds 65535 bytes. */
void append_control_magic(std::vector<std::uint8_t> &out);
bool append_control_packet(std::vector<std::uint8_t> &out, std::uint16_t command, ByteSpan payload);

} // namespace myproxy
