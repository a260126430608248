// How a listener authenticates its clients, as the configuration model keeps it (both processes
// read it after loading): which plugins myproxy offers, the first one in the greeting, and
// caching_sha2_password's RSA key.  Plain data; lua/listener_auth reads it from mysql_listen().
#pragma once

#include "common/rsa_key.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace myproxy {

enum class ClientAuthPlugin : std::uint8_t {
	clear_password,		/* mysql_clear_password: the script gets handshake_response.password */
	native_password,	/* mysql_native_password: handshake_response:verify_native_password() */
	caching_sha2_password,	/* fast path: handshake_response:verify_caching_sha2_password(); else the password */
};

inline constexpr std::size_t client_auth_plugin_count = 3;

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

} // namespace myproxy
