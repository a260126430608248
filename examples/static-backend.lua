-- myproxy example: every client goes to one MySQL/MariaDB server.
--
-- The simplest useful config.lua: myproxy listens on a UNIX socket and forwards every login,
-- with the client's own user name, password and database, to the local server.  The server
-- checks the credentials as if the client had connected directly; myproxy adds the account
-- name (here: the client's uid) to its log lines.
--
-- Check it:  myproxy --check-config --config examples/static-backend.lua
-- See myproxy.lua(5) for every function and attribute used here.

-- Resolved once, while the master loads this file.  Callbacks run in the worker processes,
-- which must not resolve host names or open files: prepare everything up here.
local backend = mysql_resolve("/run/mysqld/mysqld.sock")

-- Clients connect here.  The socket is created with mode 0666; restrict access with the
-- permissions of its directory if needed.
mysql_listen("/run/myproxy/myproxy.sock", {
	on_connect = function(client)
		-- Over a UNIX socket the kernel tells who the peer is.
		client.account = "uid" .. client.uid
	end,

	on_handshake_response = function(client, handshake_response)
		-- handshake_response holds what the client sent: user, password (cleartext),
		-- database, attributes.  Passing it on unchanged logs in with the same values.
		return client:connect(backend, handshake_response)
	end,
})

-- One worker is plenty for a few hundred clients; by default there is one per CPU.
worker_processes = 2
