// Fuzz target for channel_protocol.hpp: the input is one received master/worker message, decoded in
// both directions with 0 to 3 fds (the receiver knows both, the sender cannot choose them).  Every view
// is touched, and a message that decodes must encode back to exactly the input bytes: the format has
// one encoding per message, so anything else means the codec and the decoder disagree.
#include "common/channel_protocol.hpp"
#include "tests/fuzz/fuzz_util.hpp"

#include <variant>
#include <vector>

using namespace myproxy;

static void check_kill(const KillFields &k, ByteSpan input)
{
	FUZZ_CHECK(fuzz::view_ok(k.server, input));
	FUZZ_CHECK(fuzz::view_ok(k.user, input));
	FUZZ_CHECK(k.target != 0 && k.outcome <= KillOutcome::done);
	FUZZ_CHECK(k.server.size() <= channel_max_kill_server && k.user.size() <= channel_max_kill_user);
	FUZZ_CHECK((k.outcome == KillOutcome::pending) != k.server.empty());
	FUZZ_CHECK((k.outcome == KillOutcome::same_server) == (k.backend_thread != 0));
}

static void check_views(const ChannelMessage &message, ByteSpan input)
{
	if (const auto *m = std::get_if<NewClientMessage>(&message)) {
		FUZZ_CHECK(fuzz::view_ok(m->info.peer_address, input));
		FUZZ_CHECK(fuzz::view_ok(m->info.cgroup_path, input));
		FUZZ_CHECK(m->info.peer_address.size() <= channel_max_peer_address);
		FUZZ_CHECK(m->info.cgroup_path.size() <= channel_max_cgroup_path);
		FUZZ_CHECK(m->info.pid >= 0);
		if (!m->info.has_credentials)
			FUZZ_CHECK(m->info.pid == 0 && m->info.uid == 0 && m->info.gid == 0);
	} else if (const auto *d = std::get_if<DisconnectAccountMessage>(&message)) {
		FUZZ_CHECK(fuzz::view_ok(d->account, input));
		FUZZ_CHECK(!d->account.empty() && d->account.size() <= channel_max_account_name);
	} else if (const auto *n = std::get_if<NodeStateMessage>(&message)) {
		FUZZ_CHECK(n->state <= NodeState::dead);
	} else if (const auto *q = std::get_if<ResolveRequestMessage>(&message)) {
		FUZZ_CHECK(fuzz::view_ok(q->host, input));
		FUZZ_CHECK(is_host_name(q->host));
	} else if (const auto *k = std::get_if<KillRequestMessage>(&message)) {
		check_kill(*k, input);
	} else if (const auto *o = std::get_if<KillOrderMessage>(&message)) {
		check_kill(*o, input);
	} else if (const auto *k2 = std::get_if<KillResultMessage>(&message)) {
		check_kill(*k2, input);
	} else if (const auto *r = std::get_if<ResolveReplyMessage>(&message)) {
		FUZZ_CHECK(fuzz::view_ok(r->address, input));
		FUZZ_CHECK(fuzz::view_ok(r->error, input));
		FUZZ_CHECK(r->address.empty() != r->error.empty());
		FUZZ_CHECK(r->address.empty() || r->address.size() == 4 || r->address.size() == 16);
	} else if (const auto *offer = std::get_if<BackendOfferMessage>(&message)) {
		FUZZ_CHECK(fuzz::view_ok(offer->server_version, input));
		FUZZ_CHECK(!offer->server_version.empty() && offer->server_version.size() <= channel_max_server_version);
	} else if (std::holds_alternative<RetireMessage>(message)) {
		/* No payload, no flag: the bare header is its only encoding. */
		FUZZ_CHECK(input.size() == channel_header_size);
	}
}

static void check_decode(ByteSpan input, std::size_t fd_count, ChannelDirection direction)
{
	const auto message = decode_channel_message(input, fd_count, direction);
	if (!message.ok()) {
		FUZZ_CHECK(fuzz::error_ok(message.error(), input));
		return;
	}
	const ChannelMessageType type = channel_message_type(*message);
	FUZZ_CHECK(channel_message_allowed(direction, type));
	FUZZ_CHECK(channel_message_name(type) != nullptr);
	FUZZ_CHECK(input.size() >= channel_header_size && input.size() <= channel_max_message_size);
	check_views(*message, input);

	std::vector<std::uint8_t> out;
	const auto fds = encode_channel_message(out, *message);
	FUZZ_CHECK(fds.ok() && *fds == fd_count);
	FUZZ_CHECK(fuzz::same(out, input));
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const ByteSpan input(data, size);
	for (std::size_t fd_count = 0; fd_count <= channel_max_fds + 1; ++fd_count) {
		check_decode(input, fd_count, ChannelDirection::master_to_worker);
		check_decode(input, fd_count, ChannelDirection::worker_to_master);
	}
	return 0;
}
