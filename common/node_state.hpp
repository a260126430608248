// The state of one cluster node as the master's monitoring classifies it, its name in log lines and
// documentation, and which states a node choice may use.  Pure; shared by the master (monitoring,
// NODE_STATE), the channel codec and the workers (node choice).  The enum values are the wire
// format of NODE_STATE: never renumber them.
#pragma once

#include <cstdint>

namespace myproxy {

enum class NodeState : std::uint8_t {
	/* Not checked yet (or not monitored at all): usable, nothing known. */
	unknown = 0,
	/* Logged in, @@global.read_only = 0: takes writes. */
	alive = 1,
	/* Logged in, @@global.read_only = 1: a replica, or a primary being switched over. */
	read_only = 2,
	/* The server answered but refused the monitoring credentials (or their auth plugin). */
	auth_failed = 3,
	/* No connection, no answer in time, or an answer that makes no sense. */
	dead = 4,
};

/* "unknown", "alive", "read_only", "auth_failed", "dead"; "invalid" outside the enum. */
const char *node_state_name(NodeState state) noexcept;

/* Whether a connection may go to a node in @state at all: unknown, alive and read_only.  A node
 * that refuses the monitor's login (auth_failed) is excluded too: its state cannot be known. */
bool node_state_available(NodeState state) noexcept;

} // namespace myproxy
