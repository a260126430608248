// Unit tests for common/channel_protocol: round trips of every message, the wire layout, and
// hostile input (every truncation, wrong lengths, fd counts, types, flags, directions, bounds).
#include "common/byte_writer.hpp"
#include "common/channel_protocol.hpp"
#include "tests/check_main.hpp"

#include <cstring>
#include <string>
#include <vector>

using namespace myproxy;

static const std::uint8_t sample_ipv4[4] = {127, 0, 0, 1};
static const std::uint8_t sample_ipv6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

static const std::uint8_t sample_peer[16] = {1, 0, '/', 'r', 'u', 'n', '/', 'x', 0, 0, 0, 0, 0, 0, 0, 0};

/* Level 0 "user.a" = "1", level 1 "trusted.b" = "" (the format of common/cgroup_xattrs.hpp). */
static const std::uint8_t sample_xattrs[] = {0, 6, 'u', 's', 'e', 'r', '.', 'a', 1, 0, '1',
					     1, 9, 't', 'r', 'u', 's', 't', 'e', 'd', '.', 'b', 0, 0};

static NewClientMessage sample_new_client()
{
	NewClientMessage m;
	m.info.client_id = 0x0102030405060708ull;
	m.info.listener_index = 3;
	m.info.has_credentials = true;
	m.info.pid = 4242;
	m.info.uid = 1000;
	m.info.gid = 1001;
	m.info.socket_device = 0x1122334455667788ull;
	m.info.socket_inode = 987654321;
	m.info.peer_address = ByteSpan(sample_peer, sizeof(sample_peer));
	m.info.cgroup_path = "/user.slice/user-1000.slice/session-1.scope";
	m.info.cgroup_xattrs = ByteSpan(sample_xattrs, sizeof(sample_xattrs));
	return m;
}

/* KILL_REQUEST, KILL_ORDER, KILL_RESULT share one layout (tests/unit/check_kill_protocol has the rest). */
template <typename Message>
static Message sample_kill(KillOutcome outcome)
{
	Message m;
	m.tag = 0x0102030405060708ull;
	m.target = 77;
	m.outcome = outcome;
	m.backend_thread = outcome == KillOutcome::same_server ? 4242 : 0;
	if (outcome == KillOutcome::pending) {
		m.server = "127.0.0.1:3306";
		m.user = "app";
	}
	return m;
}

