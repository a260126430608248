-- myproxy's configuration as the Debian package installs it (/etc/cm4all/myproxy/config.lua).
--
-- Out of the box myproxy takes its listening socket from systemd (myproxy.socket:
-- /run/cm4all/myproxy/myproxy.sock) and forwards every login unchanged to the local MariaDB
-- server, naming the account after the client's uid.  Edit this file for your site; the other
-- examples in /usr/share/doc/myproxy/examples show accounts, clusters and PostgreSQL lookups.
-- After editing:  myproxy --check-config && systemctl reload myproxy
-- See myproxy.lua(5) for every function and attribute, myproxy(8) for the daemon.

local backend = mysql_resolve("/run/mysqld/mysqld.sock")

mysql_listen(systemd, {
	on_connect = function(client)
		client.account = "uid" .. client.uid
	end,

	on_handshake_response = function(client, handshake_response)
		return client:connect(backend, handshake_response)
	end,
})

-- Operators: metrics for Prometheus (GET /metrics) and control datagrams
-- (`myproxy --control @myproxy-control disconnect-database ACCOUNT`).  Only root and the
-- daemon's own user may send control datagrams to a local socket.
-- prometheus_listen("127.0.0.1:9100")
-- control_listen("@myproxy-control")
