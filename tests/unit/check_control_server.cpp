// Unit tests for master/control_server's socket side, on a real sd-event loop in this process: opening
// (a file in the way, a live socket in the way, a missing directory, an unknown interface, a group that
// is no multicast group), and receiving what hostile senders send: fds (closed at once), oversized
// datagrams (dropped whole), a local sender of another uid (refused), VERBOSE with a bad payload, and
// the commands that work; `myproxy --control` (master/control_client) as the sender.  The parsing and
// sender rules themselves are in check_operator_protocols.
#include "common/control_protocol.hpp"
#include "common/log.hpp"
#include "common/exit_status.hpp"
#include "master/control_client.hpp"
#include "master/control_server.hpp"
#include "tests/check_main.hpp"

#include <systemd/sd-event.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace myproxy;

namespace {

struct TempDirectory {
	std::string path;
	TempDirectory()
	{
		char pattern[] = "/tmp/check_control_server.XXXXXX";
		ck_assert(mkdtemp(pattern) != nullptr);
		path = pattern;
	}
	~TempDirectory() { std::system(("rm -rf '" + path + "'").c_str()); }
};

ControlListenerConfig config_for(const std::string &address)
{
	const AddressResult r = parse_numeric_address(address, 5478);
	ck_assert_msg(r.ok(), "%s", r.error());
	ControlListenerConfig config;
	config.address = r.value();
	config.description = address;
	return config;
}

std::vector<std::uint8_t> command(ControlCommand which, std::string_view payload)
{
	std::vector<std::uint8_t> d;
	append_control_magic(d);
	append_control_packet(d, std::uint16_t(which),
			      ByteSpan(reinterpret_cast<const std::uint8_t *>(payload.data()), payload.size()));
	return d;
}

std::size_t open_fd_count()
{
	std::size_t count = 0;
	DIR *dir = opendir("/proc/self/fd");
	ck_assert(dir != nullptr);
	while (const dirent *entry = readdir(dir))
		count += entry->d_name[0] != '.' ? 1 : 0;
	closedir(dir);
	return count;
}

/* A client socket connected to the listener at @path. */
UniqueFd sender_for(const std::string &path)
{
	UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	sockaddr_un address{};
	address.sun_family = AF_UNIX;
	std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
	ck_assert_int_eq(connect(fd.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)), 0);
	return fd;
}

