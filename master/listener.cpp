// Opening the master's listening sockets before the workers are forked.  Every failure names the
// call and the address; nothing here exits.  The only file ever unlinked is a socket: a stale one
// in the way of bind(), or our own at shutdown when its inode is still ours.
#include "listener.hpp"

#include "common/config.hpp"
#include "common/exit_status.hpp"
#include "common/log.hpp"

#include <systemd/sd-daemon.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace myproxy {

namespace {

ListenerError os_error(const char *call, const std::string &what, int errnum)
{
	return {std::string(call) + "(" + what + "): " + std::strerror(errnum),
		exit_os_error};
}

ListenerError config_mismatch(std::string message)
{
	return {std::move(message), exit_config};
}

bool set_int_option(int fd, int level, int name, int value) noexcept
{
	return setsockopt(fd, level, name, &value, sizeof(value)) == 0;
}

/* The file system path of a path-bound UNIX address; empty for abstract names. */
std::string unix_socket_path(const SocketAddress &address)
{
	const auto *un = reinterpret_cast<const sockaddr_un *>(&address.storage);
	const std::size_t offset = offsetof(sockaddr_un, sun_path);
	if (address.length <= offset || un->sun_path[0] == '\0')
		return {};
	const std::size_t max = address.length - offset;
	return std::string(un->sun_path, strnlen(un->sun_path, max));
}

bool is_ipv6_wildcard(const SocketAddress &address) noexcept
{
	if (address.family() != AF_INET6)
		return false;
	const auto *in6 = reinterpret_cast<const sockaddr_in6 *>(&address.storage);
	return IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
}

SocketAddress ipv4_wildcard(const SocketAddress &ipv6_wildcard) noexcept
{
	SocketAddress result;
	auto *in = reinterpret_cast<sockaddr_in *>(&result.storage);
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_ANY);
	in->sin_port = reinterpret_cast<const sockaddr_in6 *>(&ipv6_wildcard.storage)->sin6_port;
	result.length = sizeof(sockaddr_in);
	return result;
}

enum class PathState { free, stale_socket_removed, in_use, not_a_socket, error };

/* bind() said EADDRINUSE for a path: decides whether the file is a socket nobody listens on.
   Connecting (non-blocking) tells: a live server accepts or is busy, a dead one refuses. */
PathState clear_stale_socket(const std::string &path, const SocketAddress &address, int &errnum)
{
	struct stat st;
	if (lstat(path.c_str(), &st) < 0) {
		errnum = errno;
		return errnum == ENOENT ? PathState::free : PathState::error;
	}
	if (!S_ISSOCK(st.st_mode))
		return PathState::not_a_socket;

	UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (!probe) {
		errnum = errno;
		return PathState::error;
	}
	if (connect(probe.get(), address.get(), address.length) == 0 || errno == EAGAIN ||
	    errno == EINPROGRESS)
		return PathState::in_use;
	if (errno != ECONNREFUSED) {
		errnum = errno;
		return errno == ENOENT ? PathState::free : PathState::error;
	}
	if (unlink(path.c_str()) < 0 && errno != ENOENT) {
		errnum = errno;
		return PathState::error;
	}
	log_info("removed stale socket %s", path.c_str());
	return PathState::stale_socket_removed;
}

std::optional<ListenerError> bind_path(int fd, const SocketAddress &address, const std::string &path)
{
	if (bind(fd, address.get(), address.length) == 0)
		return std::nullopt;
	if (errno != EADDRINUSE)
		return os_error("bind", path, errno);

	int errnum = 0;
	switch (clear_stale_socket(path, address, errnum)) {
	case PathState::free:
	case PathState::stale_socket_removed:
		break;
	case PathState::in_use:
		return ListenerError{"bind(" + path + "): " + std::strerror(EADDRINUSE) +
					     " (a server is listening there)",
				     exit_os_error};
	case PathState::not_a_socket:
		return config_mismatch("bind(" + path + "): " + std::strerror(EADDRINUSE) +
				       " (not a socket; refusing to remove it)");
	case PathState::error:
		return os_error("lstat/connect/unlink", path, errnum);
	}
	if (bind(fd, address.get(), address.length) < 0)
		return os_error("bind", path, errno);
	return std::nullopt;
}

