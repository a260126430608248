// myproxy's entry point: the one place that joins the master and the worker (master/ and worker/
// never include each other).  Parses the command line, loads config.lua once, and starts the
// master, which forks the workers into run_worker().  Owns the exit codes of startup.
#include "common/log.hpp"
#include "lua/config_loader.hpp"
#include "lua/lua_pg.hpp"
#include "master/command_line.hpp"
#include "master/master.hpp"
#include "worker/pg_connection.hpp"
#include "worker/worker.hpp"

#include <cstdio>
#include <span>

using namespace myproxy;

int main(int argc, char **argv)
{
	const auto line = parse_command_line(std::span<const char *const>(argv + 1, argc - 1));
	if (!line) {
		std::fprintf(stderr, "myproxy: %s\n", line.error().c_str());
		print_usage(stderr);
		return usage_exit_code;
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
		return config_error_exit_code;
	}
	if (options.check_config) {
		std::printf("%s: ok\n", options.config_path.c_str());
		return 0;
	}

	/* The workers inherit the loaded configuration (and its Lua state) through fork(). */
	Config &config = loaded.value();
	return run_master(config.listeners, static_cast<unsigned>(config.worker_processes),
			  [&config](UniqueFd channel, unsigned index) {
				  return run_worker(config, std::move(channel), index);
			  });
}
