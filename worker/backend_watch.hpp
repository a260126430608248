// read_timeout (worker side): finds sessions whose backend has stayed silent longer than their
// connect option read_timeout while the client waits for an answer (its last bytes went to the
// backend, none came back).  One sweep over the sessions every half second, no timer per session;
// it only remembers the byte counters it saw last.  Never closes anything itself: the caller acts
// on what sweep() returns.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace myproxy {

class ClientConnection;

/* How often the worker sweeps; read_timeout is honoured to within this. */
inline constexpr std::uint64_t backend_watch_interval_usec = 500'000;

class BackendWatch {
public:
	/* What a session shows a sweep: its read_timeout (0: none), whether its client spoke last,
	 * and its byte counters. */
	struct Sample {
		ClientConnection *connection;
		std::uint64_t read_timeout_usec;
		bool client_waits;
		std::uint64_t bytes_from_client;
		std::uint64_t bytes_from_backend;
	};

	/* The sessions (from @samples, taken at @now_usec) whose backend has been silent past their
	 * read_timeout while the client waited; entries of sessions not sampled are forgotten. */
	std::vector<ClientConnection *> sweep(const std::vector<Sample> &samples, std::uint64_t now_usec);

	std::size_t size() const noexcept { return seen.size(); }

private:
	struct Seen {
		std::uint64_t bytes_from_client, bytes_from_backend;
		/* Since when the counters have not moved while the client waited. */
		std::uint64_t waiting_since_usec;
		std::uint64_t sweep;
	};
	std::unordered_map<ClientConnection *, Seen> seen;
	std::uint64_t sweeps = 0;
};

} // namespace myproxy
