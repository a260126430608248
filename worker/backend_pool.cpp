// A worker's pool of idle backend connections; see backend_pool.hpp.
#include "worker/backend_pool.hpp"

#include "common/command_packet.hpp"
#include "common/log.hpp"
#include "common/mysql_capabilities.hpp"
#include "worker/session_metrics.hpp"
#include "lua/lua_action.hpp"

#include <sodium.h>
#include <systemd/sd-event.h>

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace myproxy {

int backend_io_trampoline(sd_event_source *, int, std::uint32_t revents, void *userdata)
{
	static_cast<BackendIoTarget *>(userdata)->backend_io(revents);
	return 0;
}

void ParkedBackend::backend_io(std::uint32_t revents) noexcept
{
	if (pool != nullptr)
		pool->connection_event(*this, revents);
}

/* A connection dropped while idle (age, node state, reload, room for another, DRAIN) says COM_QUIT
 * first, so the server ends the session quietly instead of counting and logging an aborted
 * connection.  Best effort and never waiting: a full or dead socket just closes.  Not during the
 * parking exchange, whose unwritten bytes the goodbye could land in the middle of. */
ParkedBackend::~ParkedBackend()
{
	if (!link || link->fd() < 0 || parking)
		return;
	static constexpr std::uint8_t com_quit_packet[] = {1, 0, 0, 0, COM_QUIT};
	(void)link->stream().write(com_quit_packet, sizeof(com_quit_packet));
}

/* Flags that only shape the login itself, or that each side terminates: two clients differing in
 * them get the same backend session.  Every other flag (FOUND_ROWS, MULTI_STATEMENTS, DEPRECATE_EOF,
 * SESSION_TRACK, LOCAL_FILES, IGNORE_SPACE, INTERACTIVE, MariaDB's extended ones, ...) is in the key. */
static constexpr std::uint64_t login_only_capabilities =
	CLIENT_LONG_PASSWORD | CLIENT_CONNECT_WITH_DB | CLIENT_COMPRESS | CLIENT_SSL | CLIENT_IGNORE_SIGPIPE |
	CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
	CLIENT_SSL_VERIFY_SERVER_CERT | CLIENT_REMEMBER_OPTIONS;

/* Sessions whose replies the parking exchange cannot read (or whose COM_QUERY has another layout):
 * never parked. */
static constexpr std::uint64_t unparkable_capabilities = CLIENT_OPTIONAL_RESULTSET_METADATA | CLIENT_QUERY_ATTRIBUTES;

BackendPool::BackendPool(sd_event *loop, std::size_t max, std::uint64_t max_age_usec)
	: event(loop), max_total(max), idle(max, max_age_usec)
{
	randombytes_buf(secret.data(), secret.size());
}

BackendPool::~BackendPool()
{
	idle.clear();
	sodium_memzero(secret.data(), secret.size());
}

/* Each field with its length first, so that no two logins digest alike by shifting bytes. */
namespace {
class KeyDigest {
	crypto_generichash_state state;

public:
	explicit KeyDigest(const std::array<std::uint8_t, 32> &secret)
	{
		crypto_generichash_init(&state, secret.data(), secret.size(), sizeof(ReuseKey::digest));
	}
	~KeyDigest() { sodium_memzero(&state, sizeof(state)); }
	void bytes(const void *data, std::size_t size)
	{
		const std::uint64_t length = size;
		crypto_generichash_update(&state, reinterpret_cast<const unsigned char *>(&length), sizeof(length));
		crypto_generichash_update(&state, static_cast<const unsigned char *>(data), size);
	}
	void text(std::string_view s) { bytes(s.data(), s.size()); }
	template <typename T> void number(T value) { bytes(&value, sizeof(value)); }
	ReuseKey finish()
	{
		ReuseKey key;
		crypto_generichash_final(&state, key.digest.data(), key.digest.size());
		return key;
	}
};
} // namespace

std::optional<ReuseKey> BackendPool::key(const ConnectAction &action, const ReuseLoginContext &context) const
{
	if (action.compress || context.address == nullptr || (context.capabilities & unparkable_capabilities) != 0)
		return std::nullopt;
	KeyDigest digest(secret);
	digest.text(context.account);
	digest.bytes(context.address->get(), context.address->length);
	digest.text(action.user);
	/* The credential the login would use (ClientLoginParams: the SHA1 wins), digested, never kept. */
	if (action.password_sha1) {
		digest.text("sha1");
		digest.bytes(action.password_sha1->data(), action.password_sha1->size());
	} else {
		digest.text(action.password ? "password" : "none");
		digest.text(action.password ? std::string_view(*action.password) : std::string_view());
	}
	digest.number(action.ssl);
	digest.number(reinterpret_cast<std::uintptr_t>(action.ssl_context));
	digest.number(action.ssl_verify);
	digest.text(action.ssl_server_name);
	digest.number(action.allow_cleartext);
	digest.text(action.server_public_key);
	/* The script's attributes in a fixed order (its table's order is unspecified). */
	std::vector<const std::pair<std::string, std::string> *> attributes;
	for (const auto &attribute : action.attributes)
		attributes.push_back(&attribute);
	std::sort(attributes.begin(), attributes.end(), [](auto *a, auto *b) { return a->first < b->first; });
	for (const auto *attribute : attributes) {
		digest.text(attribute->first);
		digest.text(attribute->second);
	}
	digest.number(context.capabilities & ~login_only_capabilities);
	/* The reset restores the handshake's character set (MariaDB), so it must be this client's. */
	digest.number(context.character_set);
	digest.number(context.max_packet_size);
	return digest.finish();
}

std::uint64_t BackendPool::now() const noexcept
{
	std::uint64_t usec = 0;
	sd_event_now(event, CLOCK_MONOTONIC, &usec);
	return usec;
}

void BackendPool::park(const ReuseKey &key, std::size_t per_key, std::string account,
		       std::unique_ptr<ParkedBackend> connection)
{
	if (!accepting())
		return;
	/* Unpredictable to clients without a getrandom() per parking: the keyed digest of a counter. */
	std::array<std::uint8_t, 16> token;
	++parkings;
	crypto_generichash(token.data(), token.size(), reinterpret_cast<const unsigned char *>(&parkings),
			   sizeof(parkings), secret.data(), secret.size());
	connection->parking = std::make_unique<ReuseParking>(connection->session.capabilities,
								    connection->session.mariadb_capabilities, token);
	const ByteSpan request = connection->parking->request();
	const ssize_t written = connection->link->stream().write(request.data(), request.size());
	if (written != static_cast<ssize_t>(request.size())) {
		/* A short write into an idle socket's empty buffer means trouble: not worth waiting for. */
		log_debug("backend connection not kept: the reset could not be sent (%zd)", written);
		return;
	}
	connection->pool = this;
	sd_event_source_set_userdata(connection->source.get(), static_cast<BackendIoTarget *>(connection.get()));
	if (connection->events != EPOLLIN) {
		if (sd_event_source_set_io_events(connection->source.get(), EPOLLIN) < 0)
			return;
		connection->events = EPOLLIN;
	}
	idle.put(key, per_key, std::move(account), std::move(connection), false, now());
	idle_changed();
}

/* One peek at the socket: a hang-up or bytes that epoll reported but the loop has not handled yet
 * (the client's login came first in the same wake-up) must not reach a client either. */
static bool still_quiet(ParkedBackend &connection) noexcept
{
	std::uint8_t byte;
	const ssize_t n = recv(connection.link->fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !connection.link->stream().pending();
}

std::unique_ptr<ParkedBackend> BackendPool::take(const ReuseKey &key, std::string_view database) noexcept
{
	while (std::unique_ptr<ParkedBackend> connection = idle.take(key, database, now())) {
		if (still_quiet(*connection)) {
			connection->pool = nullptr;
			metrics_backend_reused(connection->address);
			idle_changed();
			return connection;
		}
		log_info("idle backend connection %u closed: the server hung up or spoke", connection->session.connection_id);
	}
	idle_changed();
	return nullptr;
}

void BackendPool::connection_event(ParkedBackend &connection, std::uint32_t revents) noexcept
{
	if (connection.parking && (revents & EPOLLIN)) {
		parking_read(connection);
		return;
	}
	/* An idle connection has nothing to say: the server closed it (wait_timeout, KILL, shutdown),
	 * or sent something nobody asked for.  Either way it is not handed out. */
	log_info("idle backend connection %u closed: the server %s", connection.session.connection_id,
		 revents & EPOLLIN ? "hung up or spoke" : "hung up");
	idle.drop(connection);
	idle_changed();
}

void BackendPool::parking_read(ParkedBackend &connection) noexcept
{
	std::uint8_t buffer[2048];
	StreamSocket &stream = connection.link->stream();
	do {
		const ssize_t n = stream.read(buffer, sizeof(buffer));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		ReuseStatus status = ReuseStatus::failed;
		try {
			if (n > 0)
				status = connection.parking->feed(ByteSpan(buffer, std::size_t(n)));
		} catch (const std::bad_alloc &) {
		}
		if (status == ReuseStatus::clean) {
			connection.database = connection.parking->database();
			connection.parking.reset();
			idle.mark_ready(connection, true);
			metrics_backend_parked(connection.address);
			return;
		}
		if (status == ReuseStatus::failed) {
			log_info("backend connection %u not kept: %s", connection.session.connection_id,
				 n > 0 ? connection.parking->failure() : "the server closed it during the reset");
			idle.drop(connection);
			idle_changed();
			return;
		}
	} while (stream.pending());
}

/* After every change to the idle set: the exporter's gauge, and the timer for the next expiry. */
void BackendPool::idle_changed() noexcept
{
	metrics_backend_idle(idle.size());
	arm_timer();
}

void BackendPool::arm_timer() noexcept
{
	const std::optional<std::uint64_t> due = idle.next_expiry();
	if (!due) {
		if (timer)
			sd_event_source_set_enabled(timer.get(), SD_EVENT_OFF);
		return;
	}
	int r;
	if (!timer)
		r = sd_event_add_time(event, timer.out(), CLOCK_MONOTONIC, *due, 100'000, on_timer, this);
	else if ((r = sd_event_source_set_time(timer.get(), *due)) >= 0)
		r = sd_event_source_set_enabled(timer.get(), SD_EVENT_ONESHOT);
	if (r < 0) {
		/* Without the timer nothing would bound their age: keep none. */
		log_errno(LogLevel::error, -r, nullptr, "cannot arm the idle backend timer; closing idle connections");
		idle.clear();
	}
}

int BackendPool::on_timer(sd_event_source *, std::uint64_t usec, void *userdata)
{
	auto &pool = *static_cast<BackendPool *>(userdata);
	pool.idle.expire(usec);
	pool.idle_changed();
	return 0;
}

void BackendPool::drop_node(std::uint32_t cluster, std::uint32_t node) noexcept
{
	if (const std::size_t dropped = idle.drop_node(cluster, node))
		log_info("closed %zu idle connections to node %u of cluster %u", dropped, node, cluster);
	idle_changed();
}

void BackendPool::drop_account(std::string_view account) noexcept
{
	idle.drop_account(account);
	idle_changed();
}

void BackendPool::close() noexcept
{
	open = false;
	idle.clear();
	idle_changed();
}

} // namespace myproxy
