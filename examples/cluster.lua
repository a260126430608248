-- myproxy example: a replicated MariaDB cluster behind one socket.
--
-- Three servers replicate each other; one of them is the primary (read_only = 0), the others are
-- replicas (read_only = 1).  The master checks every node every two seconds; each account sticks
-- to one node (rendezvous hashing of client.account), writers go to the writable node, reporting
-- jobs may use a replica, and when a node fails its accounts move to the others while every other
-- account stays where it is.
--
-- Check it:  myproxy --check-config --config examples/cluster.lua
-- See myproxy.lua(5), section CLUSTERS, for every option used here.

local cluster = mysql_cluster({"192.0.2.11:3306", "192.0.2.12:3306", "192.0.2.13:3306"}, {
	monitoring = true,
	-- An account without privileges is enough: the check only asks SELECT @@global.read_only.
	user = "myproxy_monitor",
	password = "monitor-secret",
	-- Prefer the writable node: a switchover (SET GLOBAL read_only on the old primary, off on the
	-- new one) moves the writers by itself.
	no_read_only = true,
	-- A node that fails (or, with no_read_only, turns read-only) gets its relayed writers closed
	-- with error 1927, so that they reconnect to a node that works.
	disconnect_unavailable = true,
	-- The defaults, written out: a LAN answers in milliseconds.
	check_interval = 2,
	check_timeout = 1,
})

mysql_listen("/run/myproxy/myproxy.sock", {
	on_connect = function(client)
		if client.uid == nil then
			return client:err("UNIX socket clients only")
		end
		-- The account decides the node; one account per uid here.
		client.account = "uid" .. client.uid
	end,

	on_handshake_response = function(client, handshake_response)
		-- A user name ending in "_ro" asks for a replica (read-only reports); such connections
		-- are never closed by disconnect_unavailable.
		local user = handshake_response.user
		if user:sub(-3) == "_ro" then
			handshake_response.user = user:sub(1, -4)
			return client:connect(cluster, handshake_response, { read_only = true })
		end
		return client:connect(cluster, handshake_response)
	end,
})
