// Unit tests for common/native_password: independently computed vectors, a scramble that a real
// libmariadb client sent, the server-side verifier, PASSWORD()'s '*HEX' form, and fresh nonces.
#include "common/native_password.hpp"
#include "tests/check_main.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <set>
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

static ByteSpan bytes_of(std::string_view s)
{
	return {reinterpret_cast<const std::uint8_t *>(s.data()), s.size()};
}

static bool equals_hex(const Sha1Digest &digest, std::string_view hex)
{
	return std::vector<std::uint8_t>(digest.begin(), digest.end()) == from_hex(hex);
}

/* The vectors below were computed with python3's hashlib, independently of this code:
 *   s1 = sha1(pw).digest(); s2 = sha1(s1).digest()
 *   scramble = bytes(a ^ b for a, b in zip(s1, sha1(nonce + s2).digest()))
 * with nonce = bytes(range(1, 21)), i.e. 01 02 ... 14. */
static const std::vector<std::uint8_t> NONCE_1_TO_20 = from_hex("0102030405060708090a0b0c0d0e0f1011121314");

START_TEST(test_stage_hashes)
{
	auto s1 = native_password_sha1("password");
	ck_assert(s1 && equals_hex(*s1, "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8"));
	auto s2 = native_password_stored_hash("password");
	ck_assert(s2 && equals_hex(*s2, "2470c0c06dee42fd1618bb99005adca2ec9d1e19"));
	s2 = native_password_stored_hash("secret");
	ck_assert(s2 && equals_hex(*s2, "14e65567abdb5135d0cfd9a70b3032c179a49ee7"));
	/* SHA1(SHA1("")), though an empty password is stored as '' rather than as this. */
	s2 = native_password_stored_hash("");
	ck_assert(s2 && equals_hex(*s2, "be1bdec0aa74b4dcb079943e70528096cca985f8"));
}
END_TEST

START_TEST(test_scramble_vectors)
{
	auto s = native_password_scramble("password", NONCE_1_TO_20);
	ck_assert(s && equals_hex(*s, "c17d6009a5cb47e59f7483fcf05553bbbf7dd0d6"));
	s = native_password_scramble("secret", NONCE_1_TO_20);
	ck_assert(s && equals_hex(*s, "b32bb3a583e1340c0a1108d58b1be49781ad8c2f"));
}
END_TEST

/* The auth response libmariadb 3.3.20 sent for password "p" against the nonce of a real MariaDB
 * 10.11 greeting (see check_handshake_response41.cpp); python3 gives the same bytes. */
START_TEST(test_real_libmariadb_scramble)
{
	auto s = native_password_scramble("p", bytes_of("7y~0pc#}o5W:Y5:a].jP"));
	ck_assert(s && equals_hex(*s, "5c549a610c60f961f4637a9ac05ef96018f209f0"));
}
END_TEST

START_TEST(test_scramble_from_sha1)
{
	const auto stage1 = from_hex("5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8");
	auto s = native_password_scramble_from_sha1(std::span<const std::uint8_t, 20>(stage1.data(), 20), NONCE_1_TO_20);
	ck_assert(s && equals_hex(*s, "c17d6009a5cb47e59f7483fcf05553bbbf7dd0d6"));
}
END_TEST

START_TEST(test_nonce_must_be_20_bytes)
{
	const Sha1Digest stage1{};
	for (std::size_t length : {0, 8, 19, 21, 32}) {
		const std::vector<std::uint8_t> nonce(length, 'n');
		ck_assert(!native_password_scramble("password", nonce));
		ck_assert(!native_password_scramble_from_sha1(stage1, nonce));
		std::vector<std::uint8_t> out;
		ck_assert(!native_password_auth_response(out, "password", nonce));
		ck_assert(!native_password_auth_response(out, "", nonce));
		ck_assert(out.empty());
		const std::vector<std::uint8_t> response(20, 'r');
		ck_assert(!native_password_verify(stage1, nonce, response));
	}
}
END_TEST

START_TEST(test_auth_response)
{
	std::vector<std::uint8_t> out = {0x14};
	ck_assert(native_password_auth_response(out, "password", NONCE_1_TO_20));
	ck_assert(out == from_hex("14c17d6009a5cb47e59f7483fcf05553bbbf7dd0d6"));
	/* An empty password is an empty response. */
	out.clear();
	ck_assert(native_password_auth_response(out, "", NONCE_1_TO_20));
	ck_assert(out.empty());
}
END_TEST

