// socket:connect / sock:send / sock:close (see lua_socket.hpp).  System errors are data (nil and
// the reason); wrong arguments are script bugs (Lua errors).  The fd lives in a userdata whose
// __gc and __close close it, so a script that forgets close() leaks nothing.
#include "lua/lua_socket.hpp"

#include "lua/lua_address.hpp"

#include <lua.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace myproxy {

namespace {

constexpr const char *socket_metatable = "myproxy.socket";

struct LuaSocket {
	int fd;
	/* The process that opened fd.  A socket made while config.lua loads lives on in the workers'
	   copy of the state, but not its fd (close_range): there the number may name a client's
	   socket, so it is never used or closed outside its owner. */
	pid_t owner;
};

LuaSocket &check_socket(lua_State *L, int idx)
{
	return *static_cast<LuaSocket *>(luaL_checkudata(L, idx, socket_metatable));
}

int push_errno(lua_State *L, const char *call, int error)
{
	lua_pushnil(L);
	lua_pushfstring(L, "%s: %s", call, std::strerror(error));
	return 2;
}

/* The option type: "stream" (default), "dgram" or "seqpacket". */
int check_type(lua_State *L, int arg)
{
	if (lua_isnoneornil(L, arg))
		return SOCK_STREAM;
	luaL_checktype(L, arg, LUA_TTABLE);
	lua_pushnil(L);
	int type = SOCK_STREAM;
	while (lua_next(L, arg) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING || std::strcmp(lua_tostring(L, -2), "type") != 0)
			luaL_argerror(L, arg, "unknown option (expected type)");
		const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
		if (std::strcmp(name, "stream") == 0)
			type = SOCK_STREAM;
		else if (std::strcmp(name, "dgram") == 0)
			type = SOCK_DGRAM;
		else if (std::strcmp(name, "seqpacket") == 0)
			type = SOCK_SEQPACKET;
		else
			luaL_argerror(L, arg, "option type must be 'stream', 'dgram' or 'seqpacket'");
		lua_pop(L, 1);
	}
	return type;
}

/* socket:connect(address [, options]) -> socket | nil, message */
int socket_connect(lua_State *L)
{
	/* Called as a method: argument 1 is the socket table. */
	const SocketAddress address = check_lua_address(L, 2);
	const int type = check_type(L, 3);
	auto *box = static_cast<LuaSocket *>(lua_newuserdatauv(L, sizeof(LuaSocket), 0));
	box->fd = -1;
	box->owner = getpid();
	luaL_setmetatable(L, socket_metatable);
	const int fd = ::socket(address.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return push_errno(L, "socket()", errno);
	box->fd = fd;
	if (::connect(fd, address.get(), address.length) < 0 && errno != EINPROGRESS) {
		const int error = errno;
		::close(fd);
		box->fd = -1;
		return push_errno(L, "connect()", error);
	}
	return 1;
}

/* sock:send(data [, i [, j]]) -> bytes sent | nil, message; i and j as in string.sub. */
int socket_send(lua_State *L)
{
	LuaSocket &sock = check_socket(L, 1);
	std::size_t size;
	const char *data = luaL_checklstring(L, 2, &size);
	const auto length = static_cast<lua_Integer>(size);
	lua_Integer i = luaL_optinteger(L, 3, 1);
	lua_Integer j = luaL_optinteger(L, 4, -1);
	if (i < 0)
		i = i < -length ? 1 : length + i + 1;
	if (i == 0)
		i = 1;
	if (j < 0)
		j = length + j + 1;
	if (j > length)
		j = length;
	if (sock.fd < 0)
		return push_errno(L, "send()", EBADF);
	if (sock.owner != getpid()) {
		lua_pushnil(L);
		lua_pushliteral(L, "send(): the socket belongs to another process (made while config.lua loaded); "
				   "connect in the callback");
		return 2;
	}
	if (i > j) {
		lua_pushinteger(L, 0);
		return 1;
	}
	const ssize_t sent = ::send(sock.fd, data + i - 1, static_cast<std::size_t>(j - i + 1), MSG_NOSIGNAL | MSG_DONTWAIT);
	if (sent < 0)
		return push_errno(L, "send()", errno);
	lua_pushinteger(L, static_cast<lua_Integer>(sent));
	return 1;
}

/* sock:close(); also __gc and __close. */
int socket_close(lua_State *L)
{
	LuaSocket &sock = check_socket(L, 1);
	if (sock.fd >= 0 && sock.owner == getpid())
		::close(sock.fd);
	sock.fd = -1;
	return 0;
}

} // namespace

int open_lua_socket(lua_State *L)
{
	if (luaL_newmetatable(L, socket_metatable) != 0) {
		static const luaL_Reg methods[] = {
			{"send", socket_send},
			{"close", socket_close},
			{nullptr, nullptr},
		};
		luaL_newlib(L, methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, socket_close);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, socket_close);
		lua_setfield(L, -2, "__close");
	}
	lua_pop(L, 1);
	static const luaL_Reg functions[] = {
		{"connect", socket_connect},
		{nullptr, nullptr},
	};
	luaL_newlib(L, functions);
	lua_setglobal(L, "socket");
	return 0;
}

} // namespace myproxy
