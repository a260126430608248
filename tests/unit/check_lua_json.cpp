// Unit tests for the Lua tables `json` (lua/lua_json) and `jwt` (lua/lua_jwt): JSON round trips of
// every Lua type, arrays against objects, the depth and size bounds, hostile text (truncated,
// garbage, too deep, too long) giving nil and a reason, values JSON cannot hold raising; a JWT
// whose parts decode (base64url) to the given header and payload and whose signature libsodium
// verifies with the public key, and wrong keys raising.
#include "lua/lua_json.hpp"
#include "lua/lua_jwt.hpp"
#include "lua/lua_sodium.hpp"
#include "lua/lua_state.hpp"
#include "tests/unit/lua_runtime_harness.hpp"
#include "tests/check_main.hpp"

#include <lua.hpp>
#include <sodium.h>

#include <string>

using namespace myproxy;
using namespace myproxy::test;

namespace {

int open_libraries(lua_State *L)
{
	open_lua_sodium(L);
	open_lua_json(L);
	open_lua_jwt(L);
	return 0;
}

/* Runs @code in a fresh state; returns "" or the error message; @result gets a returned string. */
std::string run(const std::string &code, std::string *result = nullptr)
{
	LuaState state;
	lua_State *L = state.get();
	lua_pushcfunction(L, open_libraries);
	ck_assert_int_eq(lua_pcall(L, 0, 0, 0), LUA_OK);
	if (luaL_loadbufferx(L, code.data(), code.size(), "=test", "t") != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
		return lua_tostring(L, -1);
	if (result != nullptr && lua_type(L, -1) == LUA_TSTRING)
		*result = lua_tostring(L, -1);
	return "";
}

void assert_runs(const std::string &code)
{
	const std::string error = run(code);
	ck_assert_msg(error.empty(), "%s", error.c_str());
}

void assert_raises(const std::string &code, const char *part)
{
	const std::string error = run(code);
	ck_assert_msg(!error.empty(), "no error from: %s", code.c_str());
	assert_contains(error, part);
}

std::string from_base64url(const std::string &text)
{
	std::string bytes(text.size(), '\0');
	std::size_t size = 0;
	ck_assert_int_eq(sodium_base642bin(reinterpret_cast<unsigned char *>(bytes.data()), bytes.size(), text.data(),
					   text.size(), nullptr, &size, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
			 0);
	bytes.resize(size);
	return bytes;
}

} // namespace

START_TEST(test_json_round_trips)
{
	assert_runs("assert(json.dump(42) == '42' and json.dump(-1.5) == '-1.5' and json.dump(true) == 'true')\n"
		    "assert(json.dump(nil) == 'null' and json.dump('a\"b\\n') == '\"a\\\\\"b\\\\n\"')\n"
		    "assert(json.dump({1, 2, 'x'}) == '[1,2,\"x\"]')\n"
		    "assert(json.dump({}) == '{}')\n"
		    "assert(json.dump({b = 1, a = {c = false}}) == '{\"a\":{\"c\":false},\"b\":1}')\n"
		    "assert(json.dump({[1] = 'a', [3] = 'c'}) == '{\"1\":\"a\",\"3\":\"c\"}')\n"
		    "local t = json.parse('{\"x\": [1, 2.5, \"s\", null, true], \"y\": {\"z\": -7}}')\n"
		    "assert(t.x[1] == 1 and math.type(t.x[1]) == 'integer' and t.x[2] == 2.5 and t.x[3] == 's')\n"
		    "assert(t.x[4] == nil and t.x[5] == true and t.y.z == -7)\n"
		    "assert(json.parse('\"\\\\u00e9\"') == '\\xc3\\xa9')\n"
		    "assert(json.parse(json.dump({x = 42, y = 'z'})).y == 'z')\n"
		    "assert(json.parse('18446744073709551615') > 1e19)\n"
		    "local shared = {1}\n"
		    "assert(json.dump({shared, shared}) == '[[1],[1]]')\n");
}
END_TEST

START_TEST(test_json_hostile_text)
{
	for (const char *text : {"", "{", "[1,", "{\"a\" 1}", "nul", "\\xff", "[1]x", "{\"a\":}"}) {
		std::string result;
		const std::string code = std::string("local v, e = json.parse('") + text +
					 "')\nassert(v == nil and type(e) == 'string')\nreturn e\n";
		const std::string error = run(code, &result);
		ck_assert_msg(error.empty(), "'%s': %s", text, error.c_str());
		ck_assert_msg(!result.empty(), "'%s': no reason", text);
	}
	/* Too deep: 65 levels; 64 are fine. */
	std::string result;
	const std::string deep_error = run("local v, e = json.parse(string.rep('[', 65) .. string.rep(']', 65))\n"
					   "assert(v == nil)\nreturn e\n",
					   &result);
	ck_assert_msg(deep_error.empty(), "%s", deep_error.c_str());
	assert_contains(result, "nested deeper than 64 levels");
	assert_runs("assert(json.parse(string.rep('[', 64) .. string.rep(']', 64)))\n");
	/* Too long, before parsing. */
	assert_runs("local v, e = json.parse('\"' .. string.rep('x', 1024 * 1024) .. '\"')\n"
		    "assert(v == nil and e:find('longer than 1048576 bytes', 1, true))\n");
	assert_raises("json.parse({})", "bad argument #1 to 'parse'");
}
END_TEST

START_TEST(test_json_unwritable_values)
{
	assert_raises("json.dump(print)", "json.dump: cannot write a function value");
	assert_raises("json.dump({f = coroutine.create(print)})", "cannot write a thread value");
	assert_raises("json.dump(0/0)", "cannot write a number that JSON cannot write");
	assert_raises("json.dump({[true] = 1})", "cannot write a boolean key");
	assert_raises("local t = {} t.t = t json.dump(t)", "nested deeper than 64 levels (or a cycle)");
	assert_raises("json.dump('\\xff')", "json.dump:");
	assert_raises("json.dump(string.rep('x', 1024 * 1024))", "longer than 1048576 bytes");
	assert_raises("json.dump()", "bad argument #1 to 'dump'");
}
END_TEST

START_TEST(test_jwt_sign)
{
	std::string token;
	const std::string error = run("pk, sk = sodium.crypto_sign_keypair()\n"
				      "local a = jwt.sign(sk, {alg = 'EdDSA'}, {sub = 'acme'})\n"
				      "assert(a == jwt.sign(sk, '{\"alg\":\"EdDSA\"}', json.dump({sub = 'acme'})))\n"
				      "return sodium.bin2hex(pk) .. ' ' .. a\n",
				      &token);
	ck_assert_msg(error.empty(), "%s", error.c_str());
	const std::string pk_hex = token.substr(0, token.find(' '));
	token = token.substr(token.find(' ') + 1);
	const auto dot1 = token.find('.'), dot2 = token.rfind('.');
	ck_assert(dot1 != std::string::npos && dot2 != dot1);
	const std::string header = from_base64url(token.substr(0, dot1));
	const std::string payload = from_base64url(token.substr(dot1 + 1, dot2 - dot1 - 1));
	ck_assert_str_eq(header.c_str(), "{\"alg\":\"EdDSA\"}");
	ck_assert_str_eq(payload.c_str(), "{\"sub\":\"acme\"}");
	const std::string signature = from_base64url(token.substr(dot2 + 1));
	ck_assert_uint_eq(signature.size(), crypto_sign_BYTES);
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	ck_assert_int_eq(sodium_hex2bin(pk, sizeof(pk), pk_hex.data(), pk_hex.size(), nullptr, nullptr, nullptr), 0);
	const std::string input = token.substr(0, dot2);
	ck_assert_int_eq(crypto_sign_verify_detached(reinterpret_cast<const unsigned char *>(signature.data()),
						     reinterpret_cast<const unsigned char *>(input.data()), input.size(),
						     pk),
			 0);
	/* No padding, URL-safe alphabet only. */
	ck_assert(token.find_first_of("+/=") == std::string::npos);

	assert_raises("jwt.sign('short', {}, {})", "secret key must be 64 bytes");
	assert_raises("local pk, sk = sodium.crypto_sign_keypair() jwt.sign(sk, 5, {})", "bad argument #2 to 'sign'");
	assert_raises("local pk, sk = sodium.crypto_sign_keypair() jwt.sign(sk, {}, {f = print})",
		      "cannot write a function value");
}
END_TEST

static Suite *json_suite()
{
	Suite *s = suite_create("lua_json");
	TCase *tc = tcase_create("json");
	tcase_add_test(tc, test_json_round_trips);
	tcase_add_test(tc, test_json_hostile_text);
	tcase_add_test(tc, test_json_unwritable_values);
	suite_add_tcase(s, tc);
	tc = tcase_create("jwt");
	tcase_add_test(tc, test_jwt_sign);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({json_suite()});
}