static std::vector<ChannelMessage> sample_messages()
{
	NewClientMessage tcp = sample_new_client();
	tcp.info.has_credentials = false;
	tcp.info.pid = 0;
	tcp.info.uid = 0;
	tcp.info.gid = 0;
	tcp.info.cgroup_path = {};
	tcp.info.cgroup_xattrs = {};
	return {
		sample_new_client(),
		tcp,
		ConnectionClosedMessage{0xFEDCBA9876543210ull},
		DrainMessage{30000},
		WorkerReadyMessage{},
		NodeStateMessage{7, 2, NodeState::auth_failed},
		DisconnectAccountMessage{"acme"},
		HeartbeatMessage{0x0102030405060708ull},
		HeartbeatReplyMessage{42},
		NodeSuspectMessage{3, 1},
		ResolveRequestMessage{0x1122334455667788ull, "db-1.example_internal.org"},
		ResolveReplyMessage{7, ByteSpan(sample_ipv4, 4), {}},
		ResolveReplyMessage{8, ByteSpan(sample_ipv6, 16), {}},
		ResolveReplyMessage{9, {}, "cannot resolve 'x': Name or service not known"},
		BackendOfferMessage{0x0000'003C'81FF'F7FEull, 45, "5.5.5-10.11.6-MariaDB-0+deb12u1"},
		sample_kill<KillRequestMessage>(KillOutcome::pending),
		sample_kill<KillOrderMessage>(KillOutcome::pending),
		sample_kill<KillResultMessage>(KillOutcome::same_server),
		RetireMessage{},
	};
}

static ChannelDirection direction_of(const ChannelMessage &m)
{
	return channel_message_allowed(ChannelDirection::master_to_worker, channel_message_type(m))
		       ? ChannelDirection::master_to_worker
		       : ChannelDirection::worker_to_master;
}

static ChannelDirection opposite(ChannelDirection d)
{
	return d == ChannelDirection::master_to_worker ? ChannelDirection::worker_to_master
						       : ChannelDirection::master_to_worker;
}

static bool same_bytes(ByteSpan a, ByteSpan b)
{
	return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

static bool same(const NewClientMessage &a, const NewClientMessage &b)
{
	const ClientInfo &x = a.info, &y = b.info;
	return x.client_id == y.client_id &&
	       x.listener_index == y.listener_index && x.has_credentials == y.has_credentials &&
	       x.pid == y.pid && x.uid == y.uid && x.gid == y.gid && x.socket_device == y.socket_device &&
	       x.socket_inode == y.socket_inode && same_bytes(x.peer_address, y.peer_address) &&
	       x.cgroup_path == y.cgroup_path && same_bytes(x.cgroup_xattrs, y.cgroup_xattrs);
}
static bool same(const ConnectionClosedMessage &a, const ConnectionClosedMessage &b) { return a.client_id == b.client_id; }
static bool same(const DrainMessage &a, const DrainMessage &b) { return a.timeout_ms == b.timeout_ms; }
static bool same(const WorkerReadyMessage &, const WorkerReadyMessage &) { return true; }
static bool same(const RetireMessage &, const RetireMessage &) { return true; }
static bool same(const HeartbeatMessage &a, const HeartbeatMessage &b) { return a.sequence == b.sequence; }
static bool same(const HeartbeatReplyMessage &a, const HeartbeatReplyMessage &b) { return a.sequence == b.sequence; }
static bool same(const NodeSuspectMessage &a, const NodeSuspectMessage &b)
{
	return a.cluster_index == b.cluster_index && a.node_index == b.node_index;
}
static bool same(const NodeStateMessage &a, const NodeStateMessage &b)
{
	return a.cluster_index == b.cluster_index && a.node_index == b.node_index && a.state == b.state;
}
static bool same(const DisconnectAccountMessage &a, const DisconnectAccountMessage &b) { return a.account == b.account; }
static bool same(const ResolveRequestMessage &a, const ResolveRequestMessage &b)
{
	return a.request_id == b.request_id && a.host == b.host;
}
static bool same(const ResolveReplyMessage &a, const ResolveReplyMessage &b)
{
	return a.request_id == b.request_id && same_bytes(a.address, b.address) && a.error == b.error;
}

static bool same(const BackendOfferMessage &a, const BackendOfferMessage &b)
{
	return a.capabilities == b.capabilities && a.collation == b.collation && a.server_version == b.server_version;
}

static bool same(const KillFields &a, const KillFields &b)
{
	return a.tag == b.tag && a.target == b.target && a.query == b.query && a.outcome == b.outcome &&
	       a.backend_thread == b.backend_thread && a.server == b.server && a.user == b.user;
}

static bool same_message(const ChannelMessage &a, const ChannelMessage &b)
{
	if (a.index() != b.index())
		return false;
	return std::visit(
		[&b](const auto &x) { return same(x, std::get<std::remove_cvref_t<decltype(x)>>(b)); }, a);
}

/* Encodes a message the encoder accepts; returns its fd count through @fds. */
static std::vector<std::uint8_t> encode(const ChannelMessage &m, std::size_t *fds = nullptr)
{
	std::vector<std::uint8_t> out;
	const auto r = encode_channel_message(out, m);
	ck_assert_msg(r.ok(), "encode failed: %s", r.ok() ? "" : r.error().what);
	if (fds != nullptr)
		*fds = *r;
	return out;
}

/* A message with a correct header around an arbitrary payload. */
static std::vector<std::uint8_t> raw_message(std::uint16_t type, std::uint16_t flags,
					     const std::vector<std::uint8_t> &payload)
{
	std::vector<std::uint8_t> out;
	ByteWriter w(out);
	w.u16(type);
	w.u16(flags);
	w.u32(std::uint32_t(payload.size()));
	w.bytes(payload);
	return out;
}

static void set_payload_length(std::vector<std::uint8_t> &bytes, std::size_t length)
{
	ByteWriter(bytes).patch_uint_le(4, length, 4);
}

static void assert_error(const std::vector<std::uint8_t> &bytes, std::size_t fds,
			 ChannelDirection d, const char *expected)
{
	const auto r = decode_channel_message(bytes, fds, d);
	ck_assert_msg(!r.ok(), "expected error \"%s\", got a message", expected);
	ck_assert_str_eq(r.error().what, expected);
}

START_TEST(test_round_trip_every_type)
{
	const auto samples = sample_messages();
	std::size_t types_seen = 0;
	for (const auto &m : samples) {
		std::size_t fds = 99;
		const auto bytes = encode(m, &fds);
		const auto r = decode_channel_message(bytes, fds, direction_of(m));
		ck_assert_msg(r.ok(), "%s: %s", channel_message_name(channel_message_type(m)),
			      r.ok() ? "" : r.error().what);
		ck_assert(same_message(m, *r));
		types_seen |= std::size_t(1) << m.index();
	}
	ck_assert_uint_eq(types_seen, (std::size_t(1) << std::variant_size_v<ChannelMessage>) - 1);
}
END_TEST

START_TEST(test_fd_counts)
{
	std::size_t fds = 99;
	(void)encode(sample_new_client(), &fds);
	ck_assert_uint_eq(fds, 1);
	(void)encode(WorkerReadyMessage{}, &fds);
	ck_assert_uint_eq(fds, 0);
}
END_TEST

START_TEST(test_wire_layout)
{
	const auto bytes = encode(ConnectionClosedMessage{0x0807060504030201ull});
	const std::uint8_t expected[] = {2, 0, 0, 0, 8, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
	ck_assert(same_bytes(bytes, ByteSpan(expected)));

	const auto ready = encode(WorkerReadyMessage{});
	const std::uint8_t expected_ready[] = {5, 0, 0, 0, 0, 0, 0, 0};
	ck_assert(same_bytes(ready, ByteSpan(expected_ready)));

	const auto retire = encode(RetireMessage{});
	const std::uint8_t expected_retire[] = {21, 0, 0, 0, 0, 0, 0, 0};
	ck_assert(same_bytes(retire, ByteSpan(expected_retire)));

	const auto new_client = encode(sample_new_client());
	ck_assert_uint_eq(new_client[2], 0);
	ck_assert_uint_eq(new_client[3], 0);
}
END_TEST

START_TEST(test_encode_appends)
{
	std::vector<std::uint8_t> out = {0xAA, 0xBB};
	ck_assert(encode_channel_message(out, WorkerReadyMessage{}).ok());
	ck_assert(encode_channel_message(out, DrainMessage{5}).ok());
	ck_assert_uint_eq(out.size(), 2 + 8 + 12);
	ck_assert_uint_eq(out[0], 0xAA);
	const auto r = decode_channel_message(ByteSpan(out).subspan(10), 0, ChannelDirection::master_to_worker);
	ck_assert(r.ok());
	ck_assert_uint_eq(std::get<DrainMessage>(*r).timeout_ms, 5);
}
END_TEST

START_TEST(test_every_truncation)
{
	for (const auto &m : sample_messages()) {
		std::size_t fds = 0;
		const auto bytes = encode(m, &fds);
		const ChannelDirection d = direction_of(m);
		for (std::size_t n = 0; n < bytes.size(); ++n) {
			std::vector<std::uint8_t> prefix(bytes.begin(), bytes.begin() + n);
			ck_assert(!decode_channel_message(prefix, fds, d).ok());
			if (n >= channel_header_size) {
				/* The header agrees with the cut payload: the fields themselves must fail. */
				set_payload_length(prefix, n - channel_header_size);
				ck_assert_msg(!decode_channel_message(prefix, fds, d).ok(), "%s cut at %zu",
					      channel_message_name(channel_message_type(m)), n);
			}
		}
	}
}
END_TEST

START_TEST(test_wrong_length)
{
	const auto bytes = encode(ConnectionClosedMessage{1});
	const auto d = ChannelDirection::worker_to_master;
	const char *mismatch = "channel header: payload length does not match message size";
	auto longer = bytes;
	set_payload_length(longer, bytes.size() - channel_header_size + 1);
	assert_error(longer, 0, d, mismatch);
	auto shorter = bytes;
	set_payload_length(shorter, bytes.size() - channel_header_size - 1);
	assert_error(shorter, 0, d, mismatch);
	auto huge = bytes;
	set_payload_length(huge, 0xFFFFFFFF);
	assert_error(huge, 0, d, mismatch);

	auto trailing = bytes;
	trailing.push_back(0);
	set_payload_length(trailing, trailing.size() - channel_header_size);
	assert_error(trailing, 0, d, "CONNECTION_CLOSED: trailing bytes");

	auto ready = encode(WorkerReadyMessage{});
	ready.push_back(0);
	set_payload_length(ready, 1);
	assert_error(ready, 0, ChannelDirection::worker_to_master, "WORKER_READY: trailing bytes");

	auto retire = encode(RetireMessage{});
	retire.push_back(0);
	set_payload_length(retire, 1);
	assert_error(retire, 0, ChannelDirection::master_to_worker, "RETIRE: trailing bytes");
}
END_TEST

START_TEST(test_wrong_fd_count)
{
	const char *wrong = "channel: wrong number of fds for this message type";
	for (const auto &m : sample_messages()) {
		std::size_t fds = 0;
		const auto bytes = encode(m, &fds);
		assert_error(bytes, fds + 1, direction_of(m), wrong);
		if (fds > 0)
			assert_error(bytes, fds - 1, direction_of(m), wrong);
	}
	/* NEW_CLIENT carries the client socket alone: a second fd (the pidfd it once carried) is refused. */
	const auto bytes = encode(sample_new_client());
	assert_error(bytes, 2, ChannelDirection::master_to_worker, wrong);
}
END_TEST

START_TEST(test_unknown_type_and_flags)
{
	/* 3 was RELOAD, 7 and 8 were STATS_REQUEST and STATS_REPLY: retired, now unknown like any other. */
	for (std::uint16_t type : {std::uint16_t(0), std::uint16_t(3), std::uint16_t(7), std::uint16_t(8), std::uint16_t(0x00FF),
				   std::uint16_t(0x0100), std::uint16_t(0xFFFF)})
		for (auto d : {ChannelDirection::master_to_worker, ChannelDirection::worker_to_master})
			assert_error(raw_message(type, 0, {}), 0, d, "channel header: unknown message type");
	ck_assert_str_eq(channel_message_name(ChannelMessageType(77)), "unknown");
	ck_assert(!channel_message_allowed(ChannelDirection::master_to_worker, ChannelMessageType(0)));

	assert_error(raw_message(4, 1, {}), 0, ChannelDirection::master_to_worker,
		     "channel header: flags not allowed for this message type");
	/* No type carries a flag: NEW_CLIENT's old pidfd bit is refused like any other. */
	assert_error(raw_message(21, 1, {}), 0, ChannelDirection::master_to_worker,
		     "channel header: flags not allowed for this message type");
	auto nc = encode(sample_new_client());
	nc[2] = 1;
	assert_error(nc, 1, ChannelDirection::master_to_worker,
		     "channel header: flags not allowed for this message type");
	nc[2] = 0;
	nc[3] = 0x80;
	assert_error(nc, 1, ChannelDirection::master_to_worker,
		     "channel header: flags not allowed for this message type");
}
END_TEST

START_TEST(test_wrong_direction)
{
	const char *refused = "channel header: message type not allowed in this direction";
	for (const auto &m : sample_messages()) {
		std::size_t fds = 0;
		const auto bytes = encode(m, &fds);
		assert_error(bytes, fds, opposite(direction_of(m)), refused);
	}
	using T = ChannelMessageType;
	const auto to_worker = ChannelDirection::master_to_worker, to_master = ChannelDirection::worker_to_master;
	for (T t : {T::new_client, T::drain, T::node_state, T::disconnect_account, T::heartbeat,
		    T::resolve_reply, T::retire}) {
		ck_assert(channel_message_allowed(to_worker, t));
		ck_assert(!channel_message_allowed(to_master, t));
	}
	for (T t : {T::connection_closed, T::worker_ready, T::heartbeat_reply, T::node_suspect, T::resolve_request}) {
		ck_assert(channel_message_allowed(to_master, t));
		ck_assert(!channel_message_allowed(to_worker, t));
	}
}
END_TEST

/* NEW_CLIENT payload offsets (after the 8-byte header). */
enum : std::size_t {
	off_has_credentials = 8 + 12,
	off_pid = off_has_credentials + 1,
	off_peer_length = off_pid + 12 + 16,
};

START_TEST(test_new_client_fields)
{
	const auto d = ChannelDirection::master_to_worker;
	const auto good = encode(sample_new_client());

	auto bad_bool = good;
	bad_bool[off_has_credentials] = 2;
	assert_error(bad_bool, 1, d, "NEW_CLIENT: has_credentials not 0 or 1");

	auto negative = good;
	negative[off_pid + 3] = 0x80;
	assert_error(negative, 1, d, "NEW_CLIENT: negative pid");

	NewClientMessage anonymous = sample_new_client();
	anonymous.info.has_credentials = false;
	std::vector<std::uint8_t> out;
	const auto refused = encode_channel_message(out, anonymous);
	ck_assert(!refused.ok());
	ck_assert_str_eq(refused.error().what, "NEW_CLIENT: pid/uid/gid set without has_credentials");
	ck_assert(out.empty());

	auto long_peer = good;
	long_peer[off_peer_length] = 129;
	assert_error(long_peer, 1, d, "NEW_CLIENT: peer_address longer than sockaddr_storage");
	auto short_peer = good;
	short_peer[off_peer_length] = 1;
	short_peer[off_peer_length + 1] = 0;
	/* The bytes after the one-byte address no longer parse either; the family check comes first. */
	assert_error(short_peer, 1, d, "NEW_CLIENT: peer_address shorter than its family");
	auto past_end = good;
	past_end[off_peer_length] = 128;
	past_end[off_peer_length + 1] = 0;
	assert_error(past_end, 1, d, "NEW_CLIENT: peer_address past end");
}
END_TEST

START_TEST(test_oversized_strings)
{
	const auto d = ChannelDirection::master_to_worker;
	const std::string long_path(channel_max_cgroup_path + 1, 'a');
	NewClientMessage m = sample_new_client();
	m.info.cgroup_path = long_path;
	std::vector<std::uint8_t> out = {1, 2, 3};
	const auto r = encode_channel_message(out, m);
	ck_assert(!r.ok());
	ck_assert_str_eq(r.error().what, "NEW_CLIENT: cgroup_path too long");
	ck_assert_uint_eq(out.size(), 3);

	const std::string max_path(channel_max_cgroup_path, 'b');
	m.info.cgroup_path = max_path;
	const auto at_bound = encode(m);
	ck_assert(decode_channel_message(at_bound, 1, d).ok());

	const std::string with_nul("/a\0b", 4);
	m.info.cgroup_path = with_nul;
	ck_assert_str_eq(encode_channel_message(out, m).error().what, "NEW_CLIENT: NUL in cgroup_path");

	/* A malformed xattr blob (a name outside user./trusted.) and xattrs without a cgroup. */
	static const std::uint8_t bad_xattrs[] = {0, 5, 'o', 't', 'h', 'e', 'r', 0, 0};
	m = sample_new_client();
	m.info.cgroup_xattrs = ByteSpan(bad_xattrs, sizeof(bad_xattrs));
	ck_assert_str_eq(encode_channel_message(out, m).error().what, "NEW_CLIENT: malformed cgroup_xattrs");
	m = sample_new_client();
	m.info.cgroup_path = {};
	ck_assert_str_eq(encode_channel_message(out, m).error().what, "NEW_CLIENT: cgroup_xattrs without cgroup_path");

	std::vector<std::uint8_t> peer(channel_max_peer_address + 1, 0);
	m = sample_new_client();
	m.info.peer_address = peer;
	ck_assert_str_eq(encode_channel_message(out, m).error().what,
			 "NEW_CLIENT: peer_address longer than sockaddr_storage");

	const std::string long_account(channel_max_account_name + 1, 'x');
	ck_assert_str_eq(encode_channel_message(out, DisconnectAccountMessage{long_account}).error().what,
			 "DISCONNECT_ACCOUNT: account too long");
	ck_assert_str_eq(encode_channel_message(out, DisconnectAccountMessage{""}).error().what,
			 "DISCONNECT_ACCOUNT: empty account");
	const std::string max_account(channel_max_account_name, 'y');
	ck_assert(encode_channel_message(out, DisconnectAccountMessage{max_account}).ok());

	/* A length that fits its bound but points past the payload. */
	std::vector<std::uint8_t> payload = {10, 0, 'a', 'c', 'm', 'e'};
	assert_error(raw_message(9, 0, payload), 0, d, "DISCONNECT_ACCOUNT: account past end");
}
END_TEST

/* RESOLVE_REQUEST's host goes to getaddrinfo() in the master: only a DNS name, bounded. */
START_TEST(test_resolve_request_host)
{
	const auto d = ChannelDirection::worker_to_master;
	std::vector<std::uint8_t> out;
	const std::string longest(channel_max_host_name, 'a');
	ck_assert(encode_channel_message(out, ResolveRequestMessage{1, longest}).ok());
	const std::string too_long(channel_max_host_name + 1, 'a');
	for (const std::string &host : {std::string(), std::string("-x"), std::string(".x"), std::string("a b"),
				       std::string("a/b"), std::string("a%eth0"), std::string("a\0b", 3),
				       std::string("\xc3\xa9t\xc3\xa9")})
		ck_assert_str_eq(encode_channel_message(out, ResolveRequestMessage{1, host}).error().what,
				 "RESOLVE_REQUEST: host is not a host name");
	ck_assert_str_eq(encode_channel_message(out, ResolveRequestMessage{1, too_long}).error().what,
			 "RESOLVE_REQUEST: host too long");
	ck_assert_uint_eq(out.size(), channel_header_size + 8 + 2 + channel_max_host_name);

	/* Hand-made: the length says 0xFFFF; and a length that fits but runs past the payload. */
	std::vector<std::uint8_t> payload(8, 0);
	payload.insert(payload.end(), {0xFF, 0xFF, 'a'});
	assert_error(raw_message(13, 0, payload), 0, d, "RESOLVE_REQUEST: host too long");
	payload[8] = 5;
	payload[9] = 0;
	assert_error(raw_message(13, 0, payload), 0, d, "RESOLVE_REQUEST: host past end");
	payload.resize(7);
	assert_error(raw_message(13, 0, payload), 0, d, "RESOLVE_REQUEST: request_id past end");
}
END_TEST

/* RESOLVE_REPLY: an address of 4 or 16 bytes, or an error; never both, never neither. */
START_TEST(test_resolve_reply_fields)
{
	const auto d = ChannelDirection::master_to_worker;
	std::vector<std::uint8_t> out;
	static const std::uint8_t five[5] = {1, 2, 3, 4, 5};
	ck_assert_str_eq(encode_channel_message(out, ResolveReplyMessage{1, ByteSpan(five, 5), {}}).error().what,
			 "RESOLVE_REPLY: address neither 4 nor 16 bytes");
	ck_assert_str_eq(encode_channel_message(out, ResolveReplyMessage{1, {}, {}}).error().what,
			 "RESOLVE_REPLY: not exactly one of address and error");
	ck_assert_str_eq(encode_channel_message(out, ResolveReplyMessage{1, ByteSpan(sample_ipv4, 4), "x"}).error().what,
			 "RESOLVE_REPLY: not exactly one of address and error");
	ck_assert_str_eq(encode_channel_message(out, ResolveReplyMessage{1, {}, std::string_view("a\0b", 3)}).error().what,
			 "RESOLVE_REPLY: NUL in error");
	const std::string long_error(channel_max_resolve_error + 1, 'e');
	ck_assert_str_eq(encode_channel_message(out, ResolveReplyMessage{1, {}, long_error}).error().what,
			 "RESOLVE_REPLY: error too long");
	ck_assert(out.empty());
	const std::string longest_error(channel_max_resolve_error, 'e');
	ck_assert(encode_channel_message(out, ResolveReplyMessage{1, {}, longest_error}).ok());

	/* An address length over 16 is refused before its bytes are looked at. */
	std::vector<std::uint8_t> payload(8, 0);
	payload.insert(payload.end(), {17, 0});
	payload.insert(payload.end(), 17, 0);
	payload.insert(payload.end(), {0, 0});
	assert_error(raw_message(14, 0, payload), 0, d, "RESOLVE_REPLY: address too long");
	auto trailing = encode(ResolveReplyMessage{2, ByteSpan(sample_ipv4, 4), {}});
	trailing.push_back(0);
	set_payload_length(trailing, trailing.size() - channel_header_size);
	assert_error(trailing, 0, d, "RESOLVE_REPLY: trailing bytes");
}
END_TEST

START_TEST(test_message_size_limit)
{
	std::vector<std::uint8_t> payload(channel_max_message_size - channel_header_size + 1, 0);
	assert_error(raw_message(3, 0, payload), 0, ChannelDirection::master_to_worker,
		     "channel: message larger than the maximum");
}
END_TEST

START_TEST(test_node_state_range)
{
	const auto d = ChannelDirection::master_to_worker;
	for (std::uint8_t s = 0; s <= 4; ++s) {
		auto bytes = encode(NodeStateMessage{1, 2, NodeState(s)});
		const auto r = decode_channel_message(bytes, 0, d);
		ck_assert(r.ok());
		ck_assert_uint_eq(std::uint8_t(std::get<NodeStateMessage>(*r).state), s);
	}
	auto bytes = encode(NodeStateMessage{1, 2, NodeState::alive});
	for (std::uint8_t s : {std::uint8_t(5), std::uint8_t(0xFF)}) {
		bytes.back() = s;
		assert_error(bytes, 0, d, "NODE_STATE: state out of range");
	}
	std::vector<std::uint8_t> out;
	ck_assert(!encode_channel_message(out, NodeStateMessage{1, 2, NodeState(9)}).ok());
	ck_assert(out.empty());
}
END_TEST

START_TEST(test_mutations_never_crash)
{
	for (const auto &m : sample_messages()) {
		std::size_t fds = 0;
		const auto bytes = encode(m, &fds);
		for (std::size_t i = 0; i < bytes.size(); ++i) {
			for (std::uint8_t v : {std::uint8_t(0), std::uint8_t(1), std::uint8_t(0x7F), std::uint8_t(0xFF)}) {
				auto mutated = bytes;
				mutated[i] = v;
				for (std::size_t f = 0; f <= channel_max_fds; ++f)
					for (auto d : {ChannelDirection::master_to_worker, ChannelDirection::worker_to_master}) {
						const auto r = decode_channel_message(mutated, f, d);
						if (!r.ok())
							ck_assert_ptr_nonnull(r.error().what);
					}
			}
		}
	}
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(channel_message_name(ChannelMessageType::new_client), "NEW_CLIENT");
	ck_assert_str_eq(channel_message_name(ChannelMessageType::node_state), "NODE_STATE");
	ck_assert_str_eq(channel_message_name(ChannelMessageType::disconnect_account), "DISCONNECT_ACCOUNT");
	ck_assert_str_eq(channel_message_name(ChannelMessageType::resolve_request), "RESOLVE_REQUEST");
	ck_assert_str_eq(channel_message_name(ChannelMessageType::resolve_reply), "RESOLVE_REPLY");
	ck_assert_str_eq(channel_message_name(ChannelMessageType::retire), "RETIRE");
}
END_TEST

static Suite *channel_protocol_suite()
{
	Suite *s = suite_create("channel_protocol");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_round_trip_every_type);
	tcase_add_test(tc, test_fd_counts);
	tcase_add_test(tc, test_wire_layout);
	tcase_add_test(tc, test_encode_appends);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	TCase *hostile = tcase_create("hostile");
	tcase_add_test(hostile, test_every_truncation);
	tcase_add_test(hostile, test_wrong_length);
	tcase_add_test(hostile, test_wrong_fd_count);
	tcase_add_test(hostile, test_unknown_type_and_flags);
	tcase_add_test(hostile, test_wrong_direction);
	tcase_add_test(hostile, test_new_client_fields);
	tcase_add_test(hostile, test_oversized_strings);
	tcase_add_test(hostile, test_message_size_limit);
	tcase_add_test(hostile, test_resolve_request_host);
	tcase_add_test(hostile, test_resolve_reply_fields);
	tcase_add_test(hostile, test_node_state_range);
	tcase_add_test(hostile, test_mutations_never_crash);
	suite_add_tcase(s, hostile);
	return s;
}

int main()
{
	return run_check_suites({channel_protocol_suite()});
}
