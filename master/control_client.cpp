// The --control client (see control_client.hpp).
#include "master/control_client.hpp"

#include "common/control_protocol.hpp"
#include "common/exit_status.hpp"
#include "common/socket_address.hpp"
#include "common/unique_fd.hpp"
#include "master/command_line.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace myproxy {

namespace {

/* Appends the packet for @command to @datagram; nullptr or the usage problem. */
const char *build_command(const std::vector<std::string> &command, std::vector<std::uint8_t> &datagram)
{
	const std::string &name = command.front();
	const auto bytes = [](const std::string &s) {
		return ByteSpan(reinterpret_cast<const std::uint8_t *>(s.data()), s.size());
	};
	if (name == "nop" && command.size() == 1) {
		append_control_packet(datagram, std::uint16_t(ControlCommand::nop), {});
		return nullptr;
	}
	if (name == "disconnect-database" && command.size() == 2) {
		const std::string &account = command[1];
		if (account.empty() || account.size() > 256)
			return "disconnect-database: the account must be 1 to 256 bytes";
		append_control_packet(datagram, std::uint16_t(ControlCommand::disconnect_database), bytes(account));
		return nullptr;
	}
	if (name == "verbose" && command.size() == 2) {
		unsigned level = 0;
		const std::string &text = command[1];
		const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), level);
		if (error != std::errc() || end != text.data() + text.size() || level > 255)
			return "verbose: the level must be a number 0..255";
		const std::uint8_t byte = std::uint8_t(level);
		append_control_packet(datagram, std::uint16_t(ControlCommand::verbose), ByteSpan(&byte, 1));
		return nullptr;
	}
	return "unknown control command (disconnect-database ACCOUNT, verbose LEVEL, nop)";
}

} // namespace

int run_control_client(const std::string &address_text, const std::vector<std::string> &command, std::FILE *errors)
{
	std::vector<std::uint8_t> datagram;
	append_control_magic(datagram);
	if (const char *problem = build_command(command, datagram)) {
		std::fprintf(errors, "myproxy --control: %s\n", problem);
		return exit_usage;
	}
	const AddressResult address = resolve_address(address_text, control_default_port);
	if (!address) {
		std::fprintf(errors, "myproxy --control: %s\n", address.error());
		return exit_unavailable;
	}
	UniqueFd fd(socket(address.value().family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
	if (!fd || sendto(fd.get(), datagram.data(), datagram.size(), MSG_NOSIGNAL, address.value().get(),
			  address.value().length) < 0) {
		std::fprintf(errors, "myproxy --control: sendto(%s): %s\n", address_text.c_str(), std::strerror(errno));
		return exit_unavailable;
	}
	return 0;
}

} // namespace myproxy
