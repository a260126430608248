// The backend half of a worker session: client:connect()'s action turned into a backend login over
// one common/backend_link (connect, TLS, ClientLogin), the node of a cluster chosen and, without
// monitoring, the next node tried when a connect fails; then the established link the relay uses,
// and what the session's COM_CHANGE_USER needs to know about the backend's login.  It owns the
// backend's socket and its sd-event source; the session (worker/client_connection) feeds it the
// wake-ups and hears back waiting, logged in, or failed with what the client is to be told.
// Never logs a password, never blocks.
#pragma once

#include "common/backend_link.hpp"
#include "common/event_source.hpp"
#include "common/mysql_errors.hpp"
#include "common/node_state.hpp"
#include "common/socket_address.hpp"
#include "lua/lua_action.hpp"
#include "worker/backend_pool.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;

namespace myproxy {

class ClusterState;
class SessionLog;

/* What the client hears when the backend login fails: the backend's own ERR verbatim (server), or
 * one of ours; close_only when nothing can be said. */
struct BackendLoginError {
	std::optional<ClientLoginFailure> server;
	ServerError error = ER_UNKNOWN_ERROR;
	std::string message;
	bool close_only = false;
};

/* What the client asked for at login, which the backend login passes on. */
struct ClientSessionParams {
	std::uint32_t capabilities = 0;
	std::uint8_t character_set = 0;
	std::uint32_t max_packet_size = 0;
	/* MariaDB's extended capabilities (unshifted). */
	std::uint32_t mariadb_capabilities = 0;
};

class BackendSide final : private BackendIoTarget {
public:
	enum class Step : std::uint8_t { waiting, logged_in, failed };
	using IoHandler = int (*)(sd_event_source *, int, std::uint32_t, void *);

	/* @on_io with @userdata receives the backend socket's wake-ups (the session's trampoline);
	 * @pool holds the idle connections of client:connect()'s reuse. */
	BackendSide(sd_event *event, const ClusterState &clusters, BackendPool &pool, const SessionLog &log,
		    IoHandler on_io, void *userdata) noexcept;
	~BackendSide() noexcept;

	BackendSide(const BackendSide &) = delete;
	BackendSide &operator=(const BackendSide &) = delete;

	/* Starts the login the script's @action asks for, on behalf of a client that negotiated
	 * @client; @account picks the node of a cluster.  With the option reuse, an idle connection of
	 * the same key is taken instead when there is one (COM_INIT_DB first when its schema differs). */
	Step connect(ConnectAction &action, const ClientSessionParams &client, std::string_view account);
	/* A wake-up of the backend socket while the login runs. */
	Step handle(std::uint32_t revents);
	/* The login deadline passed while the backend was connecting or logging in: Step::failed. */
	Step deadline_passed();
	/* Why the last Step::failed. */
	const BackendLoginError &error() const noexcept;

	/* Polls the backend socket for @events: the link's own needs while it logs in (pass
	 * login_events()), later the stream's translation of the relay's wishes. */
	bool poll(std::uint32_t events) noexcept;
	std::uint32_t login_events() const noexcept;
	bool connected() const noexcept { return link != nullptr; }
	int fd() const noexcept { return link ? link->fd() : -1; }
	/* The socket's sd-event source (nullptr when none): the relay switches it off while the
	 * worker's RelayPoller watches the socket (worker/command_phase). */
	sd_event_source *io_source() const noexcept { return source.get(); }
	StreamSocket &stream() noexcept { return link->stream(); }
	/* Bytes the backend sent behind its OK, for the relay (valid until login_done()). */
	std::vector<std::uint8_t> &early_bytes() noexcept { return handshake->rest(); }
	/* The relay runs: the login's state (and its copy of the password) goes. */
	void login_done() noexcept
	{
		handshake.reset();
		plan.reset();
	}
	/* A wake-up after the login, before the relay: data stays unread and the socket is muted;
	 * false when the backend went away (logged). */
	bool out_of_turn(std::uint32_t revents) noexcept;
	bool muted() const noexcept { return spoke_out_of_turn; }
	/* Closes the backend connection (and its source); what the session learned stays. */
	void close() noexcept;

