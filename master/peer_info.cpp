// Reading a client's credentials, pidfd and cgroup in the master.  The order matters: pidfd
// first, then /proc/PID/cgroup, then a signal-0 through the pidfd; if the process is still alive
// after the read, the pid was not recycled meanwhile and the cgroup is the client's.  Never blocks
// on anything but procfs, and never touches the client socket's data.
#include "peer_info.hpp"

#include "common/log.hpp"
#include "master/cgroup_reader.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

/* Linux 6.5: a pidfd of the process that connect()ed, free of pid reuse races.  Debian 12's
   headers predate it. */
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace myproxy {

namespace {

/* glibc 2.36's <sys/pidfd.h> lacks extern "C"; the raw calls are simple enough. */
int open_pidfd(pid_t pid) noexcept
{
	return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

bool process_alive(int pidfd) noexcept
{
	return syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0;
}

/* Hybrid hierarchies list a dozen v1 controllers before the "0::" line; 16 KiB holds them even
   with long paths.  A file that does not fit is not parsed at all. */
constexpr std::size_t proc_cgroup_buffer_size = 16384;

/* Reads the whole file or fails: a partial read could miss a second "0::" line. */
bool read_proc_cgroup(pid_t pid, char *buffer, std::size_t size, std::size_t &length, int &errnum)
{
	char path[64];
	std::snprintf(path, sizeof(path), "/proc/%d/cgroup", static_cast<int>(pid));
	UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY));
	if (!fd) {
		errnum = errno;
		return false;
	}
	length = 0;
	for (;;) {
		if (length == size) {
			errnum = EFBIG;
			return false;
		}
		const ssize_t n = read(fd.get(), buffer + length, size - length);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			errnum = errno;
			return false;
		}
		if (n == 0)
			return true;
		length += static_cast<std::size_t>(n);
		/* procfs makes /proc/PID/cgroup whole in one go (a single-record seq_file) and a read
		   returns all of it that fits: a short read is the end, and the read that would only
		   say so again is one syscall per login saved.  A full buffer reads on (then EFBIG). */
		if (length < size)
			return true;
	}
}

UniqueFd open_client_pidfd(int client_fd, pid_t pid, const char *subject)
{
	int pidfd = -1;
	socklen_t length = sizeof(pidfd);
	if (getsockopt(client_fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &length) == 0 && pidfd >= 0)
		return UniqueFd(pidfd);
	if (errno != ENOPROTOOPT && errno != EINVAL) {
		log_errno(LogLevel::debug, errno, subject, "getsockopt(SO_PEERPIDFD)");
		return {};
	}
	if (pid <= 0)
		return {};
	/* XXX: older kernels only: the pid may have been recycled between connect() and here. */
	UniqueFd fd(open_pidfd(pid));
	if (!fd)
		log_errno(LogLevel::debug, errno, subject, "pidfd_open(%d)", static_cast<int>(pid));
	return fd;
}

} // namespace

ClientInfo PeerInfo::client_info(std::uint64_t client_id, std::uint32_t listener_index) const noexcept
{
	ClientInfo info;
	info.client_id = client_id;
	info.listener_index = listener_index;
	info.has_credentials = has_credentials;
	if (has_credentials) {
		info.pid = pid;
		info.uid = uid;
		info.gid = gid;
	}
	info.socket_device = socket_device;
	info.socket_inode = socket_inode;
	info.peer_address = ByteSpan(reinterpret_cast<const std::uint8_t *>(&peer_address.storage),
				     peer_address.length);
	info.cgroup_path = cgroup_path;
	info.cgroup_xattrs = ByteSpan(cgroup_xattrs.data(), cgroup_xattrs.size());
	return info;
}

bool read_peer_info(int client_fd, bool is_unix, const SocketAddress &peer_address, PeerInfo &out,
		    bool read_cgroup)
{
	out.peer_address = peer_address;

	struct stat st;
	if (fstat(client_fd, &st) < 0) {
		log_errno(LogLevel::warning, errno, nullptr, "fstat(client socket)");
		return false;
	}
	out.socket_device = st.st_dev;
	out.socket_inode = st.st_ino;

	if (!is_unix)
		return true;

	struct ucred cred;
	socklen_t length = sizeof(cred);
	if (getsockopt(client_fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) < 0) {
		log_errno(LogLevel::warning, errno, nullptr, "getsockopt(SO_PEERCRED)");
		return true;
	}
	out.has_credentials = true;
	out.pid = cred.pid;
	out.uid = cred.uid;
	out.gid = cred.gid;

	char subject[64];
	std::snprintf(subject, sizeof(subject), "pid=%d uid=%u", static_cast<int>(cred.pid),
		      static_cast<unsigned>(cred.uid));

	/* The pidfd only vouches for the cgroup read below (the process was alive throughout); no
	   worker keeps it, since holding a pidfd does not stop the pid number being recycled. */
	if (!read_cgroup)
		return true;
	out.pidfd = open_client_pidfd(client_fd, cred.pid, subject);
	if (!out.pidfd)
		return true;

	/* pid 0: the client lives in another pid namespace, so /proc/PID is not its entry. */
	if (cred.pid > 0) {
		char buffer[proc_cgroup_buffer_size];
		std::size_t size = 0;
		int errnum = 0;
		if (!read_proc_cgroup(cred.pid, buffer, sizeof(buffer), size, errnum)) {
			log_errno(LogLevel::debug, errnum, subject, "read(/proc/%d/cgroup)",
				  static_cast<int>(cred.pid));
		} else if (auto path = parse_cgroup_v2_path(std::string_view(buffer, size))) {
			out.cgroup_path.assign(path.value());
			read_cgroup_xattrs(cgroup2_mount(), out.cgroup_path, out.cgroup_xattrs);
		} else {
			log_message(LogLevel::warning, subject, "/proc/%d/cgroup: %s",
				    static_cast<int>(cred.pid), path.error().what);
		}
	}

	if (!process_alive(out.pidfd.get())) {
		log_errno(LogLevel::debug, errno, subject, "pidfd_send_signal(0)");
		out.pidfd.reset();
		out.cgroup_path.clear();
		out.cgroup_xattrs.clear();
	}
	return true;
}

ParseResult<std::string_view> parse_cgroup_v2_path(std::string_view text) noexcept
{
	constexpr std::string_view v2_prefix = "0::";
	std::string_view found;
	std::size_t found_offset = 0;
	bool have_found = false;

	if (text.find('\0') != std::string_view::npos)
		return ParseError{"cgroup: NUL byte", text.find('\0')};

	std::size_t offset = 0;
	while (offset < text.size()) {
		const std::size_t newline = text.find('\n', offset);
		/* The last line without its newline may have been cut off: never trust it. */
		if (newline == std::string_view::npos)
			break;
		const std::string_view line = text.substr(offset, newline - offset);
		if (line.starts_with(v2_prefix)) {
			if (have_found)
				return ParseError{"cgroup: more than one 0:: line", offset};
			have_found = true;
			found = line.substr(v2_prefix.size());
			found_offset = offset + v2_prefix.size();
		}
		offset = newline + 1;
	}

	if (!have_found)
		return ParseError{"cgroup: no complete 0:: line", text.size()};
	if (!found.starts_with('/'))
		return ParseError{"cgroup: 0:: path not absolute", found_offset};
	if (found.size() > channel_max_cgroup_path)
		return ParseError{"cgroup: 0:: path too long", found_offset};
	return found;
}

} // namespace myproxy
