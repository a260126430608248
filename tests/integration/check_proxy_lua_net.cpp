// End to end, the Lua network libraries of upstream scripts that need more than the sandbox gives a
// worker (issue 15): mysql_resolve() of a host name inside a callback, which the master resolves
// while the callback waits and the worker serves other sessions; and control_client, whose
// datagrams (sent while config.lua loads, and from callbacks over UNIX and UDP sockets) the test
// receives and decodes with the codec control_listen() uses.  Real mariadbd, libmariadb clients.
#include "common/control_protocol.hpp"
#include "tests/fixture/fixture.hpp"
#include "tests/integration/proxy_client.hpp"
#include "tests/integration/proxy_process.hpp"

#include <check.h>

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace myproxy;
using namespace myproxy::test;

namespace {

// Leaked on purpose: forked test children must not run its destructor.
ProxyProcess *proxy = nullptr;
// Bound in main() before the daemon starts (the load-time datagram arrives then); test children
// inherit them.
const std::string tag = std::to_string(getpid());
const std::string boot_name = "myproxy-lua-net-boot-" + tag;
const std::string callback_name = "myproxy-lua-net-callback-" + tag;
const std::string progress_name = "myproxy-lua-net-progress-" + tag;
int boot_socket = -1, callback_socket = -1, progress_socket = -1, udp_socket = -1;
std::uint16_t udp_port = 0;

int bind_abstract_datagram(const std::string &name)
{
	const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sockaddr_un address{};
	address.sun_family = AF_UNIX;
	std::memcpy(address.sun_path + 1, name.data(), name.size());
	if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr *>(&address),
			   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())) < 0)
		throw FixtureError("bind(@" + name + "): " + std::strerror(errno));
	return fd;
}

int bind_udp(std::uint16_t &port)
{
	const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sockaddr_in address{};
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t length = sizeof(address);
	if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr *>(&address), length) < 0 ||
	    getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length) < 0)
		throw FixtureError(std::string("bind(127.0.0.1:0): ") + std::strerror(errno));
	port = ntohs(address.sin_port);
	return fd;
}

// One datagram, or "" when none came within 30 s (a safety net, not a measurement).
std::string receive(int fd)
{
	pollfd p{fd, POLLIN, 0};
	if (poll(&p, 1, 30000) != 1)
		return {};
	char buffer[control_max_datagram];
	const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
	return n > 0 ? std::string(buffer, std::size_t(n)) : std::string();
}

// "COMMAND=payload" per packet, joined by spaces; the parser's error when the datagram is malformed.
std::string decode(const std::string &datagram)
{
	const auto packets = parse_control_datagram(
		ByteSpan(reinterpret_cast<const std::uint8_t *>(datagram.data()), datagram.size()));
	if (!packets)
		return std::string("malformed: ") + packets.error().what;
	std::string text;
	for (const ControlPacket &packet : *packets) {
		const char *name = control_command_name(packet.command);
		text += (text.empty() ? "" : " ") + std::string(name != nullptr ? name : "?") + "=";
		for (std::uint8_t byte : packet.payload)
			text += byte == 0 ? std::string("\\0") : std::string(1, char(byte));
	}
	return text;
}

std::string backend_port()
{
	return std::to_string(shared_mariadb().port());
}

