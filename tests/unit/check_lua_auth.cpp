// Unit tests for the Lua side of authentication: handshake_response:verify_native_password() and
// :verify_caching_sha2_password() (formats of the stored hash, nil, wrong passwords, malformed hashes,
// the proof the worker reads), and client:connect()'s options allow_cleartext and server_public_key.
// Scrambles are computed with common/ (whose vectors check_native_password and check_auth_plugins
// verify independently).
#include "common/caching_sha2_password.hpp"
#include "common/native_password.hpp"
#include "tests/unit/lua_runtime_harness.hpp"
#include "tests/check_main.hpp"

#include <string>
#include <vector>

using namespace myproxy;
using namespace myproxy::test;

namespace {

const std::vector<std::uint8_t> NONCE = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};

std::string hex(const std::uint8_t *data, std::size_t size, bool upper = false)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	std::string out;
	for (std::size_t i = 0; i < size; ++i) {
		out += digits[data[i] >> 4];
		out += digits[data[i] & 15];
	}
	return out;
}

/* The script's on_handshake_response body sees `hr`; it returns client:err(result) so the test
 * can read what it computed. */
std::string run_script(const std::string &body, const HandshakeResponseFields &base, int *proof = nullptr)
{
	const std::string script = "return { on_handshake_response = function(client, hr)\n" + body + "\nend }\n";
	Harness h(script.c_str());
	CallbackRun run(h.L);
	HandshakeResponseFields fields = base;
	int proof_ref = LUA_NOREF;
	fields.proof_ref = &proof_ref;
	h.start_handshake_response(run, fields);
	if (run.status() == CallbackStatus::failed)
		return "failed: " + run.error();
	LuaAction action = take_action(run, on_handshake_response_rules);
	const auto *err = std::get_if<ErrAction>(&action);
	ck_assert(err != nullptr);
	if (proof != nullptr)
		*proof = auth_proof_verified(h.L, proof_ref) ? 1 : 0;
	release_auth_proof(h.L, proof_ref);
	ck_assert_int_eq(proof_ref, LUA_NOREF);
	return err->message;
}

} // namespace

START_TEST(test_verify_native_password)
{
	const auto scramble = native_password_scramble("password", NONCE);
	ck_assert(scramble.has_value());
	const auto stored = native_password_stored_hash("password");
	const auto sha1 = native_password_sha1("password");
	HandshakeResponseFields fields;
	fields.user = "u";
	fields.auth_plugin = "mysql_native_password";
	fields.verify.kind = AuthVerifyKind::native_password;
	fields.verify.nonce = NONCE;
	fields.verify.response = *scramble;

	const std::string expected_sha1 = hex(sha1->data(), sha1->size());
	const std::string to_hex = "local function hex(s) return (s:gsub('.', function(c) return "
				   "string.format('%02x', c:byte()) end)) end\n";
	/* '*HEX' (either case), bare hex, raw bytes: each returns SHA1(password) and sets password_sha1. */
	for (const std::string &form : {"*" + hex(stored->data(), 20, true), "*" + hex(stored->data(), 20),
					hex(stored->data(), 20), std::string(stored->begin(), stored->end())}) {
		std::string quoted = "'";
		for (unsigned char c : form)
			quoted += "\\" + std::to_string(c);
		quoted += "'";
		int proof = -1;
		const std::string result =
			run_script(to_hex + "local sha1 = hr:verify_native_password(" + quoted + ")\n"
					    "assert(hr.password_sha1 == sha1)\n"
					    "return client:err(hex(sha1))",
				   fields, &proof);
		assert_str_eq(result, expected_sha1);
		ck_assert_int_eq(proof, 1);
	}
	/* A wrong password, nil: nil, no password_sha1, no proof. */
	const auto other = native_password_stored_hash("other");
	int proof = -1;
	assert_str_eq(run_script("return client:err(tostring(hr:verify_native_password('" + hex(other->data(), 20) +
					 "')) .. ' ' .. tostring(hr.password_sha1))",
				 fields, &proof),
		      "nil nil");
	ck_assert_int_eq(proof, 0);
	assert_str_eq(run_script("return client:err(tostring(hr:verify_native_password(nil)))", fields, &proof), "nil");
	ck_assert_int_eq(proof, 0);
	/* Malformed hashes raise. */
	for (const char *bad : {"'*12'", "'zz'", "string.rep('g', 40)", "'*' .. string.rep('0', 41)", "{}"}) {
		const std::string result = run_script(std::string("hr:verify_native_password(") + bad + ")", fields);
		ck_assert_msg(result.starts_with("failed: "), "%s accepted: %s", bad, result.c_str());
	}
	/* A response of the wrong size never matches. */
	fields.verify.response = ByteSpan(*scramble).first(19);
	assert_str_eq(run_script("return client:err(tostring(hr:verify_native_password('" + hex(stored->data(), 20) + "')))",
				 fields),
		      "nil");
}
END_TEST

