// Reading how a listener authenticates its clients (common/client_auth_plugins.hpp) from
// mysql_listen()'s options auth_plugins (which plugins myproxy offers, the first one in the
// greeting) and rsa_private_key (caching_sha2_password's key for the full path without TLS).
// Checked when mysql_listen() runs; loaded by the master at the end of config.lua (the key file is
// read, or a key generated, before any worker forks: workers cannot open files).
#pragma once

#include "common/client_auth_plugins.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct lua_State;

namespace myproxy {

/* The options as mysql_listen() read them; plain data, kept in its listener record. */
struct ListenerAuthOptions {
	ClientAuthPlugin plugins[client_auth_plugin_count];
	/* 0: auth_plugins not given (the default). */
	std::uint8_t count;
	bool has_key_path;
	/* Registry reference of the rsa_private_key file name (a string). */
	int key_path_ref;
};

/* Inside a lua_next() loop over mysql_listen()'s options table at @arg: the key at -2, its value at
 * -1 (neither removed).  True when the key is auth_plugins or rsa_private_key; raises on a bad
 * value. */
bool read_listener_auth_option(lua_State *L, int arg, ListenerAuthOptions &options);

/* Builds @auth from the options: reads rsa_private_key's file, or generates @generated (once) when
 * caching_sha2_password is offered without a key.  On failure returns false with @problem.  Never
 * raises. */
bool load_listener_auth(lua_State *L, const ListenerAuthOptions &options, ListenerAuth &auth,
			std::optional<RsaKeyPair> &generated, std::string &problem);

} // namespace myproxy