std::string config()
{
	const std::string localhost = lua_quote("localhost:" + backend_port());
	return "worker_processes = 1\n"
	       "boot = assert(control_client:new('@" + boot_name + "'))\n"
	       "assert(boot:send(boot:build():disconnect_database('acme'):cancel_job('queue', 'job-7')))\n"
	       "local function progress(text)\n"
	       "  local s = assert(socket:connect('@" + progress_name + "', {type = 'dgram'}))\n"
	       "  s:send(text)\n"
	       "  s:close()\n"
	       "end\n"
	       "handler = {}\n"
	       "function handler.on_handshake_response(client, hr)\n"
	       "  if hr.user == 'probe' then\n"
	       "    local a, e = mysql_resolve(hr.database)\n"
	       "    return client:err(tostring(a) .. ' ' .. tostring(e))\n"
	       "  end\n"
	       "  if hr.user == 'refuse' then\n"
	       "    local a, e = mysql_resolve('nosuch.invalid:3306')\n"
	       "    if not a then return client:err('refused: ' .. e) end\n"
	       "  end\n"
	       "  if hr.user == 'stalled' then\n"
	       "    progress('waiting')\n"
	       "    sleep(0.3)\n"
	       "    progress('resolving')\n"
	       "  end\n"
	       "  if hr.user == 'notify' then\n"
	       "    local c = assert(control_client:new('@" + callback_name + "'))\n"
	       "    assert(c:send(c:build():fade_children('foo'):flush_http_cache('bar', 'baz')))\n"
	       "    assert(boot:send(boot:build():tarpit_client('192.0.2.7')))\n"
	       "    local u = assert(control_client:new(" + lua_quote("127.0.0.1:" + std::to_string(udp_port)) + "))\n"
	       "    assert(u:send(u:build():reset_limiter('acme')))\n"
	       "    local missing, e = control_client:new('/nonexistent/control.sock')\n"
	       "    return client:err('sent ' .. tostring(missing) .. ' ' .. e)\n"
	       "  end\n"
	       "  local a, e = mysql_resolve(" + localhost + ")\n"
	       "  if not a then return client:err('resolve: ' .. e) end\n"
	       "  hr.user = 'alice'\n"
	       "  return client:connect(a, hr)\n"
	       "end\n"
	       "mysql_listen('run/main.sock', handler)\n";
}

Endpoint main_listener()
{
	return Endpoint::unix_socket(proxy->path("run/main.sock"));
}

std::string probe(const std::string &name)
{
	MysqlClient c;
	ClientOptions options;
	options.database = name;
	if (c.connect(main_listener(), "probe", "x", options))
		return "logged in";
	return c.message();
}

// A host name resolved by the master inside the callback, then connected to.
START_TEST(test_resolve_localhost_and_connect)
{
	PROXY_ASSERT_STR(probe("localhost:" + backend_port()), "127.0.0.1:" + backend_port() + " nil");
	PROXY_ASSERT_STR(probe("localhost"), "127.0.0.1:3306 nil");
	MysqlClient c;
	PROXY_ASSERT(c.connect(main_listener(), "resolve", "alice-pw"), "%s", c.error().c_str());
	PROXY_ASSERT_STR(c.text("SELECT CURRENT_USER()"), "alice@%");
}
END_TEST

// Failures are data: the script turns them into a refusal; bad syntax gives the parser's reason.
START_TEST(test_failures_are_nil_and_message)
{
	MysqlClient c;
	PROXY_ASSERT(!c.connect(main_listener(), "refuse", "x"), "the refused login went through");
	PROXY_ASSERT(c.error_code() == 1045, "%s", c.error().c_str());
	PROXY_ASSERT(c.message().rfind("refused: cannot resolve 'nosuch.invalid': ", 0) == 0, "%s", c.error().c_str());
	PROXY_ASSERT_STR(probe("[fe80::1%eth0]:3306"),
			 "nil IPv6 zone id in '[fe80::1%eth0]:3306' (not supported: give a global or unique local address)");
	PROXY_ASSERT_STR(probe("-bad-.example"), "nil invalid host name in '-bad-.example'");
	PROXY_ASSERT_STR(probe("[::1]:3307"), "[::1]:3307 nil");
	PROXY_ASSERT(proxy->trouble().empty(), "%s", proxy->trouble().c_str());
}
END_TEST