START_TEST(test_verify_caching_sha2_password)
{
	const auto scramble = caching_sha2_scramble("secret", NONCE);
	const auto stored = caching_sha2_stored_hash("secret");
	HandshakeResponseFields fields;
	fields.user = "u";
	fields.auth_plugin = "caching_sha2_password";
	fields.verify.kind = AuthVerifyKind::caching_sha2_password;
	fields.verify.nonce = NONCE;
	fields.verify.response = *scramble;
	int proof = -1;
	assert_str_eq(run_script("return client:err(tostring(hr:verify_caching_sha2_password('" +
					 hex(stored->data(), 32, true) + "')) .. tostring(hr.verify_native_password))",
				 fields, &proof),
		      "truenil");
	ck_assert_int_eq(proof, 1);
	const auto other = caching_sha2_stored_hash("secreT");
	assert_str_eq(run_script("return client:err(tostring(hr:verify_caching_sha2_password('" +
					 hex(other->data(), 32) + "')))",
				 fields, &proof),
		      "nil");
	ck_assert_int_eq(proof, 0);
	assert_str_eq(run_script("return client:err(tostring(hr:verify_caching_sha2_password()))", fields, &proof),
		      "nil");
	const std::string result = run_script("hr:verify_caching_sha2_password('*' .. string.rep('0', 64))", fields);
	ck_assert_msg(result.find("SHA256(SHA256(password))") != std::string::npos, "%s", result.c_str());

	/* No verify method for clients that sent a password. */
	fields.verify.kind = AuthVerifyKind::none;
	assert_str_eq(run_script("return client:err(tostring(hr.verify_caching_sha2_password))", fields), "nil");
}
END_TEST

START_TEST(test_connect_auth_options)
{
	Harness h("return { on_handshake_response = function(client, hr)\n"
		  "  return client:connect('127.0.0.1', hr, {allow_cleartext = true,\n"
		  "    server_public_key = '-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n'})\n"
		  "end }\n");
	CallbackRun run(h.L);
	HandshakeResponseFields fields;
	fields.user = "u";
	h.start_handshake_response(run, fields);
	LuaAction action = take_action(run, on_handshake_response_rules);
	const auto &connect = std::get<ConnectAction>(action);
	ck_assert(connect.allow_cleartext);
	assert_str_eq(connect.server_public_key, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");

	static const struct {
		const char *options;
		const char *message;
	} cases[] = {
		{"{allow_cleartext = 1}", "option allow_cleartext must be a boolean, got number"},
		{"{server_public_key = true}", "option server_public_key must be a string, got boolean"},
		{"{server_public_key = 'not pem'}", "option server_public_key must be a PEM public key"},
		{"{allow_cleartext = false, bogus = true}", "unknown option 'bogus'"},
	};
	for (const auto &c : cases) {
		const std::string script = std::string("return { on_handshake_response = function(client, hr)\n"
						       "  return client:connect('127.0.0.1', hr, ") +
					   c.options + ")\nend }\n";
		Harness bad(script.c_str());
		CallbackRun bad_run(bad.L);
		bad.start_handshake_response(bad_run, fields);
		assert_failed(bad_run, c.message);
	}
}
END_TEST

static Suite *lua_auth_suite()
{
	Suite *s = suite_create("lua_auth");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_verify_native_password);
	tcase_add_test(tc, test_verify_caching_sha2_password);
	tcase_add_test(tc, test_connect_auth_options);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({lua_auth_suite()});
}
