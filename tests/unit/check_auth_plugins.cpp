// Unit tests for the auth plugins in common/: caching_sha2_password (scramble, server check, RSA-OAEP
// full path), client_ed25519 (MariaDB's signature), and RSA key pairs.  The vectors were computed once,
// independently of this code, by tests/unit/vectors/auth_vectors.py (python3 hashlib, RFC 8032's pure
// Python Ed25519 arithmetic, python3-cryptography's OAEP with tests/unit/vectors/rsa_test_key.pem).
#include "common/caching_sha2_password.hpp"
#include "common/ed25519_password.hpp"
#include "common/rsa_key.hpp"
#include "tests/check_main.hpp"

#include <openssl/evp.h>

#include <string>
#include <string_view>
#include <vector>

using namespace myproxy;

static std::vector<std::uint8_t> from_hex(std::string_view hex)
{
	std::vector<std::uint8_t> out;
	for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
		out.push_back(std::uint8_t(std::stoul(std::string(hex.substr(i, 2)), nullptr, 16)));
	return out;
}

template <std::size_t N>
static bool equals_hex(const std::array<std::uint8_t, N> &digest, std::string_view hex)
{
	return std::vector<std::uint8_t>(digest.begin(), digest.end()) == from_hex(hex);
}

static const std::vector<std::uint8_t> NONCE_1_TO_20 = from_hex("0102030405060708090a0b0c0d0e0f1011121314");

