// Names of capability flags for log lines; see mysql_capabilities.hpp.
#include "mysql_capabilities.hpp"

#include <bit>

namespace myproxy {

namespace {

/* Indexed by bit number. */
constexpr const char *CAPABILITY_NAMES[38] = {
	"CLIENT_LONG_PASSWORD",
	"CLIENT_FOUND_ROWS",
	"CLIENT_LONG_FLAG",
	"CLIENT_CONNECT_WITH_DB",
	"CLIENT_NO_SCHEMA",
	"CLIENT_COMPRESS",
	"CLIENT_ODBC",
	"CLIENT_LOCAL_FILES",
	"CLIENT_IGNORE_SPACE",
	"CLIENT_PROTOCOL_41",
	"CLIENT_INTERACTIVE",
	"CLIENT_SSL",
	"CLIENT_IGNORE_SIGPIPE",
	"CLIENT_TRANSACTIONS",
	"CLIENT_RESERVED",
	"CLIENT_SECURE_CONNECTION",
	"CLIENT_MULTI_STATEMENTS",
	"CLIENT_MULTI_RESULTS",
	"CLIENT_PS_MULTI_RESULTS",
	"CLIENT_PLUGIN_AUTH",
	"CLIENT_CONNECT_ATTRS",
	"CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA",
	"CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS",
	"CLIENT_SESSION_TRACK",
	"CLIENT_DEPRECATE_EOF",
	"CLIENT_OPTIONAL_RESULTSET_METADATA",
	"CLIENT_ZSTD_COMPRESSION_ALGORITHM",
	"CLIENT_QUERY_ATTRIBUTES",
	"CLIENT_MULTI_FACTOR_AUTHENTICATION",
	"CLIENT_CAPABILITY_EXTENSION",
	"CLIENT_SSL_VERIFY_SERVER_CERT",
	"CLIENT_REMEMBER_OPTIONS",
	"MARIADB_CLIENT_PROGRESS",
	"MARIADB_CLIENT_COM_MULTI",
	"MARIADB_CLIENT_STMT_BULK_OPERATIONS",
	"MARIADB_CLIENT_EXTENDED_METADATA",
	"MARIADB_CLIENT_CACHE_METADATA",
	"MARIADB_CLIENT_BULK_UNIT_RESULTS",
};

} // namespace

const char *capability_name64(std::uint64_t single_flag) noexcept
{
	if (!std::has_single_bit(single_flag))
		return "CLIENT_?";
	const int bit = std::countr_zero(single_flag);
	if (bit >= int(sizeof(CAPABILITY_NAMES) / sizeof(CAPABILITY_NAMES[0])))
		return "CLIENT_?";
	return CAPABILITY_NAMES[bit];
}

const char *capability_name(std::uint32_t single_flag) noexcept
{
	return capability_name64(single_flag);
}

} // namespace myproxy
