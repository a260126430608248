// Test helpers for what myproxy's greeting announces once the master has read the backends' greetings
// (common/backend_offer.hpp): the backend's own greeting over a raw socket, and a wait until a
// listener greets with an expected version.  The master tells the workers over their channels before
// any later client, so once one greeting shows the version, every later one does.  Test-only code.
#pragma once

#include "common/handshake_v10.hpp"
#include "tests/integration/proxy_process.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <thread>

namespace myproxy::test {

/* What the greeting of the server (or listener) at @address announced (copies, no views). */
struct SeenGreeting {
	std::string server_version;
	std::uint32_t capabilities = 0;
	std::uint32_t mariadb_capabilities = 0;
	std::uint8_t character_set = 0;
};

inline std::optional<SeenGreeting> read_greeting(const std::string &address)
{
	RawConnection raw(address);
	auto packet = raw.read_packet();
	if (!packet)
		return std::nullopt;
	auto parsed = parse_handshake_v10(ByteSpan(reinterpret_cast<const std::uint8_t *>(packet->payload.data()),
						   packet->payload.size()));
	if (!parsed)
		return std::nullopt;
	SeenGreeting seen;
	seen.server_version = parsed->server_version;
	seen.capabilities = parsed->capabilities;
	seen.mariadb_capabilities = parsed->mariadb_capabilities;
	seen.character_set = parsed->character_set;
	return seen;
}

/* Waits (a safety net of 60 s, not a limit the test asserts) until the listener at @address greets
 * with @version; returns the version it greeted with last. */
inline std::string wait_for_greeting_version(const std::string &address, const std::string &version)
{
	const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
	std::string seen;
	do {
		if (auto greeting = read_greeting(address)) {
			seen = greeting->server_version;
			if (seen == version)
				break;
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	} while (std::chrono::steady_clock::now() < give_up);
	return seen;
}

} // namespace myproxy::test
