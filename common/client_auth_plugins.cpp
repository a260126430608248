// The client authentication plugins' names (see client_auth_plugins.hpp).  Pure logic.
#include "common/client_auth_plugins.hpp"

#include <algorithm>

namespace myproxy {

namespace {

constexpr std::string_view plugin_names[client_auth_plugin_count] = {
	"mysql_clear_password", "mysql_native_password", "caching_sha2_password"};

} // namespace

std::string_view client_auth_plugin_name(ClientAuthPlugin plugin) noexcept
{
	return plugin_names[std::size_t(plugin)];
}

std::optional<ClientAuthPlugin> parse_client_auth_plugin(std::string_view name) noexcept
{
	for (std::size_t i = 0; i < client_auth_plugin_count; ++i)
		if (plugin_names[i] == name)
			return ClientAuthPlugin(i);
	return std::nullopt;
}

bool ListenerAuth::offers(ClientAuthPlugin plugin) const noexcept
{
	return std::find(plugins.begin(), plugins.end(), plugin) != plugins.end();
}

} // namespace myproxy
