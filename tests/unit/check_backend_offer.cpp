// Unit tests for what the backends offer and what myproxy announces (common/backend_offer), the
// channel's BACKEND_OFFER with hostile lengths, ClientLogin's required capabilities, ServerLogin's
// MariaDB extended capabilities, and the master's cluster monitor reading greetings of fake backends
// on a real sd-event loop: a good greeting is announced, truncated or absurd ones are logged and
// ignored.
#include "common/backend_offer.hpp"
#include "common/byte_writer.hpp"
#include "common/channel_protocol.hpp"
#include "common/client_login.hpp"
#include "common/handshake_response41.hpp"
#include "common/mysql_packet.hpp"
#include "common/server_login.hpp"
#include "master/cluster_monitor.hpp"

#include <systemd/sd-event.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
// Last: <check.h> must follow the standard headers.
#include "tests/check_main.hpp"

using namespace myproxy;

namespace {

constexpr std::uint32_t MARIADB_STANDARD = 0xF7FE & ~CLIENT_SSL & ~CLIENT_COMPRESS; /* LONG_PASSWORD clear */
constexpr std::uint32_t MARIADB_UPPER = CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS |
					CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS |
					CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_SESSION_TRACK | CLIENT_DEPRECATE_EOF |
					CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS | CLIENT_SSL_VERIFY_SERVER_CERT |
					CLIENT_REMEMBER_OPTIONS;
/* What MariaDB 10.11 sends in the reserved bytes: PROGRESS, COM_MULTI, STMT_BULK_OPERATIONS,
 * EXTENDED_METADATA, CACHE_METADATA. */
constexpr std::uint32_t MARIADB_EXTENDED = 0x1F;

BackendOffer mariadb_offer(std::string version)
{
	BackendOffer offer;
	offer.server_version = std::move(version);
	offer.capabilities = std::uint64_t(MARIADB_EXTENDED) << 32 | MARIADB_UPPER | MARIADB_STANDARD | CLIENT_SSL |
			     CLIENT_COMPRESS;
	offer.collation = 45;
	return offer;
}

BackendOffer mysql_offer(std::string version)
{
	BackendOffer offer;
	offer.server_version = std::move(version);
	offer.capabilities = 0xFFFFFFFFu & ~CLIENT_RESERVED; /* MySQL 8 offers nearly everything, incl. QUERY_ATTRIBUTES */
	offer.collation = 255;
	return offer;
}

/* A Handshake V10 payload (mysql_native_password) with the given fields. */
std::vector<std::uint8_t> greeting_payload(std::string_view version, std::uint32_t capabilities,
					   std::uint32_t extended, std::uint8_t collation = 45)
{
	std::vector<std::uint8_t> out;
	HandshakeV10Params params;
	params.server_version = version;
	params.connection_id = 7;
	static const std::uint8_t scramble[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
	params.scramble = ByteSpan(scramble, 20);
	params.capabilities = capabilities;
	params.mariadb_capabilities = extended;
	params.character_set = collation;
	params.auth_plugin_name = "mysql_native_password";
	ck_assert(build_handshake_v10(out, params));
	return out;
}

std::vector<std::uint8_t> framed(const std::vector<std::uint8_t> &payload)
{
	std::vector<std::uint8_t> out;
	std::uint8_t sequence = 0;
	append_packet(out, payload, sequence);
	return out;
}

} // namespace

/* --- the announcement ------------------------------------------------------------------------ */

START_TEST(test_nothing_known_is_the_default)
{
	const BackendOffer a = announce({});
	ck_assert_str_eq(a.server_version.c_str(), "10.11.99-MariaDB-myproxy");
	ck_assert(a.capabilities == default_announced_capabilities);
	ck_assert(a.capabilities & CLIENT_LONG_PASSWORD);
	ck_assert_uint_eq(a.collation, 45);
}
END_TEST

START_TEST(test_one_mariadb_backend)
{
	const BackendOffer offer = mariadb_offer("5.5.5-10.11.6-MariaDB");
	const BackendOffer a = announce({&offer, 1});
	ck_assert_str_eq(a.server_version.c_str(), "5.5.5-10.11.6-MariaDB");
	ck_assert_uint_eq(a.collation, 45);
	ck_assert(!(a.capabilities & CLIENT_LONG_PASSWORD));
	ck_assert(a.capabilities & MARIADB_CLIENT_STMT_BULK_OPERATIONS);
	ck_assert(a.capabilities & MARIADB_CLIENT_CACHE_METADATA);
	/* Never relayed: COM_MULTI, and what the listener or the login decides. */
	ck_assert(!(a.capabilities & MARIADB_CLIENT_COM_MULTI));
	/* Compression is myproxy's own on each side (terminated), whatever the backend offers. */
	ck_assert(a.capabilities & CLIENT_COMPRESS);
	BackendOffer plain = offer;
	plain.capabilities &= ~std::uint64_t(CLIENT_COMPRESS);
	ck_assert(announce({&plain, 1}).capabilities & CLIENT_COMPRESS);
	ck_assert(!(a.capabilities & CLIENT_SSL));
	ck_assert(!(a.capabilities & CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS));
	ck_assert(!(a.capabilities & CLIENT_SSL_VERIFY_SERVER_CERT));
	ck_assert((a.capabilities & terminated_capabilities) == terminated_capabilities);
	/* Nothing the backend lacks. */
	ck_assert((a.capabilities & ~offer.capabilities) == 0);
}
END_TEST

START_TEST(test_mixed_backends_intersect)
{
	const BackendOffer offers[] = {mariadb_offer("5.5.5-10.11.6-MariaDB"), mysql_offer("8.0.36")};
	const BackendOffer a = announce(offers);
	/* A MySQL server among them: no extended capabilities, CLIENT_LONG_PASSWORD as MySQL says it. */
	ck_assert(a.capabilities & CLIENT_LONG_PASSWORD);
	ck_assert((a.capabilities >> 32) == 0);
	ck_assert(!(a.capabilities & CLIENT_QUERY_ATTRIBUTES));
	ck_assert(a.capabilities & CLIENT_DEPRECATE_EOF);
	/* The oldest version, with its collation (10.11 < 8.0 is false: 8.0 is older). */
	ck_assert_str_eq(a.server_version.c_str(), "8.0.36");
	ck_assert_uint_eq(a.collation, 255);
}
END_TEST

START_TEST(test_a_backend_without_a_flag_removes_it)
{
	BackendOffer old = mariadb_offer("5.5.5-10.2.44-MariaDB");
	old.capabilities &= ~(CLIENT_DEPRECATE_EOF | MARIADB_CLIENT_CACHE_METADATA);
	const BackendOffer offers[] = {mariadb_offer("5.5.5-10.11.6-MariaDB"), old};
	const BackendOffer a = announce(offers);
	ck_assert(!(a.capabilities & CLIENT_DEPRECATE_EOF));
	ck_assert(!(a.capabilities & MARIADB_CLIENT_CACHE_METADATA));
	ck_assert(a.capabilities & MARIADB_CLIENT_STMT_BULK_OPERATIONS);
	ck_assert_str_eq(a.server_version.c_str(), "5.5.5-10.2.44-MariaDB");
}
END_TEST

START_TEST(test_version_numbers)
{
	ck_assert(parse_server_version("5.5.5-10.11.6-MariaDB") == (ServerVersionNumber{10, 11, 6}));
	ck_assert(parse_server_version("8.0.36") == (ServerVersionNumber{8, 0, 36}));
	ck_assert(parse_server_version("11.4") == (ServerVersionNumber{11, 4, 0}));
	ck_assert(parse_server_version("garbage") == (ServerVersionNumber{0, 0, 0}));
	ck_assert(parse_server_version("") == (ServerVersionNumber{0, 0, 0}));
	ck_assert(parse_server_version("99999999999999999999.1.2") == (ServerVersionNumber{0, 1, 2}));
	ck_assert(parse_server_version("10.") == (ServerVersionNumber{10, 0, 0}));
}
END_TEST

START_TEST(test_unusable_greetings)
{
	std::string problem;
	const auto good = greeting_payload("5.5.5-10.11.6-MariaDB", MARIADB_UPPER | MARIADB_STANDARD, MARIADB_EXTENDED);
	auto parsed = parse_handshake_v10(good);
	ck_assert(parsed.ok());
	auto offer = backend_offer(*parsed, problem);
	ck_assert(offer.has_value());
	ck_assert_str_eq(offer->server_version.c_str(), "5.5.5-10.11.6-MariaDB");
	ck_assert(offer->capabilities >> 32 == MARIADB_EXTENDED);

	const std::string long_version(backend_version_max + 1, '9');
	parsed = parse_handshake_v10(greeting_payload(long_version, MARIADB_UPPER | MARIADB_STANDARD, 0));
	ck_assert(parsed.ok());
	ck_assert(!backend_offer(*parsed, problem).has_value());
	ck_assert_str_eq(problem.c_str(), "a server version of 251 bytes");

	parsed = parse_handshake_v10(greeting_payload("", MARIADB_UPPER | MARIADB_STANDARD, 0));
	ck_assert(parsed.ok());
	ck_assert(!backend_offer(*parsed, problem).has_value());

	const std::uint32_t no_41 = (MARIADB_UPPER | MARIADB_STANDARD) & ~CLIENT_PROTOCOL_41;
	parsed = parse_handshake_v10(greeting_payload("1.0", no_41, 0));
	ck_assert(parsed.ok());
	ck_assert(!backend_offer(*parsed, problem).has_value());
	ck_assert_str_eq(problem.c_str(), "no CLIENT_PROTOCOL_41");
}
END_TEST

START_TEST(test_missing_backend_capabilities)
{
	const std::uint64_t negotiated = MARIADB_CLIENT_STMT_BULK_OPERATIONS | CLIENT_DEPRECATE_EOF | CLIENT_ODBC;
	ck_assert(missing_backend_capabilities(negotiated, mariadb_offer("x").capabilities) == 0);
	ck_assert(missing_backend_capabilities(negotiated, mysql_offer("x").capabilities) ==
		  MARIADB_CLIENT_STMT_BULK_OPERATIONS);
	/* Behaviour-only flags are asked for, never required. */
	ck_assert(missing_backend_capabilities(CLIENT_ODBC | CLIENT_IGNORE_SPACE, 0) == 0);
}
END_TEST

/* --- BACKEND_OFFER on the channel ----------------------------------------------------------- */

START_TEST(test_channel_round_trip)
{
	std::vector<std::uint8_t> bytes;
	ck_assert(encode_channel_message(bytes, BackendOfferMessage{0x1F'0000'F7FEull, 45, "5.5.5-10.11.6-MariaDB"}).ok());
	auto decoded = decode_channel_message(bytes, 0, ChannelDirection::master_to_worker);
	ck_assert(decoded.ok());
	const auto &m = std::get<BackendOfferMessage>(*decoded);
	ck_assert(m.capabilities == 0x1F'0000'F7FEull);
	ck_assert_uint_eq(m.collation, 45);
	ck_assert(m.server_version == "5.5.5-10.11.6-MariaDB");
	ck_assert_str_eq(channel_message_name(ChannelMessageType::backend_offer), "BACKEND_OFFER");
	/* Only the master sends it. */
	ck_assert(!decode_channel_message(bytes, 0, ChannelDirection::worker_to_master).ok());
	ck_assert(!decode_channel_message(bytes, 1, ChannelDirection::master_to_worker).ok());
	/* Every truncation, with the header's length adjusted (and not), fails. */
	for (std::size_t size = 0; size < bytes.size(); ++size) {
		std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + std::ptrdiff_t(size));
		ck_assert_msg(!decode_channel_message(cut, 0, ChannelDirection::master_to_worker).ok(), "size %zu", size);
		if (size >= channel_header_size) {
			ByteWriter(cut).patch_uint_le(4, size - channel_header_size, 4);
			ck_assert_msg(!decode_channel_message(cut, 0, ChannelDirection::master_to_worker).ok(), "size %zu",
				      size);
		}
	}
}
END_TEST

