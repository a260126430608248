-- myproxy example: the accounts live in PostgreSQL.
--
-- A hosting panel keeps, per MySQL login name, the customer account, the database server, the
-- backend user and the SHA1 of its password in a PostgreSQL table.  At every login the script
-- looks the user up there; the query suspends only this client's callback, never the worker.
-- The panel can block an account at once with NOTIFY:
--
--     NOTIFY myproxy_blocked, 'acme';   -- or SELECT pg_notify('myproxy_blocked', 'acme')
--
-- Table (schema "myproxy"):
--
--     CREATE TABLE myproxy.logins (login text PRIMARY KEY, account text NOT NULL,
--         server text NOT NULL, db_user text NOT NULL, password_sha1 text NOT NULL);
--
-- Check it:  myproxy --check-config --config examples/accounts-in-postgresql.lua
-- See myproxy.lua(5) for every function used here.

-- Workers resolve no names and read no files: the server is named by hostaddr= (or by its
-- socket directory, host=/run/postgresql), the password is in the string, and
-- gssencmode=disable keeps libpq from looking for Kerberos files.
local db = pg:new("hostaddr=127.0.0.1 port=5432 dbname=panel user=myproxy password=change-me"
	.. " gssencmode=disable options='-c statement_timeout=2000'", "myproxy")

-- Backend servers by the name the table uses; resolved here, once.
local servers = {
	db1 = mysql_resolve("/run/mysqld/mysqld.sock"),
	db2 = mysql_resolve("192.0.2.21:3306"),
}

-- Each worker keeps its own copy, filled by NOTIFYs it receives.
local blocked = {}
db:listen("myproxy_blocked", function(account)
	blocked[account] = true
end)

mysql_listen(systemd, {
	on_handshake_response = function(client, handshake_response)
		local result, message = db:execute(
			"SELECT account, server, db_user, password_sha1 FROM logins WHERE login = $1",
			{handshake_response.user})
		if result == nil then
			-- PostgreSQL is down or the query failed: refuse rather than guess.
			return client:err("account lookup failed: " .. message)
		end
		local row = result:fetch({}, "a")
		if row == nil or servers[row.server] == nil then
			return client:err("unknown user")
		end
		if blocked[row.account] then
			return client:err("account blocked")
		end
		client.account = row.account
		handshake_response.user = row.db_user
		handshake_response.password = nil
		handshake_response.password_sha1 = sodium.hex2bin(row.password_sha1)
		return client:connect(servers[row.server], handshake_response)
	end,
})
