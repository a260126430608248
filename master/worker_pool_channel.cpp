// The worker pool's channel side (master side; see worker_pool.hpp): receiving what workers send,
// the table of messages a worker may send with their handlers, and the heartbeat.  What a worker
// sends is gossip: a message the codec or the table refuses ends that worker, never the master.
#include "master/connection_ids.hpp"
#include "master/pool_worker.hpp"

#include "common/channel_socket.hpp"
#include "common/log.hpp"

#include <systemd/sd-event.h>

#include <string.h>

#include <cstdio>

namespace myproxy {

int WorkerPool::on_heartbeat_timer(sd_event_source *source, std::uint64_t usec, void *userdata)
{
	auto &pool = *static_cast<WorkerPool *>(userdata);
	pool.check_heartbeats(pool_monotonic_usec());
	sd_event_source_set_time(source, usec + pool.options.heartbeat_interval_usec);
	return 0;
}

/* Judges every worker by its last answer, then asks again.  The master's own loop runs this: if
   the master is stuck, nothing here runs, and neither does its watchdog ping. */
void WorkerPool::check_heartbeats(std::uint64_t now_usec)
{
	if (draining)
		return;
	const HeartbeatMessage ping{++heartbeat_sequence};
	for (auto &w : workers) {
		if (!w->channel || !w->announced_ready)
			continue;
		const std::uint64_t silent = now_usec - w->heartbeat_usec;
		if (options.heartbeat_timeout_usec != 0 && silent >= options.heartbeat_timeout_usec) {
			char reason[96];
			std::snprintf(reason, sizeof(reason), "missed its heartbeat for %llu ms",
				      static_cast<unsigned long long>(silent / 1000));
			kill_worker(*w, reason);
			continue;
		}
		if (silent >= 2 * options.heartbeat_interval_usec && !w->heartbeat_late) {
			log_warning("worker[%u] pid %d silent for %llu ms; no new clients for it", w->index,
				    static_cast<int>(w->pid), static_cast<unsigned long long>(silent / 1000));
			w->heartbeat_late = true;
			set_ready(*w, false);
		}
		send_message(*w, ping, {});
	}
}

int WorkerPool::on_channel(sd_event_source *, int, std::uint32_t, void *userdata)
{
	Worker &w = *static_cast<Worker *>(userdata);
	w.pool->receive_messages(w);
	return 0;
}

/* One message per wake-up, as the worker reads its side: SEQPACKET gives no hint whether another
   is queued, and the read that fails with EAGAIN after the last one cost as much as the wake-up
   that brings the next (the epoll is level-triggered, so a queued one wakes the loop at once).
   A chatty worker gets one turn per loop iteration, like every other source. */
void WorkerPool::receive_messages(Worker &w)
{
	if (!w.channel)
		return;
	auto received = receive_channel_message(w.channel.get(), receive_buffer);
	switch (received.status) {
	case ChannelIoStatus::would_block:
		return;
	case ChannelIoStatus::peer_closed:
		/* Usually the worker is exiting: its channel closes just before its _exit(),
		   or its crash closed it before SIGCHLD arrived.  While draining that is
		   expected, and the drain timeout bounds it.  Otherwise one that lives on
		   without a channel could never be drained, so it goes, but only after a
		   grace: killing it at once would log an exit status as SIGKILL. */
		log_debug("worker[%u] closed its channel", w.index);
		close_channel(w);
		set_ready(w, false);
		if (!draining && !retiring)
			kill_after_grace(w);
		return;
	case ChannelIoStatus::error: {
		char reason[160];
		std::snprintf(reason, sizeof(reason), "broke the channel (%s%s%s)",
			      received.what != nullptr ? received.what : "receive",
			      received.error_number != 0 ? ": " : "",
			      received.error_number != 0 ? strerrorname_np(received.error_number) : "");
		kill_worker(w, reason);
		return;
	}
	case ChannelIoStatus::ok:
		break;
	}

	auto decoded = decode_channel_message(ByteSpan(receive_buffer.data(), received.size),
					      received.fd_count, ChannelDirection::worker_to_master);
	if (!decoded) {
		char reason[160];
		std::snprintf(reason, sizeof(reason), "sent garbage (%s at offset %zu)",
			      decoded.error().what, decoded.error().offset);
		kill_worker(w, reason);
		return;
	}
	dispatch(w, decoded.value());
}

void WorkerPool::dispatch(Worker &w, const ChannelMessage &message)
{
	struct Row {
		ChannelMessageType type;
		const char *(WorkerPool::*handle)(Worker &, const ChannelMessage &);
	};
	/* Everything a worker may send the master; any other type ends the worker. */
	static constexpr Row allowed[] = {
		{ChannelMessageType::worker_ready, &WorkerPool::handle_worker_ready},
		{ChannelMessageType::connection_closed, &WorkerPool::handle_connection_closed},
		{ChannelMessageType::heartbeat_reply, &WorkerPool::handle_heartbeat_reply},
		{ChannelMessageType::node_suspect, &WorkerPool::handle_node_suspect},
		{ChannelMessageType::resolve_request, &WorkerPool::handle_resolve_request},
		{ChannelMessageType::kill_request, &WorkerPool::handle_kill},
		{ChannelMessageType::kill_result, &WorkerPool::handle_kill},
	};

	const ChannelMessageType type = channel_message_type(message);
	for (const Row &row : allowed) {
		if (row.type != type)
			continue;
		if (const char *violation = (this->*row.handle)(w, message))
			kill_worker(w, violation);
		return;
	}
	char reason[96];
	std::snprintf(reason, sizeof(reason), "sent %s, which workers may not send",
		      channel_message_name(type));
	kill_worker(w, reason);
}

const char *WorkerPool::handle_worker_ready(Worker &w, const ChannelMessage &)
{
	/* The one-time promise that the sandbox is up: a second one is confusion. */
	if (w.announced_ready)
		return "sent WORKER_READY twice";
	w.announced_ready = true;
	if (draining || retiring)
		return nullptr;
	if (w.starts > 1)
		log_info("worker[%u] pid %d ready (respawned)", w.index, static_cast<int>(w.pid));
	else
		log_debug("worker[%u] pid %d ready", w.index, static_cast<int>(w.pid));
	/* Before any client: the channel keeps the order, so its first login already knows. */
	if (on_worker_ready) {
		/* A message that cannot be sent is logged; the worker serves with what it has. */
		for (const ChannelMessage &first : on_worker_ready())
			send_message(w, first, {});
		if (!w.channel)
			return nullptr;
	}
	set_ready(w, true);
	return nullptr;
}

const char *WorkerPool::handle_connection_closed(Worker &w, const ChannelMessage &message)
{
	const auto &closed = std::get<ConnectionClosedMessage>(message);
	if (w.connections == 0) {
		log_warning("worker[%u] reported client %llu closed, but holds no clients", w.index,
			    static_cast<unsigned long long>(closed.client_id));
		return nullptr;
	}
	w.connections--;
	if (connection_ids != nullptr)
		connection_ids->release(closed.client_id, w.pid);
	if (const auto i = w.client_uids.find(closed.client_id); i != w.client_uids.end()) {
		drop_uid_session(i->second);
		w.client_uids.erase(i);
	}
	retire_if_idle(w);
	return nullptr;
}

const char *WorkerPool::handle_heartbeat_reply(Worker &w, const ChannelMessage &message)
{
	if (std::get<HeartbeatReplyMessage>(message).sequence > heartbeat_sequence)
		return "answered a HEARTBEAT never sent";
	w.heartbeat_usec = pool_monotonic_usec();
	if (w.heartbeat_late) {
		w.heartbeat_late = false;
		log_info("worker[%u] pid %d answers again", w.index, static_cast<int>(w.pid));
		if (!draining && !retiring && w.announced_ready)
			set_ready(w, true);
	}
	return nullptr;
}

const char *WorkerPool::handle_node_suspect(Worker &, const ChannelMessage &message)
{
	const auto &suspect = std::get<NodeSuspectMessage>(message);
	/* The monitor checks the indexes against the configuration. */
	if (on_node_suspect)
		on_node_suspect(suspect.cluster_index, suspect.node_index);
	return nullptr;
}

const char *WorkerPool::handle_resolve_request(Worker &w, const ChannelMessage &message)
{
	const auto &request = std::get<ResolveRequestMessage>(message);
	if (!on_resolve_request) {
		send_message(w, ResolveReplyMessage{request.request_id, {}, "the master resolves no names"}, {});
		return nullptr;
	}
	return on_resolve_request(w.pid, request);
}

const char *WorkerPool::handle_kill(Worker &w, const ChannelMessage &message)
{
	if (!on_kill) {
		if (const auto *request = std::get_if<KillRequestMessage>(&message)) {
			KillOrderMessage answer;
			answer.tag = request->tag;
			answer.target = request->target;
			answer.query = request->query;
			answer.outcome = KillOutcome::unknown;
			send_message(w, answer, {});
		}
		return nullptr;
	}
	return on_kill(w.pid, message);
}

bool WorkerPool::send_to(pid_t pid, const ChannelMessage &message)
{
	for (auto &w : workers)
		if (w->pid == pid && pid != 0 && w->channel)
			return send_message(*w, message, {});
	return false;
}

} // namespace myproxy
