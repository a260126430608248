// The exchanges of a reused backend connection, without I/O (worker/backend_pool and worker/
// backend_side drive them): when its session ends, one write of COM_PING, COM_RESET_CONNECTION and a
// query carrying a random token (ReuseParking: the ping's status says whether a transaction was open,
// the reset makes the session fresh, the token in the last reply proves that every reply lined up, so
// nothing of the old session's was still on its way, and the query names the schema left); when a
// client takes it for another default schema, COM_INIT_DB (ReuseInitDb).  Both side
// with refusal: any packet they did not expect, an ERR, a malformed or oversized one is a failure,
// and the caller then closes that connection.  Never logs, never blocks.
#pragma once

#include "common/byte_reader.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace myproxy {

/* The server's packets of one exchange, in any split: whole packets come out one at a time.  A packet
 * longer than a reply of ours can be, or one announcing a continuation, is a failure. */
class ReplyInbox {
	std::vector<std::uint8_t> bytes;
	std::size_t consumed = 0;

public:
	static constexpr std::size_t max_payload = 16384;

	void append(ByteSpan data);
	/* The next whole packet's payload and sequence id; false when none is whole yet (or @error is set:
	 * a packet too long). */
	bool next(ByteSpan &payload, std::uint8_t &sequence_id, bool &error) noexcept;
};

enum class ReuseStatus : std::uint8_t { waiting, clean, failed };

class ReuseParking {
public:
	/* @capabilities, @mariadb_capabilities: what the backend session negotiated (the shape of OK,
	 * EOF, column counts and definitions); @token: random bytes of the caller's, never sent by anyone
	 * else. */
	ReuseParking(std::uint32_t capabilities, std::uint32_t mariadb_capabilities,
		     const std::array<std::uint8_t, 16> &token);

	/* What to write to the backend, once: COM_PING, COM_RESET_CONNECTION, the token query. */
	ByteSpan request() const noexcept { return {out.data(), out.size()}; }
	/* Bytes the backend sent. */
	ReuseStatus feed(ByteSpan data);
	/* After clean: the session's default schema (empty: none). */
	const std::string &database() const noexcept { return schema; }
	/* After failed: why, for a log line. */
	const char *failure() const noexcept { return reason; }

private:
	enum class Step : std::uint8_t { ping, reset, column_count, columns, columns_eof, row, row_end, done };

	std::uint32_t capabilities;
	std::uint32_t mariadb_capabilities;
	std::string token_text;
	std::vector<std::uint8_t> out;
	ReplyInbox inbox;
	Step step = Step::ping;
	std::uint8_t expected_sequence = 1;
	unsigned columns_seen = 0;
	bool row_seen = false;
	std::string schema;
	const char *reason = "";

	ReuseStatus packet(ByteSpan payload, std::uint8_t sequence_id);
	ReuseStatus fail(const char *why) noexcept;
	ReuseStatus row(ByteSpan payload);
	ReuseStatus end_of_rows(ByteSpan payload);
};

class ReuseInitDb {
public:
	ReuseInitDb(std::uint32_t capabilities, std::string_view database);

	ByteSpan request() const noexcept { return {out.data(), out.size()}; }
	ReuseStatus feed(ByteSpan data);
	const char *failure() const noexcept { return reason; }

private:
	std::uint32_t capabilities;
	std::vector<std::uint8_t> out;
	ReplyInbox inbox;
	const char *reason = "";
};

/* The status flags after which a session is not handed on: a transaction was open (read-only ones
 * too). */
bool reuse_status_dirty(std::uint16_t status_flags) noexcept;

} // namespace myproxy
