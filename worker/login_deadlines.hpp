// The deadlines of the logins in progress in one worker (worker side): every login gets the same
// time (config.lua's connect_timeout), so the list stays in deadline order and one sd-event timer
// serves it, with no timer per connection.  It fails no login itself: when a deadline passes it
// erases the entry and calls ClientConnection::login_deadline_expired().
#pragma once

#include "common/event_source.hpp"

#include <cstdint>
#include <list>

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;

namespace myproxy {

class ClientConnection;

/* A connection still logging in, and when its time is up. */
struct LoginWatch {
	ClientConnection *connection;
	std::uint64_t deadline_usec; /* CLOCK_MONOTONIC */
};

class LoginDeadlines {
public:
	explicit LoginDeadlines(std::uint64_t connect_timeout_usec) noexcept : timeout_usec(connect_timeout_usec) {}

	LoginDeadlines(const LoginDeadlines &) = delete;
	LoginDeadlines &operator=(const LoginDeadlines &) = delete;

	/* The loop the timer runs on (before the first watch()). */
	void attach(sd_event *loop) noexcept { event = loop; }
	/* Watches @connection's login from now. */
	std::list<LoginWatch>::iterator watch(ClientConnection &connection);
	/* The login ended (either way); not for an entry whose deadline passed (already erased). */
	void unwatch(std::list<LoginWatch>::iterator entry) noexcept;
	/* Releases the timer (the worker's loop goes). */
	void reset() noexcept { timer.reset(); }

private:
	std::uint64_t timeout_usec;
	sd_event *event = nullptr;
	std::list<LoginWatch> watches;
	EventSource timer;

	void arm() noexcept;
	static int on_timer(sd_event_source *source, std::uint64_t now, void *userdata);
};

} // namespace myproxy
