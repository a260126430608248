// Unit tests for the Lua table `socket` (lua/lua_socket): datagrams and seqpackets reach a socket
// the test bound (abstract names), send()'s i and j select bytes as string.sub does, system errors
// are nil and the reason (nobody listening, closed socket), wrong arguments raise, and the fd is
// closed by close() and by the garbage collector.
#include "lua/lua_address.hpp"
#include "lua/lua_socket.hpp"
#include "lua/lua_state.hpp"
#include "tests/unit/lua_runtime_harness.hpp"
#include "tests/check_main.hpp"

#include <lua.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <cstddef>
#include <string>

using namespace myproxy;
using namespace myproxy::test;

namespace {

int open_libraries(lua_State *L)
{
	register_lua_address(L);
	open_lua_socket(L);
	return 0;
}

std::string run(const std::string &code)
{
	LuaState state;
	lua_State *L = state.get();
	lua_pushcfunction(L, open_libraries);
	ck_assert_int_eq(lua_pcall(L, 0, 0, 0), LUA_OK);
	if (luaL_loadbufferx(L, code.data(), code.size(), "=test", "t") != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK)
		return lua_tostring(L, -1);
	return "";
}

/* A socket of @type bound to the abstract name @name. */
int bound(int type, const std::string &name)
{
	const int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	sockaddr_un address{};
	address.sun_family = AF_UNIX;
	std::memcpy(address.sun_path + 1, name.data(), name.size());
	const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
	ck_assert_int_eq(bind(fd, reinterpret_cast<const sockaddr *>(&address), length), 0);
	if (type != SOCK_DGRAM)
		ck_assert_int_eq(listen(fd, 4), 0);
	return fd;
}

std::string receive(int fd)
{
	char buffer[256];
	const ssize_t n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
	ck_assert_int_ge(n, 0);
	return std::string(buffer, std::size_t(n));
}

std::string unique(const char *what)
{
	return std::string("myproxy-check-lua-socket-") + what + "-" + std::to_string(getpid());
}

} // namespace

START_TEST(test_datagram)
{
	const std::string name = unique("dgram");
	const int fd = bound(SOCK_DGRAM, name);
	const std::string error = run("local s = assert(socket:connect('@" + name + "', {type = 'dgram'}))\n"
				      "assert(s:send('hello') == 5)\n"
				      "assert(s:send('hello', 2, 4) == 3)\n"
				      "assert(s:send('hello', -2) == 2)\n"
				      "assert(s:send('hello', 4, 2) == 0)\n"
				      "s:close()\n"
				      "local n, e = s:send('x')\n"
				      "assert(n == nil and e:find('Bad file descriptor', 1, true))\n"
				      "s:close()\n");
	ck_assert_msg(error.empty(), "%s", error.c_str());
	for (const char *expected : {"hello", "ell", "lo"}) {
		const std::string got = receive(fd);
		ck_assert_str_eq(got.c_str(), expected);
	}
	close(fd);
}
END_TEST

START_TEST(test_seqpacket_and_stream)
{
	const std::string name = unique("seq");
	const int fd = bound(SOCK_SEQPACKET, name);
	const std::string error = run("local s = assert(socket:connect('@" + name + "', {type = 'seqpacket'}))\n"
				      "assert(s:send('packet') == 6)\n");
	ck_assert_msg(error.empty(), "%s", error.c_str());
	const int accepted = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
	ck_assert_int_ge(accepted, 0);
	const std::string got = receive(accepted);
	ck_assert_str_eq(got.c_str(), "packet");
	close(accepted);
	close(fd);
}
END_TEST

START_TEST(test_errors)
{
	const std::string nobody = unique("nobody");
	const std::string refused = run("local s, e = socket:connect('@" + nobody + "', {type = 'dgram'})\n"
					"assert(s == nil and e == 'connect(): Connection refused', e)\n");
	ck_assert_msg(refused.empty(), "%s", refused.c_str());
	assert_contains(run("socket:connect('@x', {type = 'raw'})"), "option type must be 'stream', 'dgram' or 'seqpacket'");
	assert_contains(run("socket:connect('@x', {bogus = 1})"), "unknown option (expected type)");
	assert_contains(run("socket:connect(42)"), "bad argument #1 to 'connect'");
	assert_contains(run("socket:connect('relative/path')"), "socket path not absolute");
}
END_TEST

/* A socket made in one process and used in a forked child that lost the fd (as config.lua's sockets
   in a worker): the child's send() is refused and never writes to whatever took the fd's number, and
   the garbage collector there closes nothing. */
START_TEST(test_socket_of_another_process)
{
	const std::string name = unique("fork");
	const int fd = bound(SOCK_DGRAM, name);
	LuaState state;
	lua_State *L = state.get();
	lua_pushcfunction(L, open_libraries);
	ck_assert_int_eq(lua_pcall(L, 0, 0, 0), LUA_OK);
	ck_assert_int_eq(luaL_dostring(L, ("s = assert(socket:connect('@" + name + "', {type = 'dgram'}))").c_str()), LUA_OK);
	const pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		for (int i = 3; i < 1024; ++i)
			if (i != fd)
				close(i);
		int pipe_fds[2];
		const bool piped = pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) == 0;
		/* Every number the lost socket may have had now writes into the pipe. */
		for (int k = 3; k < 64 && piped; ++k)
			if (k != fd && k != pipe_fds[0] && k != pipe_fds[1])
				dup2(pipe_fds[1], k);
		const bool refused = luaL_dostring(L, "local n, e = s:send('x')\n"
						      "assert(n == nil and e:find('belongs to another process'), e)\n"
						      "s:close() s = nil collectgarbage()") == LUA_OK;
		char byte;
		bool untouched = piped && read(pipe_fds[0], &byte, 1) < 0 && errno == EAGAIN;
		for (int k = 3; k < 64; ++k)
			untouched = untouched && (k == fd || fcntl(k, F_GETFD) >= 0);
		_exit(refused && untouched ? 0 : 1);
	}
	int status = 0;
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	ck_assert_int_eq(luaL_dostring(L, "assert(s:send('parent') == 6)"), LUA_OK);
	assert_str_eq(receive(fd), "parent");
	close(fd);
}
END_TEST

static Suite *socket_suite()
{
	Suite *s = suite_create("lua_socket");
	TCase *tc = tcase_create("socket");
	tcase_add_test(tc, test_datagram);
	tcase_add_test(tc, test_seqpacket_and_stream);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_socket_of_another_process);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({socket_suite()});
}