	/* The script asked for reuse and this session's login may be reused (worker/session_reuse). */
	bool reusing() const noexcept { return reuse_key != nullptr && link != nullptr && pool.accepting(); }
	/* The session ended cleanly: the connection goes to the pool (which resets it), and this side
	 * is left without one. */
	void park(std::string account);
	/* What the backend login (or the last change of user) learned: COM_CHANGE_USER starts from it. */
	const ClientLoginSuccess &session() const noexcept { return established; }
	/* The server version to show scripts: MariaDB 10+ prefixes "5.5.5-" for the sake of old
	 * replication clients; scripts want the real version, as clients show it. */
	std::string_view server_version() const noexcept;
	const SocketAddress &address() const noexcept { return backend_address; }
	/* The address as text, for log lines and messages. */
	void format_address(char *buffer, std::size_t size) const noexcept;
	std::uint64_t read_timeout_usec() const noexcept { return read_timeout; }
	/* The backend's user (the login's, or the last change of user's). */
	const std::string &login_user() const noexcept { return user; }

	/* Whether @action names the backend (or the cluster) this session is on. */
	bool same_backend(const ConnectAction &action) const noexcept;
	/* The backend login's parameters for the script's @action (views into it and @attrs). */
	ClientLoginParams login_params(const ConnectAction &action, std::vector<ConnectAttr> &attrs) const;
	/* The backend accepted a COM_CHANGE_USER to @user. */
	void user_changed(std::string user, const ClientLoginSuccess &session);

	/* The cluster node this session relays to, if any. */
	std::optional<std::uint32_t> cluster() const noexcept { return cluster_index; }
	std::uint32_t node() const noexcept { return cluster_node; }
	bool read_only() const noexcept { return read_only_connection; }

private:
	sd_event *event;
	const ClusterState &clusters;
	BackendPool &pool;
	const SessionLog &log;
	IoHandler on_io;
	void *userdata;

	/* The login, and the link that carries it and then is the relay's backend stream; the link
	 * goes first (members are destroyed in reverse). */
	std::unique_ptr<BackendHandshake> handshake;
	std::unique_ptr<BackendLink> link;
	EventSource source;
	std::uint32_t events = 0;
	bool spoke_out_of_turn = false;
	SocketAddress backend_address;
	std::uint64_t read_timeout = 0;
	ClientSessionParams client;
	/* Why the last Step::failed; none means close_only (out of memory). */
	std::unique_ptr<BackendLoginError> failure;

	/* client:connect() named a cluster: its index, the chosen node. */
	std::optional<std::uint32_t> cluster_index;
	std::uint32_t cluster_node = 0;
	bool read_only_connection = false;
	/* What only the login needs, from connect() to login_done(): the link's TLS settings, and the
	 * order of nodes to try (cluster_state.hpp; node_attempt indexes node_order).  Held apart so
	 * that an idle session does not keep it (doc/performance.md, "Memory per idle connection"). */
	struct LoginPlan {
		BackendLinkTls tls;
		std::vector<std::uint32_t> node_order;
		std::size_t node_attempt = 0;
	};
	std::unique_ptr<LoginPlan> plan;

	std::string user;
	ClientLoginSuccess established;

	/* reuse: the login's key (unset without the option, or after a change of user), how many of
	 * that key the pool may keep, when the backend login happened, and COM_INIT_DB on a taken
	 * connection whose schema differs. */
	std::unique_ptr<ReuseKey> reuse_key;
	std::uint16_t reuse_per_key = 0;
	std::uint64_t born_usec = 0;
	std::unique_ptr<ReuseInitDb> init_db;

	void backend_io(std::uint32_t revents) noexcept override;
	Step take_idle(const ConnectAction &action, std::string_view account);
	Step init_db_event();

	bool choose_node(const ConnectAction &action, std::string_view account);
	Step start_connect();
	Step link_event(BackendLink::Event event);
	Step link_failed();
	Step connect_failed(int error);
	Step handshake_failed();
	Step login_failed(const ClientLoginFailure &login);
	Step logged_in();
	Step missing_capability(std::uint64_t missing);
	Step fail(const ServerError &error, std::string message);
};

} // namespace myproxy