/* A BACKEND_OFFER whose version field is @length long (claimed) with @actual bytes present. */
static std::vector<std::uint8_t> offer_with_version(std::uint16_t length, const std::string &actual)
{
	std::vector<std::uint8_t> bytes;
	ByteWriter w(bytes);
	w.u16(18);
	w.u16(0);
	w.u32(std::uint32_t(8 + 1 + 2 + actual.size()));
	w.u64(CLIENT_PROTOCOL_41);
	w.u8(45);
	w.u16(length);
	w.bytes(ByteSpan(reinterpret_cast<const std::uint8_t *>(actual.data()), actual.size()));
	return bytes;
}

START_TEST(test_channel_bad_lengths)
{
	const auto decode = [](const std::vector<std::uint8_t> &bytes) {
		return decode_channel_message(bytes, 0, ChannelDirection::master_to_worker);
	};
	ck_assert(decode(offer_with_version(4, "10.0")).ok());
	/* The version's length past the end, short of it (trailing bytes), over the bound, zero. */
	auto r = decode(offer_with_version(5, "10.0"));
	ck_assert(!r.ok());
	ck_assert_str_eq(r.error().what, "BACKEND_OFFER: server_version past end");
	r = decode(offer_with_version(3, "10.0"));
	ck_assert_str_eq(r.error().what, "BACKEND_OFFER: trailing bytes");
	r = decode(offer_with_version(0xFFFF, std::string(300, '1')));
	ck_assert_str_eq(r.error().what, "BACKEND_OFFER: server_version too long");
	r = decode(offer_with_version(251, std::string(251, '1')));
	ck_assert_str_eq(r.error().what, "BACKEND_OFFER: server_version too long");
	ck_assert(decode(offer_with_version(250, std::string(250, '1'))).ok());
	r = decode(offer_with_version(0, ""));
	ck_assert_str_eq(r.error().what, "BACKEND_OFFER: empty server_version");
	r = decode(offer_with_version(3, std::string("1\0" "2", 3)));
	ck_assert_str_eq(r.error().what, "BACKEND_OFFER: NUL in server_version");
	/* The encoder refuses what the decoder would. */
	std::vector<std::uint8_t> out;
	const std::string too_long(251, 'x');
	ck_assert(!encode_channel_message(out, BackendOfferMessage{0, 45, too_long}).ok());
	ck_assert(out.empty());
}
END_TEST

