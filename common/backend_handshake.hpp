// The login half of a backend link (common/backend_link), without I/O: the server's bytes in any
// split, framed into packets and fed to ClientLogin (or, for a check without a user, only the
// greeting awaited); what to send back is appended to the caller's buffer.  The worker's sessions
// and the master's node checks (common/node_check) both log in through it, so there is one road
// from a greeting to a logged-in backend.  Everything the server sends is untrusted: a malformed or
// unexpected packet is a failure, never a crash.  Never touches a socket, never logs.
#pragma once

#include "byte_reader.hpp"
#include "client_login.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace myproxy {

/* What a byte-stream conversation tells the link (common/backend_link) that carries it. */
enum class LinkStatus : std::uint8_t {
	/* Write what was appended (possibly nothing) and receive more. */
	CONTINUE,
	/* Write what was appended (the SSLRequest), run the TLS handshake, then tls_established(). */
	START_TLS,
	/* Finished (the conversation says how); what was appended is written once, best effort. */
	DONE,
};

/* A conversation with a server that a BackendLink carries: the login alone (BackendHandshake), or a
 * login and a query (NodeCheck). */
class LinkConversation {
public:
	/* Takes the next bytes from the server's stream (any split); appends packets to send to @out. */
	virtual LinkStatus receive(ByteSpan bytes, std::vector<std::uint8_t> &out) = 0;
	/* After START_TLS, once the handshake succeeded. */
	virtual LinkStatus tls_established(std::vector<std::uint8_t> &out) = 0;

protected:
	~LinkConversation() = default;
};

struct BackendHandshakeFailure {
	enum class Kind : std::uint8_t {
		/* The framing broke (message: the parser's text), e.g. a packet longer than allowed. */
		MALFORMED_PACKET,
		/* Cleartext behind the greeting or during the TLS handshake: it would be mixed into the TLS
		 * stream (or injected). */
		DATA_BEFORE_TLS,
		/* Greeting only: an ERR instead of the greeting (login holds its code and message). */
		REFUSED,
		/* Greeting only: a greeting (or an ERR) that does not parse (message says which). */
		BAD_GREETING,
		/* ClientLogin failed: login says how. */
		LOGIN,
		/* tls_established() without START_TLS. */
		INTERNAL,
	};
	Kind kind = Kind::INTERNAL;
	std::string message;
	ClientLoginFailure login;
};

class BackendHandshake final : public LinkConversation {
public:
	/* @greeting_only: wait for the greeting and stop there (a node check without credentials);
	 * nothing is ever written then, not even with @params.ssl.  @packet_max bounds every logical
	 * packet of the login. */
	BackendHandshake(const ClientLoginParams &params, bool greeting_only, std::size_t packet_max);
	~BackendHandshake() noexcept;

	BackendHandshake(const BackendHandshake &) = delete;
	BackendHandshake &operator=(const BackendHandshake &) = delete;

	LinkStatus receive(ByteSpan bytes, std::vector<std::uint8_t> &out) override;
	LinkStatus tls_established(std::vector<std::uint8_t> &out) override;

	bool done() const noexcept { return phase == Phase::done; }
	/* After DONE: whether the login succeeded (success()), the greeting arrived (greeting only),
	 * or failure() tells why. */
	bool logged_in() const noexcept { return outcome == Outcome::logged_in; }
	bool greeted() const noexcept { return outcome == Outcome::greeted; }
	const ClientLoginSuccess &success() const noexcept { return login.success(); }
	const BackendHandshakeFailure &failure() const noexcept { return error; }
	/* What the server's greeting offered, whatever the outcome; empty before the greeting or when
	 * it was unusable (offer_problem() says why: a malformed greeting is a failure instead). */
	const std::optional<BackendOffer> &offer() const noexcept
	{
		return greeting_only ? own_offer : login.offer();
	}
	const std::string &offer_problem() const noexcept
	{
		return greeting_only ? own_offer_problem : login.offer_problem();
	}
	/* Bytes received behind the login's last packet: the start of the command phase, for whoever
	 * reads on (the relay, a node check's query).  The caller may take them. */
	std::vector<std::uint8_t> &rest() noexcept { return input; }

private:
	enum class Phase : std::uint8_t { login, tls, done };
	enum class Outcome : std::uint8_t { none, logged_in, greeted, failed };

	ClientLogin login;
	std::size_t packet_max;
	bool greeting_only;
	Phase phase = Phase::login;
	Outcome outcome = Outcome::none;
	std::vector<std::uint8_t> input;
	std::vector<std::uint8_t> payload;
	BackendHandshakeFailure error;
	/* Greeting only: the greeting is parsed here, not by the login. */
	std::optional<BackendOffer> own_offer;
	std::string own_offer_problem;

	LinkStatus fail(BackendHandshakeFailure::Kind kind, std::string message);
	LinkStatus greeting_packet();
	LinkStatus login_status(ClientLoginStatus status);
};

} // namespace myproxy
