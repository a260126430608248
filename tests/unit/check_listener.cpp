// Unit tests for master/listener: path, abstract and TCP listeners in a private temporary
// directory; stale socket files are replaced, anything else at the path is left alone; systemd
// sockets are taken from fd 3 the way sd_listen_fds() hands them over.
#include "common/exit_status.hpp"
#include "lua/config_loader.hpp"
#include "master/listener.hpp"
#include "tests/check_main.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

using namespace myproxy;

static std::string temp_dir;

static void make_temp_dir()
{
	char pattern[] = "/tmp/check_listener.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(pattern));
	temp_dir = pattern;
}

static void remove_temp_dir()
{
	const std::string command = "rm -rf '" + temp_dir + "'";
	(void)std::system(command.c_str());
}

static SocketAddress address_of(const std::string &text)
{
	const auto r = parse_numeric_address(text, 3306);
	ck_assert_msg(r.ok(), "%s: %s", text.c_str(), r.ok() ? "" : r.error());
	return r.value();
}

static int int_option(int fd, int level, int name)
{
	int value = -1;
	socklen_t length = sizeof(value);
	ck_assert_int_eq(getsockopt(fd, level, name, &value, &length), 0);
	return value;
}

static bool can_connect(const SocketAddress &address)
{
	UniqueFd fd(socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
	return fd && connect(fd.get(), address.get(), address.length) == 0;
}

/* A socket file nobody listens on, as a crashed server leaves it. */
static void make_stale_socket(const std::string &path)
{
	const SocketAddress address = address_of(path);
	UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ck_assert_int_eq(bind(fd.get(), address.get(), address.length), 0);
}

START_TEST(test_path_listener)
{
	const std::string path = temp_dir + "/a.sock";
	std::vector<Listener> out;
	const auto error = open_address_listener(address_of(path), 3, out);
	ck_assert_msg(!error, "%s", error ? error->message.c_str() : "");
	ck_assert_uint_eq(out.size(), 1);
	const Listener &l = out[0];
	ck_assert_uint_eq(l.config_index, 3);
	ck_assert(l.is_unix);
	ck_assert_str_eq(l.description.c_str(), path.c_str());
	ck_assert_str_eq(l.socket_path.c_str(), path.c_str());

	struct stat st;
	ck_assert_int_eq(stat(path.c_str(), &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0666);
	ck_assert_uint_eq(l.socket_inode, st.st_ino);

	ck_assert_int_eq(int_option(l.fd.get(), SOL_SOCKET, SO_PASSCRED), 1);
	ck_assert_int_eq(int_option(l.fd.get(), SOL_SOCKET, SO_ACCEPTCONN), 1);
	ck_assert(fcntl(l.fd.get(), F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(l.fd.get(), F_GETFD) & FD_CLOEXEC);
	ck_assert(can_connect(address_of(path)));

	remove_socket_file(out[0]);
	ck_assert_int_eq(access(path.c_str(), F_OK), -1);
	ck_assert(out[0].socket_path.empty());
}
END_TEST

START_TEST(test_stale_socket_replaced)
{
	const std::string path = temp_dir + "/stale.sock";
	make_stale_socket(path);
	std::vector<Listener> out;
	const auto error = open_address_listener(address_of(path), 0, out);
	ck_assert_msg(!error, "%s", error ? error->message.c_str() : "");
	ck_assert(can_connect(address_of(path)));
}
END_TEST

START_TEST(test_live_socket_kept)
{
	const std::string path = temp_dir + "/live.sock";
	std::vector<Listener> first, second;
	ck_assert(!open_address_listener(address_of(path), 0, first));
	const auto error = open_address_listener(address_of(path), 0, second);
	ck_assert(error.has_value());
	ck_assert_int_eq(error->exit_code, exit_os_error);
	ck_assert_msg(error->message.starts_with("bind(" + path + "): Address already in use"), "%s",
		      error->message.c_str());
	ck_assert(second.empty());
	/* The running server's socket is untouched. */
	ck_assert(can_connect(address_of(path)));
}
END_TEST

START_TEST(test_regular_file_not_removed)
{
	const std::string path = temp_dir + "/data.txt";
	{
		UniqueFd fd(open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
		ck_assert(fd.is_valid());
		ck_assert_int_eq(write(fd.get(), "keep", 4), 4);
	}
	std::vector<Listener> out;
	const auto error = open_address_listener(address_of(path), 0, out);
	ck_assert(error.has_value());
	ck_assert_int_eq(error->exit_code, exit_config);
	ck_assert_msg(error->message.find("not a socket") != std::string::npos, "%s", error->message.c_str());
	struct stat st;
	ck_assert_int_eq(stat(path.c_str(), &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_size, 4);
}
END_TEST

START_TEST(test_missing_directory)
{
	const std::string path = temp_dir + "/no/such/dir.sock";
	std::vector<Listener> out;
	const auto error = open_address_listener(address_of(path), 0, out);
	ck_assert(error.has_value());
	ck_assert_int_eq(error->exit_code, exit_os_error);
	const std::string expected = "bind(" + path + "): No such file or directory";
	ck_assert_str_eq(error->message.c_str(), expected.c_str());
}
END_TEST

START_TEST(test_replaced_file_not_removed)
{
	const std::string path = temp_dir + "/b.sock";
	std::vector<Listener> out;
	ck_assert(!open_address_listener(address_of(path), 0, out));
	/* Another instance took the path over: its socket is a different inode. */
	ck_assert_int_eq(unlink(path.c_str()), 0);
	make_stale_socket(path);
	remove_socket_file(out[0]);
	ck_assert_int_eq(access(path.c_str(), F_OK), 0);
}
END_TEST

START_TEST(test_abstract_listener)
{
	const std::string name = "@myproxy-check-listener-" + std::to_string(getpid());
	std::vector<Listener> out;
	const auto error = open_address_listener(address_of(name), 1, out);
	ck_assert_msg(!error, "%s", error ? error->message.c_str() : "");
	ck_assert(out[0].is_unix);
	ck_assert(out[0].socket_path.empty());
	ck_assert_str_eq(out[0].description.c_str(), name.c_str());
	ck_assert_int_eq(int_option(out[0].fd.get(), SOL_SOCKET, SO_PASSCRED), 1);
	ck_assert(can_connect(address_of(name)));
}
END_TEST

static std::uint16_t bound_port(int fd)
{
	sockaddr_storage storage{};
	socklen_t length = sizeof(storage);
	ck_assert_int_eq(getsockname(fd, reinterpret_cast<sockaddr *>(&storage), &length), 0);
	if (storage.ss_family == AF_INET)
		return ntohs(reinterpret_cast<sockaddr_in *>(&storage)->sin_port);
	return ntohs(reinterpret_cast<sockaddr_in6 *>(&storage)->sin6_port);
}

START_TEST(test_tcp_port_zero)
{
	/* The text form rejects port 0; tests need it to let the kernel pick. */
	SocketAddress address;
	auto *in = reinterpret_cast<sockaddr_in *>(&address.storage);
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	address.length = sizeof(*in);

	std::vector<Listener> out;
	const auto error = open_address_listener(address, 0, out);
	ck_assert_msg(!error, "%s", error ? error->message.c_str() : "");
	ck_assert(!out[0].is_unix);
	ck_assert_int_eq(int_option(out[0].fd.get(), SOL_SOCKET, SO_REUSEADDR), 1);
	const std::uint16_t port = bound_port(out[0].fd.get());
	ck_assert_uint_ne(port, 0);
	ck_assert(can_connect(address_of("127.0.0.1:" + std::to_string(port))));
}
END_TEST

START_TEST(test_wildcard_dual_stack)
{
	SocketAddress address = address_of("*:1");
	ck_assert_int_eq(address.family(), AF_INET6);
	reinterpret_cast<sockaddr_in6 *>(&address.storage)->sin6_port = 0;

	std::vector<Listener> out;
	const auto error = open_address_listener(address, 0, out);
	ck_assert_msg(!error, "%s", error ? error->message.c_str() : "");
	const int fd = out[0].fd.get();
	sockaddr_storage local{};
	socklen_t length = sizeof(local);
	ck_assert_int_eq(getsockname(fd, reinterpret_cast<sockaddr *>(&local), &length), 0);
	if (local.ss_family == AF_INET6)
		ck_assert_int_eq(int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY), 0);
	/* Either way, IPv4 clients reach it. */
	ck_assert(can_connect(address_of("127.0.0.1:" + std::to_string(bound_port(fd)))));
}
END_TEST

START_TEST(test_open_listeners_cleans_up)
{
	std::vector<ListenerConfig> configs(2);
	configs[0].address = address_of(temp_dir + "/first.sock");
	configs[0].origin = "config.lua:1";
	configs[1].address = address_of(temp_dir + "/missing/second.sock");
	configs[1].origin = "config.lua:2";

	std::vector<Listener> out;
	const auto error = open_listeners(configs, out);
	ck_assert(error.has_value());
	ck_assert_msg(error->message.ends_with("(mysql_listen at config.lua:2)"), "%s", error->message.c_str());
	ck_assert(out.empty());
	ck_assert_int_eq(access((temp_dir + "/first.sock").c_str(), F_OK), -1);

	configs.pop_back();
	ck_assert(!open_listeners(configs, out));
	ck_assert_uint_eq(out.size(), 1);
	ck_assert_uint_eq(out[0].config_index, 0);
}
END_TEST

/* Runs @body with @fd installed as fd 3 and LISTEN_FDS=1, as systemd starts a service; fd 3 of
   the test harness is put back afterwards. */
template<typename Body>
static void with_systemd_fd(int fd, Body body)
{
	const int saved = fd == 3 ? -1 : fcntl(3, F_DUPFD_CLOEXEC, 10);
	if (fd != 3) {
		ck_assert_int_eq(dup2(fd, 3), 3);
		close(fd);
	}
	setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
	setenv("LISTEN_FDS", "1", 1);
	body();
	if (saved >= 0) {
		dup2(saved, 3);
		close(saved);
	}
}

START_TEST(test_systemd_none)
{
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	std::vector<Listener> out;
	const auto error = take_systemd_listeners(0, out);
	ck_assert(error.has_value());
	ck_assert_int_eq(error->exit_code, exit_config);
	ck_assert(out.empty());
}
END_TEST

START_TEST(test_systemd_socket)
{
	const std::string path = temp_dir + "/systemd.sock";
	const SocketAddress address = address_of(path);
	const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, address.get(), address.length), 0);
	ck_assert_int_eq(listen(fd, 8), 0);

	with_systemd_fd(fd, [&] {
		std::vector<Listener> out;
		const auto error = take_systemd_listeners(4, out);
		ck_assert_msg(!error, "%s", error ? error->message.c_str() : "");
		ck_assert_uint_eq(out.size(), 1);
		ck_assert_int_eq(out[0].fd.get(), 3);
		ck_assert_uint_eq(out[0].config_index, 4);
		ck_assert(out[0].is_unix);
		ck_assert(out[0].socket_path.empty());
		const std::string expected = "systemd fd 3 (" + path + ")";
		ck_assert_str_eq(out[0].description.c_str(), expected.c_str());
		ck_assert(fcntl(3, F_GETFL) & O_NONBLOCK);
		ck_assert_int_eq(int_option(3, SOL_SOCKET, SO_PASSCRED), 1);
		ck_assert_ptr_null(getenv("LISTEN_FDS"));
		/* The Listener owns fd 3 now; let go of it before the harness's fd returns. */
		out[0].fd.reset();
	});
}
END_TEST

START_TEST(test_systemd_not_listening)
{
	const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	with_systemd_fd(fd, [&] {
		std::vector<Listener> out;
		const auto error = take_systemd_listeners(0, out);
		ck_assert(error.has_value());
		ck_assert_int_eq(error->exit_code, exit_config);
		ck_assert_msg(error->message.find("not a listening stream socket") != std::string::npos, "%s",
			      error->message.c_str());
		ck_assert(out.empty());
		/* The error path closed fd 3. */
		ck_assert_int_eq(fcntl(3, F_GETFD), -1);
	});
}
END_TEST

static Suite *listener_suite()
{
	Suite *s = suite_create("listener");
	TCase *tc = tcase_create("open");
	tcase_add_checked_fixture(tc, make_temp_dir, remove_temp_dir);
	tcase_add_test(tc, test_path_listener);
	tcase_add_test(tc, test_stale_socket_replaced);
	tcase_add_test(tc, test_live_socket_kept);
	tcase_add_test(tc, test_regular_file_not_removed);
	tcase_add_test(tc, test_missing_directory);
	tcase_add_test(tc, test_replaced_file_not_removed);
	tcase_add_test(tc, test_abstract_listener);
	tcase_add_test(tc, test_tcp_port_zero);
	tcase_add_test(tc, test_wildcard_dual_stack);
	tcase_add_test(tc, test_open_listeners_cleans_up);
	tcase_add_test(tc, test_systemd_none);
	tcase_add_test(tc, test_systemd_socket);
	tcase_add_test(tc, test_systemd_not_listening);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({listener_suite()});
}
