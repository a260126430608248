// The errors myproxy itself sends to clients, in ONE place: server error code plus SQLSTATE.
// Only server codes (1000-1999 range and friends) belong here, never client codes 2000-2999 or
// 5000-5999: MariaDB Connector/C 3.3.9+ turns those into CR_MALFORMED_PACKET.  Never include this
// together with <mysql.h>/<mysqld_error.h> in one translation unit: they define some of these names
// as macros.
#pragma once

#include <cstdint>

namespace myproxy {

struct ServerError {
	std::uint16_t code;
	/* Exactly five characters. */
	const char *sqlstate;
};

inline constexpr ServerError ER_CON_COUNT_ERROR{1040, "08004"};	 /* too many connections */
inline constexpr ServerError ER_OUT_OF_RESOURCES{1041, "HY000"};
inline constexpr ServerError ER_HANDSHAKE_ERROR{1043, "08S01"};	 /* malformed handshake */
inline constexpr ServerError ER_DBACCESS_DENIED{1044, "42000"};	 /* access denied to a database */
inline constexpr ServerError ER_ACCESS_DENIED{1045, "28000"};	 /* login refused */
inline constexpr ServerError ER_UNKNOWN_COM_ERROR{1047, "08S01"};	 /* command not supported */
inline constexpr ServerError ER_BAD_DB_ERROR{1049, "42000"};	 /* unknown database */
inline constexpr ServerError ER_SERVER_SHUTDOWN{1053, "08S01"};
inline constexpr ServerError ER_KILL_DENIED_ERROR{1095, "HY000"}; /* "You are not owner of thread %lu" */
inline constexpr ServerError ER_UNKNOWN_ERROR{1105, "HY000"};
inline constexpr ServerError ER_HOST_IS_BLOCKED{1129, "HY000"};
inline constexpr ServerError ER_NET_PACKET_TOO_LARGE{1153, "08S01"};
inline constexpr ServerError ER_NET_PACKETS_OUT_OF_ORDER{1156, "08S01"};
inline constexpr ServerError ER_NET_UNCOMPRESS_ERROR{1157, "08S01"};
inline constexpr ServerError ER_NET_READ_ERROR{1158, "08S01"};	 /* also: client too slow */
inline constexpr ServerError ER_NET_ERROR_ON_WRITE{1160, "08S01"};
inline constexpr ServerError ER_NOT_SUPPORTED_AUTH_MODE{1251, "08004"};
inline constexpr ServerError ER_CONNECTION_KILLED{1927, "70100"};

} // namespace myproxy
