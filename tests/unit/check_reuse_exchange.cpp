// Unit tests for common/reuse_exchange: the parking exchange accepts exactly the ping's OK, the
// reset's OK and the token query's result set (with and without CLIENT_DEPRECATE_EOF, with MariaDB's
// metadata capabilities, in any split), and refuses a reply of the old session still on its way, a
// wrong token, an open transaction, an ERR, garbage, oversized or continued packets, and anything
// after the last reply; COM_INIT_DB accepts only a lone OK.
#include "common/reuse_exchange.hpp"

#include "common/command_packet.hpp"
#include "common/mysql_capabilities.hpp"
#include "tests/unit/packet_test_util.hpp"
#include "tests/check_main.hpp"

#include <string>

using namespace myproxy;

namespace {

constexpr std::array<std::uint8_t, 16> token{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
const std::string token_text = "000102030405060708090a0b0c0d0e0f";
constexpr std::uint32_t caps = CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS;
constexpr std::uint32_t caps_deprecate_eof = caps | CLIENT_DEPRECATE_EOF;

using Bytes = std::vector<std::uint8_t>;

void packet(Bytes &out, std::uint8_t sequence_id, const Bytes &payload)
{
	out.push_back(std::uint8_t(payload.size()));
	out.push_back(std::uint8_t(payload.size() >> 8));
	out.push_back(std::uint8_t(payload.size() >> 16));
	out.push_back(sequence_id);
	out.insert(out.end(), payload.begin(), payload.end());
}

void lenenc_string(Bytes &out, std::string_view s)
{
	out.push_back(std::uint8_t(s.size()));
	out.insert(out.end(), s.begin(), s.end());
}

Bytes column(std::string_view name)
{
	Bytes p;
	for (std::string_view s : {std::string_view("def"), std::string_view(), std::string_view(), std::string_view(), name, std::string_view()})
		lenenc_string(p, s);
	const Bytes fixed{0x0C, 0x21, 0x00, 0x00, 0x01, 0x00, 0x00, 0xFD, 0x00, 0x00, 0x1F, 0x00, 0x00};
	p.insert(p.end(), fixed.begin(), fixed.end());
	return p;
}

Bytes eof(std::uint16_t status)
{
	return {0xFE, 0x00, 0x00, std::uint8_t(status), std::uint8_t(status >> 8)};
}

Bytes ok(std::uint8_t header, std::uint16_t status)
{
	return {header, 0x00, 0x00, std::uint8_t(status), std::uint8_t(status >> 8), 0x00, 0x00};
}

Bytes err(std::uint16_t code)
{
	Bytes p{0xFF, std::uint8_t(code), std::uint8_t(code >> 8), '#', 'H', 'Y', '0', '0', '0'};
	for (char c : std::string("nope"))
		p.push_back(std::uint8_t(c));
	return p;
}

struct Reply {
	const char *database = "app_db"; // nullptr: NULL
	std::string token = token_text;
	Bytes ping = ok(0x00, SERVER_STATUS_AUTOCOMMIT);
	Bytes reset = ok(0x00, SERVER_STATUS_AUTOCOMMIT);
	std::uint16_t end_status = SERVER_STATUS_AUTOCOMMIT;
};

Bytes server_reply(std::uint32_t capabilities, const Reply &r)
{
	Bytes out;
	packet(out, 1, r.ping);
	packet(out, 1, r.reset);
	std::uint8_t seq = 1;
	packet(out, seq++, {0x02});
	packet(out, seq++, column("DATABASE()"));
	packet(out, seq++, column("token"));
	if (!(capabilities & CLIENT_DEPRECATE_EOF))
		packet(out, seq++, eof(SERVER_STATUS_AUTOCOMMIT));
	Bytes row;
	if (r.database != nullptr)
		lenenc_string(row, r.database);
	else
		row.push_back(0xFB);
	lenenc_string(row, r.token);
	packet(out, seq++, row);
	packet(out, seq++, capabilities & CLIENT_DEPRECATE_EOF ? ok(0xFE, r.end_status) : eof(r.end_status));
	return out;
}

ReuseStatus feed_all(ReuseParking &parking, const Bytes &bytes, std::size_t chunk = 1 << 20)
{
	ReuseStatus status = ReuseStatus::waiting;
	for (std::size_t at = 0; at < bytes.size() && status == ReuseStatus::waiting; at += chunk)
		status = parking.feed(ByteSpan(bytes.data() + at, std::min(chunk, bytes.size() - at)));
	return status;
}

} // namespace

START_TEST(test_request_is_ping_reset_query)
{
	ReuseParking parking(caps, 0, token);
	const ByteSpan request = parking.request();
	const std::string query = "SELECT DATABASE(), '" + token_text + "'";
	ck_assert_uint_eq(request.size(), 5 + 5 + 4 + 1 + query.size());
	ck_assert_uint_eq(request[3], 0);
	ck_assert_uint_eq(request[4], COM_PING);
	ck_assert_uint_eq(request[8], 0);
	ck_assert_uint_eq(request[9], COM_RESET_CONNECTION);
	ck_assert_uint_eq(request[13], 0);
	ck_assert_uint_eq(request[14], COM_QUERY);
	ck_assert(std::string(request.begin() + 15, request.end()) == query);
}
END_TEST

START_TEST(test_clean_in_any_split)
{
	for (const std::uint32_t c : {caps, caps_deprecate_eof}) {
		for (const std::size_t chunk : {std::size_t(1), std::size_t(3), std::size_t(1000)}) {
			ReuseParking parking(c, 0, token);
			ck_assert(feed_all(parking, server_reply(c, {}), chunk) == ReuseStatus::clean);
			ck_assert_str_eq(parking.database().c_str(), "app_db");
		}
		ReuseParking no_schema(c, 0, token);
		Reply r;
		r.database = nullptr;
		ck_assert(feed_all(no_schema, server_reply(c, r)) == ReuseStatus::clean);
		ck_assert(no_schema.database().empty());
	}
}
END_TEST

/* MariaDB's metadata caching ("metadata follows" after the count) and extended metadata (a field
 * more in each definition), as libmariadb negotiates them. */
START_TEST(test_mariadb_metadata_capabilities)
{
	const std::uint32_t mariadb = std::uint32_t((MARIADB_CLIENT_CACHE_METADATA | MARIADB_CLIENT_EXTENDED_METADATA) >> 32);
	Bytes bytes;
	packet(bytes, 1, ok(0x00, SERVER_STATUS_AUTOCOMMIT));
	packet(bytes, 1, ok(0x00, SERVER_STATUS_AUTOCOMMIT));
	packet(bytes, 1, {0x02, 0x01});
	for (std::uint8_t seq : {std::uint8_t(2), std::uint8_t(3)}) {
		Bytes definition;
		for (std::string_view s : {std::string_view("def"), std::string_view(), std::string_view(),
					   std::string_view(), std::string_view("c"), std::string_view()})
			lenenc_string(definition, s);
		definition.push_back(0x00); /* no extended type information */
		const Bytes fixed{0x0C, 0x21, 0x00, 0x00, 0x01, 0x00, 0x00, 0xFD, 0x00, 0x00, 0x1F, 0x00, 0x00};
		definition.insert(definition.end(), fixed.begin(), fixed.end());
		packet(bytes, seq, definition);
	}
	Bytes row;
	lenenc_string(row, "app_db");
	lenenc_string(row, token_text);
	packet(bytes, 4, row);
	packet(bytes, 5, ok(0xFE, SERVER_STATUS_AUTOCOMMIT));
	ReuseParking parking(caps_deprecate_eof, mariadb, token);
	ck_assert(feed_all(parking, bytes) == ReuseStatus::clean);
	ck_assert_str_eq(parking.database().c_str(), "app_db");
	/* Without the "metadata follows" byte the count is not the check query's. */
	ReuseParking no_flag(caps_deprecate_eof, mariadb, token);
	Bytes short_count;
	packet(short_count, 1, ok(0x00, 0));
	packet(short_count, 1, ok(0x00, 0));
	packet(short_count, 1, {0x02});
	ck_assert(feed_all(no_flag, short_count) == ReuseStatus::failed);
}
END_TEST

START_TEST(test_open_transaction_fails)
{
	for (const std::uint16_t status : {SERVER_STATUS_IN_TRANS, SERVER_STATUS_IN_TRANS_READONLY}) {
		ReuseParking parking(caps, 0, token);
		Reply r;
		r.ping = ok(0x00, status);
		ck_assert(feed_all(parking, server_reply(caps, r)) == ReuseStatus::failed);
		ck_assert_str_eq(parking.failure(), "a transaction was open");
	}
	ReuseParking more(caps, 0, token);
	Reply r;
	r.end_status = SERVER_MORE_RESULTS_EXISTS;
	ck_assert(feed_all(more, server_reply(caps, r)) == ReuseStatus::failed);
	ReuseParking ping_err(caps, 0, token);
	r = {};
	r.ping = err(1047);
	ck_assert(feed_all(ping_err, server_reply(caps, r)) == ReuseStatus::failed);
}
END_TEST

START_TEST(test_old_reply_still_on_its_way_fails)
{
	/* The rest of a result set: a row with the next sequence id of the old exchange. */
	ReuseParking leftover(caps, 0, token);
	Bytes bytes;
	packet(bytes, 7, {0x01, 'x'});
	ck_assert(feed_all(leftover, bytes) == ReuseStatus::failed);
	/* A whole reply of a command the session sent last (it starts at sequence id 1, too): every
	 * reply after it is one off, and the token is not where it must be. */
	ReuseParking late_ok(caps, 0, token);
	bytes.clear();
	packet(bytes, 1, ok(0x00, SERVER_STATUS_AUTOCOMMIT));
	const Bytes ours = server_reply(caps, {});
	bytes.insert(bytes.end(), ours.begin(), ours.end());
	ck_assert(feed_all(late_ok, bytes) == ReuseStatus::failed);
	/* A result set the session asked for, arriving before our ping's OK. */
	ReuseParking late_result(caps, 0, token);
	bytes.clear();
	packet(bytes, 1, {0x01});
	bytes.insert(bytes.end(), ours.begin(), ours.end());
	ck_assert(feed_all(late_result, bytes) == ReuseStatus::failed);
	/* A result set of the session's with two columns, but not our token. */
	ReuseParking wrong_token(caps, 0, token);
	Reply r;
	r.token = "ffffffffffffffffffffffffffffffff";
	ck_assert(feed_all(wrong_token, server_reply(caps, r)) == ReuseStatus::failed);
}
END_TEST

START_TEST(test_errors_and_garbage_fail)
{
	ReuseParking reset_err(caps, 0, token);
	Reply r;
	r.reset = err(1047);
	ck_assert(feed_all(reset_err, server_reply(caps, r)) == ReuseStatus::failed);
	ck_assert_str_eq(reset_err.failure(), "COM_RESET_CONNECTION failed");

	ReuseParking query_err(caps, 0, token);
	Bytes bytes;
	packet(bytes, 1, ok(0x00, 0));
	packet(bytes, 1, ok(0x00, 0));
	packet(bytes, 1, err(1064));
	ck_assert(feed_all(query_err, bytes) == ReuseStatus::failed);
	ck_assert_str_eq(query_err.failure(), "the check query failed");

	ReuseParking reset_garbage(caps, 0, token);
	r.reset = {0x42, 0x42};
	ck_assert(feed_all(reset_garbage, server_reply(caps, r)) == ReuseStatus::failed);

	ReuseParking empty(caps, 0, token);
	bytes.clear();
	packet(bytes, 1, {});
	ck_assert(feed_all(empty, bytes) == ReuseStatus::failed);

	ReuseParking oversized(caps, 0, token);
	const Bytes huge_header{0xFF, 0xFF, 0xFF, 0x01};
	ck_assert(feed_all(oversized, huge_header) == ReuseStatus::failed);

	ReuseParking bad_row(caps, 0, token);
	bytes.clear();
	packet(bytes, 1, ok(0x00, 0));
	packet(bytes, 1, ok(0x00, 0));
	packet(bytes, 1, {0x02});
	packet(bytes, 2, column("a"));
	packet(bytes, 3, column("b"));
	packet(bytes, 4, eof(0));
	packet(bytes, 5, {0x40, 'x'});
	ck_assert(feed_all(bad_row, bytes) == ReuseStatus::failed);
}
END_TEST

START_TEST(test_anything_after_the_reset_fails)
{
	ReuseParking parking(caps, 0, token);
	Bytes bytes = server_reply(caps, {});
	packet(bytes, 1, ok(0x00, 0));
	/* The terminator completes the exchange first; the extra packet in the same read is the next feed's. */
	const ReuseStatus status = feed_all(parking, bytes);
	ck_assert(status == ReuseStatus::clean);
	const Bytes more{0x01};
	ck_assert(parking.feed(ByteSpan(more.data(), more.size())) == ReuseStatus::failed);
}
END_TEST

START_TEST(test_init_db)
{
	ReuseInitDb good(caps, "other_db");
	const ByteSpan request = good.request();
	ck_assert_uint_eq(request[4], COM_INIT_DB);
	Bytes bytes;
	packet(bytes, 1, ok(0x00, SERVER_STATUS_AUTOCOMMIT));
	ck_assert(good.feed(ByteSpan(bytes.data(), 3)) == ReuseStatus::waiting);
	ck_assert(good.feed(ByteSpan(bytes.data() + 3, bytes.size() - 3)) == ReuseStatus::clean);

	ReuseInitDb refused(caps, "nope");
	bytes.clear();
	packet(bytes, 1, err(1049));
	ck_assert(refused.feed(ByteSpan(bytes.data(), bytes.size())) == ReuseStatus::failed);
	ck_assert_str_eq(refused.failure(), "COM_INIT_DB failed");

	ReuseInitDb wrong_sequence(caps, "x");
	bytes.clear();
	packet(bytes, 2, ok(0x00, 0));
	ck_assert(wrong_sequence.feed(ByteSpan(bytes.data(), bytes.size())) == ReuseStatus::failed);

	ReuseInitDb trailing(caps, "x");
	bytes.clear();
	packet(bytes, 1, ok(0x00, 0));
	packet(bytes, 2, ok(0x00, 0));
	ck_assert(trailing.feed(ByteSpan(bytes.data(), bytes.size())) == ReuseStatus::failed);
}
END_TEST

static Suite *reuse_exchange_suite()
{
	Suite *s = suite_create("reuse_exchange");
	TCase *tc = tcase_create("parking");
	tcase_add_test(tc, test_request_is_ping_reset_query);
	tcase_add_test(tc, test_clean_in_any_split);
	tcase_add_test(tc, test_mariadb_metadata_capabilities);
	tcase_add_test(tc, test_open_transaction_fails);
	tcase_add_test(tc, test_old_reply_still_on_its_way_fails);
	tcase_add_test(tc, test_errors_and_garbage_fail);
	tcase_add_test(tc, test_anything_after_the_reset_fails);
	tcase_add_test(tc, test_init_db);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({reuse_exchange_suite()});
}
