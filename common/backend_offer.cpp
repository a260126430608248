// Backend offers and the announcement made of them (see backend_offer.hpp).
#include "backend_offer.hpp"

#include <charconv>

namespace myproxy {

namespace {

constexpr std::uint64_t mariadb_extended_mask = 0xFFFF'FFFFull << 32;

/* The next decimal number of @text from @at (0 when there is none); moves @at past it and one dot. */
unsigned next_number(std::string_view text, std::size_t &at) noexcept
{
	unsigned value = 0;
	const char *begin = text.data() + at;
	const char *end = text.data() + text.size();
	const auto [stop, error] = std::from_chars(begin, end, value);
	if (error != std::errc())
		value = 0;
	at = std::size_t(stop - text.data());
	if (at < text.size() && text[at] == '.')
		++at;
	else
		at = text.size();
	return value;
}

} // namespace

BackendOffer default_announcement()
{
	BackendOffer offer;
	offer.server_version = default_server_version;
	offer.capabilities = default_announced_capabilities;
	offer.collation = default_server_collation;
	return offer;
}

std::optional<BackendOffer> backend_offer(const HandshakeV10 &greeting, std::string &problem)
{
	if (!(greeting.capabilities & CLIENT_PROTOCOL_41)) {
		problem = "no CLIENT_PROTOCOL_41";
		return std::nullopt;
	}
	if (greeting.server_version.empty() || greeting.server_version.size() > backend_version_max) {
		problem = "a server version of " + std::to_string(greeting.server_version.size()) + " bytes";
		return std::nullopt;
	}
	BackendOffer offer;
	offer.server_version = greeting.server_version;
	offer.capabilities = greeting.all_capabilities();
	offer.collation = greeting.character_set;
	return offer;
}

ServerVersionNumber parse_server_version(std::string_view version) noexcept
{
	if (version.starts_with("5.5.5-"))
		version.remove_prefix(6);
	std::size_t at = 0;
	ServerVersionNumber number;
	number.major = next_number(version, at);
	number.minor = next_number(version, at);
	number.patch = next_number(version, at);
	return number;
}

BackendOffer announce(std::span<const BackendOffer> offers)
{
	if (offers.empty())
		return default_announcement();
	std::uint64_t common = ~std::uint64_t(0);
	bool all_mariadb = true;
	const BackendOffer *oldest = &offers.front();
	for (const BackendOffer &offer : offers) {
		common &= offer.capabilities;
		/* A MariaDB server clears CLIENT_LONG_PASSWORD (CLIENT_MYSQL) to say it sends extended flags. */
		all_mariadb = all_mariadb && !(offer.capabilities & CLIENT_LONG_PASSWORD);
		if (parse_server_version(offer.server_version) < parse_server_version(oldest->server_version))
			oldest = &offer;
	}
	common &= relayed_capabilities;
	if (!all_mariadb)
		common &= ~mariadb_extended_mask;
	BackendOffer announcement;
	announcement.server_version = oldest->server_version;
	announcement.collation = oldest->collation;
	announcement.capabilities = common | terminated_capabilities | (all_mariadb ? 0 : CLIENT_LONG_PASSWORD);
	return announcement;
}

} // namespace myproxy
