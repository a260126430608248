// uring_relay: a throwaway layer-4 relay (UNIX socket to UNIX socket) to count what the relay's
// event model costs per query on this machine, driven by sysbench through bench/syscalls.sh.  It is
// an experiment, not part of myproxy: no MySQL parsing, no limits, no sandbox; a short send falls
// back to poll() and a blocking finish.  It never runs in tests.  Modes (--mode):
//   sdevent    one sd-event io source per socket, as myproxy's worker does now
//   inner      sd-event with one io source: an inner epoll set holding every relayed socket
//   epoll      a bare epoll_wait loop (the epoll floor: every ready socket of one wake-up)
//   uring      io_uring: a recv outstanding per socket; a completion queues the send to the other
//              side linked to the next recv (the send posts no completion when it succeeds); one
//              io_uring_enter per loop iteration submits and waits
//   uring-sdevent  the same ring, its fd watched by sd-event: epoll_wait wakes, io_uring_enter submits
// Environment: LISTEN_SOCKET (path to listen on), BACKEND_SOCKET (path to connect to).  Not built by
// make (liburing is no dependency of myproxy): apt-get install liburing-dev, then
//   g++ -O2 -o /tmp/uring_relay bench/uring_relay.cpp -luring -lsystemd
// and measure with bench/syscalls.sh (RELAYS=...).  Figures and the decision: doc/performance.md.
#include <liburing.h>
#include <systemd/sd-event.h>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr std::size_t buffer_size = 16 * 1024;

struct Connection;

/* One direction: bytes read from @from are written to @to. */
struct Half {
	Connection *connection;
	int from = -1, to = -1;
	sd_event_source *source = nullptr;
	unsigned char buffer[buffer_size];
};

struct Connection {
	Half up, down;
	bool dead = false;
};

std::string mode;
int listen_fd = -1;
const char *backend_path;
sd_event *loop_event = nullptr;
int inner_epoll = -1;
io_uring ring;

[[noreturn]] void die(const char *what)
{
	std::perror(what);
	std::exit(1);
}

int unix_socket(const char *path, bool listening)
{
	const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (listening ? SOCK_NONBLOCK : 0), 0);
	sockaddr_un address{};
	address.sun_family = AF_UNIX;
	std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path);
	if (listening) {
		unlink(path);
		if (bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof(address)) < 0 || listen(fd, 128) < 0)
			die("listen");
		chmod(path, 0666);
	} else if (connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof(address)) < 0) {
		die("connect");
	}
	return fd;
}

void close_connection(Connection *c)
{
	if (c->dead)
		return;
	c->dead = true;
	for (Half *half : {&c->up, &c->down}) {
		if (half->source)
			sd_event_source_unref(half->source);
		half->source = nullptr;
	}
	close(c->up.from);
	close(c->up.to);
	/* Leaked on purpose: an io_uring completion may still name it (an experiment). */
}

/* Writes all of @data to the non-blocking @fd, waiting with poll() in the rare short case. */
bool send_all(int fd, const unsigned char *data, std::size_t size)
{
	while (size > 0) {
		const ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
		if (n > 0) {
			data += n;
			size -= std::size_t(n);
		} else if (n < 0 && errno == EAGAIN) {
			pollfd p{fd, POLLOUT, 0};
			poll(&p, 1, -1);
		} else {
			return false;
		}
	}
	return true;
}

/* Readiness: read once, write once. */
void relay_ready(Half *half)
{
	const ssize_t n = recv(half->from, half->buffer, buffer_size, 0);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		close_connection(half->connection);
		return;
	}
	if (!send_all(half->to, half->buffer, std::size_t(n)))
		close_connection(half->connection);
}

int on_half(sd_event_source *, int, std::uint32_t, void *userdata)
{
	relay_ready(static_cast<Half *>(userdata));
	return 0;
}

void drain_inner()
{
	epoll_event events[64];
	const int n = epoll_wait(inner_epoll, events, 64, 0);
	for (int i = 0; i < n; ++i) {
		auto *half = static_cast<Half *>(events[i].data.ptr);
		if (!half->connection->dead)
			relay_ready(half);
	}
}

int on_inner(sd_event_source *, int, std::uint32_t, void *)
{
	drain_inner();
	return 0;
}

/* io_uring: user_data is the Half; the recv is the only operation that posts a completion. */
void queue_recv(Half *half)
{
	io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (sqe == nullptr) {
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
	}
	io_uring_prep_recv(sqe, half->from, half->buffer, buffer_size, 0);
	io_uring_sqe_set_data(sqe, half);
}

void queue_send_then_recv(Half *half, std::size_t size)
{
	if (io_uring_sq_space_left(&ring) < 2)
		io_uring_submit(&ring);
	io_uring_sqe *send_sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send(send_sqe, half->to, half->buffer, size, MSG_WAITALL | MSG_NOSIGNAL);
	/* No completion when it succeeds; a failure posts one (user_data 0) and cancels the recv. */
	send_sqe->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data(send_sqe, nullptr);
	io_uring_sqe *recv_sqe = io_uring_get_sqe(&ring);
	io_uring_prep_recv(recv_sqe, half->from, half->buffer, buffer_size, 0);
	io_uring_sqe_set_data(recv_sqe, half);
}

