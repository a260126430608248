// One health check of a cluster node, as a state machine without I/O: log in with the monitoring
// credentials (common/client_login), send "SELECT @@global.read_only", read the answer
// (common/result_set), send COM_QUIT, and classify the node; without credentials, only wait for
// the greeting.  The caller (the master's cluster
// monitor) connects, passes every byte it receives to receive(), writes what it appended, and stops
// at DONE.  With ssl, receive() says START_TLS after the greeting (the SSLRequest is appended): the
// caller runs the TLS handshake and calls tls_established(); the rest goes over TLS.  Everything the node sends is untrusted: malformed or unexpected packets make the node
// dead, never a crash.  Never touches a socket, never logs.
#pragma once

#include "byte_reader.hpp"
#include "client_login.hpp"
#include "node_state.hpp"
#include "result_set.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace myproxy {

/* The query whose single value tells a primary (0) from a replica (1). */
inline constexpr std::string_view node_check_query = "SELECT @@global.read_only";

/* The longest logical packet a check accepts from a node (greeting, auth, one small result). */
inline constexpr std::size_t node_check_packet_max = 64 * 1024;

enum class NodeCheckStatus : std::uint8_t {
	/* Write what was appended (possibly nothing) and receive more. */
	CONTINUE,
	/* state() and detail() hold the verdict; write what was appended (COM_QUIT after a complete
	 * check) and close. */
	DONE,
	/* Write what was appended (the SSLRequest), run the TLS handshake, then tls_established(). */
	START_TLS,
};

class NodeCheck {
public:
	/* @ssl: ask for TLS (a node without CLIENT_SSL is dead then, never checked in clear).  An empty
	 * @user: no login (monitoring without credentials, as the original manual allows): the check
	 * only waits for the greeting; a node that sends one is alive (read-only status unknown), an
	 * ERR or garbage instead makes it dead. */
	NodeCheck(std::string_view user, std::string_view password, bool ssl = false);
	~NodeCheck() noexcept;

	NodeCheck(const NodeCheck &) = delete;
	NodeCheck &operator=(const NodeCheck &) = delete;

	/* Takes the next bytes from the node's stream (any split); appends packets to send to @out. */
	NodeCheckStatus receive(ByteSpan bytes, std::vector<std::uint8_t> &out);

	/* After START_TLS, once the handshake succeeded: appends the HandshakeResponse41. */
	NodeCheckStatus tls_established(std::vector<std::uint8_t> &out);

	/* The connection ended before DONE (EOF, error, timeout): dead, with @why as the detail. */
	void abort(std::string why);

	bool done() const noexcept { return phase == Phase::done; }
	/* Valid once done(). */
	NodeState state() const noexcept { return verdict; }
	/* Why: "read_only=0", "login refused: 1045 Access denied ...", "malformed result: ...". */
	const std::string &detail() const noexcept { return why; }

private:
	enum class Phase : std::uint8_t { greeting, login, tls, query, done };

	ClientLogin login;
	std::optional<ResultSetReader> reader;
	std::vector<std::uint8_t> input;
	std::vector<std::uint8_t> payload;
	std::optional<bool> read_only;
	Phase phase;
	NodeState verdict = NodeState::unknown;
	std::string why;

	NodeCheckStatus finish(NodeState state, std::string detail);
	NodeCheckStatus greeting_packet();
	NodeCheckStatus login_packet(std::uint8_t sequence_id, std::vector<std::uint8_t> &out);
	NodeCheckStatus login_status(ClientLoginStatus status, std::vector<std::uint8_t> &out);
	NodeCheckStatus query_packet(std::vector<std::uint8_t> &out);
};

} // namespace myproxy
