// TLS in config.lua: the OpenSSL contexts (SSL_CTX) that listeners and backend connections use, and
// the parsing of the TLS options of mysql_listen(), client:connect() and mysql_cluster().
// Master side for everything that reads files: certificates, keys and CAs are loaded while
// config.lua runs, before the fork; the workers inherit the contexts with the Lua state and only
// read options that point at them.  Every context is pinned in the registry for the state's life,
// so a raw SSL_CTX pointer handed to a worker connection stays valid.  Functions taking a lua_State
// may raise (longjmp): call them from Lua C functions, with no C++ object with a destructor alive.
#pragma once

typedef struct ssl_ctx_st SSL_CTX;
struct lua_State;

namespace myproxy {

inline constexpr const char *lua_ssl_context_metatable = "myproxy.ssl_context";

/* Creates the metatable, the global mysql_ssl_ca(path) and the context for unverified backend TLS.
 * From config_loader's open_api(). */
void register_lua_tls(lua_State *L);

/* Whether files may be loaded (mysql_ssl_ca(), the listener options): only while config.lua runs. */
void set_lua_tls_loading(lua_State *L, bool allowed);

/* The TLS options of mysql_listen(): ssl_cert, ssl_key, require_ssl.  Trivially destructible. */
struct LuaTlsListenerOptions {
	/* Pinned in the registry; nullptr without ssl_cert. */
	SSL_CTX *context;
	bool require_ssl;
};

/* Reads and removes nothing: inspects the key at stack index -2 and its value at -1 (inside a
 * lua_next() loop over mysql_listen()'s options table at @arg).  True when the key is one of ours;
 * raises on a bad value. */
bool read_lua_tls_listener_option(lua_State *L, int arg, LuaTlsListenerOptions &options);
/* After the loop: loads the certificate and key (raising "ssl_cert: ..." with OpenSSL's reason) and
 * checks the combination (require_ssl needs ssl_cert). */
void finish_lua_tls_listener_options(lua_State *L, int arg, LuaTlsListenerOptions &options);

/* The TLS options toward a backend: ssl, ssl_ca, ssl_verify_server_cert, ssl_server_name.
 * Trivially destructible; server_name points into a Lua string of the options table. */
struct LuaTlsClientOptions {
	bool ssl;
	/* Pinned; set by finish_lua_tls_client_options() when ssl is on. */
	SSL_CTX *context;
	bool verify;
	const char *server_name;
	/* Bits of the keys read (for finish: ssl_* without ssl = true is a mistake). */
	unsigned seen;
};

/* Like read_lua_tls_listener_option(), for client:connect()'s (and mysql_cluster()'s) options table. */
bool read_lua_tls_client_option(lua_State *L, int arg, LuaTlsClientOptions &options);
/* After the loop.  @paths_allowed: ssl_ca may be a file or directory name (only while config.lua
 * runs; in a worker it must be a mysql_ssl_ca() object).  Raises on a bad combination: ssl_* without
 * ssl = true, verification without a CA. */
void finish_lua_tls_client_options(lua_State *L, int arg, LuaTlsClientOptions &options, bool paths_allowed);

inline LuaTlsClientOptions default_lua_tls_client_options() noexcept
{
	return {false, nullptr, true, nullptr, 0};
}

/* Whether the options table named any TLS option (after finish: then it named ssl). */
inline bool lua_tls_client_options_given(const LuaTlsClientOptions &options) noexcept
{
	return options.seen != 0;
}

} // namespace myproxy
