// The current directory while config.lua runs: the script's own directory, as upstream, so that
// relative dofile(), require(), io.open() and mysql_listen() socket paths resolve next to it.
// Master side (and --check-config); load_config() enters it around the script and leaves it after,
// and the daemon then changes to "/".  Never changes anything but the current directory.
#pragma once

#include "common/unique_fd.hpp"

#include <string>

struct lua_State;

namespace myproxy {

class ConfigDirectory {
public:
	/* Changes into the directory of @config_path (unchanged for a bare file name); on failure,
	 * error() says why and nothing changed. */
	explicit ConfigDirectory(const std::string &config_path);
	/* Returns to the directory that was current before. */
	~ConfigDirectory();

	ConfigDirectory(const ConfigDirectory &) = delete;
	ConfigDirectory &operator=(const ConfigDirectory &) = delete;

	const std::string &error() const noexcept { return problem; }

private:
	UniqueFd previous;
	std::string problem;
};

/* A relative socket path given to mysql_listen() ("run/x.sock", "./x.sock": a string with a slash
 * that is not first) is replaced at @arg by its absolute form in the current directory.  Raises on
 * memory errors only; any other value is left alone. */
void make_lua_socket_path_absolute(lua_State *L, int arg);

} // namespace myproxy
