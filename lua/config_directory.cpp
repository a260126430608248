// ConfigDirectory and relative listener paths (see config_directory.hpp).
#include "lua/config_directory.hpp"

#include <lua.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace myproxy {

ConfigDirectory::ConfigDirectory(const std::string &config_path)
{
	const auto slash = config_path.rfind('/');
	if (slash == std::string::npos)
		return;
	const std::string directory = slash == 0 ? std::string("/") : config_path.substr(0, slash);
	UniqueFd current(open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
	if (!current) {
		problem = std::string("open(.): ") + std::strerror(errno);
		return;
	}
	if (chdir(directory.c_str()) < 0) {
		problem = "chdir(" + directory + "): " + std::strerror(errno);
		return;
	}
	previous = std::move(current);
}

ConfigDirectory::~ConfigDirectory()
{
	if (!previous)
		return;
	/* The directory we came from may be gone; then there is nothing better to do than stay. */
	const int returned = fchdir(previous.get());
	(void)returned;
}

void make_lua_socket_path_absolute(lua_State *L, int arg)
{
	if (lua_type(L, arg) != LUA_TSTRING)
		return;
	std::size_t length;
	const char *text = lua_tolstring(L, arg, &length);
	if (length == 0 || text[0] == '/' || text[0] == '@' || std::memchr(text, '/', length) == nullptr)
		return;
	char directory[PATH_MAX];
	if (getcwd(directory, sizeof(directory)) == nullptr)
		return; /* the address parser then names the path as not absolute */
	lua_pushstring(L, directory);
	lua_pushliteral(L, "/");
	lua_pushvalue(L, arg);
	lua_concat(L, 3);
	lua_replace(L, arg);
}

} // namespace myproxy