/* tests/unit/vectors/rsa_test_key.pem, a throwaway key made for these tests with openssl genrsa. */
static const char RSA_TEST_KEY[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCs4yGz7waCaZDp\n"
	"oSPcon8IlMdXQHiDR6scoLQKAi2wC1WBpqDk/wLzSKJpRniNY2TA/dX0W3kKK7CL\n"
	"zVf5097yI7xZl1WRyypK+KrAQLLFcKiAIsxQdx/XLpIDIIlFcUEjes/iEiq8ipnU\n"
	"iaWRTeR18su95eDq+faYGdiS5q9WBl3K+8QdthDTvWUJY5FZeTwsV5MY9UJo0YCc\n"
	"Ps9OT7GUSWzAVts0kcOUuNCCNcruurGxjFWgYs96+Xz3QcEnDBuFSyvkr91ikJjo\n"
	"aLzFcjOroRkapYN9ZqcUAAqJ6gtxkS4VFsOJSK+8NV9ffCWwCi1haqXtSweL5IMU\n"
	"fqxZvHOfAgMBAAECggEAF2HKm5q+ryGW4zoTbxIdCyyP/zltcxfcyQzk/JuJ0U7f\n"
	"HB9MkFv66qtOp91LjZe9Nyq9ZoR+jMUW5fl6JgQlGWuC3D0O6h5nlGcoNMMrSm+v\n"
	"olDSgCl0SXZ3cevTFOy5yhIgjms1k3VNU8Tf+xRlSxxwuLif4De5RZ3tQATp/sC5\n"
	"rT3IySQjGsEQUUuEIGz1GNmyBTkFO//Q2M2XIXg2KQHOklKj4rUvhmbmuMZxkWgs\n"
	"Kw8bVOUL99QTAeDIznutDhbywotrKlIVC+CK/nIcHWDiXnOqcKepzohH8u5cFjQU\n"
	"0NzdcSsFo3TQld02Y0elMV0CAn8i+pbL29xFSnGz5QKBgQDeaSU9YxzR74bJJ3Xm\n"
	"lkdcYyKvI4nUk7C/Z1DoM2UhmHNgIAauN0Vqi03z7b3Q3XdrXEUi1DBL2ERdzENX\n"
	"h33rcFP+o+BF1shll0ejRwgWL8WjDDdqIHQQsR0lgoO2wAcvfbr8jhGESga8uQ7h\n"
	"DVDwqf6eCaT/i5NZ6oYuKsosWwKBgQDG/051xutSl6t62FRrNU6gQ7QI8fAo52UJ\n"
	"kYOS4c5A+9n9UJOyblPsOC4pWDNXlC4hbdWxgU77W2yd8vQNicOa2lHMySyo5cIf\n"
	"4VKUOvTZuc9sqOvqErsmCsrK8R9WTyGrnQsKuWhkHTYSRpm9aHPC2Le8SghkLFcn\n"
	"yZm5ngsJDQKBgG6rvXcdcYLZgKVpuFZEY0AKqICj23rm/uVPYMgagvFDre2gIhLg\n"
	"t+77YI/HtlNPUJQgttpM4bdr5yERelT8u+DC5VjpbLjz1oYOz/vkZZa8sMigVJa/\n"
	"jWGc8Fbw6d+vECRGmRwBCaBdQZr5Lvk3qhYHUQaM4Ai1CF6Ov7QLYMzPAoGAK8LB\n"
	"Mk1IOqV35E/mYJ0caUn6MW1i7tvT8EK7uHVHsiqwSXCKylZQxkWkgRsQT1Yavuc0\n"
	"cxCImeYFAMcIvGFrToZsLqie1ZWRFwmp60b7yVV/M9oB5zuvRDJjXjWgOo60TNUA\n"
	"NJ+JQVrbJTG5ZVmu+05FOXbeWYkWsX03/QWwT5ECgYA4edsYWIPThOqd4hFG/OXc\n"
	"FdIlEAXQoygzaN3iv7u3w24T8R5ZLdi66ntscmRbQxqdBa6pEgINqZ6Xsmq4kv0w\n"
	"WlXNESzirBgb55QIudcgKs/OxKRE04XhnPnZB7ZK+w+Iv1lXIdEHb4uHnX+VqVIl\n"
	"Dsi0r3yd3dHxvifVkMezzg==\n"
	"-----END PRIVATE KEY-----\n";

/* --- caching_sha2_password -------------------------------------------------------------------- */

START_TEST(test_sha2_vectors)
{
	auto stored = caching_sha2_stored_hash("password");
	ck_assert(stored && equals_hex(*stored, "73641c99f7719f57d8f4beb11a303afcd190243a51ced8782ca6d3dbe014d146"));
	auto scramble = caching_sha2_scramble("password", NONCE_1_TO_20);
	ck_assert(scramble && equals_hex(*scramble, "f7ab1c623a6e98dceab35e926290e5746a3141116115f4dd8ccca994393eccdd"));
	stored = caching_sha2_stored_hash("secret");
	ck_assert(stored && equals_hex(*stored, "3881219d087dd9c634373fd33dfa33a2cb6bfc6c520b64b8bb60ef2ceb534ae7"));
	scramble = caching_sha2_scramble("secret", NONCE_1_TO_20);
	ck_assert(scramble && equals_hex(*scramble, "746ebe205d56a0707acb3e796e834e0dd7b1d61743b26bd5202c7a623230c7c9"));

	std::vector<std::uint8_t> out = {0xAA};
	ck_assert(caching_sha2_auth_response(out, "password", NONCE_1_TO_20));
	ck_assert(out == from_hex("aaf7ab1c623a6e98dceab35e926290e5746a3141116115f4dd8ccca994393eccdd"));
	out.clear();
	ck_assert(caching_sha2_auth_response(out, "", NONCE_1_TO_20));
	ck_assert(out.empty());
}
END_TEST

START_TEST(test_sha2_verify)
{
	const auto stored = from_hex("73641c99f7719f57d8f4beb11a303afcd190243a51ced8782ca6d3dbe014d146");
	const std::span<const std::uint8_t, 32> stored_span(stored.data(), 32);
	const auto response = from_hex("f7ab1c623a6e98dceab35e926290e5746a3141116115f4dd8ccca994393eccdd");
	ck_assert(caching_sha2_verify(stored_span, NONCE_1_TO_20, response));
	for (std::size_t i = 0; i < response.size(); ++i) {
		auto wrong = response;
		wrong[i] ^= 0x10;
		ck_assert(!caching_sha2_verify(stored_span, NONCE_1_TO_20, wrong));
	}
	auto other_nonce = NONCE_1_TO_20;
	other_nonce[19] ^= 1;
	ck_assert(!caching_sha2_verify(stored_span, other_nonce, response));
	/* "secret"'s scramble against "password"'s hash, wrong lengths, nothing. */
	ck_assert(!caching_sha2_verify(stored_span, NONCE_1_TO_20,
				       from_hex("746ebe205d56a0707acb3e796e834e0dd7b1d61743b26bd5202c7a623230c7c9")));
	ck_assert(!caching_sha2_verify(stored_span, NONCE_1_TO_20, ByteSpan(response).first(31)));
	ck_assert(!caching_sha2_verify(stored_span, NONCE_1_TO_20, ByteSpan{}));
	auto longer = response;
	longer.push_back(0);
	ck_assert(!caching_sha2_verify(stored_span, NONCE_1_TO_20, longer));
}
END_TEST

START_TEST(test_rsa_decrypt_vector)
{
	std::string problem;
	auto pair = parse_rsa_private_key(RSA_TEST_KEY, problem);
	ck_assert_msg(pair.has_value(), "%s", problem.c_str());
	ck_assert_uint_eq(rsa_ciphertext_size(pair->key.get()), 256);
	ck_assert(pair->public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
	/* python3-cryptography: OAEP(MGF1(SHA1), SHA1) of b"secret\0" XOR the nonce. */
	const auto ciphertext = from_hex(
		"87925fcb4bd4460248f85a59162c3f360411b0a996d04b718c8bb142df31b0e3041581343f958bde619e3b5c94b35406"
		"c073d70edba4203124f89e1e78e55d64bebf19c32ed501055adcaa214696b344b335e7d8128b613ecc9155a083bab6a8"
		"4660326b6949b5049373dbaa45d75b1ca21542881fc5826092f23f2fb7d0604d9e653e1301552ff253019240cc398d92"
		"7bf713fff9aacc4ece320cd1cd1cbda5998e121ebec874f549a425c9ed1c9bbf6f6d5b7b14444b81bfd168dc33e26b64"
		"0d9bfadd58ecd98e99dde08719004df8398d8681c84f7e019e0e6e2e6b0b2de305ec605e1174bc4f3e8a1d3a7bdf3e31"
		"38930a12ff5d2eb35017d98dd600ec49");
	auto password = caching_sha2_rsa_decrypt_password(pair->key.get(), NONCE_1_TO_20, ciphertext);
	ck_assert(password && *password == "secret");
	/* A flipped bit, a truncated ciphertext, the wrong nonce. */
	auto wrong = ciphertext;
	wrong[100] ^= 1;
	ck_assert(!caching_sha2_rsa_decrypt_password(pair->key.get(), NONCE_1_TO_20, wrong));
	ck_assert(!caching_sha2_rsa_decrypt_password(pair->key.get(), NONCE_1_TO_20, ByteSpan(ciphertext).first(255)));
	ck_assert(!caching_sha2_rsa_decrypt_password(pair->key.get(), NONCE_1_TO_20, ByteSpan{}));
	auto other_nonce = NONCE_1_TO_20;
	other_nonce[6] ^= 0x40; /* the NUL's mask byte: the result no longer ends in NUL */
	ck_assert(!caching_sha2_rsa_decrypt_password(pair->key.get(), other_nonce, ciphertext));
}
END_TEST

START_TEST(test_rsa_round_trip)
{
	std::string problem;
	auto pair = generate_rsa_key_pair(2048, problem);
	ck_assert_msg(pair.has_value(), "%s", problem.c_str());
	std::vector<std::uint8_t> ciphertext = {0x01};
	ck_assert(caching_sha2_rsa_encrypt_password(ciphertext, pair->public_pem, "pässword", NONCE_1_TO_20, problem));
	ck_assert_uint_eq(ciphertext.size(), 257);
	auto password = caching_sha2_rsa_decrypt_password(pair->key.get(), NONCE_1_TO_20, ByteSpan(ciphertext).subspan(1));
	ck_assert(password && *password == "pässword");

	/* Not a public key; a password too long for OAEP with a 2048-bit key (at most 214 bytes). */
	std::vector<std::uint8_t> out;
	ck_assert(!caching_sha2_rsa_encrypt_password(out, "garbage", "x", NONCE_1_TO_20, problem));
	ck_assert(!caching_sha2_rsa_encrypt_password(out, std::string(RSA_TEST_KEY), "x", NONCE_1_TO_20, problem));
	ck_assert(!caching_sha2_rsa_encrypt_password(out, pair->public_pem, std::string(300, 'x'), NONCE_1_TO_20, problem));
	ck_assert(out.empty());
}
END_TEST

START_TEST(test_rsa_bad_private_keys)
{
	std::string problem;
	ck_assert(!parse_rsa_private_key("", problem));
	ck_assert(!parse_rsa_private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", problem));
	auto pair = parse_rsa_private_key(RSA_TEST_KEY, problem);
	ck_assert(pair.has_value());
	ck_assert(!parse_rsa_private_key(pair->public_pem, problem));
}
END_TEST

/* --- client_ed25519 --------------------------------------------------------------------------- */

START_TEST(test_ed25519_vectors)
{
	std::vector<std::uint8_t> nonce;
	for (int i = 1; i <= 32; ++i)
		nonce.push_back(std::uint8_t(i));
	/* Also MariaDB's documented PASSWORD('secret') of the ed25519 plugin, in base64
	 * ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY. */
	auto public_key = ed25519_password_public_key("secret");
	ck_assert(public_key && equals_hex(*public_key, "648814444520e4f56043a2ec9215e63be7992d2d270bc6dee873e36164786096"));
	auto signature = ed25519_password_sign("secret", nonce);
	ck_assert(signature && equals_hex(*signature, "60a0f4f8bcb6396043e44b2a25521af16f0815ff6369cc541c281e2c4455c823"
						   "2b79b21ee5bb933507725db2f2919ea09e676f6abee19c5c7b98b40a627a9707"));
	/* It is a valid Ed25519 signature under that public key. */
	ck_assert_int_eq(EVP_PKEY_ED25519 > 0, 1);
	EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key->data(), public_key->size());
	ck_assert(key != nullptr);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ck_assert(EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1);
	ck_assert(EVP_DigestVerify(ctx, signature->data(), signature->size(), nonce.data(), nonce.size()) == 1);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);

	signature = ed25519_password_sign("a much longer password than thirty-two bytes, of course", nonce);
	ck_assert(signature && equals_hex(*signature, "f8d5fbe5399d8c64dfc785a0087adb57f2b1fab3076ebc117bcec21f27ca27be"
						   "fdade519b0e06e2246fda6b19f48f86120c21c5e138d7a0d25a010d55e08110b"));
	/* The nonce must be 32 bytes. */
	ck_assert(!ed25519_password_sign("secret", ByteSpan(nonce).first(31)));
	ck_assert(!ed25519_password_sign("secret", ByteSpan{}));
	nonce.push_back(33);
	ck_assert(!ed25519_password_sign("secret", nonce));
}
END_TEST

static Suite *auth_plugins_suite()
{
	Suite *s = suite_create("auth_plugins");
	TCase *tc = tcase_create("caching_sha2_password");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_sha2_vectors);
	tcase_add_test(tc, test_sha2_verify);
	tcase_add_test(tc, test_rsa_decrypt_vector);
	tcase_add_test(tc, test_rsa_round_trip);
	tcase_add_test(tc, test_rsa_bad_private_keys);
	suite_add_tcase(s, tc);
	tc = tcase_create("client_ed25519");
	tcase_add_test(tc, test_ed25519_vectors);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({auth_plugins_suite()});
}
