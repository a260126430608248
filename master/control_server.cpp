// The control datagram listener (see control_server.hpp).  One recvmsg() per datagram, at most
// control_batch per wake-up; MSG_TRUNC marks an oversized datagram, dropped whole.
#include "master/control_server.hpp"

#include "common/log.hpp"
#include "common/network_mask.hpp"

#include <systemd/sd-event.h>

#include <net/if.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace myproxy {

namespace {

/* Datagrams handled per wake-up, so a flood cannot starve the listeners and channels. */
constexpr unsigned control_batch = 32;

std::string errno_text(const char *call, const std::string &what, int error)
{
	return std::string(call) + "(" + what + "): " + std::strerror(error);
}

/* A socket file left by a previous run is replaced; a live socket or any other file at the path is
   an error. */
bool clear_stale_socket(const SocketAddress &address, std::string &problem)
{
	const auto &un = *reinterpret_cast<const sockaddr_un *>(&address.storage);
	if (un.sun_path[0] == '\0')
		return true; /* abstract */
	struct stat st;
	if (lstat(un.sun_path, &st) < 0)
		return true;
	if (!S_ISSOCK(st.st_mode)) {
		problem = std::string(un.sun_path) + ": exists and is not a socket";
		return false;
	}
	/* A datagram connect() succeeds only while someone is bound there: another instance's
	   socket is left alone. */
	UniqueFd probe(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	if (probe && connect(probe.get(), address.get(), address.length) == 0) {
		problem = std::string(un.sun_path) + ": in use by another process";
		return false;
	}
	unlink(un.sun_path);
	return true;
}

bool join_multicast(int fd, const ControlListenerConfig &config, std::string &problem)
{
	const unsigned index = config.interface_name.empty() ? 0 : if_nametoindex(config.interface_name.c_str());
	const SocketAddress &group = config.multicast_group;
	if (group.family() == AF_INET) {
		ip_mreqn request{};
		request.imr_multiaddr = reinterpret_cast<const sockaddr_in *>(&group.storage)->sin_addr;
		request.imr_ifindex = int(index);
		if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof(request)) == 0)
			return true;
	} else {
		ipv6_mreq request{};
		request.ipv6mr_multiaddr = reinterpret_cast<const sockaddr_in6 *>(&group.storage)->sin6_addr;
		request.ipv6mr_interface = index;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &request, sizeof(request)) == 0)
			return true;
	}
	problem = errno_text("setsockopt", "multicast_group " + to_string(group), errno);
	return false;
}

} // namespace

