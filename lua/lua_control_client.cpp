// control_client (see lua_control_client.hpp).  As upstream: a wrong call (argument count or type)
// raises, a system error is data (nil and the reason).  The builder is a fixed buffer of one
// datagram inside its userdata, so nothing needs a destructor when a Lua error unwinds; it refuses
// to grow past what control_listen() accepts (control_max_datagram, control_max_packets).
#include "lua/lua_control_client.hpp"

#include "common/control_protocol.hpp"
#include "lua/lua_address.hpp"

#include <lua.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

namespace myproxy {

namespace {

constexpr const char *client_metatable = "myproxy.control_client";
constexpr const char *builder_metatable = "myproxy.control_builder";

struct ControlClient {
	SocketAddress address;
	/* Open in process owner only; in another process (a worker that inherited the object) the
	   number means nothing and is never used or closed there. */
	int fd;
	pid_t owner;
};

struct ControlBuilder {
	std::size_t size;
	std::size_t packets;
	std::uint8_t bytes[control_max_datagram];
};

ControlClient &check_client(lua_State *L, int idx)
{
	return *static_cast<ControlClient *>(luaL_checkudata(L, idx, client_metatable));
}

ControlBuilder &check_builder(lua_State *L, int idx)
{
	return *static_cast<ControlBuilder *>(luaL_checkudata(L, idx, builder_metatable));
}

void check_argument_count(lua_State *L, int min, int max)
{
	const int top = lua_gettop(L);
	if (top < min)
		luaL_error(L, "not enough parameters");
	if (top > max)
		luaL_error(L, "too many parameters");
}

int push_failure(lua_State *L, const char *call, const SocketAddress &address, int error)
{
	char text[socket_address_text_max];
	format_socket_address(address, text, sizeof(text));
	lua_pushnil(L);
	lua_pushfstring(L, "%s(%s): %s", call, text, std::strerror(error));
	return 2;
}

/* A datagram socket connected to the client's address, owned by this process; errno on failure. */
bool open_socket(ControlClient &client) noexcept
{
	const int fd = ::socket(client.address.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	if (::connect(fd, client.address.get(), client.address.length) < 0) {
		const int error = errno;
		::close(fd);
		errno = error;
		return false;
	}
	client.fd = fd;
	client.owner = getpid();
	return true;
}

/* Appends one packet through the codec; false when the datagram would outgrow what a receiver
   accepts (or memory ran out). */
bool append_packet(ControlBuilder &builder, ControlCommand command, ByteSpan payload) noexcept
{
	try {
		std::vector<std::uint8_t> packet;
		if (builder.packets == control_max_packets ||
		    !append_control_packet(packet, std::uint16_t(command), payload) ||
		    packet.size() > control_max_datagram - builder.size)
			return false;
		std::memcpy(builder.bytes + builder.size, packet.data(), packet.size());
		builder.size += packet.size();
		++builder.packets;
		return true;
	} catch (const std::bad_alloc &) {
		return false;
	}
}

int datagram_full(lua_State *L)
{
	return luaL_error(L, "control datagram full: at most %d bytes and %d packets", int(control_max_datagram),
			  int(control_max_packets));
}

/* builder:command(payload, ...): one packet per payload; returns the builder. */
int add_each(lua_State *L, ControlCommand command)
{
	ControlBuilder &builder = check_builder(L, 1);
	check_argument_count(L, 2, INT32_MAX);
	const int top = lua_gettop(L);
	for (int i = 2; i <= top; ++i)
		luaL_checkstring(L, i);
	for (int i = 2; i <= top; ++i) {
		std::size_t length;
		const char *payload = lua_tolstring(L, i, &length);
		if (!append_packet(builder, command, ByteSpan(reinterpret_cast<const std::uint8_t *>(payload), length)))
			return datagram_full(L);
	}
	lua_settop(L, 1);
	return 1;
}

/* builder:cancel_job(partition, job_id): one packet, "partition\0job_id". */
int cancel_job(lua_State *L)
{
	ControlBuilder &builder = check_builder(L, 1);
	check_argument_count(L, 3, 3);
	std::size_t partition_length, job_length;
	const char *partition = luaL_checklstring(L, 2, &partition_length);
	const char *job = luaL_checklstring(L, 3, &job_length);
	std::uint8_t payload[control_max_datagram];
	if (partition_length + 1 + job_length > sizeof(payload))
		return datagram_full(L);
	std::memcpy(payload, partition, partition_length);
	payload[partition_length] = 0;
	std::memcpy(payload + partition_length + 1, job, job_length);
	if (!append_packet(builder, ControlCommand::cancel_job, ByteSpan(payload, partition_length + 1 + job_length)))
		return datagram_full(L);
	lua_settop(L, 1);
	return 1;
}

template <ControlCommand command>
int add_command(lua_State *L)
{
	return add_each(L, command);
}

/* client:build() -> an empty builder (the magic only). */
int client_build(lua_State *L)
{
	check_client(L, 1);
	check_argument_count(L, 1, 1);
	auto *builder = static_cast<ControlBuilder *>(lua_newuserdatauv(L, sizeof(ControlBuilder), 0));
	builder->size = 0;
	builder->packets = 0;
	luaL_setmetatable(L, builder_metatable);
	const std::uint32_t magic = control_magic;
	for (int shift = 24; shift >= 0; shift -= 8)
		builder->bytes[builder->size++] = std::uint8_t(magic >> shift);
	return 1;
}

/* client:send(builder) -> true | nil, message */
int client_send(lua_State *L)
{
	ControlClient &client = check_client(L, 1);
	const ControlBuilder &builder = check_builder(L, 2);
	check_argument_count(L, 2, 2);
	if (client.fd < 0 || client.owner != getpid()) {
		client.fd = -1;
		if (!open_socket(client))
			return push_failure(L, "connect", client.address, errno);
	}
	if (::send(client.fd, builder.bytes, builder.size, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return push_failure(L, "send", client.address, errno);
	lua_pushboolean(L, 1);
	return 1;
}

/* __gc and __close: only the process that opened the socket closes it. */
int client_close(lua_State *L)
{
	ControlClient &client = check_client(L, 1);
	if (client.fd >= 0 && client.owner == getpid())
		::close(client.fd);
	client.fd = -1;
	return 0;
}

/* control_client:new(address) -> client | nil, message; a string names a UDP port 5478 by default. */
int client_new(lua_State *L)
{
	check_argument_count(L, 2, 2);
	if (to_lua_address(L, 2) == nullptr && lua_type(L, 2) != LUA_TSTRING)
		return luaL_typeerror(L, 2, "address string or mysql_resolve() result");
	const AddressResult address = to_lua_address_value(L, 2, control_default_port);
	if (!address) {
		lua_pushnil(L);
		lua_pushstring(L, address.error());
		return 2;
	}
	auto *client = static_cast<ControlClient *>(lua_newuserdatauv(L, sizeof(ControlClient), 0));
	client->address = address.value();
	client->fd = -1;
	client->owner = 0;
	luaL_setmetatable(L, client_metatable);
	if (!open_socket(*client))
		return push_failure(L, "connect", client->address, errno);
	return 1;
}

/* control_resolve(address) -> an address object, UDP port 5478 unless given (upstream's, for
   control_client:new()); errors raise as mysql_resolve()'s do at the top level. */
int control_resolve(lua_State *L)
{
	if (to_lua_address(L, 1) != nullptr) {
		lua_settop(L, 1);
		return 1;
	}
	if (lua_type(L, 1) != LUA_TSTRING)
		return luaL_typeerror(L, 1, "address string or mysql_resolve() result");
	const AddressResult address = to_lua_address_value(L, 1, control_default_port);
	if (!address)
		return luaL_argerror(L, 1, address.error());
	push_lua_address(L, address.value());
	return 1;
}

void register_metatable(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc)
{
	if (luaL_newmetatable(L, name) == 0) {
		lua_pop(L, 1);
		return;
	}
	lua_newtable(L);
	luaL_setfuncs(L, methods, 0);
	lua_setfield(L, -2, "__index");
	if (gc != nullptr) {
		lua_pushcfunction(L, gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, gc);
		lua_setfield(L, -2, "__close");
	}
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);
}

} // namespace

int open_lua_control_client(lua_State *L)
{
	static const luaL_Reg builder_methods[] = {
		{"fade_children", add_command<ControlCommand::fade_children>},
		{"flush_filter_cache", add_command<ControlCommand::flush_filter_cache>},
		{"discard_session", add_command<ControlCommand::discard_session>},
		{"flush_http_cache", add_command<ControlCommand::flush_http_cache>},
		{"terminate_children", add_command<ControlCommand::terminate_children>},
		{"disconnect_database", add_command<ControlCommand::disconnect_database>},
		{"reset_limiter", add_command<ControlCommand::reset_limiter>},
		{"reject_client", add_command<ControlCommand::reject_client>},
		{"tarpit_client", add_command<ControlCommand::tarpit_client>},
		{"cancel_job", cancel_job},
		{nullptr, nullptr},
	};
	static const luaL_Reg client_methods[] = {
		{"build", client_build},
		{"send", client_send},
		{nullptr, nullptr},
	};
	register_metatable(L, builder_metatable, builder_methods, nullptr);
	register_metatable(L, client_metatable, client_methods, client_close);
	static const luaL_Reg functions[] = {
		{"new", client_new},
		{nullptr, nullptr},
	};
	luaL_newlib(L, functions);
	lua_setglobal(L, "control_client");
	lua_register(L, "control_resolve", control_resolve);
	return 0;
}

} // namespace myproxy