/* --- the logins ---------------------------------------------------------------------------- */

static ClientLoginParams bulk_client_params()
{
	ClientLoginParams params;
	params.user = "alice";
	params.password = "pw";
	params.capabilities = CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF | CLIENT_TRANSACTIONS;
	params.mariadb_capabilities = std::uint32_t(MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32);
	params.required_capabilities =
		(MARIADB_CLIENT_STMT_BULK_OPERATIONS | params.capabilities) & backend_required_capabilities;
	return params;
}

START_TEST(test_client_login_requires_before_it_writes)
{
	ClientLogin login(bulk_client_params());
	std::vector<std::uint8_t> out;
	/* A MySQL-like greeting: CLIENT_LONG_PASSWORD set, so no extended capabilities at all. */
	const auto greeting = greeting_payload("8.0.36", MARIADB_UPPER | MARIADB_STANDARD | CLIENT_LONG_PASSWORD, 0);
	ck_assert(login.feed(greeting, 0, out) == ClientLoginStatus::FAILED);
	ck_assert(out.empty());
	ck_assert(login.failure().kind == ClientLoginFailure::Kind::MISSING_CAPABILITY);
	ck_assert(login.failure().missing == MARIADB_CLIENT_STMT_BULK_OPERATIONS);
	ck_assert_str_eq(login.failure().message.c_str(),
			 "the server does not offer MARIADB_CLIENT_STMT_BULK_OPERATIONS");
	/* What the greeting offered is known all the same. */
	ck_assert(login.offer().has_value());
	ck_assert_str_eq(login.offer()->server_version.c_str(), "8.0.36");
}
END_TEST