void reap()
{
	io_uring_cqe *cqe;
	unsigned head, count = 0;
	io_uring_for_each_cqe(&ring, head, cqe)
	{
		++count;
		auto *half = static_cast<Half *>(io_uring_cqe_get_data(cqe));
		if (half == nullptr || half->connection->dead)
			continue;
		if (cqe->res <= 0)
			close_connection(half->connection);
		else
			queue_send_then_recv(half, std::size_t(cqe->res));
	}
	io_uring_cq_advance(&ring, count);
}

int on_ring(sd_event_source *, int, std::uint32_t, void *)
{
	reap();
	io_uring_submit(&ring);
	return 0;
}

void start_connection(int client)
{
	auto *c = new Connection;
	const int backend = unix_socket(backend_path, false);
	fcntl(client, F_SETFL, O_NONBLOCK);
	fcntl(backend, F_SETFL, O_NONBLOCK);
	c->up.connection = c->down.connection = c;
	c->up.from = c->down.to = client;
	c->up.to = c->down.from = backend;
	for (Half *half : {&c->up, &c->down}) {
		if (mode == "sdevent") {
			if (sd_event_add_io(loop_event, &half->source, half->from, EPOLLIN, on_half, half) < 0)
				die("sd_event_add_io");
		} else if (mode == "inner" || mode == "epoll") {
			epoll_event event{};
			event.events = EPOLLIN;
			event.data.ptr = half;
			if (epoll_ctl(inner_epoll, EPOLL_CTL_ADD, half->from, &event) < 0)
				die("epoll_ctl");
		} else {
			queue_recv(half);
		}
	}
}

void accept_all()
{
	while (true) {
		const int client = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
		if (client < 0)
			return;
		start_connection(client);
	}
}

int on_accept(sd_event_source *, int, std::uint32_t, void *)
{
	accept_all();
	if (mode == "uring-sdevent")
		io_uring_submit(&ring);
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	mode = argc == 3 && std::strcmp(argv[1], "--mode") == 0 ? argv[2] : "";
	const char *listen_path = std::getenv("LISTEN_SOCKET");
	backend_path = std::getenv("BACKEND_SOCKET");
	if (listen_path == nullptr || backend_path == nullptr ||
	    (mode != "sdevent" && mode != "inner" && mode != "epoll" && mode != "uring" && mode != "uring-sdevent")) {
		std::fprintf(stderr, "usage: LISTEN_SOCKET=... BACKEND_SOCKET=... %s --mode "
				     "sdevent|inner|epoll|uring|uring-sdevent\n", argv[0]);
		return 2;
	}
	listen_fd = unix_socket(listen_path, true);

	if (mode == "inner" || mode == "epoll")
		inner_epoll = epoll_create1(EPOLL_CLOEXEC);
	if (mode == "uring" || mode == "uring-sdevent") {
		io_uring_params params{};
		params.flags = IORING_SETUP_SINGLE_ISSUER |
			       (mode == "uring" ? IORING_SETUP_DEFER_TASKRUN : IORING_SETUP_COOP_TASKRUN);
		if (io_uring_queue_init_params(256, &ring, &params) < 0)
			die("io_uring_queue_init_params");
	}

	if (mode == "epoll") {
		epoll_event event{};
		event.events = EPOLLIN;
		event.data.ptr = nullptr;
		epoll_ctl(inner_epoll, EPOLL_CTL_ADD, listen_fd, &event);
		epoll_event events[64];
		while (true) {
			const int n = epoll_wait(inner_epoll, events, 64, -1);
			for (int i = 0; i < n; ++i) {
				auto *half = static_cast<Half *>(events[i].data.ptr);
				if (half == nullptr)
					accept_all();
				else if (!half->connection->dead)
					relay_ready(half);
			}
		}
	}
	if (mode == "uring") {
		/* The listener is polled by the ring too (one-shot, re-armed). */
		while (true) {
			io_uring_sqe *sqe = io_uring_get_sqe(&ring);
			io_uring_prep_poll_add(sqe, listen_fd, POLLIN);
			io_uring_sqe_set_data(sqe, &listen_fd);
			bool rearm = false;
			while (!rearm) {
				io_uring_submit_and_wait(&ring, 1);
				io_uring_cqe *cqe;
				unsigned head, count = 0;
				io_uring_for_each_cqe(&ring, head, cqe)
				{
					++count;
					void *data = io_uring_cqe_get_data(cqe);
					if (data == &listen_fd) {
						rearm = true;
						continue;
					}
					auto *half = static_cast<Half *>(data);
					if (half == nullptr || half->connection->dead)
						continue;
					if (cqe->res <= 0)
						close_connection(half->connection);
					else
						queue_send_then_recv(half, std::size_t(cqe->res));
				}
				io_uring_cq_advance(&ring, count);
				if (rearm)
					accept_all();
			}
		}
	}

	if (sd_event_new(&loop_event) < 0)
		die("sd_event_new");
	if (sd_event_add_io(loop_event, nullptr, listen_fd, EPOLLIN, on_accept, nullptr) < 0)
		die("sd_event_add_io");
	if (mode == "inner" && sd_event_add_io(loop_event, nullptr, inner_epoll, EPOLLIN, on_inner, nullptr) < 0)
		die("sd_event_add_io");
	if (mode == "uring-sdevent" && sd_event_add_io(loop_event, nullptr, ring.ring_fd, EPOLLIN, on_ring, nullptr) < 0)
		die("sd_event_add_io");
	return sd_event_loop(loop_event) < 0 ? 1 : 0;
}
