// The backend half of a worker session; see backend_side.hpp.
#include "backend_side.hpp"

#include "worker/cluster_state.hpp"
#include "worker/connection_util.hpp"
#include "worker/session_log.hpp"
#include "worker/session_metrics.hpp"

#include "common/log.hpp"
#include "common/mysql_capabilities.hpp"

#include <systemd/sd-event.h>

#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace myproxy {

/* Without monitoring, how many nodes one login tries before it gives up (the first included): enough
 * to get past one or two nodes that are down, few enough that a dead cluster fails fast. */
static constexpr std::size_t cluster_connect_attempts_max = 3;

BackendSide::BackendSide(sd_event *event_, const ClusterState &clusters_, BackendPool &pool_, const SessionLog &log_,
			 IoHandler on_io_, void *userdata_) noexcept
	: event(event_), clusters(clusters_), pool(pool_), log(log_), on_io(on_io_), userdata(userdata_)
{
}

void BackendSide::backend_io(std::uint32_t revents) noexcept
{
	/* The session may be gone when this returns: nothing of this object is touched after. */
	on_io(source.get(), fd(), revents, userdata);
}

std::uint32_t BackendSide::login_events() const noexcept
{
	if (init_db)
		return EPOLLIN;
	return link ? link->poll_events() : 0;
}

BackendSide::~BackendSide() noexcept
{
	close();
}

void BackendSide::close() noexcept
{
	source.reset();
	link.reset();
	handshake.reset();
	init_db.reset();
	events = 0;
}

void BackendSide::format_address(char *buffer, std::size_t size) const noexcept
{
	format_socket_address(backend_address, buffer, size);
}

bool BackendSide::poll(std::uint32_t wanted) noexcept
{
	if (!source || wanted == events)
		return true;
	if (sd_event_source_set_io_events(source.get(), wanted) < 0)
		return false;
	events = wanted;
	return true;
}

const BackendLoginError &BackendSide::error() const noexcept
{
	static const BackendLoginError close_only{std::nullopt, ER_UNKNOWN_ERROR, {}, true};
	return failure ? *failure : close_only;
}

BackendSide::Step BackendSide::fail(const ServerError &error, std::string message)
{
	failure = std::make_unique<BackendLoginError>();
	failure->error = error;
	failure->message = std::move(message);
	return Step::failed;
}

/* --- the login ------------------------------------------------------------------------------ */

ClientLoginParams BackendSide::login_params(const ConnectAction &action, std::vector<ConnectAttr> &attrs) const
{
	attrs.reserve(action.attributes.size());
	for (const auto &[key, value] : action.attributes)
		attrs.push_back({key, value});
	ClientLoginParams params;
	params.user = action.user;
	if (action.password)
		params.password = *action.password;
	params.password_sha1 = action.password_sha1;
	params.database = action.database;
	params.attrs = attrs;
	/* Exactly what the client negotiated, apart from what each side terminates (the login adds its
	 * own needs); what the relay cannot do without must be offered (common/backend_offer.hpp). */
	params.capabilities = client.capabilities;
	params.mariadb_capabilities = client.mariadb_capabilities;
	params.required_capabilities =
		(std::uint64_t(client.mariadb_capabilities) << 32 | client.capabilities) & backend_required_capabilities;
	params.allow_clear_password = action.allow_cleartext;
	/* A local socket is as private as TLS: the password may go as it is (as MySQL's clients do). */
	params.secure_transport = backend_address.family() == AF_UNIX;
	params.server_public_key = action.server_public_key;
	if (client.character_set != 0)
		params.character_set = client.character_set;
	if (client.max_packet_size != 0)
		params.max_packet_size = client.max_packet_size;
	return params;
}

BackendSide::Step BackendSide::connect(ConnectAction &action, const ClientSessionParams &client_params,
				       std::string_view account)
{
	client = client_params;
	plan = std::make_unique<LoginPlan>();
	if (action.cluster) {
		if (!choose_node(action, account))
			return fail(ER_UNKNOWN_ERROR, "myproxy: internal error");
	} else {
		backend_address = action.address;
	}
	user = action.user;

	std::vector<ConnectAttr> attrs;
	ClientLoginParams params = login_params(action, attrs);
	params.ssl = action.ssl;
	params.compress = action.compress;
	read_timeout = action.read_timeout_usec;
	plan->tls.context = action.ssl_context;
	plan->tls.verify = action.ssl_verify;
	/* Without ssl_server_name the link verifies the IP address of each node it connects to. */
	plan->tls.server_name = action.ssl_server_name;
	/* Also for a taken connection: a failed COM_INIT_DB falls back to a fresh login. */
	handshake = std::make_unique<BackendHandshake>(params, false, login_packet_max);
	if (action.reuse_per_key != 0 && pool.accepting()) {
		const ReuseLoginContext context{account, &backend_address,
						std::uint64_t(client.mariadb_capabilities) << 32 | client.capabilities,
						client.character_set, client.max_packet_size};
		reuse_per_key = action.reuse_per_key;
		if (const std::optional<ReuseKey> key = pool.key(action, context)) {
			reuse_key = std::make_unique<ReuseKey>(*key);
			return take_idle(action, account);
		}
	}
	return start_connect();
}

