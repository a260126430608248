// The master's client listeners (master side): the sockets of config.lua's mysql_listen() calls,
// their accept sources, and the rest after EMFILE.  A reload prepares the set its new configuration
// names (sockets that stay are kept, so no connection in their backlog is lost; new ones are bound
// then), and commits it once the new generation of workers is ready.  Never reads client bytes;
// never unlinks a socket file it did not bind.
#pragma once

#include "common/event_source.hpp"
#include "common/socket_address.hpp"
#include "common/unique_fd.hpp"
#include "master/listener.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

typedef struct sd_event sd_event;
typedef struct sd_event_source sd_event_source;

namespace myproxy {

struct ListenerConfig;

class ListenerSet {
public:
	/* Called for every accepted client with its listener (config_index names the handler of
	   the configuration that serves now). */
	using ClientHandler = std::function<void(const Listener &listener, UniqueFd client, const SocketAddress &peer)>;

	/* @accept_pause_usec: how long a listener rests after accept() ran out of fds. */
	ListenerSet(sd_event *event, std::uint64_t accept_pause_usec, ClientHandler on_client);
	~ListenerSet();
	ListenerSet(const ListenerSet &) = delete;
	ListenerSet &operator=(const ListenerSet &) = delete;

	/* Startup: takes the listeners open_listeners() opened; returns 0 or a negative errno. */
	int adopt(std::vector<Listener> listeners);

	/* Reload, step 1: the set @configs names, reusing the sockets open now for the same address
	   (and systemd's for mysql_listen(systemd)), binding the others.  Nothing changes for the
	   listeners that accept now.  A prepared set that was not committed is abandoned first. */
	[[nodiscard]] std::optional<ListenerError> prepare(const std::vector<ListenerConfig> &configs);
	/* Step 2, when the new generation is ready: the prepared set accepts from now on, with its
	   config indexes; sockets it does not name are closed (their files removed).  Returns 0 or a
	   negative errno (then the old set is kept). */
	int commit();
	/* The reload failed: newly bound sockets are closed, the set accepting now stays. */
	void abandon() noexcept;

	/* Turns accepting on or off (off while no worker is ready, and at shutdown). */
	void set_accepting(bool accepting);
	/* Shutdown: closes every socket and removes the files bound. */
	void close_all() noexcept;

	std::size_t size() const noexcept { return slots.size(); }

private:
	struct Slot {
		ListenerSet *owner = nullptr;
		Listener listener;
		EventSource accept_source;
		EventSource pause_timer;
		bool paused = false;
	};

	sd_event *event;
	std::uint64_t accept_pause_usec;
	ClientHandler on_client;
	std::vector<std::unique_ptr<Slot>> slots;
	/* Between prepare() and commit(): the slots to keep, with their new config indexes, and the
	   sockets bound for the new configuration. */
	struct Kept {
		Slot *slot;
		unsigned config_index;
	};
	std::vector<Kept> prepared_kept;
	std::vector<Listener> prepared_new;
	bool accepting = false;

	int add_source(Slot &slot);
	void accept_clients(Slot &slot);
	void pause(Slot &slot);
	void update(Slot &slot);
	static void close_slot(Slot &slot) noexcept;
	static int on_accept(sd_event_source *, int, std::uint32_t, void *userdata);
	static int on_pause_end(sd_event_source *, std::uint64_t, void *userdata);
};

} // namespace myproxy