START_TEST(test_client_login_sends_extended_capabilities)
{
	ClientLogin login(bulk_client_params());
	std::vector<std::uint8_t> out;
	const auto greeting = greeting_payload("5.5.5-10.11.6-MariaDB", MARIADB_UPPER | MARIADB_STANDARD, MARIADB_EXTENDED);
	ck_assert(login.feed(greeting, 0, out) == ClientLoginStatus::CONTINUE);
	ck_assert(decode_packet_header(out).ok());
	auto response = parse_handshake_response41(ByteSpan(out).subspan(4));
	ck_assert(response.ok());
	ck_assert(!(response->capabilities & CLIENT_LONG_PASSWORD));
	/* Exactly what was asked for: not COM_MULTI or PROGRESS, which the server also offers. */
	ck_assert_uint_eq(response->mariadb_capabilities, std::uint32_t(MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32));
}
END_TEST

START_TEST(test_server_login_negotiates_extended_capabilities)
{
	const ClientAuthPlugin plugins[] = {ClientAuthPlugin::clear_password};
	ServerLoginParams params;
	params.plugins = plugins;
	params.server_version = "5.5.5-10.11.6-MariaDB";
	const BackendOffer offer = announce(std::vector<BackendOffer>{mariadb_offer("5.5.5-10.11.6-MariaDB")});
	params.capabilities = std::uint32_t(offer.capabilities);
	params.mariadb_capabilities = std::uint32_t(offer.capabilities >> 32);
	params.character_set = 8;
	ServerLogin login(params);
	std::vector<std::uint8_t> out;
	ck_assert(login.greeting(out) == ServerLoginStatus::CONTINUE);
	auto greeting = parse_handshake_v10(ByteSpan(out).subspan(4));
	ck_assert(greeting.ok());
	ck_assert(greeting->all_capabilities() == offer.capabilities);
	ck_assert_uint_eq(greeting->character_set, 8);

	/* A client that asks for bulk operations and COM_MULTI gets bulk only. */
	HandshakeResponse41Params response;
	response.capabilities = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
	response.mariadb_capabilities = std::uint32_t((MARIADB_CLIENT_STMT_BULK_OPERATIONS | MARIADB_CLIENT_COM_MULTI) >> 32);
	response.user = "alice";
	response.auth_plugin_name = "mysql_clear_password";
	static const std::uint8_t password[] = {'p', 'w', 0};
	response.auth_response = ByteSpan(password, 3);
	std::vector<std::uint8_t> packet;
	ck_assert(build_handshake_response41(packet, response));
	out.clear();
	ck_assert(login.feed(packet, 1, out) == ServerLoginStatus::ASK_SCRIPT);
	ck_assert_uint_eq(login.mariadb_capabilities(), std::uint32_t(MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32));

	/* A MySQL-mode client (CLIENT_LONG_PASSWORD set) negotiates none. */
	ServerLogin other(params);
	out.clear();
	ck_assert(other.greeting(out) == ServerLoginStatus::CONTINUE);
	response.capabilities |= CLIENT_LONG_PASSWORD;
	response.mariadb_capabilities = 0;
	packet.clear();
	ck_assert(build_handshake_response41(packet, response));
	out.clear();
	ck_assert(other.feed(packet, 1, out) == ServerLoginStatus::ASK_SCRIPT);
	ck_assert_uint_eq(other.mariadb_capabilities(), 0);
}
END_TEST

