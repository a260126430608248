// What a backend offers (its greeting's version, capabilities including MariaDB's extended ones, and
// default collation), and what a listener announces from what all backends offer: the intersection,
// masked by what myproxy can relay, with the version of the oldest.  Both processes: the master
// learns offers (master/cluster_monitor) and sends the announcement (BACKEND_OFFER); workers greet
// clients with it and check each backend login against what the client negotiated.  Pure: no I/O.
#pragma once

#include "handshake_v10.hpp"
#include "mysql_capabilities.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace myproxy {

/* Longest server version kept (the same bound as client.server_version). */
inline constexpr std::size_t backend_version_max = 250;

/* What the greeting announces before anything is known (every backend down at startup, or none
 * named in config.lua): the fixed set myproxy always offered.  10.11 is the MariaDB release the
 * project tests against; clients parse "major.minor.patch" and look for "MariaDB". */
inline constexpr std::string_view default_server_version = "10.11.99-MariaDB-myproxy";
/* utf8mb4_general_ci. */
inline constexpr std::uint8_t default_server_collation = 45;

/* Capabilities myproxy terminates on each side itself, announced whatever the backends offer:
 * auth plugins and their data, connection attributes, the database at login (the script sees it),
 * CLIENT_COMPRESS (zlib, worker/compressed_link: each side compressed or not on its own, whatever
 * the backend does; never CLIENT_ZSTD_COMPRESSION_ALGORITHM).  CLIENT_SSL is added per listener. */
inline constexpr std::uint64_t terminated_capabilities = CLIENT_COMPRESS | CLIENT_PROTOCOL_41 |
							 CLIENT_SECURE_CONNECTION |
							 CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
							 CLIENT_CONNECT_ATTRS | CLIENT_CONNECT_WITH_DB;

/* Capabilities the relay passes through unchanged when every backend offers them.  Not: compression
 * (terminated per side), query attributes, optional metadata and multi-factor authentication (they
 * change packets myproxy parses), MariaDB's COM_MULTI (it would hide commands myproxy intercepts,
 * such as COM_CHANGE_USER, inside another). */
inline constexpr std::uint64_t relayed_capabilities =
	CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG | CLIENT_NO_SCHEMA | CLIENT_ODBC | CLIENT_LOCAL_FILES |
	CLIENT_IGNORE_SPACE | CLIENT_PROTOCOL_41 | CLIENT_INTERACTIVE | CLIENT_IGNORE_SIGPIPE | CLIENT_TRANSACTIONS |
	CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS | CLIENT_SESSION_TRACK |
	CLIENT_DEPRECATE_EOF | MARIADB_CLIENT_PROGRESS | MARIADB_CLIENT_STMT_BULK_OPERATIONS |
	MARIADB_CLIENT_EXTENDED_METADATA | MARIADB_CLIENT_CACHE_METADATA | MARIADB_CLIENT_BULK_UNIT_RESULTS;

/* Relayed capabilities a backend must have when the client negotiated them: they change the layout
 * of replies or add commands, so a backend without one would corrupt the client's stream.  The
 * others only ask for behaviour (ODBC, IGNORE_SPACE, ...) and are asked for when offered. */
inline constexpr std::uint64_t backend_required_capabilities =
	CLIENT_PROTOCOL_41 | CLIENT_LONG_FLAG | CLIENT_TRANSACTIONS | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS |
	CLIENT_SESSION_TRACK | CLIENT_DEPRECATE_EOF | MARIADB_CLIENT_PROGRESS | MARIADB_CLIENT_STMT_BULK_OPERATIONS |
	MARIADB_CLIENT_EXTENDED_METADATA | MARIADB_CLIENT_CACHE_METADATA | MARIADB_CLIENT_BULK_UNIT_RESULTS;

/* The fixed set announced while nothing is known (what myproxy offered before it learned anything):
 * CLIENT_LONG_PASSWORD set, so MariaDB clients send no extended capabilities. */
inline constexpr std::uint64_t default_announced_capabilities =
	CLIENT_COMPRESS | CLIENT_LONG_PASSWORD | CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB |
	CLIENT_NO_SCHEMA | CLIENT_ODBC | CLIENT_LOCAL_FILES | CLIENT_IGNORE_SPACE | CLIENT_PROTOCOL_41 | CLIENT_INTERACTIVE |
	CLIENT_IGNORE_SIGPIPE | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS |
	CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS |
	CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_SESSION_TRACK | CLIENT_DEPRECATE_EOF;

/* One backend's greeting, or the announcement made of several (same fields). */
struct BackendOffer {
	/* As the greeting sent it (MariaDB's "5.5.5-" prefix included: clients strip it themselves). */
	std::string server_version;
	/* The greeting's flags; MariaDB's extended ones shifted up by 32 (HandshakeV10::all_capabilities). */
	std::uint64_t capabilities = 0;
	std::uint8_t collation = 0;

	bool operator==(const BackendOffer &) const = default;
};

/* The announcement while nothing is known. */
BackendOffer default_announcement();

/* The offer of a parsed greeting, or why it cannot be used (hostile or useless: no protocol 4.1, a
 * version longer than backend_version_max or empty); @problem is then set. */
std::optional<BackendOffer> backend_offer(const HandshakeV10 &greeting, std::string &problem);

/* "10.11.6-MariaDB" -> {10, 11, 6}; "5.5.5-" skipped; missing parts are 0. */
struct ServerVersionNumber {
	unsigned major = 0, minor = 0, patch = 0;
	auto operator<=>(const ServerVersionNumber &) const = default;
};
ServerVersionNumber parse_server_version(std::string_view version) noexcept;

/* What a listener announces when @offers are all its backends may offer: the relayed capabilities
 * every one offers plus the terminated ones; MariaDB's extended capabilities only when every offer
 * has them (CLIENT_LONG_PASSWORD cleared then, as MariaDB does, set otherwise); the version and
 * collation of the oldest server (clients decide on features by version; ties: the first).  Empty
 * @offers: default_announcement(). */
BackendOffer announce(std::span<const BackendOffer> offers);

/* What the client negotiated that a backend offering @backend lacks and must have; 0 if nothing. */
constexpr std::uint64_t missing_backend_capabilities(std::uint64_t negotiated, std::uint64_t backend) noexcept
{
	return negotiated & backend_required_capabilities & ~backend;
}

} // namespace myproxy
