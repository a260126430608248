// Unit tests for the Lua table `control_client` (lua/lua_control_client): the builder's datagrams as
// common/control_protocol parses them (every command, several payloads, cancel_job's NUL), the bounds a
// receiver accepts, system errors as nil and the reason, wrong calls raising, and a client made in one
// process used in a forked child whose copy of the fd was closed (as in a worker): the child opens a
// socket of its own and never touches the inherited fd number.
#include "common/control_protocol.hpp"
#include "lua/lua_address.hpp"
#include "lua/lua_control_client.hpp"
#include "lua/lua_state.hpp"

#include <lua.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "tests/check_main.hpp"

using namespace myproxy;

namespace {

const std::string socket_name = "myproxy-check-control-client-" + std::to_string(getpid());

int open_libraries(lua_State *L)
{
	register_lua_address(L);
	open_lua_control_client(L);
	return 0;
}

/* Runs @code in @state; "" or the error. */
std::string run_in(LuaState &state, const std::string &code)
{
	lua_State *L = state.get();
	if (luaL_loadbufferx(L, code.data(), code.size(), "=test", "t") != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK) {
		std::string error = lua_tostring(L, -1);
		lua_pop(L, 1);
		return error;
	}
	return "";
}

LuaState new_state()
{
	LuaState state;
	lua_pushcfunction(state.get(), open_libraries);
	ck_assert_int_eq(lua_pcall(state.get(), 0, 0, 0), LUA_OK);
	return state;
}

std::string run(const std::string &code)
{
	LuaState state = new_state();
	return run_in(state, code);
}

int bound_datagram_socket()
{
	const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	sockaddr_un address{};
	address.sun_family = AF_UNIX;
	std::memcpy(address.sun_path + 1, socket_name.data(), socket_name.size());
	const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + socket_name.size());
	ck_assert_int_eq(bind(fd, reinterpret_cast<const sockaddr *>(&address), length), 0);
	return fd;
}

/* The next datagram decoded as "COMMAND=payload ..."; "none" when nothing is queued. */
std::string decoded(int fd)
{
	std::uint8_t buffer[control_max_datagram + 16];
	const ssize_t n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
	if (n < 0)
		return "none";
	const auto packets = parse_control_datagram(ByteSpan(buffer, std::size_t(n)));
	if (!packets)
		return std::string("malformed: ") + packets.error().what;
	std::string text;
	for (const ControlPacket &packet : *packets) {
		const char *name = control_command_name(packet.command);
		text += (text.empty() ? "" : " ") + std::string(name != nullptr ? name : "?") + "=";
		for (std::uint8_t byte : packet.payload)
			text += byte == 0 ? std::string("\\0") : std::string(1, char(byte));
	}
	return text;
}

void expect(const std::string &actual, const std::string &expected)
{
	ck_assert_msg(actual == expected, "got '%s', expected '%s'", actual.c_str(), expected.c_str());
}

const std::string new_client = "local c = assert(control_client:new('@" + socket_name + "'))\n";

START_TEST(test_every_command)
{
	const int fd = bound_datagram_socket();
	expect(run("local c = assert(control_client:new(control_resolve('@" + socket_name + "')))\n"
		   "assert(c:send(c:build():disconnect_database('via control_resolve')))\n"),
	       "");
	expect(decoded(fd), "DISCONNECT_DATABASE=via control_resolve");
	expect(run(new_client + "assert(c:send(c:build():fade_children('a'):flush_filter_cache('b')"
					  ":discard_session('c'):flush_http_cache('d', 'e'):terminate_children('f')"
					  ":disconnect_database('acme'):reset_limiter('g'):reject_client('h')"
					  ":tarpit_client('i'):cancel_job('queue', 'job')))\n"
					  "assert(c:send(c:build()) == true)\n"
					  "local b = c:build():fade_children(42)\n"
					  "assert(c:send(b)) assert(c:send(b))\n"),
			 "");
	expect(decoded(fd), "FADE_CHILDREN=a FLUSH_FILTER_CACHE=b DISCARD_SESSION=c FLUSH_HTTP_CACHE=d "
					      "FLUSH_HTTP_CACHE=e TERMINATE_CHILDREN=f DISCONNECT_DATABASE=acme "
					      "RESET_LIMITER=g REJECT_CLIENT=h TARPIT_CLIENT=i CANCEL_JOB=queue\\0job");
	expect(decoded(fd), "");
	expect(decoded(fd), "FADE_CHILDREN=42");
	expect(decoded(fd), "FADE_CHILDREN=42");
	expect(decoded(fd), "none");
	close(fd);
}
END_TEST

/* What control_listen() accepts is what the builder builds: 4096 bytes, 64 packets. */
START_TEST(test_datagram_bounds)
{
	const int fd = bound_datagram_socket();
	expect(run(new_client + "local b = c:build()\n"
					  "for i = 1, 64 do b:reset_limiter('x') end\n"
					  "assert(c:send(b))\n"
					  "b:reset_limiter('one too many')\n"),
			 "test:5: control datagram full: at most 4096 bytes and 64 packets");
	const std::string many = decoded(fd);
	ck_assert_uint_eq(many.size(), 64 * std::string(" RESET_LIMITER=x").size() - 1);
	/* 4 (magic) + 4 (header) + 4088 = 4096 exactly; one byte more is refused. */
	expect(run(new_client + "assert(c:send(c:build():flush_http_cache(string.rep('y', 4088))))\n"
					  "c:build():flush_http_cache(string.rep('y', 4089))\n"),
			 "test:3: control datagram full: at most 4096 bytes and 64 packets");
	ck_assert_uint_eq(decoded(fd).size(), std::string("FLUSH_HTTP_CACHE=").size() + 4088);
	expect(run(new_client + "c:build():cancel_job(string.rep('p', 3000), string.rep('j', 3000))\n"),
			 "test:2: control datagram full: at most 4096 bytes and 64 packets");
	close(fd);
}
END_TEST

