// `myproxy --control ADDRESS COMMAND ...`: the operator's client for control_listen().  Builds one
// control datagram (common/control_protocol) and sends it; runs instead of the daemon, as whoever
// invoked it (the listener obeys only root and its own uid on local sockets).  Prints one line on
// failure; never waits for an answer (the protocol has none).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace myproxy {

/* Returns the exit status: 0 sent, 64 (usage) for an unknown command or bad argument, 69
   (EX_UNAVAILABLE) when the address does not resolve or the send fails. */
int run_control_client(const std::string &address, const std::vector<std::string> &command, std::FILE *errors);

} // namespace myproxy
