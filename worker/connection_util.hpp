// Small helpers shared by the parts of a client session (worker side, private to worker/): wiping
// secrets, giving buffers back, the capabilities myproxy offers clients.  Nothing here does I/O but a peek.
#pragma once

#include "common/byte_reader.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/secret.hpp"


#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace myproxy {

/* Everything myproxy can relay unchanged.  Not CLIENT_SSL (no TLS yet).  CLIENT_LONG_PASSWORD is
 * set, as MySQL servers do: a MariaDB client then sends no MariaDB extended capabilities, which a
 * MySQL backend could not honour.  CLIENT_COMPRESS (zlib) is terminated per side by the relay
 * (worker/compressed_link), whatever the backend does; never CLIENT_ZSTD_COMPRESSION_ALGORITHM. */
inline constexpr std::uint32_t offered_capabilities = CLIENT_COMPRESS |
	CLIENT_LONG_PASSWORD | CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB | CLIENT_NO_SCHEMA |
	CLIENT_ODBC | CLIENT_LOCAL_FILES | CLIENT_IGNORE_SPACE | CLIENT_PROTOCOL_41 | CLIENT_INTERACTIVE |
	CLIENT_IGNORE_SIGPIPE | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS |
	CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS |
	CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_SESSION_TRACK | CLIENT_DEPRECATE_EOF;

/* Capabilities that change the layout of command-phase packets: the backend must have every one
 * of them the client negotiated with us, or the relayed replies would not parse for the client. */
inline constexpr std::uint32_t format_capabilities = CLIENT_PROTOCOL_41 | CLIENT_LONG_FLAG | CLIENT_TRANSACTIONS |
						     CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS |
						     CLIENT_SESSION_TRACK | CLIENT_DEPRECATE_EOF;

/* Largest packet accepted before the command phase (HandshakeResponse41, auth data, backend
 * greeting and auth packets). */
inline constexpr std::size_t login_packet_max = 64 * 1024;

/* Input arrived in a phase that reads nothing: true when it is data (leave it for later), false
 * when the peer closed or failed.  Only peeks. */
inline bool peer_spoke_out_of_turn(int fd, std::uint32_t revents) noexcept
{
	if (revents & EPOLLERR)
		return false;
	std::uint8_t byte;
	const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	return n > 0 || (n < 0 && errno == EAGAIN);
}

/* Gives the capacity back too: an idle connection keeps no login buffers. */
inline void release(std::vector<std::uint8_t> &buffer) noexcept
{
	std::vector<std::uint8_t>().swap(buffer);
}

/* mysql_clear_password sends the password NUL-terminated. */
inline std::string_view cleartext_password(ByteSpan auth) noexcept
{
	std::string_view password = ByteReader::as_string(auth);
	if (!password.empty() && password.back() == '\0')
		password.remove_suffix(1);
	return password;
}

} // namespace myproxy
