// Command-phase requests; see command_packet.hpp.
#include "command_packet.hpp"

#include "byte_writer.hpp"

namespace myproxy {

const char *command_name(std::uint8_t command) noexcept
{
	switch (command) {
	case COM_SLEEP: return "COM_SLEEP";
	case COM_QUIT: return "COM_QUIT";
	case COM_INIT_DB: return "COM_INIT_DB";
	case COM_QUERY: return "COM_QUERY";
	case COM_FIELD_LIST: return "COM_FIELD_LIST";
	case COM_CREATE_DB: return "COM_CREATE_DB";
	case COM_DROP_DB: return "COM_DROP_DB";
	case COM_REFRESH: return "COM_REFRESH";
	case COM_SHUTDOWN: return "COM_SHUTDOWN";
	case COM_STATISTICS: return "COM_STATISTICS";
	case COM_PROCESS_INFO: return "COM_PROCESS_INFO";
	case COM_CONNECT: return "COM_CONNECT";
	case COM_PROCESS_KILL: return "COM_PROCESS_KILL";
	case COM_DEBUG: return "COM_DEBUG";
	case COM_PING: return "COM_PING";
	case COM_TIME: return "COM_TIME";
	case COM_DELAYED_INSERT: return "COM_DELAYED_INSERT";
	case COM_CHANGE_USER: return "COM_CHANGE_USER";
	case COM_BINLOG_DUMP: return "COM_BINLOG_DUMP";
	case COM_TABLE_DUMP: return "COM_TABLE_DUMP";
	case COM_CONNECT_OUT: return "COM_CONNECT_OUT";
	case COM_REGISTER_SLAVE: return "COM_REGISTER_SLAVE";
	case COM_STMT_PREPARE: return "COM_STMT_PREPARE";
	case COM_STMT_EXECUTE: return "COM_STMT_EXECUTE";
	case COM_STMT_SEND_LONG_DATA: return "COM_STMT_SEND_LONG_DATA";
	case COM_STMT_CLOSE: return "COM_STMT_CLOSE";
	case COM_STMT_RESET: return "COM_STMT_RESET";
	case COM_SET_OPTION: return "COM_SET_OPTION";
	case COM_STMT_FETCH: return "COM_STMT_FETCH";
	case COM_DAEMON: return "COM_DAEMON";
	case COM_BINLOG_DUMP_GTID: return "COM_BINLOG_DUMP_GTID";
	case COM_RESET_CONNECTION: return "COM_RESET_CONNECTION";
	case COM_CLONE: return "COM_CLONE";
	case COM_STMT_BULK_EXECUTE: return "COM_STMT_BULK_EXECUTE";
	case COM_MULTI: return "COM_MULTI";
	default: return "COM_UNKNOWN";
	}
}

ParseResult<InitDbCommand> parse_init_db(ByteSpan payload) noexcept
{
	ByteReader r(payload);
	const std::uint8_t command = r.u8("COM_INIT_DB: command byte past end");
	if (r.ok() && command != COM_INIT_DB)
		return ParseError{"COM_INIT_DB: command byte is not 0x02", 0};
	InitDbCommand init_db;
	init_db.schema = r.rest_string();
	if (!r.ok())
		return r.error();
	if (const auto nul = init_db.schema.find('\0'); nul != std::string_view::npos)
		return ParseError{"COM_INIT_DB: schema name contains NUL", 1 + nul};
	return init_db;
}

ParseResult<QueryCommand> parse_query(ByteSpan payload) noexcept
{
	ByteReader r(payload);
	const std::uint8_t command = r.u8("COM_QUERY: command byte past end");
	if (r.ok() && command != COM_QUERY)
		return ParseError{"COM_QUERY: command byte is not 0x03", 0};
	QueryCommand query;
	query.query = r.rest_string();
	if (!r.ok())
		return r.error();
	return query;
}

static void build_command(std::vector<std::uint8_t> &out, std::uint8_t command, std::string_view argument)
{
	ByteWriter w(out);
	w.u8(command);
	w.string(argument);
}

void build_com_quit(std::vector<std::uint8_t> &out)
{
	build_command(out, COM_QUIT, {});
}

void build_com_init_db(std::vector<std::uint8_t> &out, std::string_view schema)
{
	build_command(out, COM_INIT_DB, schema);
}

void build_com_query(std::vector<std::uint8_t> &out, std::string_view query)
{
	build_command(out, COM_QUERY, query);
}

void build_com_ping(std::vector<std::uint8_t> &out)
{
	build_command(out, COM_PING, {});
}

void build_com_reset_connection(std::vector<std::uint8_t> &out)
{
	build_command(out, COM_RESET_CONNECTION, {});
}

} // namespace myproxy