START_TEST(test_verify)
{
	const auto stored = native_password_stored_hash("password");
	ck_assert(stored);
	const auto response = from_hex("c17d6009a5cb47e59f7483fcf05553bbbf7dd0d6");
	auto recovered = native_password_verify(*stored, NONCE_1_TO_20, response);
	ck_assert(recovered && equals_hex(*recovered, "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8"));

	/* The real client's response, against PASSWORD('p'). */
	const auto stored_p = parse_mysql_password_hash("*7B9EBEED26AA52ED10C0F549FA863F13C39E0209");
	ck_assert(stored_p);
	recovered = native_password_verify(*stored_p, bytes_of("7y~0pc#}o5W:Y5:a].jP"),
					   from_hex("5c549a610c60f961f4637a9ac05ef96018f209f0"));
	ck_assert(recovered && equals_hex(*recovered, "516b9783fca517eecbd1d064da2d165310b19759"));

	/* Any flipped bit fails. */
	for (std::size_t i = 0; i < response.size(); ++i) {
		for (int bit = 0; bit < 8; ++bit) {
			auto wrong = response;
			wrong[i] ^= std::uint8_t(1 << bit);
			ck_assert(!native_password_verify(*stored, NONCE_1_TO_20, wrong));
		}
	}
	/* The right response to another nonce, another password's response, wrong sizes. */
	auto other_nonce = NONCE_1_TO_20;
	other_nonce[0] ^= 1;
	ck_assert(!native_password_verify(*stored, other_nonce, response));
	ck_assert(!native_password_verify(*stored, NONCE_1_TO_20,
					  from_hex("b32bb3a583e1340c0a1108d58b1be49781ad8c2f")));
	ck_assert(!native_password_verify(*stored, NONCE_1_TO_20, ByteSpan{}));
	ck_assert(!native_password_verify(*stored, NONCE_1_TO_20, ByteSpan(response).first(19)));
	auto longer = response;
	longer.push_back(0);
	ck_assert(!native_password_verify(*stored, NONCE_1_TO_20, longer));
}
END_TEST

START_TEST(test_verify_round_trip)
{
	const std::string_view passwords[] = {"a", "correct horse battery staple", "\xc3\xa9t\xc3\xa9",
					      std::string_view("with\0nul", 8)};
	for (const std::string_view pw : passwords) {
		auto nonce = generate_scramble();
		ck_assert(nonce);
		auto scramble = native_password_scramble(pw, *nonce);
		auto stored = native_password_stored_hash(pw);
		ck_assert(scramble && stored);
		auto recovered = native_password_verify(*stored, *nonce, *scramble);
		ck_assert(recovered && *recovered == *native_password_sha1(pw));
		/* The recovered stage-1 hash logs in anywhere the password does. */
		auto again = native_password_scramble_from_sha1(*recovered, NONCE_1_TO_20);
		ck_assert(again && *again == *native_password_scramble(pw, NONCE_1_TO_20));
	}
}
END_TEST

START_TEST(test_parse_password_hash)
{
	/* SELECT PASSWORD('password') on MySQL 5.x / MariaDB, a widely published value. */
	auto h = parse_mysql_password_hash("*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19");
	ck_assert(h && *h == *native_password_stored_hash("password"));
	ck_assert(format_mysql_password_hash(*h) == "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19");
	auto lower = parse_mysql_password_hash("*2470c0c06dee42fd1618bb99005adca2ec9d1e19");
	ck_assert(lower && *lower == *h);

	const std::string_view bad[] = {
		"",
		"*",
		"2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19",    /* no '*' */
		"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E1",    /* 39 digits */
		"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E190",  /* 41 digits */
		"#2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19",
		"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E1G",
		"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E1 ",
		" *2470C0C06DEE42FD1618BB99005ADCA2EC9D1E1",
		std::string_view("*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E1\0", 41),
		"*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9",   /* valid: PASSWORD('123456') */
	};
	for (std::size_t i = 0; i + 1 < sizeof(bad) / sizeof(bad[0]); ++i)
		ck_assert_msg(!parse_mysql_password_hash(bad[i]), "case %zu", i);
	auto last = parse_mysql_password_hash(bad[sizeof(bad) / sizeof(bad[0]) - 1]);
	ck_assert(last && *last == *native_password_stored_hash("123456"));
}
END_TEST

