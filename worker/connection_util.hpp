// Small helpers shared by the parts of a client session (worker side, private to worker/): wiping
// secrets, giving buffers back, the login packet limit (what myproxy offers clients is
// common/backend_offer.hpp).  Nothing here does I/O but a peek.
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
