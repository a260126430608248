// Loading config.lua (master side, once at startup): runs the administrator's script in a fresh LuaState
// with the top-level API (mysql_listen, mysql_resolve, mysql_ssl_ca, mysql_cluster, systemd,
// worker_processes, connect_timeout, and the sodium and pg libraries) and returns what it declared.
// The one lua/ header the master's side may include (main.cpp calls load_config()).  Opens no
// sockets and forks nothing: the master binds the listeners and the workers inherit
// LoadedConfig::state through fork().  Every problem becomes a ConfigError; nothing calls exit().
#pragma once

#include "common/config.hpp"
#include "lua/lua_state.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;

namespace myproxy {

/* What load_config() returns: the model (common/config.hpp) and the Lua state that holds the
 * handlers its handler_refs name.  Workers inherit both through fork(); the master reads only the
 * model. */
struct LoadedConfig : Config {
	/* After loading, host names no longer resolve in this state (set_lua_name_lookup(false)) and
	 * mysql_listen() raises an error: both belong to startup. */
	LuaState state;
};

class [[nodiscard]] ConfigResult {
	std::variant<LoadedConfig, ConfigError> v;

public:
	ConfigResult(LoadedConfig config) noexcept : v(std::move(config)) {}
	ConfigResult(ConfigError error) noexcept : v(std::move(error)) {}

	bool ok() const noexcept { return v.index() == 0; }
	explicit operator bool() const noexcept { return ok(); }
	/* Only valid when ok(). */
	LoadedConfig &value() noexcept { return *std::get_if<0>(&v); }
	/* Only valid when !ok(). */
	const ConfigError &error() const noexcept { return *std::get_if<1>(&v); }
};

/* Runs the file (text chunks only: Lua refuses precompiled bytecode here) and checks what it declared.
 * Throws only std::bad_alloc, when even an empty Lua state does not fit. */
ConfigResult load_config(const std::string &path, std::size_t heap_limit = LuaState::default_heap_limit);

} // namespace myproxy