START_TEST(test_generate_scramble)
{
	std::set<std::uint8_t> seen;
	std::set<std::vector<std::uint8_t>> nonces;
	for (int i = 0; i < 2000; ++i) {
		auto nonce = generate_scramble();
		ck_assert(nonce);
		for (std::uint8_t byte : *nonce) {
			ck_assert(byte >= 1 && byte <= 127);
			ck_assert(byte != '$');
			seen.insert(byte);
		}
		nonces.insert(std::vector<std::uint8_t>(nonce->begin(), nonce->end()));
	}
	/* 40000 draws from 126 values: all of them turn up (the chance of missing one is ~1e-135). */
	ck_assert_uint_eq(seen.size(), 126);
	ck_assert_uint_eq(nonces.size(), 2000);
}
END_TEST

/* Runs @body in a child process; the child's exit status 0 means it passed. */
template <typename Body>
static int in_child(Body body)
{
	const pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(body() ? 0 : 1);
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A child of a process that already drew scrambles draws scrambles of its own: otherwise every
 * worker (forked from one master) would greet with its siblings' nonces. */
START_TEST(test_scramble_after_fork_differs)
{
	ck_assert(generate_scramble());
	int pipes[2];
	ck_assert_int_eq(pipe(pipes), 0);
	for (int child = 0; child < 2; ++child) {
		const int status = in_child([&] {
			const auto nonce = generate_scramble();
			return nonce && write(pipes[1], nonce->data(), nonce->size()) == ssize_t(nonce->size());
		});
		ck_assert_int_eq(status, 0);
	}
	std::set<std::vector<std::uint8_t>> nonces;
	for (int child = 0; child < 2; ++child) {
		std::vector<std::uint8_t> nonce(NATIVE_PASSWORD_NONCE_LENGTH);
		ck_assert_int_eq(read(pipes[0], nonce.data(), nonce.size()), ssize_t(nonce.size()));
		nonces.insert(nonce);
	}
	const auto mine = generate_scramble();
	ck_assert(mine);
	nonces.insert(std::vector<std::uint8_t>(mine->begin(), mine->end()));
	ck_assert_uint_eq(nonces.size(), 3);
	close(pipes[0]);
	close(pipes[1]);
}
END_TEST

/* Once seeded, scrambles cost no getrandom(2): a child whose getrandom() fails with ENOSYS (a
 * seccomp filter) still draws a thousand (OpenSSL's DRBG fails if it needs the kernel's RNG then). */
START_TEST(test_scramble_needs_no_syscall_once_keyed)
{
	const int status = in_child([] {
		if (!generate_scramble())
			return false;
		struct sock_filter code[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getrandom, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog program = {static_cast<unsigned short>(sizeof(code) / sizeof(code[0])), code};
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0)
			return false;
		/* The filter works: the kernel's RNG is out of reach now. */
		char byte;
		if (syscall(SYS_getrandom, &byte, 1, 0) != -1 || errno != ENOSYS)
			return false;
		for (int i = 0; i < 1000; ++i)
			if (!generate_scramble())
				return false;
		return true;
	});
	ck_assert_int_eq(status, 0);
}
END_TEST

static Suite *native_password_suite()
{
	Suite *s = suite_create("native_password");
	TCase *vectors = tcase_create("vectors");
	tcase_add_test(vectors, test_stage_hashes);
	tcase_add_test(vectors, test_scramble_vectors);
	tcase_add_test(vectors, test_real_libmariadb_scramble);
	tcase_add_test(vectors, test_scramble_from_sha1);
	tcase_add_test(vectors, test_auth_response);
	suite_add_tcase(s, vectors);
	TCase *server = tcase_create("server");
	tcase_add_test(server, test_verify);
	tcase_add_test(server, test_verify_round_trip);
	tcase_add_test(server, test_parse_password_hash);
	tcase_add_test(server, test_generate_scramble);
	tcase_add_test(server, test_scramble_after_fork_differs);
	tcase_add_test(server, test_scramble_needs_no_syscall_once_keyed);
	suite_add_tcase(s, server);
	TCase *hostile = tcase_create("hostile");
	tcase_add_test(hostile, test_nonce_must_be_20_bytes);
	suite_add_tcase(s, hostile);
	return s;
}

int main()
{
	return run_check_suites({native_password_suite()});
}