/* --- the monitor reading greetings of fake backends ------------------------------------------ */

namespace {

/* A UNIX listener in a temporary directory whose every connection gets @bytes, then a close. */
struct FakeGreeter {
	char dir[64] = "/tmp/myproxy-offer-XXXXXX";
	int fd = -1;
	SocketAddress address;
	std::thread thread;
	std::atomic<bool> stop{false};
	std::atomic<unsigned> served{0};

	explicit FakeGreeter(std::vector<std::uint8_t> bytes)
	{
		ck_assert(mkdtemp(dir) != nullptr);
		const std::string path = std::string(dir) + "/backend.sock";
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		sockaddr_un sun{};
		sun.sun_family = AF_UNIX;
		std::snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path.c_str());
		ck_assert_int_eq(bind(fd, reinterpret_cast<sockaddr *>(&sun), sizeof(sun)), 0);
		ck_assert_int_eq(listen(fd, 8), 0);
		auto parsed = parse_numeric_address(path, 3306);
		ck_assert(parsed.ok());
		address = parsed.value();
		thread = std::thread([this, bytes] {
			while (!stop) {
				const int client = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
				if (client < 0) {
					std::this_thread::sleep_for(std::chrono::milliseconds(5));
					continue;
				}
				(void)!::write(client, bytes.data(), bytes.size());
				++served;
				::close(client);
			}
		});
	}
	~FakeGreeter()
	{
		stop = true;
		thread.join();
		close(fd);
		std::system(("rm -rf '" + std::string(dir) + "'").c_str());
	}
};

