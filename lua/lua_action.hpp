// What a handler callback decided, as plain C++ values the worker acts on.  The client object's
// connect(), err() and init_db() build them inside "myproxy.action" userdata that the callback returns;
// the worker copies them out with take_lua_action() once the callback finished.  Worker side.
// take_lua_action() never raises a Lua error and never runs Lua code; push_lua_action() is for Lua C
// functions only.
#pragma once

#include "common/secret.hpp"
#include "common/socket_address.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

struct lua_State;
typedef struct ssl_ctx_st SSL_CTX;

namespace myproxy {

inline constexpr const char *lua_action_metatable = "myproxy.action";

/* client:connect(address|cluster, handshake_response [, options]): log in to @address, or to the node
 * of @cluster the worker chooses, with these credentials. */
struct ConnectAction {
	/* Unset when @cluster is set. */
	SocketAddress address;
	/* The index of a mysql_cluster() (lua_cluster.hpp), instead of an address. */
	std::optional<std::uint32_t> cluster;
	/* Option read_only = true (clusters only): prefer a read-only node. */
	bool read_only = false;
	std::string user;
	/* Cleartext.  Used only when password_sha1 is not set (the rule of ClientLoginParams). */
	std::optional<std::string> password;
	/* SHA1(password): enough for mysql_native_password. */
	std::optional<SecretArray<20>> password_sha1;
	/* Empty: no default schema. */
	std::string database;
	/* In the order the script's table iterated them (unspecified); keys are unique. */
	std::vector<std::pair<std::string, std::string>> attributes;
	/* The options ssl, ssl_ca, ssl_verify_server_cert, ssl_server_name (lua_tls_options.hpp):
	 * with ssl, the context (pinned in the Lua state, loaded before the fork) to start TLS with. */
	bool ssl = false;
	SSL_CTX *ssl_context = nullptr;
	bool ssl_verify = true;
	/* SNI and the name the certificate must match; empty: an IP address is checked against the
	 * certificate's IP addresses, a UNIX socket gets no name check. */
	std::string ssl_server_name;
	/* Options allow_cleartext and server_public_key (lua_connect_auth.hpp). */
	bool allow_cleartext = false;
	std::string server_public_key;
	/* Option read_timeout: how long the backend may stay silent while a command waits for its
	 * answer (microseconds; 0: no limit). */
	std::uint64_t read_timeout_usec = 0;
	/* Option compress: the compressed protocol toward the backend, if it offers it. */
	bool compress = false;
	/* Option reuse: how many idle backend connections with exactly this login (worker/backend_pool)
	 * the worker may keep for the next client; 0: the connection closes with its session. */
	std::uint16_t reuse_per_key = 0;
};

/* reuse = true keeps this many per key; reuse = N sets it from 1 to reuse_per_key_max. */
inline constexpr std::uint16_t reuse_per_key_default = 4;
inline constexpr std::uint16_t reuse_per_key_max = 1024;

/* client:err(message): send an ERR (access denied) with this message. */
struct ErrAction {
	std::string message;
};

/* client:init_db(name): forward COM_INIT_DB with this schema name. */
struct InitDbAction {
	std::string database;
};

/* The order is the bit order of ActionRules::allowed. */
using LuaAction = std::variant<ConnectAction, ErrAction, InitDbAction>;

inline constexpr unsigned allow_connect = 1u << 0;
inline constexpr unsigned allow_err = 1u << 1;
inline constexpr unsigned allow_init_db = 1u << 2;

/* What one callback may return. */
struct ActionRules {
	/* The callback's name, for messages. */
	const char *callback;
	/* allow_* bits. */
	unsigned allowed;
	/* Whether returning nothing is fine (the default behaviour goes on). */
	bool nil_allowed;
};

/* nil: go on with the handshake; err: reject the client. */
inline constexpr ActionRules on_connect_rules{"on_connect", allow_err, true};
/* An action is required: there is no default backend. */
inline constexpr ActionRules on_handshake_response_rules{"on_handshake_response", allow_connect | allow_err, false};
/* on_handshake_response in caching_sha2_password's fast phase: nil asks the client for its password. */
inline constexpr ActionRules on_handshake_response_fast_auth_rules{"on_handshake_response", allow_connect | allow_err, true};
/* nil: the command phase starts; err: the client gets that ERR and is disconnected. */
inline constexpr ActionRules on_command_phase_rules{"on_command_phase", allow_err, true};
/* nil: forward COM_INIT_DB unchanged; init_db: forward it, possibly renamed; err: refuse this one
 * command, the connection stays. */
inline constexpr ActionRules on_init_db_rules{"on_init_db", allow_init_db | allow_err, true};

/* One of: nil was returned (and allowed), an action, or the message for a wrong return value. */
class ActionResult {
	std::variant<std::monostate, LuaAction, std::string> v;

public:
	ActionResult() noexcept = default;
	ActionResult(LuaAction action) noexcept : v(std::move(action)) {}
	ActionResult(std::string error) noexcept : v(std::move(error)) {}

	bool is_nil() const noexcept { return v.index() == 0; }
	bool is_action() const noexcept { return v.index() == 1; }
	bool is_error() const noexcept { return v.index() == 2; }
	/* Only valid when is_action(). */
	LuaAction &action() noexcept { return *std::get_if<1>(&v); }
	/* Only valid when is_error(): e.g. "on_handshake_response must return client:connect() or
	 * client:err(), got a number". */
	const std::string &error() const noexcept { return *std::get_if<2>(&v); }
};

/* Reads the value at @idx (a callback's return value) under @rules.  The action is copied: a script
 * may return one action object more than once.  Never raises a Lua error; needs two free stack slots
 * (reports an error otherwise).  Throws only std::bad_alloc. */
ActionResult take_lua_action(lua_State *L, int idx, const ActionRules &rules);

/* Creates the action metatable (idempotent).  May raise: call it from a protected call. */
void register_lua_action(lua_State *L);

/* Pushes a new action userdata holding a default-constructed @alternative (its index in LuaAction)
 * and returns it for the caller to fill.  Raises on memory exhaustion, so call it after the argument
 * checks and before building C++ values: the object is already safe to collect (its __gc destroys
 * it), and filling it needs no Lua call, so a std::bad_alloc there leaves nothing behind. */
LuaAction &push_lua_action(lua_State *L, std::size_t alternative);

} // namespace myproxy
