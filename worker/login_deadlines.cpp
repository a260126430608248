// The deadlines of the logins in progress (see login_deadlines.hpp).  Worker side.
#include "worker/login_deadlines.hpp"

#include "worker/client_connection.hpp"

#include "common/log.hpp"
#include "common/worker_activity.hpp"

#include <systemd/sd-event.h>

#include <algorithm>
#include <iterator>

namespace myproxy {

std::list<LoginWatch>::iterator LoginDeadlines::watch(ClientConnection &connection)
{
	std::uint64_t now = 0;
	sd_event_now(event, CLOCK_MONOTONIC, &now);
	watches.push_back({&connection, now + timeout_usec});
	if (watches.size() == 1)
		arm();
	return std::prev(watches.end());
}

void LoginDeadlines::unwatch(std::list<LoginWatch>::iterator entry) noexcept
{
	/* The timer is left as it is: it finds nothing due and re-arms for the new front. */
	watches.erase(entry);
}

void LoginDeadlines::arm() noexcept
{
	if (watches.empty())
		return;
	const std::uint64_t when = watches.front().deadline_usec;
	/* Coalescing wake-ups by up to 250 ms is fine for 10 s, not for a connect_timeout of 0.5 s.
	 * (0 would mean sd-event's default, 250 ms.) */
	const std::uint64_t accuracy = std::clamp<std::uint64_t>(timeout_usec / 10, 1, 250'000);
	int r;
	if (!timer)
		r = sd_event_add_time(event, timer.out(), CLOCK_MONOTONIC, when, accuracy, on_timer, this);
	else if ((r = sd_event_source_set_time(timer.get(), when)) >= 0)
		r = sd_event_source_set_enabled(timer.get(), SD_EVENT_ONESHOT);
	if (r < 0)
		log_errno(LogLevel::error, -r, nullptr, "cannot arm the login deadline timer");
}

int LoginDeadlines::on_timer(sd_event_source *, std::uint64_t now, void *userdata)
{
	auto &deadlines = *static_cast<LoginDeadlines *>(userdata);
	while (!deadlines.watches.empty() && deadlines.watches.front().deadline_usec <= now) {
		ClientConnection *connection = deadlines.watches.front().connection;
		deadlines.watches.pop_front();
		/* It forgets its (erased) entry and fails the login. */
		const ServingClientScope serving(connection->client_id());
		connection->login_deadline_expired();
	}
	deadlines.arm();
	return 0;
}

} // namespace myproxy