/* Socket, options, bind, listen for one address; fills @listener on success. */
std::optional<ListenerError> open_one(const SocketAddress &address, const std::string &text,
				      Listener &listener, int &socket_errno)
{
	const bool is_unix = address.family() == AF_UNIX;
	UniqueFd fd(socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (!fd) {
		socket_errno = errno;
		return os_error("socket", text, errno);
	}

	if (is_unix) {
		/* Lets the kernel attach credentials; SO_PEERCRED on accepted sockets is what
		   the master reads. */
		if (!set_int_option(fd.get(), SOL_SOCKET, SO_PASSCRED, 1))
			return os_error("setsockopt(SO_PASSCRED)", text, errno);
	} else {
		if (!set_int_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1))
			return os_error("setsockopt(SO_REUSEADDR)", text, errno);
		/* "*" means every address, IPv4 included, whatever net.ipv6.bindv6only says. */
		if (is_ipv6_wildcard(address) &&
		    !set_int_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 0))
			return os_error("setsockopt(IPV6_V6ONLY)", text, errno);
	}

	const std::string path = is_unix ? unix_socket_path(address) : std::string();
	if (!path.empty()) {
		if (auto error = bind_path(fd.get(), address, path))
			return error;
		listener.socket_path = path;
		struct stat st;
		if (stat(path.c_str(), &st) < 0)
			return os_error("stat", path, errno);
		listener.socket_device = st.st_dev;
		listener.socket_inode = st.st_ino;
		/* Who may connect is the Lua handler's decision, not the file mode's. */
		if (chmod(path.c_str(), 0666) < 0)
			return os_error("chmod", path, errno);
	} else if (bind(fd.get(), address.get(), address.length) < 0) {
		return os_error("bind", text, errno);
	}

	if (listen(fd.get(), listener_backlog) < 0)
		return os_error("listen", text, errno);

	listener.fd = std::move(fd);
	listener.is_unix = is_unix;
	listener.description = text;
	return std::nullopt;
}

} // namespace

std::optional<ListenerError> open_address_listener(const SocketAddress &address, unsigned config_index,
						   std::vector<Listener> &out)
{
	const std::string text = to_string(address);
	Listener listener;
	listener.config_index = config_index;
	listener.configured_address = address;
	int socket_errno = 0;
	auto error = open_one(address, text, listener, socket_errno);
	if (error && socket_errno == EAFNOSUPPORT && is_ipv6_wildcard(address)) {
		const SocketAddress fallback = ipv4_wildcard(address);
		log_info("%s: no IPv6 here, listening on %s", text.c_str(), to_string(fallback).c_str());
		error = open_one(fallback, to_string(fallback), listener, socket_errno);
	}
	if (error) {
		remove_socket_file(listener);
		return error;
	}
	out.push_back(std::move(listener));
	return std::nullopt;
}

std::optional<ListenerError> take_systemd_listeners(unsigned config_index, std::vector<Listener> &out)
{
	const int n = sd_listen_fds(1);
	if (n < 0)
		return os_error("sd_listen_fds", "systemd", -n);
	if (n == 0)
		return config_mismatch("mysql_listen(systemd): systemd passed no sockets "
				       "(start myproxy through its .socket unit)");

	/* Own every passed fd first, so an error below closes all of them. */
	std::vector<Listener> taken(static_cast<std::size_t>(n));
	for (int i = 0; i < n; ++i)
		taken[i].fd.reset(SD_LISTEN_FDS_START + i);

	for (auto &listener : taken) {
		const int fd = listener.fd.get();
		const std::string name = "systemd fd " + std::to_string(fd);
		const int r = sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1);
		if (r < 0)
			return os_error("sd_is_socket", name, -r);
		if (r == 0)
			return config_mismatch("mysql_listen(systemd): " + name +
					       " is not a listening stream socket");

		SocketAddress local;
		local.length = sizeof(local.storage);
		if (getsockname(fd, reinterpret_cast<sockaddr *>(&local.storage), &local.length) < 0)
			return os_error("getsockname", name, errno);

		const int flags = fcntl(fd, F_GETFL);
		if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			return os_error("fcntl", name, errno);

		listener.is_unix = local.family() == AF_UNIX;
		if (listener.is_unix && !set_int_option(fd, SOL_SOCKET, SO_PASSCRED, 1))
			return os_error("setsockopt(SO_PASSCRED)", name, errno);
		listener.config_index = config_index;
		listener.from_systemd = true;
		listener.description = name + " (" + to_string(local) + ")";
	}

	for (auto &listener : taken)
		out.push_back(std::move(listener));
	return std::nullopt;
}

std::optional<ListenerError> open_listeners(const std::vector<ListenerConfig> &configs,
					    std::vector<Listener> &out)
{
	const std::size_t first = out.size();
	for (std::size_t i = 0; i < configs.size(); ++i) {
		const ListenerConfig &config = configs[i];
		const unsigned index = static_cast<unsigned>(i);
		auto error = config.systemd ? take_systemd_listeners(index, out)
					    : open_address_listener(config.address, index, out);
		if (error) {
			error->message += " (mysql_listen at " + config.origin + ")";
			for (std::size_t j = first; j < out.size(); ++j)
				remove_socket_file(out[j]);
			out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
			return error;
		}
	}
	return std::nullopt;
}

void remove_socket_file(Listener &listener) noexcept
{
	if (listener.socket_path.empty())
		return;
	struct stat st;
	if (lstat(listener.socket_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == listener.socket_device && st.st_ino == listener.socket_inode)
		unlink(listener.socket_path.c_str());
	listener.socket_path.clear();
}

} // namespace myproxy
