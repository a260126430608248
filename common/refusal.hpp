// Refusing a client before its greeting (master and worker side): one ERR packet, sequence id 0,
// without SQLSTATE marker (nothing is negotiated yet), as a server sends it for max_connections.
// Best effort and non-blocking: a full socket buffer loses the packet, never stalls the caller.
// Never reads from the client.
#pragma once

#include "common/mysql_errors.hpp"

namespace myproxy {

/* Writes the ERR to @client_fd (MSG_DONTWAIT | MSG_NOSIGNAL); the caller closes the socket. */
void send_pre_greeting_err(int client_fd, const ServerError &error, const char *message) noexcept;

} // namespace myproxy