/* The monitor on a loop of the test, stderr in a file; run() turns the loop until @done. */
struct MonitorBench {
	sd_event *event = nullptr;
	std::vector<ClusterConfig> clusters;
	std::vector<SocketAddress> backends;
	std::vector<ChannelMessage> broadcast;
	std::vector<std::string> versions; /* the views of broadcast die with the monitor's strings */
	std::unique_ptr<ClusterMonitor> monitor;
	char log_path[64] = "/tmp/myproxy-offer-log-XXXXXX";
	int saved_stderr = -1;

	explicit MonitorBench(const SocketAddress &backend)
	{
		ck_assert_int_ge(sd_event_new(&event), 0);
		backends.push_back(backend);
		std::fflush(stderr);
		saved_stderr = dup(2);
		const int log = mkstemp(log_path);
		ck_assert_int_ge(log, 0);
		dup2(log, 2);
		close(log);
		monitor = std::make_unique<ClusterMonitor>(event, clusters, backends, [this](const ChannelMessage &m) {
			broadcast.push_back(m);
			if (const auto *offer = std::get_if<BackendOfferMessage>(&m))
				versions.emplace_back(offer->server_version);
		});
		ck_assert_int_eq(monitor->start(), 0);
	}
	~MonitorBench()
	{
		monitor.reset();
		sd_event_unref(event);
		dup2(saved_stderr, 2);
		close(saved_stderr);
		unlink(log_path);
	}
	std::string log() const
	{
		std::ifstream in(log_path);
		std::ostringstream text;
		text << in.rdbuf();
		return text.str();
	}
	/* Turns the loop until @done() (a safety net of 30 s, not asserted). */
	template <typename Done>
	bool run(Done done)
	{
		const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
		while (!done()) {
			if (std::chrono::steady_clock::now() > give_up)
				return false;
			sd_event_run(event, 100'000);
		}
		return true;
	}
};

} // namespace

START_TEST(test_monitor_announces_a_good_greeting)
{
	FakeGreeter backend(framed(greeting_payload("5.5.5-10.11.6-MariaDB", MARIADB_UPPER | MARIADB_STANDARD,
						    MARIADB_EXTENDED, 33)));
	MonitorBench bench(backend.address);
	ck_assert(bench.run([&] { return !bench.versions.empty(); }));
	ck_assert_str_eq(bench.versions.front().c_str(), "5.5.5-10.11.6-MariaDB");
	const auto &offer = std::get<BackendOfferMessage>(bench.broadcast.front());
	ck_assert_uint_eq(offer.collation, 33);
	ck_assert(offer.capabilities & MARIADB_CLIENT_STMT_BULK_OPERATIONS);
	ck_assert(bench.monitor->announcement().has_value());
	/* A new worker gets it first; no NODE_STATE for a backend outside monitored clusters. */
	const auto first = bench.monitor->known_messages();
	ck_assert_uint_eq(first.size(), 1);
	ck_assert(std::holds_alternative<BackendOfferMessage>(first.front()));
	ck_assert(bench.log().find("greetings announce 5.5.5-10.11.6-MariaDB") != std::string::npos);
}
END_TEST

