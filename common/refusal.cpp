// The pre-greeting ERR (see refusal.hpp).
#include "common/refusal.hpp"

#include "common/err_packet.hpp"
#include "common/mysql_packet.hpp"

#include <sys/socket.h>

#include <new>
#include <vector>

namespace myproxy {

void send_pre_greeting_err(int client_fd, const ServerError &error, const char *message) noexcept
{
	try {
		std::vector<std::uint8_t> payload, packet;
		build_handshake_err_packet(payload, error, message);
		std::uint8_t sequence_id = 0;
		append_packet(packet, ByteSpan(payload.data(), payload.size()), sequence_id);
		(void)send(client_fd, packet.data(), packet.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
	} catch (const std::bad_alloc &) {
	}
}

} // namespace myproxy