std::optional<std::string> open_control_socket(const ControlListenerConfig &config, UniqueFd &out)
{
	const int family = config.address.family();
	UniqueFd fd(socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (!fd)
		return errno_text("socket", config.description, errno);
	const int one = 1;
	if (family == AF_UNIX) {
		if (setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
			return errno_text("setsockopt(SO_PASSCRED)", config.description, errno);
		std::string problem;
		if (!clear_stale_socket(config.address, problem))
			return problem;
	} else if (config.multicast_group.defined()) {
		/* Several receivers of one group on a host; for unicast UDP it would let a second
		   daemon bind the same port and take half of the datagrams, so not there. */
		(void)setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	if (!config.interface_name.empty() &&
	    setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, config.interface_name.c_str(),
		       socklen_t(config.interface_name.size())) < 0)
		return errno_text("setsockopt(SO_BINDTODEVICE)", config.interface_name, errno);
	if (bind(fd.get(), config.address.get(), config.address.length) < 0)
		return errno_text("bind", config.description, errno);
	if (family == AF_UNIX) {
		const auto &un = *reinterpret_cast<const sockaddr_un *>(&config.address.storage);
		/* Anyone may send; only root and our uid are obeyed (SO_PASSCRED). */
		if (un.sun_path[0] != '\0')
			(void)chmod(un.sun_path, 0666);
	}
	if (config.multicast_group.defined()) {
		std::string problem;
		if (!join_multicast(fd.get(), config, problem))
			return problem;
	}
	out = std::move(fd);
	return std::nullopt;
}

ControlServer::ControlServer(sd_event *event_, UniqueFd socket, ControlListenerConfig config_, ControlActions actions_)
	: event(event_), fd(std::move(socket)), config(std::move(config_)), actions(std::move(actions_)), own_uid(getuid())
{
}

ControlServer::~ControlServer()
{
	stop();
}

int ControlServer::start()
{
	const int r = sd_event_add_io(event, source.out(), fd.get(), EPOLLIN, on_readable, this);
	if (r < 0)
		log_errno(LogLevel::error, -r, nullptr, "control %s: sd_event_add_io", config.description.c_str());
	return r;
}

void ControlServer::stop() noexcept
{
	source.reset();
	if (fd && config.address.family() == AF_UNIX) {
		const auto &un = *reinterpret_cast<const sockaddr_un *>(&config.address.storage);
		if (un.sun_path[0] != '\0')
			unlink(un.sun_path);
	}
	fd.reset();
}

int ControlServer::on_readable(sd_event_source *, int, std::uint32_t, void *userdata)
{
	static_cast<ControlServer *>(userdata)->receive();
	return 0;
}

bool ControlServer::sender_allowed(const SocketAddress &address, std::optional<uid_t> uid) const noexcept
{
	if (config.address.family() == AF_UNIX)
		return uid && (*uid == 0 || *uid == own_uid);
	if (is_loopback_address(address))
		return true;
	for (const Network &network : config.allow)
		if (network_contains(network, address))
			return true;
	return false;
}

void ControlServer::receive()
{
	for (unsigned i = 0; i < control_batch && fd; ++i) {
		std::uint8_t buffer[control_max_datagram];
		alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
		SocketAddress peer;
		iovec iov{buffer, sizeof(buffer)};
		msghdr msg{};
		msg.msg_name = &peer.storage;
		msg.msg_namelen = sizeof(peer.storage);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		const ssize_t n = recvmsg(fd.get(), &msg, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_errno(LogLevel::warning, errno, nullptr, "control %s: recvmsg", config.description.c_str());
			return;
		}
		peer.length = msg.msg_namelen;
		std::optional<uid_t> uid;
		pid_t pid = 0;
		for (cmsghdr *c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
			    c->cmsg_len == CMSG_LEN(sizeof(ucred))) {
				ucred credentials;
				std::memcpy(&credentials, CMSG_DATA(c), sizeof(credentials));
				uid = credentials.uid;
				pid = credentials.pid;
			} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				/* Nobody should send fds here; close what came. */
				const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				for (std::size_t k = 0; k < count; ++k) {
					int received;
					std::memcpy(&received, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
					close(received);
				}
			}
		}
		char sender[socket_address_text_max + 64];
		if (uid)
			std::snprintf(sender, sizeof(sender), "pid=%d uid=%u", int(pid), unsigned(*uid));
		else
			format_socket_address(peer, sender, sizeof(sender));

		if (!sender_allowed(peer, uid)) {
			++datagrams_dropped;
			log_warning("control %s: datagram from %s refused: not an allowed sender", config.description.c_str(),
				    sender);
			continue;
		}
		if (std::size_t(n) > sizeof(buffer) || (msg.msg_flags & MSG_TRUNC)) {
			++datagrams_dropped;
			log_warning("control %s: datagram from %s dropped: %zd bytes, more than %zu",
				    config.description.c_str(), sender, n, control_max_datagram);
			continue;
		}
		handle_datagram(std::span<const std::uint8_t>(buffer, std::size_t(n)), sender);
	}
}

void ControlServer::handle_datagram(std::span<const std::uint8_t> datagram, const char *sender)
{
	const auto packets = parse_control_datagram(datagram);
	if (!packets) {
		++datagrams_dropped;
		log_warning("control %s: datagram from %s dropped: %s (offset %zu)", config.description.c_str(), sender,
			    packets.error().what, packets.error().offset);
		return;
	}
	++datagrams_accepted;
	for (const ControlPacket &packet : *packets)
		run(packet, sender);
}

void ControlServer::run(const ControlPacket &packet, const char *sender)
{
	switch (static_cast<ControlCommand>(packet.command)) {
	case ControlCommand::nop:
		return;
	case ControlCommand::verbose:
		if (packet.payload.size() != 1) {
			log_warning("control %s: VERBOSE from %s needs one byte, got %zu", config.description.c_str(), sender,
				    packet.payload.size());
			return;
		}
		/* Upstream's levels: 0 quiet ... 1 errors, 2 info (default), 3+ debug. */
		log_set_debug(packet.payload[0] >= 3);
		log_info("control %s: VERBOSE %u from %s: debug logging %s", config.description.c_str(),
			 unsigned(packet.payload[0]), sender, packet.payload[0] >= 3 ? "on" : "off");
		return;
	case ControlCommand::disconnect_database: {
		const std::string_view account(reinterpret_cast<const char *>(packet.payload.data()), packet.payload.size());
		bool printable = !account.empty() && account.size() <= 256;
		for (char c : account)
			printable = printable && static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
		if (!printable) {
			log_warning("control %s: DISCONNECT_DATABASE from %s: not an account name (%zu bytes)",
				    config.description.c_str(), sender, account.size());
			return;
		}
		log_info("control %s: DISCONNECT_DATABASE '%.*s' from %s", config.description.c_str(),
			 int(account.size()), account.data(), sender);
		if (actions.disconnect_account)
			actions.disconnect_account(account);
		return;
	}
	case ControlCommand::fade_children:
	case ControlCommand::flush_filter_cache:
	case ControlCommand::discard_session:
	case ControlCommand::flush_http_cache:
	case ControlCommand::terminate_children:
	case ControlCommand::reset_limiter:
	case ControlCommand::reject_client:
	case ControlCommand::tarpit_client:
	case ControlCommand::cancel_job:
		/* For other daemons of the family (myproxy only sends them, from Lua). */
		break;
	}
	if (!unknown_logged.test(packet.command)) {
		unknown_logged.set(packet.command);
		log_info("control %s: command %u from %s is not one myproxy knows; ignored (logged once)",
			 config.description.c_str(), unsigned(packet.command), sender);
	}
}

} // namespace myproxy
