// myproxy's entry point: the one place that joins the master and the worker (master/ and worker/
// never include each other).  Parses the command line, loads config.lua once, resolves the worker
// user, and starts the master, which forks the workers into run_worker().  Owns the exit codes of
// startup.  Built twice: `myproxy`, and for `make check` only `tests/myproxy-test` with
// MYPROXY_TEST_HOOKS, which adds the test hooks (tests/integration/test_hooks.cpp).
#include "common/exit_status.hpp"
#include "common/log.hpp"
#include "lua/config_loader.hpp"
#include "lua/lua_pg.hpp"
#include "master/command_line.hpp"
#include "master/master.hpp"
#include "worker/pg_connection.hpp"
#include "worker/worker.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>

#ifdef MYPROXY_TEST_HOOKS
#include "tests/integration/test_hooks.hpp"
#endif

using namespace myproxy;

namespace {

/* Looks the worker user up now: a worker cannot read /etc/passwd.  False when it does not exist. */
bool resolve_user(const std::string &name, SandboxOptions &sandbox)
{
	struct passwd pw, *found = nullptr;
	char buffer[4096];
	const int r = getpwnam_r(name.c_str(), &pw, buffer, sizeof(buffer), &found);
	if (r != 0 || found == nullptr)
		return false;
	sandbox.user_name = name;
	sandbox.uid = pw.pw_uid;
	sandbox.gid = pw.pw_gid;
	return true;
}

} // namespace

int main(int argc, char **argv)
{
	const auto line = parse_command_line(std::span<const char *const>(argv + 1, argc - 1));
	if (!line) {
		std::fprintf(stderr, "myproxy: %s\n", line.error().c_str());
		print_usage(stderr);
		return exit_usage;
	}
	const CommandLine &options = line.value();
	if (options.help) {
		print_usage(stdout);
		return 0;
	}
	if (options.version) {
		print_version(stdout);
		return 0;
	}

	log_init("master");
	/* pg:new() checks its conninfo with libpq's parser (worker/ links libpq, lua/ does not). */
	set_pg_conninfo_check(check_pg_conninfo);
	auto loaded = load_config(options.config_path);
	if (!loaded) {
		print_config_error(stderr, loaded.error());
		return exit_config;
	}
	LoadedConfig &config = loaded.value();

	/* Only root changes users; anyone else runs workers as themselves. */
	SandboxOptions sandbox;
	sandbox.seccomp = !options.no_sandbox;
	if (geteuid() == 0) {
		const bool from_command_line = !options.user.empty();
		const std::string user = from_command_line         ? options.user
					 : !config.worker_user.empty() ? config.worker_user
								       : std::string(worker_user_default);
		if (!resolve_user(user, sandbox)) {
			if (from_command_line) {
				std::fprintf(stderr, "myproxy: --user '%s': no such user\n", user.c_str());
				return exit_usage;
			}
			std::fprintf(stderr, "%s: worker_user '%s': no such user\n", options.config_path.c_str(),
				     user.c_str());
			return exit_config;
		}
		if (sandbox.uid == 0) {
			std::fprintf(stderr, "myproxy: worker user '%s' is root; workers never run as root\n",
				     user.c_str());
			return from_command_line ? exit_usage : exit_config;
		}
	}
	if (options.check_config) {
		std::printf("%s: ok\n", options.config_path.c_str());
		return 0;
	}

#ifdef MYPROXY_TEST_HOOKS
	if (!test::install_test_hooks(config.state.get(), sandbox)) {
		std::fprintf(stderr, "myproxy: cannot install the test hooks\n");
		return 70;
	}
#endif
	if (!sandbox.seccomp)
		log_warning("--no-sandbox: workers run WITHOUT their seccomp filter; for debugging only, "
			    "never in production");
	if (geteuid() == 0)
		log_info("workers drop privileges to %s (uid %u, gid %u)", sandbox.user_name.c_str(),
			 unsigned(sandbox.uid), unsigned(sandbox.gid));

	MasterOptions master_options;
	master_options.drain_timeout_usec = config.drain_timeout_usec;
	master_options.crash_penalty_usec = config.crash_penalty_usec;
	master_options.clusters = config.clusters;

	/* The workers inherit the loaded configuration (and its Lua state) through fork(). */
	return run_master(config.listeners, static_cast<unsigned>(config.worker_processes),
			  [&config, &sandbox](UniqueFd channel, unsigned index) {
				  return run_worker(config, std::move(channel), index, sandbox);
			  },
			  master_options);
}
