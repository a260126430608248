// A session's relay on the worker's io_uring (worker side): the move of a plain session's two
// sockets from their sd-event sources onto the ring (worker/uring_ring) and back, and what its
// poll becomes there.  TLS and compressed sessions never move: they stay on epoll.  It never
// closes a socket; leaving happens before the session closes them.
#pragma once

#include "worker/relay.hpp"
#include "worker/relay_poller.hpp"

#include <cstdint>

namespace myproxy {

class BackendSide;
class ClientSide;
class SessionLog;
class UringRing;

/* Moves the session onto @ring when both streams are plain: true when it did (the relay reads and
 * writes through the ring, the sockets' own sources are off), false when it stays on epoll. */
bool uring_session_join(UringRing &ring, Relay &relay, ClientSide &client, BackendSide &backend,
			const RelayWatch::Handler (&handlers)[2], void *userdata, const SessionLog &log) noexcept;
/* The relay wants these events (EPOLLIN/EPOLLOUT): arms the receives it wants. */
void uring_session_poll(Relay &relay, std::uint32_t client_wanted, std::uint32_t backend_wanted) noexcept;
/* Off the ring, before the sockets close; @give_back: their sd-event sources watch them again. */
void uring_session_leave(Relay &relay, ClientSide &client, BackendSide &backend, bool give_back) noexcept;
/* The ring holds bytes, EOF or an error of @side that no completion will announce again. */
bool uring_session_input(const Relay &relay, RelaySide side) noexcept;

} // namespace myproxy