/* --- reuse ---------------------------------------------------------------------------------- */

BackendSide::Step BackendSide::take_idle(const ConnectAction &action, std::string_view)
{
	std::unique_ptr<ParkedBackend> parked = pool.take(*reuse_key, action.database);
	if (!parked)
		return start_connect();
	link = std::move(parked->link);
	source = std::move(parked->source);
	events = parked->events;
	established = std::move(parked->session);
	born_usec = parked->born_usec;
	sd_event_source_set_userdata(source.get(), static_cast<BackendIoTarget *>(this));
	log(LogLevel::debug, "reusing backend connection %u (schema '%s')", established.connection_id,
	    parked->database.c_str());
	if (parked->database == action.database)
		return Step::logged_in;
	try {
		init_db = std::make_unique<ReuseInitDb>(established.capabilities, action.database);
	} catch (const std::bad_alloc &) {
		return start_connect();
	}
	const ByteSpan request = init_db->request();
	if (link->stream().write(request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
		log(LogLevel::info, "reused backend connection %u: cannot send COM_INIT_DB; logging in afresh",
		    established.connection_id);
		init_db.reset();
		return start_connect();
	}
	return Step::waiting;
}

BackendSide::Step BackendSide::init_db_event()
{
	std::uint8_t buffer[1024];
	const ssize_t n = link->stream().read(buffer, sizeof(buffer));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return Step::waiting;
	const ReuseStatus status = n > 0 ? init_db->feed(ByteSpan(buffer, std::size_t(n))) : ReuseStatus::failed;
	if (status == ReuseStatus::waiting)
		return Step::waiting;
	const std::uint32_t id = established.connection_id;
	const char *why = n > 0 ? init_db->failure() : "the server closed it";
	init_db.reset();
	if (status == ReuseStatus::clean)
		return Step::logged_in;
	/* The server's own answer to a bad schema comes with the fresh login. */
	log(LogLevel::info, "reused backend connection %u: %s; logging in afresh", id, why);
	return start_connect();
}

void BackendSide::park(std::string account)
{
	if (!reusing())
		return;
	auto parked = std::make_unique<ParkedBackend>();
	parked->link = std::move(link);
	parked->source = std::move(source);
	parked->events = events;
	parked->session = established;
	parked->address = backend_address;
	parked->cluster = cluster_index;
	parked->node = cluster_node;
	parked->user = user;
	parked->born_usec = born_usec;
	events = 0;
	pool.park(*reuse_key, reuse_per_key, std::move(account), std::move(parked));
}

bool BackendSide::choose_node(const ConnectAction &action, std::string_view account)
{
	const ClusterConfig *config = clusters.config(*action.cluster);
	if (config == nullptr || config->nodes.empty()) {
		log(LogLevel::error, "client:connect() named cluster %u, which the configuration does not have",
		    *action.cluster);
		return false;
	}
	cluster_index = *action.cluster;
	read_only_connection = action.read_only;
	const NodePreference preference = ClusterState::preference(*config, action.read_only);
	/* As upstream (myproxy.lua(5)): the account decides; without one, the empty string. */
	clusters.rank(*cluster_index, preference, account, plan->node_order);
	plan->node_attempt = 0;
	cluster_node = plan->node_order.front();
	backend_address = config->nodes[cluster_node].address;
	const NodeState state = clusters.state(*cluster_index, cluster_node);
	if (node_tier(state, preference) == 2)
		log(LogLevel::warning, "no node of cluster %u is available; trying %s (%s) anyway", *cluster_index,
		    config->nodes[cluster_node].name.c_str(), node_state_name(state));
	else
		log(LogLevel::debug, "cluster %u: node %s (%s) for '%.*s'", *cluster_index,
		    config->nodes[cluster_node].name.c_str(), node_state_name(state), static_cast<int>(account.size()),
		    account.data());
	return true;
}

BackendSide::Step BackendSide::start_connect()
{
	source.reset();
	link.reset();
	events = 0;
	link = std::make_unique<BackendLink>(*handshake, plan->tls);
	if (link->connect(backend_address) == BackendLink::Event::FAILED)
		return link_failed();
	events = link->poll_events();
	if (sd_event_add_io(event, source.out(), link->fd(), events, backend_io_trampoline,
			    static_cast<BackendIoTarget *>(this)) < 0) {
		log(LogLevel::error, "cannot watch the backend socket");
		return fail(ER_UNKNOWN_ERROR, "myproxy: internal error");
	}
	return Step::waiting;
}

BackendSide::Step BackendSide::handle(std::uint32_t revents)
{
	if (init_db)
		return init_db_event();
	return link_event(link->handle(revents));
}

BackendSide::Step BackendSide::deadline_passed()
{
	char backend[socket_address_text_max];
	format_address(backend, sizeof(backend));
	log(LogLevel::warning, "login deadline: backend %s did not answer", backend);
	char message[socket_address_text_max + 64];
	std::snprintf(message, sizeof(message), "myproxy: backend %s did not answer in time", backend);
	return fail(ER_UNKNOWN_ERROR, message);
}

BackendSide::Step BackendSide::link_event(BackendLink::Event link_event)
{
	switch (link_event) {
	case BackendLink::Event::WAITING:
		break;
	case BackendLink::Event::TLS_ESTABLISHED: {
		metrics_tls_handshake(true);
		char backend[socket_address_text_max];
		format_address(backend, sizeof(backend));
		log(LogLevel::debug, "TLS with backend %s established", backend);
		break;
	}
	case BackendLink::Event::DONE:
		return handshake->logged_in() ? logged_in() : handshake_failed();
	case BackendLink::Event::FAILED:
		return link_failed();
	}
	return Step::waiting;
}

/* The connection to the backend failed under the login: the client hears why, in our words. */
BackendSide::Step BackendSide::link_failed()
{
	const BackendLinkFailure &link_failure = link->failure();
	char backend[socket_address_text_max];
	format_address(backend, sizeof(backend));
	const char *reason =
		link_failure.error == tls_errno ? link_failure.reason.c_str() : std::strerror(link_failure.error);
	switch (link_failure.kind) {
	case BackendLinkFailure::Kind::CONNECT:
		return connect_failed(link_failure.error);
	case BackendLinkFailure::Kind::SEND:
	case BackendLinkFailure::Kind::RECEIVE:
		log(LogLevel::warning, "%s backend %s failed: %s",
		    link_failure.kind == BackendLinkFailure::Kind::SEND ? "send to" : "receive from", backend, reason);
		return fail(ER_UNKNOWN_ERROR, "myproxy: lost the connection to the backend");
	case BackendLinkFailure::Kind::CLOSED:
		log(LogLevel::warning, "backend %s closed the connection during the login", backend);
		return fail(ER_UNKNOWN_ERROR, "myproxy: the backend closed the connection");
	case BackendLinkFailure::Kind::TLS_START:
		log(LogLevel::error, "cannot start TLS with backend %s: %s", backend, link_failure.reason.c_str());
		return fail(ER_UNKNOWN_ERROR, "myproxy: TLS to the backend failed");
	case BackendLinkFailure::Kind::TLS_HANDSHAKE: {
		metrics_tls_handshake(false);
		log(LogLevel::warning, "TLS with backend %s failed: %s", backend, link_failure.reason.c_str());
		char message[socket_address_text_max + 320];
		std::snprintf(message, sizeof(message), "myproxy: TLS to backend %s failed: %.256s", backend,
			      link_failure.reason.c_str());
		return fail(ER_UNKNOWN_ERROR, message);
	}
	case BackendLinkFailure::Kind::OUT_OF_MEMORY:
		break;
	}
	log(LogLevel::error, "backend login: out of memory");
	failure.reset(); /* close_only */
	return Step::failed;
}

BackendSide::Step BackendSide::connect_failed(int error)
{
	char backend[socket_address_text_max];
	format_address(backend, sizeof(backend));
	const ClusterConfig *config = cluster_index ? clusters.config(*cluster_index) : nullptr;
	const std::size_t attempts = std::min(plan->node_order.size(), cluster_connect_attempts_max);
	if (config != nullptr && !config->monitoring && plan->node_attempt + 1 < attempts) {
		cluster_node = plan->node_order[++plan->node_attempt];
		backend_address = config->nodes[cluster_node].address;
		log(LogLevel::warning, "connect to backend %s failed: %s; trying node %s", backend, std::strerror(error),
		    config->nodes[cluster_node].name.c_str());
		return start_connect();
	}
	log(LogLevel::warning, "connect to backend %s failed: %s", backend, std::strerror(error));
	metrics_backend_login(backend_address, false);
	char message[socket_address_text_max + 128];
	std::snprintf(message, sizeof(message), "myproxy: backend %s unreachable: %s", backend, std::strerror(error));
	return fail(ER_UNKNOWN_ERROR, message);
}

/* The backend's packets ended the login without success. */
BackendSide::Step BackendSide::handshake_failed()
{
	const BackendHandshakeFailure &handshake_failure = handshake->failure();
	char backend[socket_address_text_max];
	format_address(backend, sizeof(backend));
	switch (handshake_failure.kind) {
	case BackendHandshakeFailure::Kind::LOGIN:
		return login_failed(handshake_failure.login);
	case BackendHandshakeFailure::Kind::DATA_BEFORE_TLS:
		log(LogLevel::warning, "backend %s: %s", backend, handshake_failure.message.c_str());
		return fail(ER_UNKNOWN_ERROR, "myproxy: TLS to the backend failed");
	default:
		log(LogLevel::warning, "backend %s: malformed packet during login: %s", backend,
		    handshake_failure.message.c_str());
		return fail(ER_UNKNOWN_ERROR, "myproxy: the backend sent a malformed packet");
	}
}

BackendSide::Step BackendSide::login_failed(const ClientLoginFailure &login)
{
	metrics_backend_login(backend_address, false);
	if (login.kind == ClientLoginFailure::Kind::MISSING_CAPABILITY)
		return missing_capability(login.missing);
	char backend[socket_address_text_max];
	format_address(backend, sizeof(backend));
	if (login.kind == ClientLoginFailure::Kind::SERVER_ERROR) {
		log(LogLevel::info, "backend %s refused user '%s': %u %s", backend, user.c_str(), login.error_code,
		    login.message.c_str());
		/* The backend's own error, code, SQLSTATE and text unchanged. */
		failure = std::make_unique<BackendLoginError>();
		failure->server = login;
		return Step::failed;
	}
	log(LogLevel::warning, "login to backend %s failed: %s", backend, login.message.c_str());
	if (login.kind == ClientLoginFailure::Kind::TLS_UNAVAILABLE) {
		char message[socket_address_text_max + 128];
		std::snprintf(message, sizeof(message),
			      "myproxy: backend %s does not offer TLS, which ssl = true requires", backend);
		return fail(ER_UNKNOWN_ERROR, message);
	}
	char message[socket_address_text_max + 64];
	std::snprintf(message, sizeof(message), "myproxy: login to backend %s failed", backend);
	return fail(ER_UNKNOWN_ERROR, message);
}

BackendSide::Step BackendSide::logged_in()
{
	established = handshake->success();
	sd_event_now(event, CLOCK_MONOTONIC, &born_usec);
	metrics_backend_login(backend_address, true);
	return Step::logged_in;
}

/* The client negotiated (from our greeting) what this backend's greeting lacks: the login stopped
 * before the backend saw a HandshakeResponse41, and the client hears which flag and why. */
BackendSide::Step BackendSide::missing_capability(std::uint64_t missing)
{
	char backend[socket_address_text_max];
	format_address(backend, sizeof(backend));
	const char *flag = capability_name64(missing & -missing);
	const auto &offer = handshake->offer();
	const std::string version = offer ? offer->server_version.substr(0, 64) : std::string("?");
	log(LogLevel::warning, "backend %s (%s) does not offer %s, which the client negotiated", backend,
	    version.c_str(), flag);
	char message[socket_address_text_max + 256];
	std::snprintf(message, sizeof(message),
		      "myproxy: backend %s (%s) does not offer %s, which this client negotiated; connect without it",
		      backend, version.c_str(), flag);
	return fail(ER_UNKNOWN_ERROR, message);
}

std::string_view BackendSide::server_version() const noexcept
{
	std::string_view version = established.server_version;
	if (version.starts_with("5.5.5-") && version.find("MariaDB") != std::string_view::npos)
		version.remove_prefix(6);
	return version;
}

bool BackendSide::out_of_turn(std::uint32_t revents) noexcept
{
	if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return true;
	if (!peer_spoke_out_of_turn(fd(), revents)) {
		char backend[socket_address_text_max];
		format_address(backend, sizeof(backend));
		log(LogLevel::warning, "backend %s went away during the login", backend);
		return false;
	}
	spoke_out_of_turn = true;
	return true;
}

/* --- the established session ------------------------------------------------------------------ */

bool BackendSide::same_backend(const ConnectAction &action) const noexcept
{
	/* A COM_CHANGE_USER into the same cluster stays on the node it has. */
	if (action.cluster || cluster_index)
		return action.cluster == cluster_index;
	return action.address == backend_address;
}

void BackendSide::user_changed(std::string new_user, const ClientLoginSuccess &session)
{
	/* The key was the first login's: the session is no more what it names. */
	reuse_key.reset();
	user = std::move(new_user);
	established = session;
}

} // namespace myproxy
