// The master/worker channel codec.  Which message may travel which way, with which flags and how
// many fds, is the table below, not code.  The encoder runs the decoder over what it wrote, so the
// two can never disagree about what is valid.  Must never trust a length or count it has not
// checked, and never read outside the received bytes.
#include "channel_protocol.hpp"

#include "byte_writer.hpp"
#include "cgroup_xattrs.hpp"
#include "socket_address.hpp"

#include <sys/socket.h>

namespace myproxy {

static_assert(channel_max_peer_address == sizeof(struct sockaddr_storage));
/* Every string bound fits a u16 length and fits in one message. */
static_assert(channel_max_cgroup_path + cgroup_xattrs_max_size + 256 < channel_max_message_size);

namespace {

struct ChannelMessageSpec {
	ChannelMessageType type;
	const char *name;
	ChannelDirection direction;
	/* Header flag bits this type may carry; any other bit is an error. */
	std::uint16_t allowed_flags;
	/* fds every message of this type carries. */
	std::uint8_t fds;
};

constexpr ChannelDirection to_worker = ChannelDirection::master_to_worker;
constexpr ChannelDirection to_master = ChannelDirection::worker_to_master;

constexpr ChannelMessageSpec message_specs[] = {
	{ChannelMessageType::new_client, "NEW_CLIENT", to_worker, 0, 1},
	{ChannelMessageType::connection_closed, "CONNECTION_CLOSED", to_master, 0, 0},
	{ChannelMessageType::drain, "DRAIN", to_worker, 0, 0},
	{ChannelMessageType::worker_ready, "WORKER_READY", to_master, 0, 0},
	{ChannelMessageType::node_state, "NODE_STATE", to_worker, 0, 0},
	{ChannelMessageType::disconnect_account, "DISCONNECT_ACCOUNT", to_worker, 0, 0},
	{ChannelMessageType::heartbeat, "HEARTBEAT", to_worker, 0, 0},
	{ChannelMessageType::heartbeat_reply, "HEARTBEAT_REPLY", to_master, 0, 0},
	{ChannelMessageType::node_suspect, "NODE_SUSPECT", to_master, 0, 0},
	{ChannelMessageType::resolve_request, "RESOLVE_REQUEST", to_master, 0, 0},
	{ChannelMessageType::resolve_reply, "RESOLVE_REPLY", to_worker, 0, 0},
	{ChannelMessageType::backend_offer, "BACKEND_OFFER", to_worker, 0, 0},
	{ChannelMessageType::kill_request, "KILL_REQUEST", to_master, 0, 0},
	{ChannelMessageType::kill_order, "KILL_ORDER", to_worker, 0, 0},
	{ChannelMessageType::kill_result, "KILL_RESULT", to_master, 0, 0},
	{ChannelMessageType::retire, "RETIRE", to_worker, 0, 0},
};

const ChannelMessageSpec *find_spec(std::uint16_t type) noexcept
{
	for (const auto &spec : message_specs)
		if (static_cast<std::uint16_t>(spec.type) == type)
			return &spec;
	return nullptr;
}

/* ---- encoding ---------------------------------------------------------------------------- */

/* Strings are u16 length + bytes; the bounds (all below 64 KiB) are checked by the decoder. */
void write_string(ByteWriter &w, ByteSpan bytes)
{
	w.u16(std::uint16_t(bytes.size()));
	w.bytes(bytes);
}

void write_string(ByteWriter &w, std::string_view s)
{
	write_string(w, ByteSpan(reinterpret_cast<const std::uint8_t *>(s.data()), s.size()));
}

std::uint16_t write_payload(ByteWriter &w, const NewClientMessage &m)
{
	const ClientInfo &i = m.info;
	w.u64(i.client_id);
	w.u32(i.listener_index);
	w.u8(i.has_credentials ? 1 : 0);
	w.u32(std::uint32_t(i.pid));
	w.u32(i.uid);
	w.u32(i.gid);
	w.u64(i.socket_device);
	w.u64(i.socket_inode);
	write_string(w, i.peer_address);
	write_string(w, i.cgroup_path);
	write_string(w, i.cgroup_xattrs);
	return 0;
}

std::uint16_t write_payload(ByteWriter &w, const ConnectionClosedMessage &m)
{
	w.u64(m.client_id);
	return 0;
}

std::uint16_t write_payload(ByteWriter &w, const DrainMessage &m)
{
	w.u32(m.timeout_ms);
	return 0;
}

std::uint16_t write_payload(ByteWriter &w, const HeartbeatMessage &m)
{
	w.u64(m.sequence);
	return 0;
}

std::uint16_t write_payload(ByteWriter &w, const HeartbeatReplyMessage &m)
{
	w.u64(m.sequence);
	return 0;
}

std::uint16_t write_payload(ByteWriter &w, const NodeSuspectMessage &m)
{
	w.u32(m.cluster_index);
	w.u32(m.node_index);
	return 0;
}

std::uint16_t write_payload(ByteWriter &, const WorkerReadyMessage &)
{
	return 0;
}

std::uint16_t write_payload(ByteWriter &, const RetireMessage &)
{
	return 0;
}

std::uint16_t write_payload(ByteWriter &w, const NodeStateMessage &m)
{
	w.u32(m.cluster_index);
	w.u32(m.node_index);
	w.u8(static_cast<std::uint8_t>(m.state));
	return 0;
}

std::uint16_t write_payload(ByteWriter &w, const DisconnectAccountMessage &m)
{
	write_string(w, m.account);
	return 0;
}

std::uint16_t write_payload(ByteWriter &w, const ResolveRequestMessage &m)
{
	w.u64(m.request_id);
	write_string(w, m.host);
	return 0;
}

std::uint16_t write_payload(ByteWriter &w, const ResolveReplyMessage &m)
{
	w.u64(m.request_id);
	write_string(w, m.address);
	write_string(w, m.error);
	return 0;
}

std::uint16_t write_payload(ByteWriter &w, const BackendOfferMessage &m)
{
	w.u64(m.capabilities);
	w.u8(m.collation);
	write_string(w, m.server_version);
	return 0;
}

std::uint16_t write_payload(ByteWriter &w, const KillFields &m)
{
	w.u64(m.tag);
	w.u32(m.target);
	w.u8(m.query ? 1 : 0);
	w.u8(static_cast<std::uint8_t>(m.outcome));
	w.u32(m.backend_thread);
	write_string(w, m.server);
	write_string(w, m.user);
	return 0;
}

/* ---- decoding ---------------------------------------------------------------------------- */

/* A u16 length, checked against @max before the bytes are taken. */
ByteSpan read_string(ByteReader &r, std::size_t max, const char *length_past_end,
		     const char *too_long, const char *past_end) noexcept
{
	const std::size_t length = r.u16(length_past_end);
	if (r.ok() && length > max) {
		r.fail(too_long);
		return {};
	}
	return r.bytes(length, past_end);
}

bool contains_nul(std::string_view s) noexcept
{
	return s.find('\0') != std::string_view::npos;
}

bool read_bool(ByteReader &r, const char *past_end, const char *not_bool) noexcept
{
	if (r.ok() && r.peek(past_end) > 1) {
		r.fail(not_bool);
		return false;
	}
	return r.u8(past_end) == 1;
}

template<typename Message>
ParseResult<ChannelMessage> complete(ByteReader &r, const Message &message,
				     const char *trailing) noexcept
{
	if (r.ok() && !r.at_end())
		r.fail(trailing);
	if (!r.ok())
		return r.error();
	return ChannelMessage(message);
}

ParseResult<ChannelMessage> read_new_client(ByteReader &r) noexcept
{
	NewClientMessage m;
	ClientInfo &i = m.info;
	i.client_id = r.u64("NEW_CLIENT: client_id past end");
	i.listener_index = r.u32("NEW_CLIENT: listener_index past end");
	i.has_credentials = read_bool(r, "NEW_CLIENT: has_credentials past end",
				      "NEW_CLIENT: has_credentials not 0 or 1");
	i.pid = std::int32_t(r.u32("NEW_CLIENT: pid past end"));
	if (r.ok() && i.pid < 0)
		r.fail("NEW_CLIENT: negative pid");
	i.uid = r.u32("NEW_CLIENT: uid past end");
	i.gid = r.u32("NEW_CLIENT: gid past end");
	if (r.ok() && !i.has_credentials && (i.pid != 0 || i.uid != 0 || i.gid != 0))
		r.fail("NEW_CLIENT: pid/uid/gid set without has_credentials");
	i.socket_device = r.u64("NEW_CLIENT: socket_device past end");
	i.socket_inode = r.u64("NEW_CLIENT: socket_inode past end");
	i.peer_address = read_string(r, channel_max_peer_address,
				     "NEW_CLIENT: peer_address length past end",
				     "NEW_CLIENT: peer_address longer than sockaddr_storage",
				     "NEW_CLIENT: peer_address past end");
	if (r.ok() && !i.peer_address.empty() && i.peer_address.size() < sizeof(sa_family_t))
		r.fail("NEW_CLIENT: peer_address shorter than its family");
	i.cgroup_path = ByteReader::as_string(read_string(r, channel_max_cgroup_path,
							  "NEW_CLIENT: cgroup_path length past end",
							  "NEW_CLIENT: cgroup_path too long",
							  "NEW_CLIENT: cgroup_path past end"));
	if (r.ok() && contains_nul(i.cgroup_path))
		r.fail("NEW_CLIENT: NUL in cgroup_path");
	i.cgroup_xattrs = read_string(r, cgroup_xattrs_max_size, "NEW_CLIENT: cgroup_xattrs length past end",
				      "NEW_CLIENT: cgroup_xattrs too long", "NEW_CLIENT: cgroup_xattrs past end");
	if (r.ok() && !validate_cgroup_xattrs(i.cgroup_xattrs))
		r.fail("NEW_CLIENT: malformed cgroup_xattrs");
	if (r.ok() && !i.cgroup_xattrs.empty() && i.cgroup_path.empty())
		r.fail("NEW_CLIENT: cgroup_xattrs without cgroup_path");
	return complete(r, m, "NEW_CLIENT: trailing bytes");
}

ParseResult<ChannelMessage> read_connection_closed(ByteReader &r) noexcept
{
	ConnectionClosedMessage m;
	m.client_id = r.u64("CONNECTION_CLOSED: client_id past end");
	return complete(r, m, "CONNECTION_CLOSED: trailing bytes");
}

template <typename Message>
ParseResult<ChannelMessage> read_heartbeat(ByteReader &r) noexcept
{
	Message m;
	m.sequence = r.u64("HEARTBEAT: sequence past end");
	return complete(r, m, "HEARTBEAT: trailing bytes");
}

ParseResult<ChannelMessage> read_node_suspect(ByteReader &r) noexcept
{
	NodeSuspectMessage m;
	m.cluster_index = r.u32("NODE_SUSPECT: cluster_index past end");
	m.node_index = r.u32("NODE_SUSPECT: node_index past end");
	return complete(r, m, "NODE_SUSPECT: trailing bytes");
}

ParseResult<ChannelMessage> read_drain(ByteReader &r) noexcept
{
	DrainMessage m;
	m.timeout_ms = r.u32("DRAIN: timeout_ms past end");
	return complete(r, m, "DRAIN: trailing bytes");
}

ParseResult<ChannelMessage> read_node_state(ByteReader &r) noexcept
{
	NodeStateMessage m;
	m.cluster_index = r.u32("NODE_STATE: cluster_index past end");
	m.node_index = r.u32("NODE_STATE: node_index past end");
	if (r.ok() && r.peek("NODE_STATE: state past end") > std::uint8_t(NodeState::dead))
		r.fail("NODE_STATE: state out of range");
	m.state = NodeState(r.u8("NODE_STATE: state past end"));
	return complete(r, m, "NODE_STATE: trailing bytes");
}

ParseResult<ChannelMessage> read_disconnect_account(ByteReader &r) noexcept
{
	DisconnectAccountMessage m;
	m.account = ByteReader::as_string(read_string(r, channel_max_account_name,
						      "DISCONNECT_ACCOUNT: account length past end",
						      "DISCONNECT_ACCOUNT: account too long",
						      "DISCONNECT_ACCOUNT: account past end"));
	if (r.ok() && m.account.empty())
		r.fail("DISCONNECT_ACCOUNT: empty account");
	if (r.ok() && contains_nul(m.account))
		r.fail("DISCONNECT_ACCOUNT: NUL in account");
	return complete(r, m, "DISCONNECT_ACCOUNT: trailing bytes");
}

ParseResult<ChannelMessage> read_resolve_request(ByteReader &r) noexcept
{
	ResolveRequestMessage m;
	m.request_id = r.u64("RESOLVE_REQUEST: request_id past end");
	m.host = ByteReader::as_string(read_string(r, channel_max_host_name, "RESOLVE_REQUEST: host length past end",
						   "RESOLVE_REQUEST: host too long", "RESOLVE_REQUEST: host past end"));
	/* The master hands it to getaddrinfo(): only what a DNS name may contain. */
	if (r.ok() && !is_host_name(m.host))
		r.fail("RESOLVE_REQUEST: host is not a host name");
	return complete(r, m, "RESOLVE_REQUEST: trailing bytes");
}

ParseResult<ChannelMessage> read_resolve_reply(ByteReader &r) noexcept
{
	ResolveReplyMessage m;
	m.request_id = r.u64("RESOLVE_REPLY: request_id past end");
	m.address = read_string(r, 16, "RESOLVE_REPLY: address length past end", "RESOLVE_REPLY: address too long",
				"RESOLVE_REPLY: address past end");
	m.error = ByteReader::as_string(read_string(r, channel_max_resolve_error, "RESOLVE_REPLY: error length past end",
						    "RESOLVE_REPLY: error too long", "RESOLVE_REPLY: error past end"));
	if (r.ok() && m.address.size() != 0 && m.address.size() != 4 && m.address.size() != 16)
		r.fail("RESOLVE_REPLY: address neither 4 nor 16 bytes");
	if (r.ok() && m.address.empty() == m.error.empty())
		r.fail("RESOLVE_REPLY: not exactly one of address and error");
	if (r.ok() && contains_nul(m.error))
		r.fail("RESOLVE_REPLY: NUL in error");
	return complete(r, m, "RESOLVE_REPLY: trailing bytes");
}

ParseResult<ChannelMessage> read_backend_offer(ByteReader &r) noexcept
{
	BackendOfferMessage m;
	m.capabilities = r.u64("BACKEND_OFFER: capabilities past end");
	m.collation = r.u8("BACKEND_OFFER: collation past end");
	m.server_version = ByteReader::as_string(read_string(r, channel_max_server_version,
							     "BACKEND_OFFER: server_version length past end",
							     "BACKEND_OFFER: server_version too long",
							     "BACKEND_OFFER: server_version past end"));
	if (r.ok() && m.server_version.empty())
		r.fail("BACKEND_OFFER: empty server_version");
	if (r.ok() && contains_nul(m.server_version))
		r.fail("BACKEND_OFFER: NUL in server_version");
	return complete(r, m, "BACKEND_OFFER: trailing bytes");
}

/* The three KILL messages share a layout; @ordering: the outcome must be pending (KILL_REQUEST),
   must not be (KILL_RESULT), or either (KILL_ORDER: an order or an answer). */
enum class KillStage : std::uint8_t { request, order, result };

template <typename Message>
ParseResult<ChannelMessage> read_kill(ByteReader &r, KillStage stage) noexcept
{
	Message m;
	m.tag = r.u64("KILL: tag past end");
	m.target = r.u32("KILL: target past end");
	if (r.ok() && m.target == 0)
		r.fail("KILL: target 0");
	m.query = read_bool(r, "KILL: query past end", "KILL: query not 0 or 1");
	if (r.ok() && r.peek("KILL: outcome past end") > std::uint8_t(KillOutcome::done))
		r.fail("KILL: outcome out of range");
	m.outcome = KillOutcome(r.u8("KILL: outcome past end"));
	m.backend_thread = r.u32("KILL: backend_thread past end");
	m.server = ByteReader::as_string(read_string(r, channel_max_kill_server, "KILL: server length past end",
						     "KILL: server too long", "KILL: server past end"));
	m.user = ByteReader::as_string(read_string(r, channel_max_kill_user, "KILL: user length past end",
						   "KILL: user too long", "KILL: user past end"));
	if (!r.ok())
		return r.error();
	const bool pending = m.outcome == KillOutcome::pending;
	if ((stage == KillStage::request && !pending) || (stage == KillStage::result && pending))
		r.fail("KILL: outcome not allowed for this message type");
	else if (pending && m.server.empty())
		r.fail("KILL: pending without the requester's server");
	else if (!pending && (!m.server.empty() || !m.user.empty()))
		r.fail("KILL: an answer with server or user");
	else if ((m.outcome == KillOutcome::same_server) != (m.backend_thread != 0))
		r.fail("KILL: backend_thread set without same_server or missing with it");
	else if (contains_nul(m.server) || contains_nul(m.user))
		r.fail("KILL: NUL in server or user");
	return complete(r, m, "KILL: trailing bytes");
}

/* @direction null: any direction (the encoder checking its own output). */
ParseResult<ChannelMessage> decode(ByteSpan bytes, std::size_t fd_count,
				   const ChannelDirection *direction) noexcept
{
	if (bytes.size() > channel_max_message_size)
		return ParseError{"channel: message larger than the maximum", channel_max_message_size};
	ByteReader r(bytes);
	const std::uint16_t type = r.u16("channel header: type past end");
	const std::uint16_t flags = r.u16("channel header: flags past end");
	const std::uint32_t length = r.u32("channel header: payload length past end");
	if (!r.ok())
		return r.error();

	const ChannelMessageSpec *spec = find_spec(type);
	if (spec == nullptr)
		return ParseError{"channel header: unknown message type", 0};
	if (direction != nullptr && spec->direction != *direction)
		return ParseError{"channel header: message type not allowed in this direction", 0};
	if ((flags & ~spec->allowed_flags) != 0)
		return ParseError{"channel header: flags not allowed for this message type", 2};
	if (length != r.remaining())
		return ParseError{"channel header: payload length does not match message size", 4};
	if (fd_count != spec->fds)
		return ParseError{"channel: wrong number of fds for this message type", 0};

	switch (spec->type) {
	case ChannelMessageType::new_client:
		return read_new_client(r);
	case ChannelMessageType::connection_closed:
		return read_connection_closed(r);
	case ChannelMessageType::drain:
		return read_drain(r);
	case ChannelMessageType::worker_ready:
		return complete(r, WorkerReadyMessage{}, "WORKER_READY: trailing bytes");
	case ChannelMessageType::node_state:
		return read_node_state(r);
	case ChannelMessageType::disconnect_account:
		return read_disconnect_account(r);
	case ChannelMessageType::heartbeat:
		return read_heartbeat<HeartbeatMessage>(r);
	case ChannelMessageType::heartbeat_reply:
		return read_heartbeat<HeartbeatReplyMessage>(r);
	case ChannelMessageType::node_suspect:
		return read_node_suspect(r);
	case ChannelMessageType::resolve_request:
		return read_resolve_request(r);
	case ChannelMessageType::resolve_reply:
		return read_resolve_reply(r);
	case ChannelMessageType::backend_offer:
		return read_backend_offer(r);
	case ChannelMessageType::kill_request:
		return read_kill<KillRequestMessage>(r, KillStage::request);
	case ChannelMessageType::kill_order:
		return read_kill<KillOrderMessage>(r, KillStage::order);
	case ChannelMessageType::kill_result:
		return read_kill<KillResultMessage>(r, KillStage::result);
	case ChannelMessageType::retire:
		return complete(r, RetireMessage{}, "RETIRE: trailing bytes");
	}
	return ParseError{"channel header: unknown message type", 0};
}

} // namespace

const char *channel_message_name(ChannelMessageType type) noexcept
{
	const ChannelMessageSpec *spec = find_spec(static_cast<std::uint16_t>(type));
	return spec != nullptr ? spec->name : "unknown";
}

bool channel_message_allowed(ChannelDirection direction, ChannelMessageType type) noexcept
{
	const ChannelMessageSpec *spec = find_spec(static_cast<std::uint16_t>(type));
	return spec != nullptr && spec->direction == direction;
}

ParseResult<std::size_t> encode_channel_message(std::vector<std::uint8_t> &out,
						const ChannelMessage &message)
{
	const std::size_t start = out.size();
	ByteWriter w(out);
	w.u16(static_cast<std::uint16_t>(channel_message_type(message)));
	w.u16(0);
	w.u32(0);
	const std::uint16_t flags = std::visit([&w](const auto &m) { return write_payload(w, m); }, message);
	w.patch_uint_le(start + 2, flags, 2);
	w.patch_uint_le(start + 4, out.size() - start - channel_header_size, 4);

	const std::size_t fd_count = find_spec(static_cast<std::uint16_t>(channel_message_type(message)))->fds;
	const auto check = decode(ByteSpan(out).subspan(start), fd_count, nullptr);
	if (!check) {
		out.resize(start);
		return check.error();
	}
	return fd_count;
}

ParseResult<ChannelMessage> decode_channel_message(ByteSpan bytes, std::size_t fd_count,
						   ChannelDirection direction) noexcept
{
	return decode(bytes, fd_count, &direction);
}

} // namespace myproxy
