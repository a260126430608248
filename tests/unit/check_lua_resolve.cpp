// Unit tests for the runtime mysql_resolve() (lua/lua_resolve): numeric addresses and paths answer at
// once, a host name suspends the callback until the driver completes it (an address with the text's
// port, or nil and the reason), a refused lookup is nil at once, an abandoned callback tells its
// lookup, and outside a callback's own coroutine a host name raises.  The worker's part (the
// driver; the master's side is check_name_resolver and check_proxy_lua_net) is played by hand.
#include "common/socket_address.hpp"
#include "lua/lua_resolve.hpp"
#include "tests/unit/lua_runtime_harness.hpp"
#include "tests/check_main.hpp"

#include <memory>

using namespace myproxy;
using namespace myproxy::test;

namespace {

struct Lookup final : AsyncOperation {
	bool abandoned = false;
	void abandon() noexcept override { abandoned = true; }
};

struct HandDriver final : ResolveDriver {
	lua_State *L = nullptr;
	CallbackRun *waiter = nullptr;
	std::string host;
	std::uint16_t port = 0;
	bool refuse = false;
	std::unique_ptr<Lookup> lookup;

	AsyncOperation *resolve(CallbackRun &run, const HostName &name, char *error, std::size_t size) noexcept override
	{
		if (refuse) {
			std::snprintf(error, size, "too many lookups");
			return nullptr;
		}
		waiter = &run;
		host.assign(name.text, name.length);
		port = name.port;
		lookup = std::make_unique<Lookup>();
		return lookup.get();
	}
};

const char *script = "local h = {}\n"
		     "function h.on_connect(client)\n"
		     "  local a, e = mysql_resolve(client.notes.name)\n"
		     "  return tostring(a) .. ' ' .. tostring(e)\n"
		     "end\n"
		     "function h.on_command_phase(client)\n"
		     "  local co = coroutine.wrap(function() return mysql_resolve('db.example') end)\n"
		     "  return co()\n"
		     "end\n"
		     "return h\n";

/* Starts on_connect with client.notes.name = @name. */
void start_with_name(Harness &h, CallbackRun &run, const char *name)
{
	push_lua_client(h.L, h.client_ref);
	lua_getfield(h.L, -1, "notes");
	lua_pushstring(h.L, name);
	lua_setfield(h.L, -2, "name");
	lua_pop(h.L, 2);
	h.start(run, "on_connect");
}

std::string result(const CallbackRun &run)
{
	assert_finished(run);
	return lua_tostring(run.thread(), -1);
}

START_TEST(test_numeric_at_once)
{
	Harness h(script);
	HandDriver driver;
	set_lua_resolve_driver(h.L, &driver);
	for (const auto &[text, expected] : {std::pair{"192.0.2.1", "192.0.2.1:3306 nil"}, std::pair{"@x", "@x nil"},
					     std::pair{"[::1]:3307", "[::1]:3307 nil"}}) {
		CallbackRun run(h.L);
		start_with_name(h, run, text);
		assert_str_eq(result(run), expected);
	}
	CallbackRun bad(h.L);
	start_with_name(h, bad, "[fe80::1%eth0]:3306");
	assert_str_eq(result(bad), "nil IPv6 zone id in '[fe80::1%eth0]:3306' (not supported: give a global or unique "
				   "local address)");
	ck_assert_ptr_null(driver.waiter);
	set_lua_resolve_driver(h.L, nullptr);
}
END_TEST

START_TEST(test_host_name_waits_for_the_driver)
{
	Harness h(script);
	HandDriver driver;
	set_lua_resolve_driver(h.L, &driver);
	CallbackRun run(h.L);
	start_with_name(h, run, "db.example:3307");
	ck_assert(run.status() == CallbackStatus::suspended);
	assert_str_eq(driver.host, "db.example");
	ck_assert_uint_eq(driver.port, 3307);
	const std::uint8_t ip[4] = {192, 0, 2, 9};
	complete_lua_resolve(h.L, *driver.waiter, make_ip_address(ip, 4, driver.port));
	assert_str_eq(result(run), "192.0.2.9:3307 nil");

	CallbackRun failing(h.L);
	start_with_name(h, failing, "nosuch.invalid");
	ck_assert(failing.status() == CallbackStatus::suspended);
	AddressError error{};
	std::snprintf(error.text, sizeof(error.text), "cannot resolve 'nosuch.invalid': Name or service not known");
	complete_lua_resolve(h.L, *driver.waiter, AddressResult(error));
	assert_str_eq(result(failing), "nil cannot resolve 'nosuch.invalid': Name or service not known");

	driver.refuse = true;
	CallbackRun refused(h.L);
	start_with_name(h, refused, "db.example");
	assert_str_eq(result(refused), "nil too many lookups");
	set_lua_resolve_driver(h.L, nullptr);
}
END_TEST

START_TEST(test_abandoned_and_misplaced)
{
	Harness h(script);
	HandDriver driver;
	set_lua_resolve_driver(h.L, &driver);
	{
		CallbackRun run(h.L);
		start_with_name(h, run, "db.example");
		ck_assert(run.status() == CallbackStatus::suspended);
	}
	ck_assert(driver.lookup->abandoned);

	CallbackRun nested(h.L);
	h.start(nested, "on_command_phase");
	assert_failed(nested, "mysql_resolve() of a host name works only in a callback or reload() itself");

	/* Without a driver (no worker), a host name is an error, as at startup's end. */
	set_lua_resolve_driver(h.L, nullptr);
	CallbackRun alone(h.L);
	start_with_name(h, alone, "db.example");
	assert_failed(alone, "bad argument #1 to 'mysql_resolve' (host name in 'db.example' (host names are resolved "
			     "only at startup))");
	ck_assert_int_ne(luaL_dostring(h.L, "return mysql_resolve({})"), LUA_OK);
	assert_contains(lua_tostring(h.L, -1), "address string or mysql_resolve() result expected, got table");
	lua_pop(h.L, 1);
}
END_TEST

Suite *lua_resolve_suite()
{
	Suite *s = suite_create("lua_resolve");
	TCase *tc = tcase_create("runtime");
	tcase_add_test(tc, test_numeric_at_once);
	tcase_add_test(tc, test_host_name_waits_for_the_driver);
	tcase_add_test(tc, test_abandoned_and_misplaced);
	suite_add_tcase(s, tc);
	return s;
}

} // namespace

int main()
{
	return run_check_suites({lua_resolve_suite()});
}
