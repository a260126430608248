// KILL as a client asks for it (sans-I/O, both sides of nothing: the worker's KILL translation
// reads it): the statement `KILL [HARD | SOFT] [CONNECTION | QUERY] n` alone in a COM_QUERY, or
// COM_PROCESS_KILL, parsed; and the same request rebuilt with another thread id.  Anything the
// simple tokenizer below cannot follow (an expression, `KILL USER`, `KILL QUERY ID`, an executable
// comment, a second statement) is not a KILL to it: the caller passes such a query on unchanged.
// Input is hostile: never reads past the payload, never allocates while parsing.
#pragma once

#include "byte_reader.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace myproxy {

/* Longest COM_QUERY payload (command byte included) that may be a KILL statement of ours: the
 * relay holds queries up to this size whole to look at them, and passes longer ones unlooked. */
inline constexpr std::size_t kill_statement_max_payload = 256;

struct KillCommand {
	enum class Force : std::uint8_t { none, hard, soft };
	/* COM_PROCESS_KILL (always a connection kill) rather than a COM_QUERY statement. */
	bool binary = false;
	/* KILL QUERY; else KILL [CONNECTION]. */
	bool query = false;
	Force force = Force::none;
	/* The thread id named, 1..2^32-1 (others are no connection id of myproxy's). */
	std::uint32_t id = 0;
};

/* @payload: a command packet's payload, command byte first.  A COM_QUERY holding exactly one KILL
 * of a numeric id (case-insensitive keywords, whitespace, comments and one trailing ';' as the
 * server allows them) or a COM_PROCESS_KILL of 4 bytes; otherwise nothing. */
std::optional<KillCommand> parse_kill_command(ByteSpan payload) noexcept;

/* Whether @payload is what parse_kill_command() accepts (the relay's filter). */
bool is_kill_command(ByteSpan payload) noexcept;

/* Appends @command with @thread_id in place of its id as one framed packet with sequence id 0
 * (a command's first): COM_PROCESS_KILL stays binary, a statement becomes
 * `KILL [HARD |SOFT ][QUERY ]<thread_id>`. */
void build_kill_command(std::vector<std::uint8_t> &out, const KillCommand &command, std::uint32_t thread_id);

} // namespace myproxy