/* Runs the loop until the server has seen @total datagrams (accepted + dropped). */
void run_until(sd_event *event, const ControlServer &server, std::uint64_t total)
{
	for (int i = 0; i < 200 && server.accepted() + server.dropped() < total; ++i)
		ck_assert_int_ge(sd_event_run(event, 50'000), 0);
	ck_assert_uint_eq(server.accepted() + server.dropped(), total);
}

} // namespace

START_TEST(test_open_errors)
{
	TempDirectory dir;
	const std::string path = dir.path + "/control.sock";
	UniqueFd fd;

	/* A regular file where the socket should go is left alone. */
	{
		const int file = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		ck_assert_int_ge(file, 0);
		close(file);
	}
	auto problem = open_control_socket(config_for(path), fd);
	ck_assert(problem.has_value());
	ck_assert_msg(*problem == path + ": exists and is not a socket", "%s", problem->c_str());
	ck_assert_int_eq(unlink(path.c_str()), 0);

	/* A live socket (another instance) is left alone; a stale one is replaced. */
	UniqueFd live;
	ck_assert(!open_control_socket(config_for(path), live).has_value());
	problem = open_control_socket(config_for(path), fd);
	ck_assert(problem.has_value());
	ck_assert_msg(*problem == path + ": in use by another process", "%s", problem->c_str());
	live.reset();
	ck_assert(!open_control_socket(config_for(path), fd).has_value());
	struct stat st;
	ck_assert_int_eq(stat(path.c_str(), &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0666); /* anyone may send; SO_PASSCRED decides */
	fd.reset();

	/* bind() into a directory that does not exist. */
	problem = open_control_socket(config_for(dir.path + "/missing/control.sock"), fd);
	ck_assert(problem.has_value() && problem->starts_with("bind("));

	/* An interface that does not exist, and a "group" that is no multicast address. */
	ControlListenerConfig device = config_for("127.0.0.1:54781");
	device.interface_name = "nosuchif0";
	problem = open_control_socket(device, fd);
	ck_assert(problem.has_value() && problem->starts_with("setsockopt(SO_BINDTODEVICE)(nosuchif0)"));
	ControlListenerConfig group = config_for("127.0.0.1:54781");
	group.multicast_group = config_for("127.0.0.1:54781").address;
	problem = open_control_socket(group, fd);
	ck_assert_msg(problem.has_value() && problem->starts_with("setsockopt(multicast_group 127.0.0.1"), "%s",
		      problem ? problem->c_str() : "no problem");
	ck_assert(!fd.is_valid());
}
END_TEST

START_TEST(test_receive_hostile_datagrams)
{
	TempDirectory dir;
	const std::string path = dir.path + "/control.sock";
	ck_assert_int_eq(chmod(dir.path.c_str(), 0711), 0); /* the stranger below must reach the socket */
	UniqueFd fd;
	ck_assert(!open_control_socket(config_for(path), fd).has_value());
	sd_event *event = nullptr;
	ck_assert_int_ge(sd_event_new(&event), 0);
	std::vector<std::string> disconnected;
	ControlActions actions;
	actions.disconnect_account = [&](std::string_view account) { disconnected.emplace_back(account); };
	std::uint64_t seen = 0;
	{
		ControlServer server(event, std::move(fd), config_for(path), actions);
		ck_assert_int_ge(server.start(), 0);
		UniqueFd sender = sender_for(path);

		/* DISCONNECT_DATABASE with two fds attached: the command runs, the fds are closed. */
		const std::size_t fds_before = open_fd_count();
		int pipe_fds[2];
		ck_assert_int_eq(pipe2(pipe_fds, O_CLOEXEC), 0);
		const auto disconnect = command(ControlCommand::disconnect_database, "acme");
		iovec iov{const_cast<std::uint8_t *>(disconnect.data()), disconnect.size()};
		alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
		msghdr msg{};
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(2 * sizeof(int));
		std::memcpy(CMSG_DATA(c), pipe_fds, sizeof(pipe_fds));
		ck_assert_int_eq(sendmsg(sender.get(), &msg, 0), ssize_t(disconnect.size()));
		close(pipe_fds[0]);
		close(pipe_fds[1]);
		run_until(event, server, ++seen);
		ck_assert_uint_eq(server.accepted(), 1);
		ck_assert(disconnected == std::vector<std::string>{"acme"});
		ck_assert_uint_eq(open_fd_count(), fds_before);

		/* Larger than any control datagram: dropped whole, never parsed from a cut. */
		std::vector<std::uint8_t> oversized = command(ControlCommand::disconnect_database, "big");
		oversized.resize(control_max_datagram + 100, 0);
		ck_assert_int_eq(send(sender.get(), oversized.data(), oversized.size(), 0), ssize_t(oversized.size()));
		run_until(event, server, ++seen);
		ck_assert_uint_eq(server.dropped(), 1);

		/* VERBOSE: one byte switches debug logging, any other length is refused. */
		for (const std::string_view level : {std::string_view("\x03"), std::string_view("\x01\x02"),
						     std::string_view("\x02")}) {
			const auto verbose = command(ControlCommand::verbose, level);
			ck_assert_int_eq(send(sender.get(), verbose.data(), verbose.size(), 0), ssize_t(verbose.size()));
			run_until(event, server, ++seen);
			if (level == "\x03")
				ck_assert(log_enabled(LogLevel::debug));
		}
		ck_assert(!log_enabled(LogLevel::debug));
		ck_assert_uint_eq(server.accepted(), 4);

		/* Another uid on the local socket: refused before its bytes are looked at. */
		const pid_t child = fork();
		ck_assert_int_ge(child, 0);
		if (child == 0) {
			if (setresuid(65534, 65534, 65534) != 0)
				_exit(2);
			UniqueFd stranger = sender_for(path);
			_exit(send(stranger.get(), disconnect.data(), disconnect.size(), 0) == ssize_t(disconnect.size())
				      ? 0
				      : 1);
		}
		int status = 0;
		ck_assert_int_eq(waitpid(child, &status, 0), child);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		run_until(event, server, ++seen);
		ck_assert_uint_eq(server.dropped(), 2);
		ck_assert_uint_eq(disconnected.size(), 1);

		server.stop();
		struct stat st;
		ck_assert_int_lt(stat(path.c_str(), &st), 0); /* stop() removed the socket file */
	}
	sd_event_unref(event);
}
END_TEST

/* `myproxy --control` against the real listener: every command it builds arrives and runs; usage
 * mistakes and unreachable addresses are its exit statuses, and nothing is sent for them. */
START_TEST(test_control_client_to_server)
{
	TempDirectory dir;
	const std::string path = dir.path + "/control.sock";
	UniqueFd fd;
	ck_assert(!open_control_socket(config_for(path), fd).has_value());
	sd_event *event = nullptr;
	ck_assert_int_ge(sd_event_new(&event), 0);
	std::vector<std::string> disconnected;
	ControlActions actions;
	actions.disconnect_account = [&](std::string_view account) { disconnected.emplace_back(account); };
	{
		ControlServer server(event, std::move(fd), config_for(path), actions);
		ck_assert_int_ge(server.start(), 0);
		std::FILE *errors = std::tmpfile();
		ck_assert(errors != nullptr);
		using Command = std::vector<std::string>;
		ck_assert_int_eq(run_control_client(path, Command{"disconnect-database", "acme"}, errors), 0);
		ck_assert_int_eq(run_control_client(path, Command{"verbose", "3"}, errors), 0);
		ck_assert_int_eq(run_control_client(path, Command{"verbose", "2"}, errors), 0);
		ck_assert_int_eq(run_control_client(path, Command{"nop"}, errors), 0);
		run_until(event, server, 4);
		ck_assert_uint_eq(server.accepted(), 4);
		ck_assert(disconnected == std::vector<std::string>{"acme"});
		ck_assert(!log_enabled(LogLevel::debug));

		for (const Command &bad : {Command{"verbose", "256"}, Command{"verbose", "3x"}, Command{"verbose", ""},
					   Command{"disconnect-database", ""},
					   Command{"disconnect-database", std::string(257, 'a')}, Command{"nop", "extra"},
					   Command{"reboot"}})
			ck_assert_int_eq(run_control_client(path, bad, errors), exit_usage);
		ck_assert_int_eq(run_control_client(dir.path + "/nobody-here.sock", Command{"nop"}, errors), exit_unavailable);
		ck_assert_int_eq(run_control_client("[::1", Command{"nop"}, errors), exit_unavailable);
		std::rewind(errors);
		char line[256];
		ck_assert(std::fgets(line, sizeof(line), errors) != nullptr);
		ck_assert_str_eq(line, "myproxy --control: verbose: the level must be a number 0..255\n");
		std::fclose(errors);
		for (int i = 0; i < 5; ++i)
			ck_assert_int_ge(sd_event_run(event, 10'000), 0);
		ck_assert_uint_eq(server.accepted() + server.dropped(), 4);
	}
	sd_event_unref(event);
}
END_TEST

static Suite *control_server_suite()
{
	Suite *s = suite_create("control_server");
	TCase *tc = tcase_create("socket");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_receive_hostile_datagrams);
	tcase_add_test(tc, test_control_client_to_server);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({control_server_suite()});
}
