// The `client` object handed to every handler callback (userdata, metatable "myproxy.client"): read-only
// facts about the connecting process, the settable account and server_version, the per-connection
// `notes` table, and the methods connect(), err() and init_db() that build the callback's action.
// Worker side.  The object only points at ClientAttributes, which the worker's connection owns; a
// script may keep the object beyond the connection, so detach_lua_client() cuts it off.
#pragma once

#include <cstddef>
#include <string>

struct lua_State;

namespace myproxy {

inline constexpr const char *lua_client_metatable = "myproxy.client";

/* Longest client.account a script may set (it appears in every log line of the connection). */
inline constexpr std::size_t client_account_max = 256;
/* Longest client.server_version (sent NUL-terminated in the Handshake V10 greeting). */
inline constexpr std::size_t client_server_version_max = 250;

struct ClientAttributes {
	/* SO_PEERCRED was available (UNIX socket): pid, uid and gid are meaningful. */
	bool has_credentials = false;
	int pid = 0;
	unsigned uid = 0, gid = 0;
	/* cgroup v2 path of the client process ("/user.slice/..."); empty when unknown. */
	std::string cgroup_path;
	/* The extended attributes of that cgroup and its ancestors: the NEW_CLIENT blob (format of
	 * common/cgroup_xattrs.hpp, validated by the channel decoder); empty when none. */
	std::string cgroup_xattrs;
	/* The master read the cgroup (ListenerConfig::reads_client_cgroup); when false, client.cgroup
	 * raises an error instead of passing for "unknown". */
	bool cgroup_read = true;
	/* The peer, printable; empty when there is nothing to print (unnamed UNIX socket). */
	std::string address;
	/* Set by the script (client.account = "..."); empty until then.  Printable, no control
	 * characters, at most client_account_max bytes. */
	std::string account;
	/* What the greeting announces; the script may change it while server_version_settable. */
	std::string server_version;
	/* True only while on_connect runs: the greeting has not been sent yet. */
	bool server_version_settable = false;
	/* The client's connection is TLS (a TLS listener, the handshake done): client.ssl. */
	bool ssl = false;
};

/* Installs the metatables of client and action objects (idempotent).  Call it once on the state the
 * workers inherit, after load_config(); the worker may call it again after fork.  Never raises: false
 * when Lua's heap is full. */
[[nodiscard]] bool register_worker_lua_api(lua_State *L) noexcept;

/* Creates the client object for @attributes (its notes table is made on first use) and anchors it
 * in the registry.  Returns the reference (for push_lua_client() and detach_lua_client()), or
 * LUA_NOREF when Lua's heap is full.  @attributes must stay valid until detach_lua_client().  Never
 * raises. */
int create_lua_client(lua_State *L, ClientAttributes &attributes) noexcept;

/* Pushes the client object, e.g. as a callback argument (needs one free stack slot).  Never raises. */
void push_lua_client(lua_State *L, int client_ref) noexcept;

/* The connection is closing: every later use of the object from Lua raises "client connection is
 * closed", and the reference is released.  Never raises. */
void detach_lua_client(lua_State *L, int client_ref) noexcept;

} // namespace myproxy
