-- myproxy example: the configuration scripts/demo.sh runs.
--
-- The demo starts a throwaway MariaDB with a database "demo" and a user "demo", then starts
-- myproxy with this file and connects through it with the mariadb client.  Whatever user name
-- the client logs in with becomes the account in myproxy's log; the backend login is always
-- the demo user's, with the password the client sent.
--
-- Environment (read here, at the top level, in the master: callbacks in the workers cannot):
--   MYPROXY_DEMO_BACKEND  the MariaDB server's UNIX socket (required)
--   MYPROXY_DEMO_SOCKET   where myproxy listens (required)
--
-- Check it:  MYPROXY_DEMO_BACKEND=/tmp/x.sock MYPROXY_DEMO_SOCKET=/tmp/y.sock \
--            myproxy --check-config --config examples/demo.lua

local function required_env(name)
	local value = os.getenv(name)
	if value == nil or value == "" then
		error(name .. " is not set (scripts/demo.sh sets it)", 0)
	end
	return value
end

local backend = mysql_resolve(required_env("MYPROXY_DEMO_BACKEND"))
local listen = required_env("MYPROXY_DEMO_SOCKET")

mysql_listen(listen, {
	on_connect = function(client)
		-- Visible in the greeting: `mariadb` prints it as "Server version".
		client.server_version = "10.11.99-MariaDB-myproxy-demo"
	end,

	on_handshake_response = function(client, handshake_response)
		client.account = handshake_response.user
		handshake_response.user = "demo"
		if handshake_response.database == nil then
			handshake_response.database = "demo"
		end
		return client:connect(backend, handshake_response)
	end,

	on_init_db = function(client, database)
		if database == "mysql" then
			return client:err("the demo keeps you out of the mysql schema")
		end
	end,
})

worker_processes = 1
