// Fuzz target for ok_packet.hpp, err_packet.hpp and eof_packet.hpp.  The first input byte picks the
// negotiated capabilities (their layouts depend on them), the rest is one payload given to all three
// parsers.  Every view is touched; whatever parses is built again and must parse to the same fields.
#include "common/eof_packet.hpp"
#include "common/err_packet.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/ok_packet.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <vector>

using namespace myproxy;

/* Bit i of the selector byte turns on CAPABILITY_BITS[i]. */
static constexpr std::uint32_t CAPABILITY_BITS[] = {
	CLIENT_PROTOCOL_41, CLIENT_TRANSACTIONS, CLIENT_SESSION_TRACK, CLIENT_DEPRECATE_EOF,
};

static std::uint32_t capabilities_from(std::uint8_t selector)
{
	std::uint32_t capabilities = 0;
	for (std::size_t i = 0; i < std::size(CAPABILITY_BITS); ++i)
		if (selector & (1u << i))
			capabilities |= CAPABILITY_BITS[i];
	return capabilities;
}

static bool same_ok(const OkPacket &a, const OkPacket &b)
{
	return a.header == b.header && a.affected_rows == b.affected_rows && a.last_insert_id == b.last_insert_id &&
	       a.status_flags == b.status_flags && a.warnings == b.warnings && a.info == b.info &&
	       fuzz::same(a.session_state_info, b.session_state_info);
}

static void check_ok(ByteSpan payload, std::uint32_t capabilities)
{
	const auto ok = parse_ok_packet(payload, capabilities);
	if (!ok.ok()) {
		FUZZ_CHECK(fuzz::error_ok(ok.error(), payload));
		return;
	}
	FUZZ_CHECK(ok->header == OK_HEADER || ok->header == OK_EOF_HEADER);
	FUZZ_CHECK(is_ok_packet(payload) == (ok->header == OK_HEADER));
	FUZZ_CHECK(fuzz::view_ok(ok->info, payload));
	FUZZ_CHECK(fuzz::view_ok(ok->session_state_info, payload));
	if (!(capabilities & CLIENT_PROTOCOL_41))
		FUZZ_CHECK(ok->warnings == 0);
	if (!(capabilities & (CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS)))
		FUZZ_CHECK(ok->status_flags == 0);

	std::vector<std::uint8_t> out;
	build_ok_packet(out, *ok, capabilities);
	const auto again = parse_ok_packet(out, capabilities);
	FUZZ_CHECK(again.ok() && same_ok(*ok, *again));
}

static void check_err(ByteSpan payload, std::uint32_t capabilities)
{
	const auto err = parse_err_packet(payload, capabilities);
	if (!err.ok()) {
		FUZZ_CHECK(fuzz::error_ok(err.error(), payload));
		return;
	}
	FUZZ_CHECK(is_err_packet(payload));
	FUZZ_CHECK(fuzz::view_ok(err->sql_state, payload));
	FUZZ_CHECK(fuzz::view_ok(err->message, payload));
	FUZZ_CHECK(err->sql_state.empty() || err->sql_state.size() == SQLSTATE_LENGTH);
	if (!(capabilities & CLIENT_PROTOCOL_41))
		FUZZ_CHECK(err->sql_state.empty());

	std::vector<std::uint8_t> out;
	build_err_packet(out, *err, capabilities);
	const auto again = parse_err_packet(out, capabilities);
	FUZZ_CHECK(again.ok());
	FUZZ_CHECK(again->error_code == err->error_code && again->sql_state == err->sql_state &&
		   again->message == err->message);
}

static void check_eof(ByteSpan payload, std::uint32_t capabilities)
{
	const bool is_eof = is_eof_packet(payload, capabilities);
	FUZZ_CHECK(is_eof == (!payload.empty() && is_eof_packet_start(payload[0], payload.size(), capabilities)));
	const auto eof = parse_eof_packet(payload, capabilities);
	if (!eof.ok()) {
		FUZZ_CHECK(fuzz::error_ok(eof.error(), payload));
		return;
	}
	/* An EOF packet is always recognised as the end of a sequence, whatever the capabilities. */
	FUZZ_CHECK(payload.size() < EOF_PACKET_LENGTH_LIMIT && is_eof);
	if (!(capabilities & CLIENT_PROTOCOL_41))
		FUZZ_CHECK(eof->warnings == 0 && eof->status_flags == 0);

	std::vector<std::uint8_t> out;
	build_eof_packet(out, *eof, capabilities);
	const auto again = parse_eof_packet(out, capabilities);
	FUZZ_CHECK(again.ok() && again->warnings == eof->warnings && again->status_flags == eof->status_flags);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size == 0)
		return 0;
	const std::uint32_t capabilities = capabilities_from(data[0]);
	const ByteSpan payload(data + 1, size - 1);
	check_ok(payload, capabilities);
	check_err(payload, capabilities);
	check_eof(payload, capabilities);
	return 0;
}
