// Unit tests for common/lenenc: every prefix form, round trips, and hostile input.
#include "common/lenenc.hpp"
#include "tests/check_main.hpp"

#include <string>
#include <vector>

using namespace myproxy;

static std::vector<std::uint8_t> encode_int(std::uint64_t value)
{
	std::vector<std::uint8_t> out;
	ByteWriter w(out);
	write_lenenc_int(w, value);
	return out;
}

START_TEST(test_int_round_trip)
{
	const std::uint64_t values[] = {0, 1, 250, 251, 0xFFFF, 0x10000, 0xFFFFFF, 0x1000000,
					0xFFFFFFFFFFFFFFFFull};
	const std::size_t sizes[] = {1, 1, 1, 3, 3, 4, 4, 9, 9};
	for (std::size_t i = 0; i < sizeof(values) / sizeof(values[0]); ++i) {
		const auto bytes = encode_int(values[i]);
		ck_assert_uint_eq(bytes.size(), sizes[i]);
		ck_assert_uint_eq(lenenc_int_size(values[i]), sizes[i]);
		ByteReader r(bytes);
		ck_assert_uint_eq(read_lenenc_int(r, "x"), values[i]);
		ck_assert(r.ok());
		ck_assert(r.at_end());
	}
}
END_TEST

START_TEST(test_int_prefix_forms)
{
	const std::uint8_t two[] = {0xFC, 0x34, 0x12};
	ByteReader r2(two);
	ck_assert_uint_eq(read_lenenc_int(r2, "x"), 0x1234);
	const std::uint8_t three[] = {0xFD, 0x56, 0x34, 0x12};
	ByteReader r3(three);
	ck_assert_uint_eq(read_lenenc_int(r3, "x"), 0x123456);
	const std::uint8_t eight[] = {0xFE, 1, 2, 3, 4, 5, 6, 7, 8};
	ByteReader r8(eight);
	ck_assert_uint_eq(read_lenenc_int(r8, "x"), 0x0807060504030201ull);
}
END_TEST

START_TEST(test_int_bad_prefixes)
{
	for (std::uint8_t prefix : {std::uint8_t(0xFB), std::uint8_t(0xFF)}) {
		const std::uint8_t data[] = {prefix, 0, 0, 0, 0, 0, 0, 0, 0};
		ByteReader r(data);
		(void)read_lenenc_int(r, "bad prefix");
		ck_assert(!r.ok());
		ck_assert_str_eq(r.error().what, "bad prefix");
		ck_assert_uint_eq(r.error().offset, 1);
	}
}
END_TEST

START_TEST(test_int_truncated)
{
	const std::uint8_t cases[][8] = {{0xFC, 1}, {0xFD, 1, 2}, {0xFE, 1, 2, 3, 4, 5, 6, 7}};
	const std::size_t lengths[] = {2, 3, 8};
	for (std::size_t i = 0; i < 3; ++i) {
		ByteReader r(ByteSpan(cases[i], lengths[i]));
		ck_assert_uint_eq(read_lenenc_int(r, "truncated"), 0);
		ck_assert(!r.ok());
	}
	ByteReader empty(ByteSpan{});
	(void)read_lenenc_int(empty, "empty");
	ck_assert(!empty.ok());
}
END_TEST

START_TEST(test_string)
{
	std::vector<std::uint8_t> out;
	ByteWriter w(out);
	write_lenenc_string(w, "hello");
	write_lenenc_string(w, std::string(300, 'x'));
	ByteReader r(out);
	ck_assert(read_lenenc_string(r, "a") == "hello");
	ck_assert_uint_eq(read_lenenc_string(r, "b").size(), 300);
	ck_assert(r.ok() && r.at_end());
}
END_TEST

START_TEST(test_string_length_past_end)
{
	const std::uint8_t data[] = {5, 'a', 'b'};
	ByteReader r(data);
	ck_assert(read_lenenc_string(r, "string past end").empty());
	ck_assert(!r.ok());
	ck_assert_str_eq(r.error().what, "string past end");
	/* An 8-byte length that would overflow any size arithmetic. */
	const std::uint8_t huge[] = {0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 'a'};
	ByteReader rh(huge);
	ck_assert(read_lenenc_string(rh, "huge").empty());
	ck_assert(!rh.ok());
}
END_TEST

START_TEST(test_string_or_null)
{
	const std::uint8_t data[] = {0xFB, 2, 'o', 'k'};
	ByteReader r(data);
	ck_assert(!read_lenenc_string_or_null(r, "n").has_value());
	auto s = read_lenenc_string_or_null(r, "s");
	ck_assert(s.has_value() && *s == "ok");
	ck_assert(r.ok() && r.at_end());
}
END_TEST

START_TEST(test_errors_are_sticky)
{
	const std::uint8_t data[] = {0xFF, 1, 2, 3};
	ByteReader r(data);
	(void)read_lenenc_int(r, "first");
	ck_assert_uint_eq(r.u8("second"), 0);
	ck_assert_str_eq(r.error().what, "first");
	ck_assert_uint_eq(r.remaining(), 0);
}
END_TEST

static Suite *lenenc_suite()
{
	Suite *s = suite_create("lenenc");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_int_round_trip);
	tcase_add_test(tc, test_int_prefix_forms);
	tcase_add_test(tc, test_int_bad_prefixes);
	tcase_add_test(tc, test_int_truncated);
	tcase_add_test(tc, test_string);
	tcase_add_test(tc, test_string_length_past_end);
	tcase_add_test(tc, test_string_or_null);
	tcase_add_test(tc, test_errors_are_sticky);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({lenenc_suite()});
}
