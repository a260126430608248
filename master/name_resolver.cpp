// NameResolver (see name_resolver.hpp).  glibc runs each getaddrinfo_a() lookup in a helper thread
// (what libsystemd's sd-resolve does too; its API is not public) and queues a realtime signal
// when one completes; the master reads it through sd-event like SIGCHLD and then collects every
// finished lookup, so a signal that never came is made up for by the next one.  The threads touch
// only glibc's own state and the Lookup they were given: nothing here runs outside the loop.
#include "master/name_resolver.hpp"

#include "common/log.hpp"
#include "common/socket_address.hpp"

#include <systemd/sd-event.h>

#include <netdb.h>
#include <signal.h>

#include <cerrno>
#include <new>
#include <string>

namespace myproxy {

struct NameResolver::Lookup {
	pid_t worker = 0;
	std::uint64_t request_id = 0;
	std::string host;
	addrinfo hints{};
	gaicb control{};
	/* Empty once the worker is gone: the answer is dropped. */
	ResolveReplySink reply;
};

int NameResolver::completion_signal() noexcept
{
	/* SIGRTMIN is a function in glibc (it keeps the first ones for itself). */
	return SIGRTMIN + 2;
}

NameResolver::NameResolver(sd_event *event_) noexcept : event(event_) {}

NameResolver::~NameResolver()
{
	for (auto &lookup : lookups) {
		if (gai_cancel(&lookup->control) == EAI_CANCELED)
			continue;
		if (gai_error(&lookup->control) != EAI_INPROGRESS) {
			freeaddrinfo(lookup->control.ar_result);
			continue;
		}
		/* XXX A helper thread still writes into it: leaked on purpose (only at exit). */
		(void)lookup.release();
	}
}

int NameResolver::start()
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, completion_signal());
	if (const int error = pthread_sigmask(SIG_BLOCK, &mask, nullptr))
		return -error;
	return sd_event_add_signal(event, signal_source.out(), completion_signal(), on_signal, this);
}

const char *NameResolver::resolve(pid_t worker, const ResolveRequestMessage &request, const ResolveReplySink &reply)
{
	try {
		return start_lookup(worker, request, reply);
	} catch (const std::bad_alloc &) {
		log_error("out of memory for a lookup of worker pid %d", int(worker));
		reply(ResolveReplyMessage{request.request_id, {}, "out of memory in the master"});
		return nullptr;
	}
}

const char *NameResolver::start_lookup(pid_t worker, const ResolveRequestMessage &request, const ResolveReplySink &reply)
{
	std::size_t &count = per_worker[worker];
	for (const auto &lookup : lookups)
		if (lookup->worker == worker && lookup->reply && lookup->request_id == request.request_id)
			return "sent RESOLVE_REQUEST with the id of an unanswered one";
	/* The worker counts the same way and refuses the lookup itself before this. */
	if (count >= channel_max_resolves_per_worker)
		return "sent more RESOLVE_REQUESTs than channel_max_resolves_per_worker";

	auto lookup = std::make_unique<Lookup>();
	lookup->worker = worker;
	lookup->request_id = request.request_id;
	lookup->host.assign(request.host);
	lookup->hints.ai_family = AF_UNSPEC;
	lookup->hints.ai_socktype = SOCK_STREAM;
	lookup->control.ar_name = lookup->host.c_str();
	lookup->control.ar_request = &lookup->hints;
	lookup->reply = reply;

	sigevent notify{};
	notify.sigev_notify = SIGEV_SIGNAL;
	notify.sigev_signo = completion_signal();
	notify.sigev_value.sival_ptr = lookup.get();
	gaicb *list[] = {&lookup->control};
	const int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, &notify);
	if (rc != 0) {
		const AddressError error = lookup_error(request.host, rc, errno);
		log_warning("getaddrinfo_a(%s) for worker pid %d: %s", lookup->host.c_str(), int(worker), error.text);
		reply(ResolveReplyMessage{request.request_id, {}, error.text});
		return nullptr;
	}
	++count;
	lookups.push_back(std::move(lookup));
	return nullptr;
}

void NameResolver::forget(pid_t worker) noexcept
{
	per_worker.erase(worker);
	for (auto i = lookups.begin(); i != lookups.end();) {
		Lookup &lookup = **i;
		if (lookup.worker != worker || !lookup.reply) {
			++i;
			continue;
		}
		lookup.reply = nullptr;
		/* Not cancelled (running or done): it is dropped when it is collected. */
		if (gai_cancel(&lookup.control) == EAI_CANCELED)
			i = lookups.erase(i);
		else
			++i;
	}
}

int NameResolver::on_signal(sd_event_source *, const struct signalfd_siginfo *, void *userdata)
{
	static_cast<NameResolver *>(userdata)->collect_finished();
	return 0;
}

void NameResolver::collect_finished() noexcept
{
	/* Moved out first: answering may end a worker, and forget() then edits the list. */
	std::list<std::unique_ptr<Lookup>> finished;
	for (auto i = lookups.begin(); i != lookups.end();) {
		auto next = std::next(i);
		if (gai_error(&(*i)->control) != EAI_INPROGRESS)
			finished.splice(finished.end(), lookups, i);
		i = next;
	}
	for (auto &lookup : finished) {
		answer(*lookup, gai_error(&lookup->control));
		freeaddrinfo(lookup->control.ar_result);
	}
}

void NameResolver::answer(Lookup &lookup, int rc) noexcept
{
	if (!lookup.reply)
		return;
	if (auto i = per_worker.find(lookup.worker); i != per_worker.end() && --i->second == 0)
		per_worker.erase(i);
	/* The port is the worker's business. */
	const AddressResult address = rc == 0 ? first_inet_address(lookup.control.ar_result, 0, lookup.host)
					      : AddressResult(lookup_error(lookup.host, rc, EIO));
	if (!address) {
		log_debug("worker pid %d: %s", int(lookup.worker), address.error());
		lookup.reply(ResolveReplyMessage{lookup.request_id, {}, address.error()});
		return;
	}
	std::uint8_t bytes[16];
	const std::size_t size = ip_address_bytes(address.value(), bytes);
	lookup.reply(ResolveReplyMessage{lookup.request_id, ByteSpan(bytes, size), {}});
}

} // namespace myproxy
