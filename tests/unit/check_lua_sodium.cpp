// Unit tests for the Lua `sodium` table (lua/lua_sodium): round trips, published and externally
// computed vectors (a sealed box made with PyNaCl, BLAKE2b from Python's hashlib), and that wrong
// key sizes are Lua errors while bad data gives nil, never a crash.
#include "lua/lua_sodium.hpp"
#include "lua/lua_state.hpp"
#include "tests/unit/lua_runtime_harness.hpp"
#include "tests/check_main.hpp"

#include <lua.hpp>

#include <string>

using namespace myproxy;
using namespace myproxy::test;

namespace {

/* Runs @code in a fresh state with `sodium`; returns "" or the error message. */
std::string run(const char *code)
{
	LuaState state;
	lua_State *L = state.get();
	lua_pushcfunction(L, open_lua_sodium);
	ck_assert_int_eq(lua_pcall(L, 0, 0, 0), LUA_OK);
	if (luaL_loadbufferx(L, code, std::strlen(code), "=test", "t") != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK)
		return lua_tostring(L, -1);
	return "";
}

void assert_runs(const char *code)
{
	const std::string error = run(code);
	ck_assert_msg(error.empty(), "%s", error.c_str());
}

void assert_raises(const char *code, const char *part)
{
	const std::string error = run(code);
	ck_assert_msg(!error.empty(), "no error from: %s", code);
	assert_contains(error, part);
}

} // namespace

START_TEST(test_hex)
{
	assert_runs("assert(sodium.bin2hex('A\\0\\255') == '4100ff')\n"
		    "assert(sodium.hex2bin('deadBEEF') == '\\xde\\xad\\xbe\\xef')\n"
		    "assert(sodium.hex2bin('de:ad', ':') == '\\xde\\xad')\n"
		    "assert(sodium.hex2bin('') == '')\n"
		    "local v, m = sodium.hex2bin('xyz')\n"
		    "assert(v == nil and m == 'invalid hex string')\n"
		    "assert(sodium.hex2bin('abc') == nil)\n");
}
END_TEST

START_TEST(test_randombytes)
{
	assert_runs("local a, b = sodium.randombytes(32), sodium.randombytes(32)\n"
		    "assert(#a == 32 and #b == 32 and a ~= b)\n"
		    "assert(sodium.randombytes(0) == '')\n");
	assert_raises("sodium.randombytes(-1)", "must be from 0");
	assert_raises("sodium.randombytes(1 << 30)", "must be from 0");
}
END_TEST

START_TEST(test_sealed_box)
{
	assert_runs("local pk, sk = sodium.crypto_box_keypair()\n"
		    "assert(#pk == 32 and #sk == 32)\n"
		    "assert(sodium.crypto_scalarmult_base(sk) == pk)\n"
		    "local c = sodium.crypto_box_seal('hello world', pk)\n"
		    "assert(#c == 11 + 48)\n"
		    "assert(sodium.crypto_box_seal_open(c, pk, sk) == 'hello world')\n"
		    "local bad = c:sub(1, -2) .. string.char((c:byte(-1) + 1) % 256)\n"
		    "local v, m = sodium.crypto_box_seal_open(bad, pk, sk)\n"
		    "assert(v == nil and m:find('crypto_box_seal_open failed'))\n"
		    "assert(sodium.crypto_box_seal_open('short', pk, sk) == nil)\n"
		    "local pk2, sk2 = sodium.crypto_box_keypair()\n"
		    "assert(sodium.crypto_box_seal_open(c, pk2, sk2) == nil)\n"
		    "assert(sodium.crypto_box_seal_open(sodium.crypto_box_seal('', pk), pk, sk) == '')\n");
	assert_raises("sodium.crypto_box_seal('x', 'short key')", "public key must be 32 bytes, got 9");
	assert_raises("local pk, sk = sodium.crypto_box_keypair(); sodium.crypto_box_seal_open('x', pk, sk .. 'x')",
		      "secret key must be 32 bytes, got 33");
	assert_raises("sodium.crypto_scalarmult_base('')", "secret key must be 32 bytes");
	assert_raises("sodium.crypto_box_seal({}, ('x'):rep(32))", "string expected");
}
END_TEST

/* Sealed with PyNaCl 1.5 (SealedBox(PrivateKey(bytes(range(1, 33))).public_key).encrypt(...)). */
START_TEST(test_box_sealed_by_pynacl)
{
	assert_runs("local sk = sodium.hex2bin('0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20')\n"
		    "local pk = sodium.crypto_scalarmult_base(sk)\n"
		    "assert(sodium.bin2hex(pk) == '07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c')\n"
		    "local box = sodium.hex2bin('c3f6cd66a69100502a40ecb97c924ef7e294ba87273dd9733877433a82c7d726"
		    "b60fde7e3d027230ebee24f61ebd92d5d3f5e2f0b305f0999dd0f5a18b7382480a2f9615550934f5651d5525')\n"
		    "assert(sodium.crypto_box_seal_open(box, pk, sk) == 'sealed by PyNaCl for myproxy')\n");
}
END_TEST

START_TEST(test_signatures)
{
	assert_runs("local pk, sk = sodium.crypto_sign_keypair()\n"
		    "assert(#pk == 32 and #sk == 64)\n"
		    "local sig = sodium.crypto_sign_detached('message', sk)\n"
		    "assert(#sig == 64)\n"
		    "assert(sodium.crypto_sign_verify_detached(sig, 'message', pk) == true)\n"
		    "assert(sodium.crypto_sign_verify_detached(sig, 'massage', pk) == false)\n"
		    "local pk2 = sodium.crypto_sign_keypair()\n"
		    "assert(sodium.crypto_sign_verify_detached(sig, 'message', pk2) == false)\n");
	assert_raises("sodium.crypto_sign_detached('m', ('k'):rep(32))", "secret key must be 64 bytes, got 32");
	assert_raises("sodium.crypto_sign_verify_detached('sig', 'm', ('k'):rep(32))", "signature must be 64 bytes");
	assert_raises("sodium.crypto_sign_verify_detached(('s'):rep(64), 'm', 'pk')", "public key must be 32 bytes");
}
END_TEST

START_TEST(test_generichash)
{
	/* BLAKE2b, as Python's hashlib.blake2b computes it. */
	assert_runs("assert(sodium.bin2hex(sodium.crypto_generichash('')) == "
		    "'0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8')\n"
		    "assert(sodium.bin2hex(sodium.crypto_generichash('abc', ('k'):rep(16), 64)) == "
		    "'7e96fe677eae480b195b97f4290f4a457398a134a4b17411129318045bd50d59"
		    "d40673a0a5ff29f1621af7d67f126d6db1ee50ca3b154d6a56db542f97429172')\n"
		    "assert(#sodium.crypto_generichash('x', nil, 16) == 16)\n");
	assert_raises("sodium.crypto_generichash('x', 'short')", "key must be 16 to 64 bytes");
	assert_raises("sodium.crypto_generichash('x', nil, 65)", "length must be 16 to 64");
}
END_TEST

static Suite *sodium_suite()
{
	Suite *s = suite_create("lua_sodium");
	TCase *tc = tcase_create("sodium");
	tcase_add_test(tc, test_hex);
	tcase_add_test(tc, test_randombytes);
	tcase_add_test(tc, test_sealed_box);
	tcase_add_test(tc, test_box_sealed_by_pynacl);
	tcase_add_test(tc, test_signatures);
	tcase_add_test(tc, test_generichash);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({sodium_suite()});
}
