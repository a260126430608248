// Unit tests for common/channel_socket and common/unique_fd over a real SOCK_SEQPACKET pair: fds
// arrive and work, nothing leaks on success or on any failure (counted in /proc/self/fd), and
// truncation, too many fds, EAGAIN and a closed peer are reported as such.
#include "common/channel_protocol.hpp"
#include "common/channel_socket.hpp"
#include "common/unique_fd.hpp"
#include "tests/check_main.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace myproxy;

static std::size_t count_open_fds()
{
	DIR *dir = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(dir);
	std::size_t count = 0;
	while (const dirent *entry = readdir(dir))
		if (entry->d_name[0] != '.')
			++count;
	closedir(dir);
	return count;
}

/* A blocking pair, so the tests need no poll(); the functions under test never block anyway. */
static void make_pair(UniqueFd &a, UniqueFd &b)
{
	int pair[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
	a.reset(pair[0]);
	b.reset(pair[1]);
}

/* What a hostile or buggy peer may do that send_channel_message() refuses: any number of fds. */
static void raw_send(int sock, ByteSpan bytes, const std::vector<int> &fds)
{
	iovec iov{const_cast<std::uint8_t *>(bytes.data()), bytes.size()};
	msghdr msg{};
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	std::vector<unsigned char> control(CMSG_SPACE(sizeof(int) * fds.size()), 0);
	msg.msg_control = control.data();
	msg.msg_controllen = control.size();
	cmsghdr *header = CMSG_FIRSTHDR(&msg);
	header->cmsg_level = SOL_SOCKET;
	header->cmsg_type = SCM_RIGHTS;
	header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
	std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
	ck_assert_int_eq(sendmsg(sock, &msg, MSG_NOSIGNAL), ssize_t(bytes.size()));
}

START_TEST(test_new_client_with_two_fds)
{
	const std::size_t before = count_open_fds();
	{
		UniqueFd master_end, worker_end;
		make_pair(master_end, worker_end);
		int pipe_fds[2];
		ck_assert_int_eq(pipe2(pipe_fds, O_CLOEXEC), 0);
		UniqueFd pipe_read(pipe_fds[0]), pipe_write(pipe_fds[1]);
		/* The pipe's write end stands in for the client socket. */
		struct stat sent_stat;
		ck_assert_int_eq(fstat(pipe_write.get(), &sent_stat), 0);
		NewClientMessage m;
		m.info.client_id = 17;
		m.info.socket_device = sent_stat.st_dev;
		m.info.socket_inode = sent_stat.st_ino;
		std::vector<std::uint8_t> bytes;
		const auto encoded = encode_channel_message(bytes, m);
		ck_assert(encoded.ok());
		ck_assert_uint_eq(*encoded, 1);
		const int fds[] = {pipe_write.get()};
		const auto sent = send_channel_message(master_end.get(), bytes, fds);
		ck_assert(sent.status == ChannelIoStatus::ok);
		pipe_write.reset();

		std::uint8_t buffer[channel_max_message_size];
		auto received = receive_channel_message(worker_end.get(), buffer);
		ck_assert(received.status == ChannelIoStatus::ok);
		ck_assert_uint_eq(received.size, bytes.size());
		ck_assert_uint_eq(received.fd_count, 1);
		const auto decoded = decode_channel_message(ByteSpan(buffer, received.size), received.fd_count,
							    ChannelDirection::master_to_worker);
		ck_assert(decoded.ok());
		const auto &nc = std::get<NewClientMessage>(*decoded);
		ck_assert_uint_eq(nc.info.client_id, 17);

		/* The inode check a worker makes before using the client socket. */
		struct stat got_stat;
		ck_assert_int_eq(fstat(received.fds[0].get(), &got_stat), 0);
		ck_assert_uint_eq(got_stat.st_ino, nc.info.socket_inode);
		ck_assert_uint_eq(got_stat.st_dev, nc.info.socket_device);

		for (std::size_t i = 0; i < received.fd_count; ++i)
			ck_assert_int_eq(fcntl(received.fds[i].get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

		ck_assert_int_eq(write(received.fds[0].get(), "hi", 2), 2);
		char text[2];
		ck_assert_int_eq(read(pipe_read.get(), text, 2), 2);
		ck_assert(std::memcmp(text, "hi", 2) == 0);
	}
	ck_assert_uint_eq(count_open_fds(), before);
}
END_TEST

START_TEST(test_message_without_fds)
{
	UniqueFd a, b;
	make_pair(a, b);
	std::vector<std::uint8_t> bytes;
	ck_assert(encode_channel_message(bytes, ConnectionClosedMessage{5}).ok());
	ck_assert(send_channel_message(b.get(), bytes, {}).status == ChannelIoStatus::ok);
	std::uint8_t buffer[channel_max_message_size];
	auto received = receive_channel_message(a.get(), buffer);
	ck_assert(received.status == ChannelIoStatus::ok);
	ck_assert_uint_eq(received.fd_count, 0);
	const auto decoded = decode_channel_message(ByteSpan(buffer, received.size), 0,
						    ChannelDirection::worker_to_master);
	ck_assert(decoded.ok());
	ck_assert_uint_eq(std::get<ConnectionClosedMessage>(*decoded).client_id, 5);
}
END_TEST

/* Sends @count copies of a pipe end with one message and checks the receiver refuses them all
   with @expected in the error text and keeps no fd. */
static void check_refused_fds(std::size_t count, const char *expected)
{
	const std::size_t before = count_open_fds();
	{
		UniqueFd a, b;
		make_pair(a, b);
		int pipe_fds[2];
		ck_assert_int_eq(pipe2(pipe_fds, O_CLOEXEC), 0);
		UniqueFd pipe_read(pipe_fds[0]), pipe_write(pipe_fds[1]);
		const std::vector<int> fds(count, pipe_write.get());
		const std::uint8_t bytes[] = {3, 0, 0, 0, 0, 0, 0, 0};
		raw_send(a.get(), bytes, fds);

		std::uint8_t buffer[channel_max_message_size];
		auto received = receive_channel_message(b.get(), buffer);
		ck_assert(received.status == ChannelIoStatus::error);
		ck_assert_ptr_nonnull(received.what);
		ck_assert_msg(std::strstr(received.what, expected) != nullptr, "got \"%s\"", received.what);
		ck_assert_uint_eq(received.fd_count, 0);
		for (const auto &fd : received.fds)
			ck_assert(!fd.is_valid());

		/* Every copy of the write end is closed, so the read end sees EOF. */
		pipe_write.reset();
		char c;
		ck_assert_int_eq(read(pipe_read.get(), &c, 1), 0);
	}
	ck_assert_uint_eq(count_open_fds(), before);
}

START_TEST(test_ctrunc_closes_everything)
{
	check_refused_fds(16, "MSG_CTRUNC");
}
END_TEST

/* At its fd limit a receiver gets the record without its fds (MSG_CTRUNC): the record is kept,
   so a worker can tell the master which client it lost instead of failing its channel. */
START_TEST(test_ctrunc_at_fd_limit_keeps_record)
{
	UniqueFd a, b;
	make_pair(a, b);
	std::vector<std::uint8_t> bytes;
	ck_assert(encode_channel_message(bytes, ConnectionClosedMessage{42}));
	UniqueFd event(eventfd(0, EFD_CLOEXEC));
	raw_send(a.get(), ByteSpan(bytes), std::vector<int>{event.get()});

	struct rlimit saved;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	/* Every fd number below the limit in use: the kernel can install nothing. */
	std::vector<UniqueFd> filler;
	for (;;) {
		const int fd = dup(event.get());
		if (fd < 0)
			break;
		filler.emplace_back(fd);
		if (filler.size() > 4096)
			break;
	}
	struct rlimit low = saved;
	low.rlim_cur = static_cast<rlim_t>(filler.back().get());
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	std::uint8_t buffer[channel_max_message_size];
	auto received = receive_channel_message(b.get(), buffer);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
	ck_assert(received.status == ChannelIoStatus::error);
	ck_assert(received.control_truncated);
	ck_assert_uint_eq(received.fd_count, 0);
	ck_assert_uint_eq(received.size, bytes.size());
	auto decoded = decode_channel_message(ByteSpan(buffer, received.size), 0, ChannelDirection::worker_to_master);
	ck_assert(decoded.ok());
	ck_assert_uint_eq(std::get<ConnectionClosedMessage>(*decoded).client_id, 42);
}
END_TEST

START_TEST(test_too_many_fds_close_everything)
{
	/* Three fds fit the control buffer (it has room for credentials too) but no message has
	   three. */
	check_refused_fds(3, "more fds");
}
END_TEST

START_TEST(test_message_truncated)
{
	const std::size_t before = count_open_fds();
	{
		UniqueFd a, b;
		make_pair(a, b);
		UniqueFd event(eventfd(0, EFD_CLOEXEC));
		std::vector<std::uint8_t> big(100, 7);
		const int fds[] = {event.get()};
		ck_assert(send_channel_message(a.get(), big, fds).status == ChannelIoStatus::ok);
		std::uint8_t small[50];
		auto received = receive_channel_message(b.get(), small);
		ck_assert(received.status == ChannelIoStatus::error);
		ck_assert(std::strstr(received.what, "MSG_TRUNC") != nullptr);
		ck_assert_uint_eq(received.fd_count, 0);
	}
	ck_assert_uint_eq(count_open_fds(), before);
}
END_TEST

START_TEST(test_peer_closed)
{
	UniqueFd a, b;
	make_pair(a, b);
	a.reset();
	std::uint8_t buffer[channel_max_message_size];
	auto received = receive_channel_message(b.get(), buffer);
	ck_assert(received.status == ChannelIoStatus::peer_closed);
	ck_assert_uint_eq(received.fd_count, 0);

	/* No SIGPIPE: the test process would die of it. */
	const std::uint8_t bytes[] = {3, 0, 0, 0, 0, 0, 0, 0};
	const auto sent = send_channel_message(b.get(), bytes, {});
	ck_assert(sent.status == ChannelIoStatus::peer_closed);
	ck_assert_int_eq(sent.error_number, EPIPE);
}
END_TEST

START_TEST(test_would_block)
{
	UniqueFd master_end, worker_end;
	ck_assert_int_eq(create_channel_pair(master_end, worker_end), 0);
	ck_assert_int_eq(fcntl(master_end.get(), F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	ck_assert_int_eq(fcntl(worker_end.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

	std::uint8_t buffer[channel_max_message_size];
	auto received = receive_channel_message(worker_end.get(), buffer);
	ck_assert(received.status == ChannelIoStatus::would_block);

	std::vector<std::uint8_t> bytes(channel_max_message_size, 0);
	ChannelSendResult sent;
	std::size_t messages = 0;
	do {
		sent = send_channel_message(master_end.get(), bytes, {});
		++messages;
	} while (sent.status == ChannelIoStatus::ok && messages < 100000);
	ck_assert(sent.status == ChannelIoStatus::would_block);
	ck_assert_uint_gt(messages, 1);

	/* Readable again after draining one. */
	received = receive_channel_message(worker_end.get(), buffer);
	ck_assert(received.status == ChannelIoStatus::ok);
}
END_TEST

START_TEST(test_credentials_ignored)
{
	const std::size_t before = count_open_fds();
	{
		UniqueFd a, b;
		make_pair(a, b);
		const int on = 1;
		ck_assert_int_eq(setsockopt(b.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
		UniqueFd e1(eventfd(0, EFD_CLOEXEC));
		const int fds[] = {e1.get()};
		const std::uint8_t bytes[] = {1, 2, 3};
		ck_assert(send_channel_message(a.get(), bytes, fds).status == ChannelIoStatus::ok);
		std::uint8_t buffer[channel_max_message_size];
		auto received = receive_channel_message(b.get(), buffer);
		ck_assert_msg(received.status == ChannelIoStatus::ok, "%s", received.what ? received.what : "");
		ck_assert_uint_eq(received.fd_count, 1);
		ck_assert_uint_eq(received.size, 3);
	}
	ck_assert_uint_eq(count_open_fds(), before);
}
END_TEST

START_TEST(test_send_refuses_too_many_fds)
{
	UniqueFd a, b;
	make_pair(a, b);
	const int fds[] = {0, 1, 2};
	const std::uint8_t bytes[] = {3, 0, 0, 0, 0, 0, 0, 0};
	const auto sent = send_channel_message(a.get(), bytes, fds);
	ck_assert(sent.status == ChannelIoStatus::error);
	ck_assert_int_eq(sent.error_number, EINVAL);
}
END_TEST

START_TEST(test_unique_fd)
{
	const std::size_t before = count_open_fds();
	{
		UniqueFd empty;
		ck_assert(!empty.is_valid());
		ck_assert_int_eq(empty.get(), -1);

		UniqueFd first(eventfd(0, EFD_CLOEXEC));
		const int raw = first.get();
		ck_assert(first);
		UniqueFd second(std::move(first));
		ck_assert(!first.is_valid());
		ck_assert_int_eq(second.get(), raw);

		UniqueFd third(eventfd(0, EFD_CLOEXEC));
		third = std::move(second);
		ck_assert_int_eq(third.get(), raw);
		ck_assert_uint_eq(count_open_fds(), before + 1);

		third.reset(third.get());
		ck_assert_int_eq(fcntl(raw, F_GETFD) >= 0, 1);

		const int released = third.release();
		ck_assert_int_eq(released, raw);
		ck_assert(!third.is_valid());
		ck_assert_uint_eq(count_open_fds(), before + 1);
		close(released);

		third.reset(eventfd(0, EFD_CLOEXEC));
		ck_assert_uint_eq(count_open_fds(), before + 1);
		third.reset();
		ck_assert_uint_eq(count_open_fds(), before);
		third.reset(eventfd(0, EFD_CLOEXEC));
	}
	ck_assert_uint_eq(count_open_fds(), before);
}
END_TEST

static Suite *channel_socket_suite()
{
	Suite *s = suite_create("channel_socket");
	TCase *tc = tcase_create("transport");
	tcase_add_test(tc, test_new_client_with_two_fds);
	tcase_add_test(tc, test_message_without_fds);
	tcase_add_test(tc, test_ctrunc_closes_everything);
	tcase_add_test(tc, test_ctrunc_at_fd_limit_keeps_record);
	tcase_add_test(tc, test_too_many_fds_close_everything);
	tcase_add_test(tc, test_message_truncated);
	tcase_add_test(tc, test_peer_closed);
	tcase_add_test(tc, test_would_block);
	tcase_add_test(tc, test_credentials_ignored);
	tcase_add_test(tc, test_send_refuses_too_many_fds);
	suite_add_tcase(s, tc);
	TCase *fd = tcase_create("unique_fd");
	tcase_add_test(fd, test_unique_fd);
	suite_add_tcase(s, fd);
	return s;
}

int main()
{
	return run_check_suites({channel_socket_suite()});
}
