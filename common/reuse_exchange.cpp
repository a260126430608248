// The exchanges of a reused backend connection; see reuse_exchange.hpp.
#include "common/reuse_exchange.hpp"

#include "common/command_packet.hpp"
#include "common/eof_packet.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/ok_packet.hpp"
#include "common/result_set.hpp"

namespace myproxy {

/* An EOF packet is shorter than this; a row starting with 0xFE is not (its length takes 8 bytes). */
static constexpr std::size_t EOF_PAYLOAD_LIMIT = 9;

void ReplyInbox::append(ByteSpan data)
{
	if (consumed == bytes.size()) {
		bytes.clear();
		consumed = 0;
	}
	bytes.insert(bytes.end(), data.begin(), data.end());
}

bool ReplyInbox::next(ByteSpan &payload, std::uint8_t &sequence_id, bool &error) noexcept
{
	const PacketScan scan = scan_packet(ByteSpan(bytes.data() + consumed, bytes.size() - consumed));
	if (scan.header_complete && (scan.continued || scan.header.payload_length > max_payload)) {
		error = true;
		return false;
	}
	if (!scan.complete)
		return false;
	payload = ByteSpan(bytes.data() + consumed + PACKET_HEADER_SIZE, scan.header.payload_length);
	sequence_id = scan.header.sequence_id;
	consumed += scan.wire_size;
	return true;
}

bool reuse_status_dirty(std::uint16_t status_flags) noexcept
{
	return (status_flags & (SERVER_STATUS_IN_TRANS | SERVER_STATUS_IN_TRANS_READONLY)) != 0;
}

static void hex_encode(const std::array<std::uint8_t, 16> &bytes, std::string &out)
{
	static constexpr char digits[] = "0123456789abcdef";
	for (const std::uint8_t b : bytes) {
		out.push_back(digits[b >> 4]);
		out.push_back(digits[b & 0x0F]);
	}
}

/* --- parking ----------------------------------------------------------------------------------- */

ReuseParking::ReuseParking(std::uint32_t negotiated, std::uint32_t mariadb_negotiated,
			   const std::array<std::uint8_t, 16> &token)
	: capabilities(negotiated), mariadb_capabilities(mariadb_negotiated)
{
	hex_encode(token, token_text);
	std::vector<std::uint8_t> payload;
	const auto command = [&] {
		std::uint8_t sequence_id = 0;
		append_packet(out, ByteSpan(payload.data(), payload.size()), sequence_id);
		payload.clear();
	};
	/* COM_PING's OK carries the session's status as the client left it (a transaction open?). */
	build_com_ping(payload);
	command();
	build_com_reset_connection(payload);
	command();
	/* After the reset, so the schema is the one the next client gets.  The token is hex: no
	 * quoting problem under any sql_mode or character set. */
	build_com_query(payload, "SELECT DATABASE(), '" + token_text + "'");
	command();
}

ReuseStatus ReuseParking::fail(const char *why) noexcept
{
	step = Step::done;
	reason = why;
	return ReuseStatus::failed;
}

ReuseStatus ReuseParking::feed(ByteSpan data)
{
	if (step == Step::done)
		return fail("the backend spoke after the reset");
	inbox.append(data);
	ByteSpan payload;
	std::uint8_t sequence_id = 0;
	bool error = false;
	while (inbox.next(payload, sequence_id, error)) {
		const ReuseStatus status = packet(payload, sequence_id);
		if (status != ReuseStatus::waiting)
			return status;
	}
	return error ? fail("an oversized packet") : ReuseStatus::waiting;
}

/* Each packet in the order the query's result set and the reset's OK must come; anything else (a
 * reply of the old session still on its way, an ERR) fails. */
ReuseStatus ReuseParking::packet(ByteSpan payload, std::uint8_t sequence_id)
{
	if (sequence_id != expected_sequence)
		return fail("a packet out of sequence (a reply of the session was still on its way)");
	++expected_sequence;
	if (payload.empty())
		return fail("an empty packet");
	if (payload[0] == ERR_HEADER)
		return fail(step == Step::reset	  ? "COM_RESET_CONNECTION failed"
			    : step == Step::ping ? "COM_PING failed"
						 : "the check query failed");
	switch (step) {
	case Step::ping: {
		const auto ok = parse_ok_packet(payload, capabilities);
		if (payload[0] != OK_HEADER || !ok)
			return fail("COM_PING got no OK");
		if (reuse_status_dirty(ok->status_flags))
			return fail("a transaction was open");
		step = Step::reset;
		expected_sequence = 1;
		return ReuseStatus::waiting;
	}
	case Step::reset: {
		const auto ok = parse_ok_packet(payload, capabilities);
		if (payload[0] != OK_HEADER || !ok)
			return fail("COM_RESET_CONNECTION got no OK");
		step = Step::column_count;
		expected_sequence = 1;
		return ReuseStatus::waiting;
	}
	case Step::column_count: {
		/* MariaDB's metadata caching adds "metadata follows", which a query's result always has. */
		const bool cached = (std::uint64_t(mariadb_capabilities) << 32 & MARIADB_CLIENT_CACHE_METADATA) != 0;
		if (payload.size() != (cached ? 2u : 1u) || payload[0] != 2 || (cached && payload[1] != 1))
			return fail("not the check query's result set");
		step = Step::columns;
		return ReuseStatus::waiting;
	}
	case Step::columns:
		/* Their shape depends on MariaDB's extended metadata; the token in the row is the proof. */
		if (payload[0] == EOF_HEADER && payload.size() < EOF_PAYLOAD_LIMIT)
			return fail("too few column definitions");
		if (++columns_seen == 2)
			step = capabilities & CLIENT_DEPRECATE_EOF ? Step::row : Step::columns_eof;
		return ReuseStatus::waiting;
	case Step::columns_eof:
		if (payload[0] != EOF_HEADER || payload.size() >= EOF_PAYLOAD_LIMIT || !parse_eof_packet(payload, capabilities))
			return fail("no EOF after the column definitions");
		step = Step::row;
		return ReuseStatus::waiting;
	case Step::row:
		return row(payload);
	case Step::row_end:
		return end_of_rows(payload);
	case Step::done:
		break;
	}
	return fail("the backend spoke after the reset");
}

ReuseStatus ReuseParking::row(ByteSpan payload)
{
	const auto parsed = parse_text_row(payload, 2);
	if (!parsed)
		return fail("a malformed row");
	auto value = parsed->begin();
	const std::optional<std::string_view> database = *value;
	++value;
	if (!*value || **value != token_text)
		return fail("the row does not carry the token (a reply of the session was still on its way)");
	schema.assign(database ? *database : std::string_view());
	step = Step::row_end;
	return ReuseStatus::waiting;
}

ReuseStatus ReuseParking::end_of_rows(ByteSpan payload)
{
	std::uint16_t status = 0;
	if (capabilities & CLIENT_DEPRECATE_EOF) {
		const auto ok = parse_ok_packet(payload, capabilities);
		if (payload[0] != EOF_HEADER || !ok)
			return fail("no OK after the row");
		status = ok->status_flags;
	} else {
		const auto eof = parse_eof_packet(payload, capabilities);
		if (payload[0] != EOF_HEADER || payload.size() >= EOF_PAYLOAD_LIMIT || !eof)
			return fail("no EOF after the row");
		status = eof->status_flags;
	}
	if (status & SERVER_MORE_RESULTS_EXISTS)
		return fail("more results after the check query");
	if (reuse_status_dirty(status))
		return fail("a transaction is open after the reset");
	step = Step::done;
	return ReuseStatus::clean;
}

/* --- COM_INIT_DB -------------------------------------------------------------------------------- */

ReuseInitDb::ReuseInitDb(std::uint32_t negotiated, std::string_view database) : capabilities(negotiated)
{
	std::vector<std::uint8_t> payload;
	build_com_init_db(payload, database);
	std::uint8_t sequence_id = 0;
	append_packet(out, ByteSpan(payload.data(), payload.size()), sequence_id);
}

ReuseStatus ReuseInitDb::feed(ByteSpan data)
{
	inbox.append(data);
	ByteSpan payload;
	std::uint8_t sequence_id = 0;
	bool error = false;
	if (!inbox.next(payload, sequence_id, error)) {
		if (!error)
			return ReuseStatus::waiting;
		reason = "an oversized packet";
		return ReuseStatus::failed;
	}
	const auto ok = parse_ok_packet(payload, capabilities);
	if (sequence_id != 1 || payload.empty() || payload[0] != OK_HEADER || !ok) {
		reason = !payload.empty() && payload[0] == ERR_HEADER ? "COM_INIT_DB failed" : "COM_INIT_DB got no OK";
		return ReuseStatus::failed;
	}
	/* Nothing may follow the OK. */
	if (inbox.next(payload, sequence_id, error) || error) {
		reason = "the backend spoke after COM_INIT_DB's OK";
		return ReuseStatus::failed;
	}
	return ReuseStatus::clean;
}

} // namespace myproxy
