// Command-phase requests from the client: the command byte constants, their names for log lines,
// parsers for the two commands myproxy looks into (COM_INIT_DB, COM_QUERY) and builders for those it
// sends itself.  Payload only.  Never applied to a continuation packet, whose first byte is data.
#pragma once

#include "byte_reader.hpp"
#include "parse_result.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace myproxy {

constexpr std::uint8_t COM_SLEEP = 0x00;
constexpr std::uint8_t COM_QUIT = 0x01;
constexpr std::uint8_t COM_INIT_DB = 0x02;
constexpr std::uint8_t COM_QUERY = 0x03;
constexpr std::uint8_t COM_FIELD_LIST = 0x04;
constexpr std::uint8_t COM_CREATE_DB = 0x05;
constexpr std::uint8_t COM_DROP_DB = 0x06;
constexpr std::uint8_t COM_REFRESH = 0x07;
constexpr std::uint8_t COM_SHUTDOWN = 0x08;
constexpr std::uint8_t COM_STATISTICS = 0x09;
constexpr std::uint8_t COM_PROCESS_INFO = 0x0a;
constexpr std::uint8_t COM_CONNECT = 0x0b;
constexpr std::uint8_t COM_PROCESS_KILL = 0x0c;
constexpr std::uint8_t COM_DEBUG = 0x0d;
constexpr std::uint8_t COM_PING = 0x0e;
constexpr std::uint8_t COM_TIME = 0x0f;
constexpr std::uint8_t COM_DELAYED_INSERT = 0x10;
constexpr std::uint8_t COM_CHANGE_USER = 0x11;
constexpr std::uint8_t COM_BINLOG_DUMP = 0x12;
constexpr std::uint8_t COM_TABLE_DUMP = 0x13;
constexpr std::uint8_t COM_CONNECT_OUT = 0x14;
constexpr std::uint8_t COM_REGISTER_SLAVE = 0x15;
constexpr std::uint8_t COM_STMT_PREPARE = 0x16;
constexpr std::uint8_t COM_STMT_EXECUTE = 0x17;
constexpr std::uint8_t COM_STMT_SEND_LONG_DATA = 0x18;
constexpr std::uint8_t COM_STMT_CLOSE = 0x19;
constexpr std::uint8_t COM_STMT_RESET = 0x1a;
constexpr std::uint8_t COM_SET_OPTION = 0x1b;
constexpr std::uint8_t COM_STMT_FETCH = 0x1c;
constexpr std::uint8_t COM_DAEMON = 0x1d;
constexpr std::uint8_t COM_BINLOG_DUMP_GTID = 0x1e;
constexpr std::uint8_t COM_RESET_CONNECTION = 0x1f;
constexpr std::uint8_t COM_CLONE = 0x20; /* MySQL */
constexpr std::uint8_t COM_STMT_BULK_EXECUTE = 0xfa; /* MariaDB */
constexpr std::uint8_t COM_MULTI = 0xfe; /* MariaDB, obsolete */

/* "COM_QUERY" etc.; "COM_UNKNOWN" for a byte that names no command.  Never nullptr. */
const char *command_name(std::uint8_t command) noexcept;

struct InitDbCommand {
	/* May be empty (the server answers that with an error). */
	std::string_view schema;
};

/* Parses COM_INIT_DB: 0x02 followed by the schema name up to the end.  A NUL inside the name is an
 * error: identifiers cannot contain one, and the name goes on to Lua and back to a server. */
ParseResult<InitDbCommand> parse_init_db(ByteSpan payload) noexcept;

struct QueryCommand {
	std::string_view query;
};

/* Parses COM_QUERY: 0x03 followed by the query text up to the end.  With CLIENT_QUERY_ATTRIBUTES a
 * parameter count and parameter set would come first; myproxy never announces that capability, so
 * the text is everything after the command byte. */
ParseResult<QueryCommand> parse_query(ByteSpan payload) noexcept;

void build_com_quit(std::vector<std::uint8_t> &out);
void build_com_init_db(std::vector<std::uint8_t> &out, std::string_view schema);
void build_com_query(std::vector<std::uint8_t> &out, std::string_view query);
void build_com_ping(std::vector<std::uint8_t> &out);
void build_com_reset_connection(std::vector<std::uint8_t> &out);

} // namespace myproxy
