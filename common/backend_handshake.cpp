// The login half of a backend link (see backend_handshake.hpp).
#include "backend_handshake.hpp"

#include "err_packet.hpp"
#include "handshake_v10.hpp"
#include "mysql_capabilities.hpp"
#include "mysql_packet.hpp"
#include "secret.hpp"

namespace myproxy {

BackendHandshake::BackendHandshake(const ClientLoginParams &params, bool greeting_only_, std::size_t packet_max_)
	: login(params), packet_max(packet_max_), greeting_only(greeting_only_)
{
}

BackendHandshake::~BackendHandshake() noexcept
{
	/* An auth packet may have been in the middle of reassembly. */
	wipe(payload);
}

LinkStatus BackendHandshake::fail(BackendHandshakeFailure::Kind kind, std::string message)
{
	phase = Phase::done;
	outcome = Outcome::failed;
	error.kind = kind;
	error.message = std::move(message);
	return LinkStatus::DONE;
}

LinkStatus BackendHandshake::receive(ByteSpan bytes, std::vector<std::uint8_t> &out)
{
	if (phase == Phase::done)
		return LinkStatus::DONE;
	if (phase == Phase::tls)
		return fail(BackendHandshakeFailure::Kind::DATA_BEFORE_TLS, "the server sent data before the TLS handshake");
	input.insert(input.end(), bytes.begin(), bytes.end());
	std::size_t consumed = 0;
	LinkStatus status = LinkStatus::CONTINUE;
	while (status == LinkStatus::CONTINUE) {
		const ByteSpan unread = ByteSpan(input).subspan(consumed);
		auto packet = reassemble_payload(unread, payload, packet_max);
		if (!packet) {
			status = fail(BackendHandshakeFailure::Kind::MALFORMED_PACKET, packet.error().what);
			break;
		}
		if (!packet->complete)
			break;
		consumed += packet->wire_size;
		status = greeting_only ? greeting_packet() : login_status(login.feed(payload, packet->first_sequence_id, out));
		wipe(payload);
	}
	input.erase(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(consumed));
	if (status == LinkStatus::START_TLS && !input.empty())
		return fail(BackendHandshakeFailure::Kind::DATA_BEFORE_TLS, "the server sent data before the TLS handshake");
	return status;
}

LinkStatus BackendHandshake::greeting_packet()
{
	if (!payload.empty() && payload.front() == ERR_HEADER) {
		auto err = parse_err_packet(payload, CLIENT_PROTOCOL_41);
		if (!err)
			return fail(BackendHandshakeFailure::Kind::BAD_GREETING,
				    std::string("malformed ERR instead of a greeting: ") + err.error().what);
		/* Too many connections, host blocked: the server does not take clients. */
		error.login.kind = ClientLoginFailure::Kind::SERVER_ERROR;
		error.login.error_code = err->error_code;
		error.login.message = err->message;
		return fail(BackendHandshakeFailure::Kind::REFUSED, std::string(err->message));
	}
	auto greeting = parse_handshake_v10(payload);
	if (!greeting)
		return fail(BackendHandshakeFailure::Kind::BAD_GREETING,
			    std::string("malformed greeting: ") + greeting.error().what);
	own_offer = backend_offer(*greeting, own_offer_problem);
	/* Closing now is what a client that gives up does; the server logs an aborted connection. */
	phase = Phase::done;
	outcome = Outcome::greeted;
	return LinkStatus::DONE;
}

LinkStatus BackendHandshake::tls_established(std::vector<std::uint8_t> &out)
{
	if (phase != Phase::tls)
		return fail(BackendHandshakeFailure::Kind::INTERNAL, "internal error: tls_established() without START_TLS");
	phase = Phase::login;
	return login_status(login.tls_established(out));
}

LinkStatus BackendHandshake::login_status(ClientLoginStatus status)
{
	switch (status) {
	case ClientLoginStatus::CONTINUE:
		return LinkStatus::CONTINUE;
	case ClientLoginStatus::START_TLS:
		/* Only with ssl in the parameters (ClientLogin never starts TLS unasked). */
		phase = Phase::tls;
		return LinkStatus::START_TLS;
	case ClientLoginStatus::FAILED:
		error.login = login.failure();
		return fail(BackendHandshakeFailure::Kind::LOGIN, login.failure().message);
	case ClientLoginStatus::SUCCEEDED:
		break;
	}
	phase = Phase::done;
	outcome = Outcome::logged_in;
	return LinkStatus::DONE;
}

} // namespace myproxy
