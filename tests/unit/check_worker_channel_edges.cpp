// Unit tests for records on the master channel that no master of ours sends, through a real Worker
// (tests/unit/worker_bench.hpp): a record larger than any message, or one carrying more fds than
// any message, ends the worker with exit_channel_protocol and a log line naming the cause; a
// record whose fds did not fit at all (MSG_CTRUNC) and that is no NEW_CLIENT is ignored with a
// warning, and the worker goes on answering.
#include "common/exit_status.hpp"

#include <sys/socket.h>

#include <cstring>

#include "tests/unit/worker_bench.hpp"

using namespace myproxy;
using namespace myproxy::test;

namespace {

const char *const config_text = "mysql_listen('/nonexistent/myproxy-test.sock', {\n"
				"  on_handshake_response = function(client, hr) return client:err('no') end,\n"
				"})\n";

/* @bytes with @count copies of a pipe's read end, past the codec's limits. */
void send_with_fds(WorkerBench &bench, const std::vector<std::uint8_t> &bytes, std::size_t count)
{
	int pipe_fds[2];
	ck_assert_int_eq(pipe2(pipe_fds, O_CLOEXEC), 0);
	std::vector<int> fds(count, pipe_fds[0]);
	std::vector<unsigned char> control(CMSG_SPACE(sizeof(int) * count));
	iovec io{const_cast<std::uint8_t *>(bytes.data()), bytes.size()};
	msghdr msg{};
	msg.msg_iov = &io;
	msg.msg_iovlen = 1;
	msg.msg_control = control.data();
	msg.msg_controllen = control.size();
	cmsghdr *header = CMSG_FIRSTHDR(&msg);
	header->cmsg_level = SOL_SOCKET;
	header->cmsg_type = SCM_RIGHTS;
	header->cmsg_len = CMSG_LEN(sizeof(int) * count);
	std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * count);
	ck_assert_int_eq(sendmsg(bench.master_end.get(), &msg, 0), ssize_t(bytes.size()));
	close(pipe_fds[0]);
	close(pipe_fds[1]);
}

std::vector<std::uint8_t> encoded(const ChannelMessage &message)
{
	std::vector<std::uint8_t> bytes;
	ck_assert(encode_channel_message(bytes, message).ok());
	return bytes;
}

} // namespace

START_TEST(test_oversized_record_ends_the_worker)
{
	WorkerBench bench(config_text);
	bench.send_raw(std::vector<std::uint8_t>(channel_max_message_size + 64, 0x5a));
	ck_assert_int_eq(bench.finish(), exit_channel_protocol);
	ck_assert_msg(contains(bench.log(), "receive from the master: recvmsg: message larger than the receive buffer"),
		      "log: %s", bench.log().c_str());
}
END_TEST

START_TEST(test_too_many_fds_end_the_worker)
{
	WorkerBench bench(config_text);
	send_with_fds(bench, encoded(HeartbeatMessage{1}), channel_max_fds + 1);
	ck_assert_int_eq(bench.finish(), exit_channel_protocol);
	ck_assert_msg(contains(bench.log(), "receive from the master: recvmsg: more fds than any channel message carries"),
		      "log: %s", bench.log().c_str());
}
END_TEST

/* So many fds that the kernel drops them all: a HEARTBEAT that lost them is ignored, the next
   one is answered. */
START_TEST(test_truncated_fds_ignored)
{
	WorkerBench bench(config_text);
	send_with_fds(bench, encoded(HeartbeatMessage{1}), 32);
	bench.send(HeartbeatMessage{2});
	auto reply = bench.receive();
	ck_assert(reply.has_value());
	ck_assert_int_eq(int(channel_message_type(*reply)), int(ChannelMessageType::heartbeat_reply));
	ck_assert_uint_eq(std::get<HeartbeatReplyMessage>(*reply).sequence, 2);
	ck_assert_msg(contains(bench.log(), "a message from the master lost its fds (MSG_CTRUNC); ignored"), "log: %s",
		      bench.log().c_str());
}
END_TEST

int main()
{
	Suite *suite = suite_create("worker_channel_edges");
	TCase *tc = tcase_create("records");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_oversized_record_ends_the_worker);
	tcase_add_test(tc, test_too_many_fds_end_the_worker);
	tcase_add_test(tc, test_truncated_fds_ignored);
	suite_add_tcase(suite, tc);
	return run_check_suites({suite});
}
