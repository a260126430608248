// prometheus_listen() and control_listen() (see lua_operator_listen.hpp).  Each call appends a
// full userdata holding a trivially destructible record to a registry table; an error raised halfway
// leaves nothing that needs a destructor.
#include "lua/lua_operator_listen.hpp"

#include "common/control_protocol.hpp"
#include "lua/lua_address.hpp"

#include <lua.hpp>

#include <net/if.h>

#include <cstring>
#include <new>

namespace myproxy {

namespace {

const char prometheus_key = 0;
const char control_key = 0;

struct PrometheusRecord {
	SocketAddress address;
};

struct ControlRecord {
	SocketAddress address;
	Network allow[control_allow_max];
	unsigned allow_count;
	SocketAddress multicast_group;
	char interface_name[IF_NAMESIZE];
};

/* Argument @arg as an address: an address object, or a string parsed (host names resolved: this
   runs only while config.lua loads) with @default_port. */
SocketAddress check_address(lua_State *L, int arg, std::uint16_t default_port)
{
	if (const SocketAddress *address = to_lua_address(L, arg))
		return *address;
	std::size_t length;
	const char *text = luaL_checklstring(L, arg, &length);
	const AddressResult result = resolve_address(std::string_view(text, length), default_port);
	if (!result)
		luaL_argerror(L, arg, result.error());
	return result.value();
}

/* The registry table at @key, or an error when config.lua has finished loading. */
int records(lua_State *L, const char *key, const char *function)
{
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) != LUA_TTABLE)
		return luaL_error(L, "%s() works only while config.lua is loading", function);
	return lua_gettop(L);
}

template<typename Record>
void append_record(lua_State *L, int table, const Record &record)
{
	void *slot = lua_newuserdatauv(L, sizeof(Record), 0);
	new (slot) Record(record);
	lua_rawseti(L, table, static_cast<lua_Integer>(lua_rawlen(L, table)) + 1);
}

/* prometheus_listen(address) */
int prometheus_listen(lua_State *L)
{
	lua_settop(L, 1);
	const int table = records(L, &prometheus_key, "prometheus_listen");
	PrometheusRecord record{check_address(L, 1, prometheus_default_port)};
	if (record.address.family() != AF_INET && record.address.family() != AF_INET6 &&
	    record.address.family() != AF_UNIX)
		return luaL_argerror(L, 1, "not a TCP address or a socket path");
	append_record(L, table, record);
	return 0;
}

void read_allow(lua_State *L, int options, ControlRecord &record)
{
	luaL_argcheck(L, lua_type(L, -1) == LUA_TTABLE, options, "allow must be a list of networks");
	const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, -1));
	luaL_argcheck(L, n <= lua_Integer(control_allow_max), options, "allow names too many networks");
	for (lua_Integer i = 1; i <= n; ++i) {
		lua_rawgeti(L, -1, i);
		std::size_t length = 0;
		const char *text = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &length) : nullptr;
		const auto network = text != nullptr ? parse_network(std::string_view(text, length)) : std::nullopt;
		if (!network)
			luaL_argerror(L, options,
				      lua_pushfstring(L, "allow[%d] is not a network like \"10.0.0.0/8\"", int(i)));
		record.allow[record.allow_count++] = *network;
		lua_pop(L, 1);
	}
}

void read_control_options(lua_State *L, int options, ControlRecord &record)
{
	if (lua_isnoneornil(L, options))
		return;
	luaL_checktype(L, options, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, options) != 0) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
		if (std::strcmp(key, "allow") == 0) {
			read_allow(L, options, record);
		} else if (std::strcmp(key, "multicast_group") == 0) {
			record.multicast_group = check_address(L, lua_gettop(L), control_default_port);
		} else if (std::strcmp(key, "interface") == 0) {
			std::size_t length = 0;
			const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &length) : nullptr;
			luaL_argcheck(L, name != nullptr && length > 0 && length < IF_NAMESIZE &&
						 std::strlen(name) == length,
				      options, "interface must be a network interface name");
			std::memcpy(record.interface_name, name, length + 1);
		} else {
			luaL_argerror(L, options, lua_pushfstring(L, "unknown option '%s'", key));
		}
		lua_pop(L, 1);
	}
}

/* control_listen(address [, {allow, multicast_group, interface}]) */
int control_listen(lua_State *L)
{
	lua_settop(L, 2);
	const int table = records(L, &control_key, "control_listen");
	ControlRecord record{};
	record.address = check_address(L, 1, control_default_port);
	if (record.address.family() != AF_INET && record.address.family() != AF_INET6 &&
	    record.address.family() != AF_UNIX)
		return luaL_argerror(L, 1, "not a UDP address or a socket path");
	read_control_options(L, 2, record);
	if (record.multicast_group.defined() && record.address.family() == AF_UNIX)
		return luaL_argerror(L, 2, "multicast_group needs a UDP address");
	lua_settop(L, table);
	append_record(L, table, record);
	return 0;
}

} // namespace

void register_lua_operator_listen(lua_State *L)
{
	lua_register(L, "prometheus_listen", prometheus_listen);
	lua_register(L, "control_listen", control_listen);
	lua_newtable(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &prometheus_key);
	lua_newtable(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &control_key);
}

void collect_operator_listeners(lua_State *L, std::vector<PrometheusListenerConfig> &prometheus,
				std::vector<ControlListenerConfig> &control)
{
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &prometheus_key) == LUA_TTABLE) {
		const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, -1));
		for (lua_Integer i = 1; i <= n; ++i) {
			lua_rawgeti(L, -1, i);
			const auto &record = *static_cast<const PrometheusRecord *>(lua_touserdata(L, -1));
			prometheus.push_back({record.address, to_string(record.address)});
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	if (lua_rawgetp(L, LUA_REGISTRYINDEX, &control_key) == LUA_TTABLE) {
		const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, -1));
		for (lua_Integer i = 1; i <= n; ++i) {
			lua_rawgeti(L, -1, i);
			const auto &record = *static_cast<const ControlRecord *>(lua_touserdata(L, -1));
			ControlListenerConfig &config = control.emplace_back();
			config.address = record.address;
			config.description = to_string(record.address);
			config.allow.assign(record.allow, record.allow + record.allow_count);
			config.multicast_group = record.multicast_group;
			config.interface_name = record.interface_name;
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	/* From now on both functions raise "works only while config.lua is loading". */
	lua_pushnil(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &prometheus_key);
	lua_pushnil(L);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &control_key);
}

} // namespace myproxy
