// Test-only hooks of `tests/myproxy-test` (main.cpp built with MYPROXY_TEST_HOOKS for `make check`;
// the installed `myproxy` has none of this).  They let check_proxy_sandbox make a sandboxed worker
// attempt forbidden system calls from Lua, and make entering the sandbox fail on purpose.
#pragma once

struct lua_State;

namespace myproxy {

struct SandboxOptions;

namespace test {

// Registers the Lua global myproxy_test_syscall(what) in the configuration's state (the workers
// inherit it): "execve", "open", "bind", "listen" attempt that call and return "ok" or the errno
// name ("EACCES"); "pid" returns the worker's pid; "crash" raises SIGSEGV.  Reads
// MYPROXY_TEST_SANDBOX_FAULT ("privileges" or "filter") into @sandbox.fault_injection.
bool install_test_hooks(lua_State *L, SandboxOptions &sandbox);

} // namespace test
} // namespace myproxy
