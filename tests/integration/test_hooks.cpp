// Test-only hooks (see test_hooks.hpp): linked only into tests/myproxy-test.  Each hook makes the
// real system call the sandbox is meant to stop, so the test sees the kernel's verdict, not ours.
#include "tests/integration/test_hooks.hpp"

#include "worker/sandbox.hpp"

#include <lua.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace myproxy::test {

namespace {

/* No C++ object with a destructor lives in this frame: luaL_checkstring() may longjmp. */
int test_syscall(lua_State *L)
{
	const char *what = luaL_checkstring(L, 1);
	int result = 0;
	if (std::strcmp(what, "pid") == 0) {
		lua_pushinteger(L, getpid());
		return 1;
	} else if (std::strcmp(what, "crash") == 0) {
		raise(SIGSEGV);
	} else if (std::strcmp(what, "execve") == 0) {
		char *const argv[] = {const_cast<char *>("/bin/true"), nullptr};
		char *const envp[] = {nullptr};
		result = execve("/bin/true", argv, envp);
	} else if (std::strcmp(what, "open") == 0) {
		result = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
		if (result >= 0) {
			close(result);
			result = 0;
		}
	} else if (std::strcmp(what, "bind") == 0 || std::strcmp(what, "listen") == 0) {
		const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			result = -1;
		} else {
			struct sockaddr_in address {};
			address.sin_family = AF_INET;
			address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			result = std::strcmp(what, "bind") == 0
					 ? bind(fd, reinterpret_cast<const sockaddr *>(&address), sizeof(address))
					 : listen(fd, 1);
			const int saved = errno;
			close(fd);
			errno = saved;
		}
	} else {
		return luaL_error(L, "myproxy_test_syscall: unknown '%s'", what);
	}
	if (result < 0) {
		const char *name = strerrorname_np(errno);
		lua_pushstring(L, name != nullptr ? name : "?");
	} else {
		lua_pushliteral(L, "ok");
	}
	return 1;
}

} // namespace

bool install_test_hooks(lua_State *L, SandboxOptions &sandbox)
{
	if (const char *fault = std::getenv("MYPROXY_TEST_SANDBOX_FAULT"))
		sandbox.fault_injection = fault;
	if (!lua_checkstack(L, 1))
		return false;
	lua_pushcfunction(L, test_syscall);
	lua_setglobal(L, "myproxy_test_syscall");
	return true;
}

} // namespace myproxy::test
