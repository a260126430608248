// Names and availability of node states (see node_state.hpp).  The names are what the master logs
// and what myproxy(8) documents; tests grep for them.
#include "node_state.hpp"

namespace myproxy {

const char *node_state_name(NodeState state) noexcept
{
	switch (state) {
	case NodeState::unknown:
		return "unknown";
	case NodeState::alive:
		return "alive";
	case NodeState::read_only:
		return "read_only";
	case NodeState::auth_failed:
		return "auth_failed";
	case NodeState::dead:
		return "dead";
	}
	return "invalid";
}

bool node_state_available(NodeState state) noexcept
{
	return state == NodeState::unknown || state == NodeState::alive || state == NodeState::read_only;
}

} // namespace myproxy
