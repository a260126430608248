// One health check of a cluster node, as a state machine without I/O: the login with the monitoring
// credentials through the backend link's BackendHandshake (the same road as a worker's session),
// then "SELECT @@global.read_only", its answer (common/result_set), COM_QUIT, and the node's
// classification; without credentials, only the greeting.  The master's cluster monitor carries it
// over a BackendLink (connect, TLS after START_TLS); tests and the fuzz target feed bytes directly.
// Everything the node sends is untrusted: malformed or unexpected packets make the node dead, never
// a crash.  Never touches a socket, never logs.
#pragma once

#include "backend_handshake.hpp"
#include "byte_reader.hpp"
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

/* CONTINUE, START_TLS (write the SSLRequest, run the handshake, then tls_established()), or DONE:
 * state() and detail() hold the verdict; write what was appended (COM_QUIT after a complete check)
 * and close. */
using NodeCheckStatus = LinkStatus;

class NodeCheck final : public LinkConversation {
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
	NodeCheckStatus receive(ByteSpan bytes, std::vector<std::uint8_t> &out) override;

	/* After START_TLS, once the handshake succeeded: appends the HandshakeResponse41. */
	NodeCheckStatus tls_established(std::vector<std::uint8_t> &out) override;

	/* The connection ended before DONE (EOF, error, timeout): dead, with @why as the detail. */
	void abort(std::string why);

	bool done() const noexcept { return phase == Phase::done; }
	/* Valid once done(). */
	NodeState state() const noexcept { return verdict; }
	/* Why: "read_only=0", "login refused: 1045 Access denied ...", "malformed result: ...". */
	const std::string &detail() const noexcept { return why; }
	/* What the node's greeting offered (see BackendHandshake::offer()). */
	const std::optional<BackendOffer> &offer() const noexcept { return login.offer(); }
	const std::string &offer_problem() const noexcept { return login.offer_problem(); }

private:
	enum class Phase : std::uint8_t { login, query, done };

	BackendHandshake login;
	std::optional<ResultSetReader> reader;
	std::vector<std::uint8_t> input;
	std::vector<std::uint8_t> payload;
	std::optional<bool> read_only;
	Phase phase = Phase::login;
	NodeState verdict = NodeState::unknown;
	std::string why;

	NodeCheckStatus finish(NodeState state, std::string detail);
	NodeCheckStatus login_status(LinkStatus status, std::vector<std::uint8_t> &out);
	NodeCheckStatus login_failed();
	NodeCheckStatus query(ByteSpan bytes, std::vector<std::uint8_t> &out);
	NodeCheckStatus query_packet(std::vector<std::uint8_t> &out);
};

} // namespace myproxy
