// myproxy's entry point: the one place that joins the master and the worker (master/ and worker/
// never include each other).  Parses the command line, loads config.lua once, resolves the worker
// user, and starts the master, which forks the workers into run_worker().  Owns the exit codes of
// startup.  Built twice: `myproxy`, and for `make check` only `tests/myproxy-test` with
// MYPROXY_TEST_HOOKS, which adds the test hooks (tests/integration/test_hooks.cpp).
#include "common/coverage_flush.hpp"
#include "common/exit_status.hpp"
#include "common/fd_limit.hpp"
#include "common/log.hpp"
#include "lua/config_loader.hpp"
#include "lua/lua_pg.hpp"
#include "master/command_line.hpp"
#include "master/control_client.hpp"
#include "master/master.hpp"
#include "worker/pg_connection.hpp"
#include "worker/worker.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
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

/* A relative --config names a file from the directory myproxy started in; the daemon changes to "/"
   after loading, so a reload needs the absolute path. */
std::string absolute_path(const std::string &path)
{
	if (path.empty() || path[0] == '/')
		return path;
	char cwd[4096];
	if (getcwd(cwd, sizeof(cwd)) == nullptr)
		return path;
	return std::string(cwd) + "/" + path;
}

/* What the master needs of one loaded configuration.  The workers forked for it inherit @config
   (and its Lua state) through fork(); the entry's copy of the pointer keeps it alive as long as
   the master may fork them.  @reloaded: they run config.lua's reload() before they report ready. */
MasterConfig make_master_config(std::shared_ptr<LoadedConfig> config, const SandboxOptions &sandbox,
				std::uint64_t max_connections_per_worker, bool reloaded)
{
	MasterConfig m;
	m.listeners = config->listeners;
	m.worker_processes = static_cast<unsigned>(config->worker_processes);
	m.options.drain_timeout_usec = config->drain_timeout_usec;
	m.options.reload_drain_timeout_usec = config->reload_drain_timeout_usec;
	m.options.crash_penalty_usec = config->crash_penalty_usec;
	m.options.clusters = config->clusters;
	m.options.backend_addresses = config->backend_addresses;
	m.options.max_sessions_per_uid = static_cast<std::uint64_t>(config->max_sessions_per_uid);
	m.options.pool.max_connections_per_worker = max_connections_per_worker;
	m.options.prometheus_listeners = config->prometheus_listeners;
	m.options.control_listeners = config->control_listeners;
	m.entry = [config, sandbox, reloaded](UniqueFd channel, unsigned index) {
		const int status = run_worker(*config, std::move(channel), index, sandbox, reloaded);
		if (!sandbox.seccomp)
			flush_coverage_counters();
		return status;
	};
	return m;
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
	if (!options.control_address.empty())
		return run_control_client(options.control_address, options.control_command, stderr);

	log_init("master");
	/* pg:new() checks its conninfo with libpq's parser (worker/ links libpq, lua/ does not). */
	set_pg_conninfo_check(check_pg_conninfo);
	const std::string config_path = absolute_path(options.config_path);
	auto loaded = load_config(config_path);
	if (!loaded) {
		print_config_error(stderr, loaded.error());
		return exit_config;
	}
	const auto shared_config = std::make_shared<LoadedConfig>(std::move(loaded.value()));
	LoadedConfig &config = *shared_config;
	/* As upstream: config.lua ran in its own directory; the daemon holds on to none. */
	if (chdir("/") < 0) {
		std::fprintf(stderr, "myproxy: chdir(/): %s\n", std::strerror(errno));
		return exit_os_error;
	}

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

	/* Before the fork: workers inherit the raised limit (and raise it again themselves). */
	const std::uint64_t fd_limit = raise_fd_limit();
	const std::uint64_t max_connections = session_capacity(fd_limit);
	log_info("fd limit %llu: at most %llu sessions per worker", static_cast<unsigned long long>(fd_limit),
		 static_cast<unsigned long long>(max_connections));

	/* SIGHUP: the same load as at startup (and as --check-config), in the master, with file access.
	   worker_user and the sandbox stay as they were at startup. */
	ConfigReloader reload = [config_path, sandbox, max_connections]() -> std::optional<MasterConfig> {
		auto again = load_config(config_path);
		if (!again) {
			log_error("%s", again.error().message.c_str());
			if (!again.error().traceback.empty())
				log_error("%s", again.error().traceback.c_str());
			return std::nullopt;
		}
		auto fresh = std::make_shared<LoadedConfig>(std::move(again.value()));
#ifdef MYPROXY_TEST_HOOKS
		SandboxOptions hooked = sandbox;
		if (!test::install_test_hooks(fresh->state.get(), hooked)) {
			log_error("cannot install the test hooks");
			return std::nullopt;
		}
#endif
		return make_master_config(std::move(fresh), sandbox, max_connections, true);
	};
	return run_master(make_master_config(shared_config, sandbox, max_connections, false), std::move(reload));
}
