// control_listen() in the master: receives control datagrams (common/control_protocol) on UDP or
// local datagram sockets, checks who sent them, and acts: DISCONNECT_DATABASE asks every worker to
// close that account's sessions (DISCONNECT_ACCOUNT on the channel), VERBOSE sets the log level,
// NOP does nothing.  Who may send: on local sockets only root and the daemon's own uid (kernel-
// checked SO_PASSCRED credentials); on UDP only loopback and the networks of the option allow.
// Every datagram is hostile: malformed, oversized or unauthorised ones are logged and dropped;
// nothing here can stop the master or block its loop.
#pragma once

#include "common/control_protocol.hpp"
#include "common/event_source.hpp"
#include "common/unique_fd.hpp"
#include "common/operator_config.hpp"

#include <sys/types.h>

#include <bitset>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;

namespace myproxy {

/* What the master does for each accepted command. */
struct ControlActions {
	std::function<void(std::string_view account)> disconnect_account;
};

/* Opens a bound, non-blocking datagram socket for @config (SO_PASSCRED on local sockets; a stale
   socket file at a path is replaced; the multicast group joined).  Returns the error text. */
std::optional<std::string> open_control_socket(const ControlListenerConfig &config, UniqueFd &out);

class ControlServer {
public:
	ControlServer(sd_event *event, UniqueFd socket, ControlListenerConfig config, ControlActions actions);
	~ControlServer();
	ControlServer(const ControlServer &) = delete;
	ControlServer &operator=(const ControlServer &) = delete;

	int start();
	void stop() noexcept;

	std::uint64_t accepted() const noexcept { return datagrams_accepted; }
	std::uint64_t dropped() const noexcept { return datagrams_dropped; }

	/* Whether a datagram from @address with credentials @uid (local sockets; nullopt when none
	   came) may command us.  Public for unit tests. */
	bool sender_allowed(const SocketAddress &address, std::optional<uid_t> uid) const noexcept;

	/* Handles one datagram's bytes from an allowed sender.  Public for unit tests. */
	void handle_datagram(std::span<const std::uint8_t> datagram, const char *sender);

private:
	sd_event *event;
	UniqueFd fd;
	ControlListenerConfig config;
	ControlActions actions;
	EventSource source;
	/* Commands already logged as unknown (each is logged once). */
	std::bitset<65536> unknown_logged;
	std::uint64_t datagrams_accepted = 0, datagrams_dropped = 0;
	uid_t own_uid;

	void receive();
	void run(const ControlPacket &packet, const char *sender);
	static int on_readable(sd_event_source *, int, std::uint32_t, void *userdata);
};

} // namespace myproxy
