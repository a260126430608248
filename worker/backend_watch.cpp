// The read_timeout sweep (see backend_watch.hpp).  Pure bookkeeping over samples, so the unit
// test drives it without sockets.
#include "worker/backend_watch.hpp"

#include <iterator>

namespace myproxy {

std::vector<ClientConnection *> BackendWatch::sweep(const std::vector<Sample> &samples, std::uint64_t now_usec)
{
	++sweeps;
	std::vector<ClientConnection *> expired;
	for (const Sample &sample : samples) {
		if (sample.read_timeout_usec == 0 || !sample.client_waits) {
			seen.erase(sample.connection);
			continue;
		}
		auto [i, fresh] = seen.try_emplace(sample.connection,
						   Seen{sample.bytes_from_client, sample.bytes_from_backend, now_usec, sweeps});
		Seen &entry = i->second;
		entry.sweep = sweeps;
		if (fresh)
			continue;
		if (entry.bytes_from_client != sample.bytes_from_client ||
		    entry.bytes_from_backend != sample.bytes_from_backend) {
			/* Something moved: the wait starts again from here. */
			entry = Seen{sample.bytes_from_client, sample.bytes_from_backend, now_usec, sweeps};
			continue;
		}
		if (now_usec - entry.waiting_since_usec >= sample.read_timeout_usec) {
			expired.push_back(sample.connection);
			seen.erase(i);
		}
	}
	/* Sessions that closed or left the command phase. */
	std::erase_if(seen, [this](const auto &e) { return e.second.sweep != sweeps; });
	return expired;
}

} // namespace myproxy
