// The node health check (see node_check.hpp).  The classification is a table of the server errors
// that mean "the monitoring credentials are wrong" (auth_failed); every other failure is dead.
#include "node_check.hpp"

#include "command_packet.hpp"
#include "err_packet.hpp"
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
	: login(monitor_login_params(user, password, ssl), user.empty(), node_check_packet_max)
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
	switch (phase) {
	case Phase::login:
		return login_status(login.receive(bytes, out), out);
	case Phase::query:
		return query(bytes, out);
	case Phase::done:
		break;
	}
	return NodeCheckStatus::DONE;
}

NodeCheckStatus NodeCheck::tls_established(std::vector<std::uint8_t> &out)
{
	if (phase != Phase::login)
		return finish(NodeState::dead, "internal error: tls_established() without START_TLS");
	return login_status(login.tls_established(out), out);
}

NodeCheckStatus NodeCheck::login_status(LinkStatus status, std::vector<std::uint8_t> &out)
{
	if (status != LinkStatus::DONE)
		return status;
	if (login.greeted())
		return finish(NodeState::alive, "greeting received (no user: read_only unknown)");
	if (!login.logged_in())
		return login_failed();
	/* Whatever the login wrote must go first; the query follows in the same write. */
	reader.emplace(login.success().capabilities);
	phase = Phase::query;
	const std::size_t start = begin_packet(out);
	build_com_query(out, node_check_query);
	std::uint8_t query_sequence = 0;
	finish_packet(out, start, query_sequence);
	/* The node cannot answer a query it has not seen, but whatever it sent is judged. */
	std::vector<std::uint8_t> rest = std::move(login.rest());
	return rest.empty() ? NodeCheckStatus::CONTINUE : query(rest, out);
}

NodeCheckStatus NodeCheck::login_failed()
{
	const BackendHandshakeFailure &failure = login.failure();
	switch (failure.kind) {
	case BackendHandshakeFailure::Kind::MALFORMED_PACKET:
		return finish(NodeState::dead, "malformed packet: " + failure.message);
	case BackendHandshakeFailure::Kind::DATA_BEFORE_TLS:
		return finish(NodeState::dead, "the node sent data before the TLS handshake");
	case BackendHandshakeFailure::Kind::REFUSED:
		return finish(NodeState::dead, "refused: " + std::to_string(failure.login.error_code) + " " +
						       failure.login.message);
	case BackendHandshakeFailure::Kind::BAD_GREETING:
	case BackendHandshakeFailure::Kind::INTERNAL:
		return finish(NodeState::dead, failure.message);
	case BackendHandshakeFailure::Kind::LOGIN:
		break;
	}
	if (failure.login.kind == ClientLoginFailure::Kind::SERVER_ERROR) {
		const bool auth = std::find(std::begin(auth_failure_codes), std::end(auth_failure_codes),
					    failure.login.error_code) != std::end(auth_failure_codes);
		return finish(auth ? NodeState::auth_failed : NodeState::dead,
			      "login refused: " + std::to_string(failure.login.error_code) + " " + failure.login.message);
	}
	return finish(NodeState::dead, "login failed: " + failure.login.message);
}

NodeCheckStatus NodeCheck::query(ByteSpan bytes, std::vector<std::uint8_t> &out)
{
	input.insert(input.end(), bytes.begin(), bytes.end());
	std::size_t consumed = 0;
	NodeCheckStatus status = NodeCheckStatus::CONTINUE;
	while (status == NodeCheckStatus::CONTINUE) {
		auto packet = reassemble_payload(ByteSpan(input).subspan(consumed), payload, node_check_packet_max);
		if (!packet) {
			status = finish(NodeState::dead, std::string("malformed packet: ") + packet.error().what);
			break;
		}
		if (!packet->complete)
			break;
		consumed += packet->wire_size;
		status = query_packet(out);
	}
	input.erase(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(consumed));
	return status;
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
