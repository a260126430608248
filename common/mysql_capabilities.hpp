// Capability flags and server status flags of the MySQL/MariaDB protocol, in one place.
// Values only (plus capability_name() for log lines); negotiation policy lives with the handshake code.
// Never include this together with <mysql.h> in one translation unit: Connector/C defines the same
// names as preprocessor macros.
#pragma once

#include <cstdint>

namespace myproxy {

/* Capability flags, as exchanged in Handshake V10 and HandshakeResponse41. */
constexpr std::uint32_t CLIENT_LONG_PASSWORD = 1u << 0; /* MariaDB: CLIENT_MYSQL; a MariaDB server
							 * clears it to announce extended capabilities */
constexpr std::uint32_t CLIENT_FOUND_ROWS = 1u << 1;
constexpr std::uint32_t CLIENT_LONG_FLAG = 1u << 2;
constexpr std::uint32_t CLIENT_CONNECT_WITH_DB = 1u << 3;
constexpr std::uint32_t CLIENT_NO_SCHEMA = 1u << 4;
constexpr std::uint32_t CLIENT_COMPRESS = 1u << 5;
constexpr std::uint32_t CLIENT_ODBC = 1u << 6;
constexpr std::uint32_t CLIENT_LOCAL_FILES = 1u << 7;
constexpr std::uint32_t CLIENT_IGNORE_SPACE = 1u << 8;
constexpr std::uint32_t CLIENT_PROTOCOL_41 = 1u << 9;
constexpr std::uint32_t CLIENT_INTERACTIVE = 1u << 10;
constexpr std::uint32_t CLIENT_SSL = 1u << 11;
constexpr std::uint32_t CLIENT_IGNORE_SIGPIPE = 1u << 12;
constexpr std::uint32_t CLIENT_TRANSACTIONS = 1u << 13;
constexpr std::uint32_t CLIENT_RESERVED = 1u << 14;
constexpr std::uint32_t CLIENT_SECURE_CONNECTION = 1u << 15; /* a.k.a. CLIENT_RESERVED2 */
constexpr std::uint32_t CLIENT_MULTI_STATEMENTS = 1u << 16;
constexpr std::uint32_t CLIENT_MULTI_RESULTS = 1u << 17;
constexpr std::uint32_t CLIENT_PS_MULTI_RESULTS = 1u << 18;
constexpr std::uint32_t CLIENT_PLUGIN_AUTH = 1u << 19;
constexpr std::uint32_t CLIENT_CONNECT_ATTRS = 1u << 20;
constexpr std::uint32_t CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 1u << 21;
constexpr std::uint32_t CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS = 1u << 22;
constexpr std::uint32_t CLIENT_SESSION_TRACK = 1u << 23;
constexpr std::uint32_t CLIENT_DEPRECATE_EOF = 1u << 24;
constexpr std::uint32_t CLIENT_OPTIONAL_RESULTSET_METADATA = 1u << 25;
constexpr std::uint32_t CLIENT_ZSTD_COMPRESSION_ALGORITHM = 1u << 26;
/* Changes the COM_QUERY layout; myproxy never announces it (see command_packet.hpp). */
constexpr std::uint32_t CLIENT_QUERY_ATTRIBUTES = 1u << 27;
constexpr std::uint32_t CLIENT_MULTI_FACTOR_AUTHENTICATION = 1u << 28;
/* MySQL: CLIENT_CAPABILITY_EXTENSION; MariaDB: CLIENT_PROGRESS_OBSOLETE. */
constexpr std::uint32_t CLIENT_CAPABILITY_EXTENSION = 1u << 29;
constexpr std::uint32_t CLIENT_SSL_VERIFY_SERVER_CERT = 1u << 30;
constexpr std::uint32_t CLIENT_REMEMBER_OPTIONS = 1u << 31;

/* MariaDB's extended capabilities: sent in the handshake's 4 "reserved" bytes (server) and in the
 * HandshakeResponse41 filler (client) when CLIENT_LONG_PASSWORD (CLIENT_MYSQL) is clear; here shifted
 * up by 32 so that one uint64_t can hold both sets. */
constexpr std::uint64_t MARIADB_CLIENT_PROGRESS = 1ull << 32;
constexpr std::uint64_t MARIADB_CLIENT_COM_MULTI = 1ull << 33;
constexpr std::uint64_t MARIADB_CLIENT_STMT_BULK_OPERATIONS = 1ull << 34;
constexpr std::uint64_t MARIADB_CLIENT_EXTENDED_METADATA = 1ull << 35;
constexpr std::uint64_t MARIADB_CLIENT_CACHE_METADATA = 1ull << 36;
constexpr std::uint64_t MARIADB_CLIENT_BULK_UNIT_RESULTS = 1ull << 37;

/* Server status flags (OK and EOF packets). */
constexpr std::uint16_t SERVER_STATUS_IN_TRANS = 1u << 0;
constexpr std::uint16_t SERVER_STATUS_AUTOCOMMIT = 1u << 1;
constexpr std::uint16_t SERVER_MORE_RESULTS_EXISTS = 1u << 3;
constexpr std::uint16_t SERVER_QUERY_NO_GOOD_INDEX_USED = 1u << 4;
constexpr std::uint16_t SERVER_QUERY_NO_INDEX_USED = 1u << 5;
constexpr std::uint16_t SERVER_STATUS_CURSOR_EXISTS = 1u << 6;
constexpr std::uint16_t SERVER_STATUS_LAST_ROW_SENT = 1u << 7;
constexpr std::uint16_t SERVER_STATUS_DB_DROPPED = 1u << 8;
constexpr std::uint16_t SERVER_STATUS_NO_BACKSLASH_ESCAPES = 1u << 9;
constexpr std::uint16_t SERVER_STATUS_METADATA_CHANGED = 1u << 10;
constexpr std::uint16_t SERVER_QUERY_WAS_SLOW = 1u << 11;
constexpr std::uint16_t SERVER_PS_OUT_PARAMS = 1u << 12;
constexpr std::uint16_t SERVER_STATUS_IN_TRANS_READONLY = 1u << 13;
/* The OK packet carries session state information (with CLIENT_SESSION_TRACK). */
constexpr std::uint16_t SERVER_SESSION_STATE_CHANGED = 1u << 14;
constexpr std::uint16_t SERVER_STATUS_ANSI_QUOTES = 1u << 15; /* MariaDB */

/* "CLIENT_SSL" etc. for exactly one bit set; "CLIENT_?" for zero or several bits.  Never nullptr. */
const char *capability_name(std::uint32_t single_flag) noexcept;

/* Like capability_name(), for the 64-bit set that includes MariaDB's extended bits. */
const char *capability_name64(std::uint64_t single_flag) noexcept;

} // namespace myproxy
