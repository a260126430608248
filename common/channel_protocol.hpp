// The master/worker channel: every message the two sides exchange, and its codec.  This header is
// the only definition of the channel.  Both sides run the same binary and still validate every
// message: what a worker sends is gossip, and a worker that sends garbage is ended, never the
// master.  Pure: no I/O, and decoding allocates nothing (strings are views into the received
// bytes).  The fds travel beside the bytes; see channel_socket.hpp.
//
// Wire format (host byte order is irrelevant: little-endian throughout, like the MySQL protocol):
//   header  u16 type, u16 flags (per type; unknown bits rejected), u32 payload length
//   payload fixed-size fields, then strings as u16 length + bytes (no NUL, bounded per field)
#pragma once

#include "byte_reader.hpp"
#include "node_state.hpp"
#include "socket_address.hpp"
#include "parse_result.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

namespace myproxy {

/* Size of the fixed header in front of every payload. */
inline constexpr std::size_t channel_header_size = 8;
/* Largest message (header + payload) either side sends or accepts: the receive buffer size. */
inline constexpr std::size_t channel_max_message_size = 8192;
/* Most fds one message carries (NEW_CLIENT: the client socket). */
inline constexpr std::size_t channel_max_fds = 1;
/* Bounds on the variable-length fields. */
inline constexpr std::size_t channel_max_peer_address = 128; /* sizeof(struct sockaddr_storage) */
inline constexpr std::size_t channel_max_cgroup_path = 4096;
inline constexpr std::size_t channel_max_account_name = 256;
inline constexpr std::size_t channel_max_host_name = host_name_max;
inline constexpr std::size_t channel_max_resolve_error = 255;
inline constexpr std::size_t channel_max_server_version = 250; /* backend_version_max */
/* RESOLVE_REQUESTs one worker may have unanswered; one more is a protocol violation (the worker
   refuses the lookup itself before it gets there). */
inline constexpr std::size_t channel_max_resolves_per_worker = 64;
/* KILL_REQUESTs one worker may have unanswered (the worker refuses more KILLs itself), and the
   bounds of the requester's backend server (its address as text) and backend user. */
inline constexpr std::size_t channel_max_kills_per_worker = 64;
inline constexpr std::size_t channel_max_kill_server = 512; /* socket_address_text_max */
inline constexpr std::size_t channel_max_kill_user = 512;

/* Which way a message travels; each type has exactly one. */
enum class ChannelDirection : std::uint8_t { master_to_worker, worker_to_master };

/* The message types; the values are the wire format, never renumber them. */
enum class ChannelMessageType : std::uint16_t {
	new_client = 1,
	connection_closed = 2,
	/* 3 was RELOAD (a reload is now a new generation of workers, which run reload() as they
	   start); never reuse it. */
	drain = 4,
	worker_ready = 5,
	node_state = 6,
	/* 7 and 8 were STATS_REQUEST and STATS_REPLY (counters now come from a shared page per
	   worker); never reuse them, so an old peer's message stays an unknown type. */
	disconnect_account = 9,
	heartbeat = 10,
	heartbeat_reply = 11,
	node_suspect = 12,
	resolve_request = 13,
	resolve_reply = 14,
	kill_request = 15,
	kill_order = 16,
	kill_result = 17,
	backend_offer = 18,
	retire = 21,
};

/* What the master learned about one accepted client, before the worker sees a byte of it. */
struct ClientInfo {
	/* The connection id the master assigned (master/connection_ids): 1..2^32-1, unique among
	   the master's live clients over all workers and generations, increasing until it wraps.
	   The greeting carries it; CONNECTION_CLOSED and KILL refer to it. */
	std::uint64_t client_id = 0;
	/* Index of the listener (in configuration order) that accepted the client. */
	std::uint32_t listener_index = 0;
	/* Whether SO_PEERCRED gave pid/uid/gid (UNIX sockets only); if not, all three are 0. */
	bool has_credentials = false;
	/* The client process, its user and group, as SO_PEERCRED reported them (pid >= 0; 0 when
	   the peer is in another pid namespace). */
	std::int32_t pid = 0;
	std::uint32_t uid = 0;
	std::uint32_t gid = 0;
	/* st_dev and st_ino of the client socket as the master saw them; the worker fstat()s the
	   received fd and compares, so a mix-up of fds is caught before the socket is used. */
	std::uint64_t socket_device = 0;
	std::uint64_t socket_inode = 0;
	/* The peer's address as accept() returned it (struct sockaddr bytes, at most
	   channel_max_peer_address, at least the address family when not empty). */
	ByteSpan peer_address;
	/* The client's cgroup v2 path from /proc/PID/cgroup ("/user.slice/..."); empty when
	   unknown.  At most channel_max_cgroup_path bytes, no NUL. */
	std::string_view cgroup_path;
	/* The "user.*" and "trusted.*" extended attributes of that cgroup and its ancestors, as one
	   blob in the format of common/cgroup_xattrs.hpp (validated by the decoder); empty when none
	   or the cgroup is unknown. */
	ByteSpan cgroup_xattrs;
};

/* master -> worker: take over a client.  fds: the client socket.  (No pidfd: the master opens one
   only to read the cgroup of a live process; a worker would have no use for it.) */
struct NewClientMessage {
	static constexpr ChannelMessageType type = ChannelMessageType::new_client;
	ClientInfo info;
};

/* worker -> master: a client received with NEW_CLIENT is gone, so the master's load count for
   this worker drops by one.  No fds. */
struct ConnectionClosedMessage {
	static constexpr ChannelMessageType type = ChannelMessageType::connection_closed;
	/* The client_id from the NEW_CLIENT that brought the client. */
	std::uint64_t client_id = 0;
};

/* master -> worker: stop taking clients, let existing connections finish, exit when done or
   when the timeout expires (remaining connections are closed). */
struct DrainMessage {
	static constexpr ChannelMessageType type = ChannelMessageType::drain;
	/* How long connections may continue, in milliseconds. */
	std::uint32_t timeout_ms = 0;
};

/* worker -> master: privileges are dropped and the sandbox is loaded; the master hands clients
   only to workers that said this.  Empty payload; the worker may send it only once. */
struct WorkerReadyMessage {
	static constexpr ChannelMessageType type = ChannelMessageType::worker_ready;
};

/* master -> worker: a node's state changed (a new worker first gets one per monitored node). */
struct NodeStateMessage {
	static constexpr ChannelMessageType type = ChannelMessageType::node_state;
	/* Cluster and node indexes in configuration order; workers inherited the same
	   configuration through fork(), so the indexes name the same objects.  The worker checks
	   them against its configuration. */
	std::uint32_t cluster_index = 0;
	std::uint32_t node_index = 0;
	NodeState state = NodeState::unknown;
};

/* master -> worker: close every connection of this account (control DISCONNECT_DATABASE). */
struct DisconnectAccountMessage {
	static constexpr ChannelMessageType type = ChannelMessageType::disconnect_account;
	/* The account name as the Lua handler set it; 1..channel_max_account_name bytes, no NUL. */
	std::string_view account;
};

/* master -> worker: are you alive?  The worker answers with HEARTBEAT_REPLY from its event loop;
   one that stays silent (stopped, livelocked) gets no clients and is replaced. */
struct HeartbeatMessage {
	static constexpr ChannelMessageType type = ChannelMessageType::heartbeat;
	/* Echoed in the reply. */
	std::uint64_t sequence = 0;
};

/* worker -> master: the answer to HEARTBEAT. */
struct HeartbeatReplyMessage {
	static constexpr ChannelMessageType type = ChannelMessageType::heartbeat_reply;
	std::uint64_t sequence = 0;
};

/* worker -> master: a node of a cluster let a command wait past the connection's read_timeout;
   the master checks it at once instead of at its next check_interval. */
struct NodeSuspectMessage {
	static constexpr ChannelMessageType type = ChannelMessageType::node_suspect;
	std::uint32_t cluster_index = 0;
	std::uint32_t node_index = 0;
};

/* worker -> master: look up a host name for mysql_resolve() in a callback (the sandbox has no
   resolver).  The master answers every request with RESOLVE_REPLY unless the worker is gone; at
   most channel_max_resolves_per_worker may be unanswered. */
struct ResolveRequestMessage {
	static constexpr ChannelMessageType type = ChannelMessageType::resolve_request;
	/* Chosen by the worker, unique among its unanswered requests; echoed in the reply. */
	std::uint64_t request_id = 0;
	/* 1..channel_max_host_name bytes that is_host_name() accepts (letters, digits, '-', '.',
	   '_'); no port: the worker keeps it. */
	std::string_view host;
};

/* master -> worker: the answer to RESOLVE_REQUEST.  Exactly one of address and error is set. */
struct ResolveReplyMessage {
	static constexpr ChannelMessageType type = ChannelMessageType::resolve_reply;
	std::uint64_t request_id = 0;
	/* The first IPv4 (4 bytes) or IPv6 (16 bytes) address found, network byte order. */
	ByteSpan address;
	/* Why the lookup failed: 1..channel_max_resolve_error bytes, no NUL. */
	std::string_view error;
};

/* master -> worker: what the listeners' greetings announce from now on (common/backend_offer.hpp),
   learned from the backends' greetings; sent when it changes, and first to a new worker once
   anything is known.  Until then a worker announces default_announcement(). */
struct BackendOfferMessage {
	static constexpr ChannelMessageType type = ChannelMessageType::backend_offer;
	/* The greeting's flags, MariaDB's extended ones shifted up by 32. */
	std::uint64_t capabilities = 0;
	std::uint8_t collation = 0;
	/* 1..channel_max_server_version bytes, no NUL. */
	std::string_view server_version;
};

/* master -> worker: a reload replaced this worker's generation (WorkerPool::retire()).  The
   worker closes its idle backend connections at once and parks none from now on: its sessions
   run on and end as they would, their backend connections closed, never kept.  DRAIN follows
   once the master knows the worker has no session left.  Empty payload; a second one changes
   nothing. */
struct RetireMessage {
	static constexpr ChannelMessageType type = ChannelMessageType::retire;
};

/* How a KILL of another worker's session went (KILL_ORDER answers, KILL_RESULT).  The values are
   the wire format. */
enum class KillOutcome : std::uint8_t {
	/* KILL_REQUEST, and a KILL_ORDER to the target's worker: not decided yet. */
	pending = 0,
	/* No session in the relay has that id (never had, or it just ended): the statement goes to
	   the backend unchanged. */
	unknown = 1,
	/* The target is on the requester's backend server: the requester sends KILL with
	   backend_thread over its own backend connection, so the server checks the privileges. */
	same_server = 2,
	/* Different servers, different backend users: ERR 1095 to the requester. */
	not_owner = 3,
	/* Different servers, same backend user: the target's worker closed the session; OK. */
	done = 4,
};

/* The fields all three KILL messages carry (one layout, one codec): a KILL [CONNECTION | QUERY]
   of connection id @target (a master-assigned one, see ClientInfo::client_id) that a session in
   another worker asked for.  KILL_REQUEST (worker -> master) -> KILL_ORDER to the target's worker
   -> KILL_RESULT (worker -> master) -> KILL_ORDER with the answer to the requester's worker. */
struct KillFields {
	/* KILL_REQUEST and the answering KILL_ORDER: the requester's request id (unique among its
	   unanswered ones); the ordering KILL_ORDER and KILL_RESULT: the master's ticket. */
	std::uint64_t tag = 0;
	/* The connection id named in the KILL (never 0). */
	std::uint32_t target = 0;
	/* KILL QUERY (true) or KILL CONNECTION. */
	bool query = false;
	/* pending in KILL_REQUEST and in an ordering KILL_ORDER, never pending in the others. */
	KillOutcome outcome = KillOutcome::pending;
	/* same_server: the target's backend thread id; else 0. */
	std::uint32_t backend_thread = 0;
	/* Only while pending: the requester's backend server (address text) and backend user;
	   server 1..channel_max_kill_server bytes, user at most channel_max_kill_user, no NUL. */
	std::string_view server;
	std::string_view user;
};

/* worker -> master: a session asked to KILL @target, which this worker does not hold; the master
   answers every request with a KILL_ORDER carrying the outcome (unless the worker is gone); at
   most channel_max_kills_per_worker may be unanswered. */
struct KillRequestMessage : KillFields {
	static constexpr ChannelMessageType type = ChannelMessageType::kill_request;
};

/* master -> worker: outcome pending: decide on the KILL of @target, which this worker holds, and
   answer with KILL_RESULT (tag: the master's ticket).  Any other outcome: the answer to this
   worker's KILL_REQUEST @tag. */
struct KillOrderMessage : KillFields {
	static constexpr ChannelMessageType type = ChannelMessageType::kill_order;
};

/* worker -> master: the answer to an ordering KILL_ORDER (tag: its ticket). */
struct KillResultMessage : KillFields {
	static constexpr ChannelMessageType type = ChannelMessageType::kill_result;
};

using ChannelMessage = std::variant<NewClientMessage, ConnectionClosedMessage,
				    DrainMessage, WorkerReadyMessage, NodeStateMessage, DisconnectAccountMessage,
				    HeartbeatMessage, HeartbeatReplyMessage, NodeSuspectMessage,
				    ResolveRequestMessage, ResolveReplyMessage, KillRequestMessage,
				    KillOrderMessage, KillResultMessage, BackendOfferMessage, RetireMessage>;

/* "NEW_CLIENT", ...; "unknown" for values outside the enum.  For log lines. */
const char *channel_message_name(ChannelMessageType type) noexcept;

/* Whether @type may travel in @direction: each side rejects what the other must not send. */
bool channel_message_allowed(ChannelDirection direction, ChannelMessageType type) noexcept;

inline ChannelMessageType channel_message_type(const ChannelMessage &message) noexcept
{
	return std::visit([](const auto &m) { return m.type; }, message);
}

/* Appends @message (header and payload) to @out.  Returns how many fds must be sent with the
   bytes, in the order the message documents (NEW_CLIENT: the client socket, then the pidfd if
   has_pidfd).  A message the decoder would reject (a field over its bound) is not appended; the
   error names the field. */
ParseResult<std::size_t> encode_channel_message(std::vector<std::uint8_t> &out,
						const ChannelMessage &message);

/* Validates and decodes one received message: @bytes is everything one recvmsg() returned,
   @fd_count how many fds came with it, @direction the way it travelled (the receiver knows).
   Checks the type is known and allowed in @direction, flags, header length against the size,
   every field and bound, and the exact fd count for the type.  Views point into @bytes. */
ParseResult<ChannelMessage> decode_channel_message(ByteSpan bytes, std::size_t fd_count,
						   ChannelDirection direction) noexcept;

} // namespace myproxy
