-- myproxy's configuration for bench/bench.sh: one UNIX socket listener in front of the
-- benchmark MariaDB's socket, every login mapped to the sysbench account.  Kept minimal, so
-- the benchmark measures the proxy and not the script: no logging, no lookups per client.
--
-- Environment (read at the top level, in the master):
--   MYPROXY_BENCH_BACKEND  the MariaDB server's UNIX socket (required)
--   MYPROXY_BENCH_SOCKET   where myproxy listens (required)
--   MYPROXY_BENCH_USER, MYPROXY_BENCH_PASSWORD  the backend account (default sbtest/sbtest)
--   MYPROXY_BENCH_WORKERS  worker processes (default: one per CPU)
--   MYPROXY_BENCH_REUSE_SOCKET  a second listener, the same but with client:connect()'s reuse
--                          (bench.sh's myproxy-reuse row); unset: none
--   MYPROXY_BENCH_RELAY_IO  the relay_io global: auto (default: io_uring for plain sessions) or epoll

local function env(name, default)
	local value = os.getenv(name)
	if value == nil or value == "" then
		if default == nil then
			error(name .. " is not set (bench/bench.sh sets it)", 0)
		end
		return default
	end
	return value
end

relay_io = env("MYPROXY_BENCH_RELAY_IO", "auto")

local backend = mysql_resolve(env("MYPROXY_BENCH_BACKEND"))
local user = env("MYPROXY_BENCH_USER", "sbtest")
local password = env("MYPROXY_BENCH_PASSWORD", "sbtest")

local function handler(options)
	return {
		on_handshake_response = function(client, handshake_response)
			handshake_response.user = user
			handshake_response.password = password
			return client:connect(backend, handshake_response, options)
		end,
	}
end

mysql_listen(env("MYPROXY_BENCH_SOCKET"), handler(nil))

local reuse_socket = os.getenv("MYPROXY_BENCH_REUSE_SOCKET")
if reuse_socket ~= nil and reuse_socket ~= "" then
	-- As many idle connections per login as the harness has threads at most.
	mysql_listen(reuse_socket, handler({reuse = 16}))
end

local workers = os.getenv("MYPROXY_BENCH_WORKERS")
if workers ~= nil and workers ~= "" then
	-- myproxy itself checks that it is an integer from 1 to 1024.
	worker_processes = tonumber(workers) or error("MYPROXY_BENCH_WORKERS is not a number", 0)
end