START_TEST(test_errors)
{
	/* System errors are data. */
	expect(run("local c, e = control_client:new('/nonexistent/x.sock')\n"
			     "assert(c == nil and e == 'connect(/nonexistent/x.sock): No such file or directory', e)\n"
			     "c, e = control_client:new('1.2.3.4:99999')\n"
			     "assert(c == nil and e == \"port out of range in '1.2.3.4:99999'\", e)\n"
			     "c = assert(control_client:new(mysql_resolve('127.0.0.1:9')))\n"
			     "assert(tostring(c) ~= nil)\n"),
			 "");
	/* The default port is the protocol's, 5478; control_resolve() gives such addresses too. */
	expect(run("local c, e = control_client:new('1.2.3.4')\nassert(c, e)\n"
		   "assert(tostring(control_resolve('1.2.3.4')) == '1.2.3.4:5478')\n"
		   "assert(tostring(control_resolve('[::1]:99')) == '[::1]:99')\n"
		   "assert(control_client:new(control_resolve('127.0.0.1')))\n"),
	       "");
	expect(run("control_resolve('1.2.3.4:0')"), "test:1: bad argument #1 to 'control_resolve' (port out of range in "
						    "'1.2.3.4:0')");
	expect(run("control_resolve(5)"),
	       "test:1: bad argument #1 to 'control_resolve' (address string or mysql_resolve() result expected, got number)");
	/* A receiver that went away: send() reports it. */
	{
		const int fd = bound_datagram_socket();
		LuaState state = new_state();
		expect(run_in(state, "c = assert(control_client:new('@" + socket_name + "'))\n"), "");
		close(fd);
		expect(run_in(state, "local ok, e = c:send(c:build())\n"
					       "assert(ok == nil and e:find('^send%(@myproxy%-check%-control%-client%-'), e)\n"),
				 "");
	}
	/* Wrong calls raise, as upstream's. */
	expect(run("control_client:new()"), "test:1: not enough parameters");
	expect(run("control_client:new('@x', 2)"), "test:1: too many parameters");
	expect(run("control_client:new({})"),
			 "test:1: bad argument #1 to 'new' (address string or mysql_resolve() result expected, got table)");
	const std::string with_client = "local c = control_client:new('1.2.3.4')\n";
	expect(run(with_client + "c:build():fade_children()"), "test:2: not enough parameters");
	expect(run(with_client + "c:build():fade_children({})"),
			 "test:2: bad argument #1 to 'fade_children' (string expected, got table)");
	expect(run(with_client + "c:build():cancel_job('a')"), "test:2: not enough parameters");
	expect(run(with_client + "c:build():cancel_job('a', 'b', 'c')"), "test:2: too many parameters");
	expect(run(with_client + "c:send({})"),
			 "test:2: bad argument #1 to 'send' (myproxy.control_builder expected, got table)");
	expect(run(with_client + "c:send()"),
			 "test:2: bad argument #1 to 'send' (myproxy.control_builder expected, got no value)");
	expect(run(with_client + "c.build(c:build())"),
			 "test:2: bad argument #1 to 'build' (myproxy.control_client expected, got myproxy.control_builder)");
	expect(run(with_client + "assert(getmetatable(c) == false)"), "");
}
END_TEST

/* As in a worker: the client came through fork() and the child lost the fd (close_range); the child
   sends on a socket of its own, the parent's keeps working, and the fd number the child reuses for
   something else is never written to. */
START_TEST(test_client_inherited_by_another_process)
{
	const int fd = bound_datagram_socket();
	LuaState state = new_state();
	expect(run_in(state, "c = assert(control_client:new('@" + socket_name + "'))\n"
				       "assert(c:send(c:build():fade_children('parent')))\n"),
			 "");
	expect(decoded(fd), "FADE_CHILDREN=parent");
	const pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		/* The inherited socket is gone, as in a worker after close_range(). */
		int pipe_fds[2];
		for (int i = 3; i < 1024; ++i)
			if (i != fd)
				close(i);
		const bool reused = pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) == 0;
		/* Every number the lost socket may have had now writes into the pipe. */
		for (int k = 3; k < 64 && reused; ++k)
			if (k != fd && k != pipe_fds[0] && k != pipe_fds[1])
				dup2(pipe_fds[1], k);
		const std::string error = run_in(state, "assert(c:send(c:build():fade_children('child')))\n"
							"c = nil collectgarbage()\n");
		char byte;
		bool pipe_untouched = reused && read(pipe_fds[0], &byte, 1) < 0 && errno == EAGAIN;
		for (int k = 3; k < 64; ++k)
			pipe_untouched = pipe_untouched && (k == fd || fcntl(k, F_GETFD) >= 0);
		_exit(error.empty() && pipe_untouched ? 0 : 1);
	}
	int status = 0;
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
	expect(decoded(fd), "FADE_CHILDREN=child");
	expect(run_in(state, "assert(c:send(c:build():fade_children('parent again')))\n"), "");
	expect(decoded(fd), "FADE_CHILDREN=parent again");
	close(fd);
}
END_TEST

Suite *control_client_suite()
{
	Suite *s = suite_create("lua_control_client");
	TCase *tc = tcase_create("control_client");
	tcase_add_test(tc, test_every_command);
	tcase_add_test(tc, test_datagram_bounds);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_client_inherited_by_another_process);
	suite_add_tcase(s, tc);
	return s;
}

} // namespace

int main()
{
	return run_check_suites({control_client_suite()});
}
