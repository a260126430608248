// The node health check (see node_check.hpp).  The classification is a table of the server errors
// that mean "the monitoring credentials are wrong" (auth_failed); every other failure is dead.
#include "node_check.hpp"

#include "command_packet.hpp"
#include "err_packet.hpp"
#include "mysql_capabilities.hpp"
#include "handshake_v10.hpp"
#include "mysql_packet.hpp"

#include <algorithm>
#include <cstring>

namespace myproxy {

namespace {

/* Login refusals that say the node works but will not take our credentials. */
constexpr std::uint16_t auth_failure_codes[] = {
	1044, /* ER_DBACCESS_DENIED_ERROR */
	1045, /* ER_ACCESS_DENIED_ERROR */
	1251, /* ER_NOT_SUPPORTED_AUTH_MODE */
	1698, /* ER_ACCESS_DENIED_NO_PASSWORD_ERROR */
};

ClientLoginParams monitor_login_params(std::string_view user, std::string_view password, bool ssl)
{
	ClientLoginParams params;
	params.user = user;
	params.password = password;
	params.ssl = ssl;
	/* Never send the password itself, not even over TLS (the check need not verify the node). */
	params.allow_clear_password = false;
	return params;
}

/* "0"/"1" from MariaDB and MySQL; "OFF"/"ON" tolerated for proxies in between. */
std::optional<bool> parse_flag(std::string_view value)
{
	if (value == "0" || value == "OFF" || value == "off")
		return false;
	if (value == "1" || value == "ON" || value == "on")
		return true;
	return std::nullopt;
}

} // namespace

NodeCheck::NodeCheck(std::string_view user, std::string_view password, bool ssl)
	: login(monitor_login_params(user, password, ssl)), phase(user.empty() ? Phase::greeting : Phase::login)
{
}

NodeCheck::~NodeCheck() noexcept = default;

NodeCheckStatus NodeCheck::finish(NodeState state, std::string detail)
{
	phase = Phase::done;
	verdict = state;
	why = std::move(detail);
	return NodeCheckStatus::DONE;
}

void NodeCheck::abort(std::string detail)
{
	if (phase != Phase::done)
		finish(NodeState::dead, std::move(detail));
}

NodeCheckStatus NodeCheck::receive(ByteSpan bytes, std::vector<std::uint8_t> &out)
{
	if (phase == Phase::done)
		return NodeCheckStatus::DONE;
	if (phase == Phase::tls)
		return finish(NodeState::dead, "the node sent data before the TLS handshake");
	input.insert(input.end(), bytes.begin(), bytes.end());
	std::size_t consumed = 0;
	NodeCheckStatus status = NodeCheckStatus::CONTINUE;
	while (status == NodeCheckStatus::CONTINUE) {
		const ByteSpan rest = ByteSpan(input).subspan(consumed);
		auto packet = reassemble_payload(rest, payload, node_check_packet_max);
		if (!packet) {
			status = finish(NodeState::dead, std::string("malformed packet: ") + packet.error().what);
			break;
		}
		if (!packet->complete)
			break;
		consumed += packet->wire_size;
		status = phase == Phase::greeting ? greeting_packet()
			 : phase == Phase::login  ? login_packet(packet->first_sequence_id, out)
						  : query_packet(out);
	}
	input.erase(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(consumed));
	/* Cleartext behind the greeting would be mixed into the TLS stream (or injected). */
	if (status == NodeCheckStatus::START_TLS && !input.empty())
		return finish(NodeState::dead, "the node sent data before the TLS handshake");
	return status;
}

NodeCheckStatus NodeCheck::greeting_packet()
{
	if (!payload.empty() && payload.front() == ERR_HEADER) {
		auto err = parse_err_packet(payload, CLIENT_PROTOCOL_41);
		if (!err)
			return finish(NodeState::dead, std::string("malformed ERR instead of a greeting: ") +
							       err.error().what);
		/* Too many connections, host blocked: the node does not take clients. */
		return finish(NodeState::dead, "refused: " + std::to_string(err->error_code) + " " +
						       std::string(err->message));
	}
	auto greeting = parse_handshake_v10(payload);
	if (!greeting)
		return finish(NodeState::dead, std::string("malformed greeting: ") + greeting.error().what);
	/* Closing now is what a client that gives up does; the server logs an aborted connection. */
	return finish(NodeState::alive, "greeting received (no user: read_only unknown)");
}

NodeCheckStatus NodeCheck::login_packet(std::uint8_t sequence_id, std::vector<std::uint8_t> &out)
{
	return login_status(login.feed(payload, sequence_id, out), out);
}

NodeCheckStatus NodeCheck::tls_established(std::vector<std::uint8_t> &out)
{
	if (phase != Phase::tls)
		return finish(NodeState::dead, "internal error: tls_established() without START_TLS");
	phase = Phase::login;
	return login_status(login.tls_established(out), out);
}

NodeCheckStatus NodeCheck::login_status(ClientLoginStatus status, std::vector<std::uint8_t> &out)
{
	switch (status) {
	case ClientLoginStatus::CONTINUE:
		return NodeCheckStatus::CONTINUE;
	case ClientLoginStatus::FAILED: {
		const ClientLoginFailure &failure = login.failure();
		if (failure.kind == ClientLoginFailure::Kind::SERVER_ERROR) {
			const bool auth = std::find(std::begin(auth_failure_codes), std::end(auth_failure_codes),
						    failure.error_code) != std::end(auth_failure_codes);
			return finish(auth ? NodeState::auth_failed : NodeState::dead,
				      "login refused: " + std::to_string(failure.error_code) + " " + failure.message);
		}
		return finish(NodeState::dead, "login failed: " + failure.message);
	}
	case ClientLoginStatus::START_TLS:
		/* Only with ssl in the check's parameters (ClientLogin never starts TLS unasked). */
		phase = Phase::tls;
		return NodeCheckStatus::START_TLS;
	case ClientLoginStatus::SUCCEEDED:
		break;
	}
	/* Whatever the login wrote must go first; the query follows in the same write. */
	reader.emplace(login.success().capabilities);
	phase = Phase::query;
	const std::size_t start = begin_packet(out);
	build_com_query(out, node_check_query);
	std::uint8_t query_sequence = 0;
	finish_packet(out, start, query_sequence);
	return NodeCheckStatus::CONTINUE;
}

NodeCheckStatus NodeCheck::query_packet(std::vector<std::uint8_t> &out)
{
	auto event = reader->feed(payload);
	if (!event)
		return finish(NodeState::dead, std::string("malformed result: ") + event.error().what);
	if (const auto *row = std::get_if<ResultRow>(&*event)) {
		if (read_only)
			return finish(NodeState::dead, "more than one row for @@global.read_only");
		const auto value = *row->row.begin();
		if (!value)
			return finish(NodeState::dead, "@@global.read_only is NULL");
		read_only = parse_flag(*value);
		if (!read_only)
			return finish(NodeState::dead, "@@global.read_only is '" + std::string(value->substr(0, 32)) + "'");
	} else if (const auto *count = std::get_if<ResultColumnCount>(&*event)) {
		if (count->count != 1)
			return finish(NodeState::dead, "@@global.read_only came with " + std::to_string(count->count) +
							       " columns");
	} else if (const auto *error = std::get_if<ResultError>(&*event)) {
		return finish(NodeState::dead, "query failed: " + std::to_string(error->err.error_code) + " " +
						       std::string(error->err.message));
	} else if (std::holds_alternative<ResultEnd>(*event) && reader->done()) {
		if (!read_only)
			return finish(NodeState::dead, "no row for @@global.read_only");
		const std::size_t start = begin_packet(out);
		build_com_quit(out);
		std::uint8_t quit_sequence = 0;
		finish_packet(out, start, quit_sequence);
		return finish(*read_only ? NodeState::read_only : NodeState::alive,
			      *read_only ? "read_only=1" : "read_only=0");
	}
	return NodeCheckStatus::CONTINUE;
}

} // namespace myproxy
