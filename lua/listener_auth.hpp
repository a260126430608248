// How a listener authenticates its clients: the handler fields auth_plugins (which plugins myproxy
// offers, the first one in the greeting) and rsa_private_key (caching_sha2_password's key for the
// full path without TLS).  Checked when mysql_listen() runs; loaded by the master at the end of
// config.lua (the key file is read, or a key generated, before any worker forks: workers cannot
// open files).
#pragma once

#include "common/rsa_key.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct lua_State;

namespace myproxy {

enum class ClientAuthPlugin : std::uint8_t {
	clear_password,		/* mysql_clear_password: the script gets handshake_response.password */
	native_password,	/* mysql_native_password: handshake_response:verify_native_password() */
	caching_sha2_password,	/* fast path: handshake_response:verify_caching_sha2_password(); else the password */
};

std::string_view client_auth_plugin_name(ClientAuthPlugin plugin) noexcept;
std::optional<ClientAuthPlugin> parse_client_auth_plugin(std::string_view name) noexcept;

struct ListenerAuth {
	/* Never empty, no duplicates; by default just mysql_clear_password. */
	std::vector<ClientAuthPlugin> plugins{ClientAuthPlugin::clear_password};
	/* Set when caching_sha2_password is offered: rsa_private_key, or one generated at startup
	 * (shared by the listeners without a key of their own). */
	std::optional<RsaKeyPair> rsa;

	bool offers(ClientAuthPlugin plugin) const noexcept;
};

bool is_listener_auth_field(const char *key) noexcept;

/* Checks the value at the top of the stack as handler field @key (one of is_listener_auth_field()).
 * On failure pushes the problem and returns false.  Never raises. */
bool check_listener_auth_field(lua_State *L, const char *key);

/* Reads the checked fields of the handler table at @idx into @auth; reads rsa_private_key's file and
 * generates @generated (once) when needed.  On failure returns false with @problem.  Never raises. */
bool load_listener_auth(lua_State *L, int idx, ListenerAuth &auth, std::optional<RsaKeyPair> &generated,
			std::string &problem);

} // namespace myproxy