/* Hostile bytes: each is logged, nothing is announced, and the monitor reads again later. */
static void expect_ignored(const std::vector<std::uint8_t> &bytes, const char *logged)
{
	FakeGreeter backend(bytes);
	MonitorBench bench(backend.address);
	ck_assert(bench.run([&] { return bench.log().find(logged) != std::string::npos; }));
	ck_assert_msg(bench.broadcast.empty(), "announced from a hostile greeting");
	ck_assert(!bench.monitor->announcement().has_value());
	ck_assert(bench.monitor->known_messages().empty());
}

START_TEST(test_monitor_ignores_a_truncated_greeting)
{
	auto payload = greeting_payload("5.5.5-10.11.6-MariaDB", MARIADB_UPPER | MARIADB_STANDARD, MARIADB_EXTENDED);
	payload.resize(20); /* the packet says 20 bytes: the greeting stops in its scramble */
	expect_ignored(framed(payload), "cannot read its greeting (malformed greeting: HandshakeV10:");
}
END_TEST

START_TEST(test_monitor_ignores_a_short_packet)
{
	auto bytes = framed(greeting_payload("5.5.5-10.11.6-MariaDB", MARIADB_UPPER | MARIADB_STANDARD, 0));
	bytes.resize(bytes.size() / 2); /* then the connection closes */
	expect_ignored(bytes, "cannot read its greeting (the node closed the connection)");
}
END_TEST

START_TEST(test_monitor_ignores_an_absurd_length)
{
	/* A header claiming 16 MiB - 1: more than a greeting may be. */
	const std::vector<std::uint8_t> bytes = {0xff, 0xff, 0xff, 0x00, 0x0a, '1', 0};
	expect_ignored(bytes, "cannot read its greeting (malformed packet:");
}
END_TEST

START_TEST(test_monitor_ignores_an_absurd_version)
{
	const std::string version(4000, '9');
	expect_ignored(framed(greeting_payload(version, MARIADB_UPPER | MARIADB_STANDARD, 0)),
		       "greeting ignored: a server version of 4000 bytes");
}
END_TEST

START_TEST(test_monitor_ignores_garbage)
{
	const std::vector<std::uint8_t> bytes = framed({0x09, 'n', 'o', 't', ' ', 'v', '1', '0', 0});
	expect_ignored(bytes, "cannot read its greeting (malformed greeting: HandshakeV10: protocol version is not 10)");
}
END_TEST

static Suite *backend_offer_suite()
{
	Suite *s = suite_create("backend_offer");
	TCase *tc = tcase_create("announce");
	tcase_add_test(tc, test_nothing_known_is_the_default);
	tcase_add_test(tc, test_one_mariadb_backend);
	tcase_add_test(tc, test_mixed_backends_intersect);
	tcase_add_test(tc, test_a_backend_without_a_flag_removes_it);
	tcase_add_test(tc, test_version_numbers);
	tcase_add_test(tc, test_unusable_greetings);
	tcase_add_test(tc, test_missing_backend_capabilities);
	suite_add_tcase(s, tc);

	tc = tcase_create("channel");
	tcase_add_test(tc, test_channel_round_trip);
	tcase_add_test(tc, test_channel_bad_lengths);
	suite_add_tcase(s, tc);

	tc = tcase_create("logins");
	tcase_add_test(tc, test_client_login_requires_before_it_writes);
	tcase_add_test(tc, test_client_login_sends_extended_capabilities);
	tcase_add_test(tc, test_server_login_negotiates_extended_capabilities);
	suite_add_tcase(s, tc);

	tc = tcase_create("monitor");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_monitor_announces_a_good_greeting);
	tcase_add_test(tc, test_monitor_ignores_a_truncated_greeting);
	tcase_add_test(tc, test_monitor_ignores_a_short_packet);
	tcase_add_test(tc, test_monitor_ignores_an_absurd_length);
	tcase_add_test(tc, test_monitor_ignores_an_absurd_version);
	tcase_add_test(tc, test_monitor_ignores_garbage);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({backend_offer_suite()});
}
