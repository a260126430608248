// Host name lookups for sandboxed workers (master side): a worker's RESOLVE_REQUEST becomes a
// getaddrinfo_a() in glibc's helper threads, and the master's loop sends RESOLVE_REPLY when it is
// done, so a slow DNS server never stalls accepting or the other workers.  Bounded: at most
// channel_max_resolves_per_worker lookups per worker; a worker that disappears has its lookups
// cancelled or their answers dropped.  Never blocks the loop and never trusts a request unchecked.
#pragma once

#include "common/channel_protocol.hpp"
#include "common/event_source.hpp"

#include <sys/types.h>

#include <functional>
#include <list>
#include <memory>
#include <unordered_map>

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;
struct signalfd_siginfo;

namespace myproxy {

/* Sends a reply to the worker that asked (nothing when it is gone). */
using ResolveReplySink = std::function<void(const ResolveReplyMessage &reply)>;

class NameResolver {
public:
	/* The realtime signal glibc sends when a lookup completes (blocked, read through sd-event). */
	static int completion_signal() noexcept;

	/* @event must outlive the resolver. */
	explicit NameResolver(sd_event *event) noexcept;
	/* Cancels what it can; a lookup glibc is still running is left to it (see the .cpp). */
	~NameResolver();
	NameResolver(const NameResolver &) = delete;
	NameResolver &operator=(const NameResolver &) = delete;

	/* Blocks the completion signal and watches it; 0 or a negative errno. */
	int start();

	/* Starts the lookup of @request for worker @worker (its pid, unique while it runs); @reply
	   gets the answer, maybe before this returns (a lookup that cannot start).  Returns null, or
	   why the request is a protocol violation (an id in use, too many unanswered). */
	const char *resolve(pid_t worker, const ResolveRequestMessage &request, const ResolveReplySink &reply);

	/* Worker @worker is gone: its lookups are cancelled, or finish unheard. */
	void forget(pid_t worker) noexcept;

	/* Lookups started and not yet answered or dropped, over all workers. */
	std::size_t pending() const noexcept { return lookups.size(); }

private:
	struct Lookup;

	sd_event *event;
	EventSource signal_source;
	std::list<std::unique_ptr<Lookup>> lookups;
	/* Unanswered lookups per worker (forgotten workers are not here). */
	std::unordered_map<pid_t, std::size_t> per_worker;

	const char *start_lookup(pid_t worker, const ResolveRequestMessage &request, const ResolveReplySink &reply);
	void collect_finished() noexcept;
	void answer(Lookup &lookup, int rc) noexcept;
	static int on_signal(sd_event_source *source, const struct signalfd_siginfo *info, void *userdata);
};

} // namespace myproxy