// While one callback waits for the master (stopped with SIGSTOP, so the wait cannot end), the
// single worker still serves another session; once the master runs again the waiting login ends.
START_TEST(test_waiting_callback_does_not_block_the_worker)
{
	MysqlClient idle;
	PROXY_ASSERT(idle.connect(main_listener(), "alice", "alice-pw"), "%s", idle.error().c_str());
	std::atomic<bool> stalled_done{false};
	std::string stalled_user;
	std::thread stalled([&] {
		MysqlClient c;
		if (c.connect(main_listener(), "stalled", "alice-pw"))
			stalled_user = c.text("SELECT CURRENT_USER()");
		else
			stalled_user = c.error();
		stalled_done = true;
	});
	const std::string waiting = receive(progress_socket);
	/* From here on nothing may abort before SIGCONT: the master would stay stopped. */
	const bool stopped = kill(proxy->pid(), SIGSTOP) == 0;
	const std::string resolving = receive(progress_socket);
	const std::string served = idle.text("SELECT 1");
	const bool done_while_stopped = stalled_done;
	kill(proxy->pid(), SIGCONT);
	stalled.join();
	PROXY_ASSERT(stopped && waiting == "waiting" && resolving == "resolving", "progress '%s' '%s'",
		     waiting.c_str(), resolving.c_str());
	PROXY_ASSERT_STR(served, "1");
	PROXY_ASSERT(!done_while_stopped, "the login ended while the master could not answer");
	PROXY_ASSERT_STR(stalled_user, "alice@%");
}
END_TEST

// Many logins resolving at once through one worker all get their answer.
START_TEST(test_many_concurrent_resolves)
{
	constexpr int clients = 40;
	std::vector<std::string> results(clients);
	std::vector<std::thread> threads;
	for (int i = 0; i < clients; ++i)
		threads.emplace_back([i, &results] {
			MysqlClient c;
			results[i] = c.connect(main_listener(), "resolve", "alice-pw") ? c.text("SELECT CURRENT_USER()")
										  : c.error();
		});
	for (auto &t : threads)
		t.join();
	for (int i = 0; i < clients; ++i)
		PROXY_ASSERT_STR(results[i], "alice@%");
	PROXY_ASSERT(proxy->trouble().empty(), "%s", proxy->trouble().c_str());
}
END_TEST

// The datagram config.lua sent while loading, then those a callback sends: from a client made in
// the callback (UNIX and UDP) and from the one made at load (a socket of the worker's own).
START_TEST(test_control_client_datagrams)
{
	PROXY_ASSERT_STR(decode(receive(boot_socket)), "DISCONNECT_DATABASE=acme CANCEL_JOB=queue\\0job-7");
	MysqlClient c;
	PROXY_ASSERT(!c.connect(main_listener(), "notify", "x"), "the probe logged in");
	PROXY_ASSERT_STR(c.message(), "sent nil connect(/nonexistent/control.sock): No such file or directory");
	PROXY_ASSERT_STR(decode(receive(callback_socket)), "FADE_CHILDREN=foo FLUSH_HTTP_CACHE=bar FLUSH_HTTP_CACHE=baz");
	PROXY_ASSERT_STR(decode(receive(boot_socket)), "TARPIT_CLIENT=192.0.2.7");
	PROXY_ASSERT_STR(decode(receive(udp_socket)), "RESET_LIMITER=acme");
}
END_TEST

Suite *lua_net_suite()
{
	Suite *s = suite_create("lua_net");
	TCase *tc = server_tcase("runtime", 120);
	tcase_add_test(tc, test_resolve_localhost_and_connect);
	tcase_add_test(tc, test_failures_are_nil_and_message);
	tcase_add_test(tc, test_waiting_callback_does_not_block_the_worker);
	tcase_add_test(tc, test_many_concurrent_resolves);
	tcase_add_test(tc, test_control_client_datagrams);
	suite_add_tcase(s, tc);
	return s;
}

} // namespace

int main()
{
	mysql_library_init(0, nullptr, nullptr);
	SharedServerSpec spec;
	const int rc = run_suites_with_servers(spec, {lua_net_suite()}, [] {
		shared_mariadb().create_user("alice", "alice-pw");
		boot_socket = bind_abstract_datagram(boot_name);
		callback_socket = bind_abstract_datagram(callback_name);
		progress_socket = bind_abstract_datagram(progress_name);
		udp_socket = bind_udp(udp_port);
		proxy = new ProxyProcess;
		/* Workers (nobody when the tests run as root) must reach the socket in run/. */
		chmod(proxy->dir().c_str(), 0711);
		mkdir(proxy->path("run").c_str(), 0755);
		proxy->start(config(), {proxy->path("run/main.sock")});
	});
	mysql_library_end();
	return rc;
}
