-- myproxy example: the account comes from the client process, not from what it claims.
--
-- On a shared host every customer's processes run under their own uid, or in their own
-- systemd unit (and thus cgroup).  The kernel reports both for every UNIX socket client, so
-- the script knows the account without asking the client, and logs the account in to the
-- customer's own database server with credentials the client never sees.  The client's
-- password is not checked: who may use an account is decided by who can run processes as it.
--
-- Check it:  myproxy --check-config --config examples/account-from-uid.lua
-- See myproxy.lua(5) for every function and attribute used here.

-- The accounts, as a table in this file.  A real setup may read a file or a database here,
-- at the top level: workers cannot open files later.
--
-- password_sha1 is the SHA1 of the backend password (e.g. `printf %s 'secret' | sha1sum`),
-- which is all mysql_native_password needs, so the cleartext password need not be stored.
local accounts = {
	acme = {
		server = "/run/mysqld/mysqld.sock",
		user = "acme",
		password_sha1 = "e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4", -- "secret"
	},
	globex = {
		server = "192.0.2.20:3306",
		user = "globex_web",
		password_sha1 = "e8d4a2f731a2b37fcb169639d14ccb9350952d59", -- "change-me"
	},
}

-- Accounts by uid, for processes that are not in a per-account systemd unit (cron jobs, ssh).
local account_by_uid = {
	[10001] = "acme",
	[10002] = "globex",
}

local function from_hex(hex)
	return (hex:gsub("..", function(byte)
		return string.char(tonumber(byte, 16))
	end))
end

-- Prepare at startup what the callbacks need: resolved addresses and binary digests.
for name, account in pairs(accounts) do
	account.server = mysql_resolve(account.server)
	account.password_sha1 = from_hex(account.password_sha1)
	assert(#account.password_sha1 == 20, name .. ": password_sha1 must be 40 hex digits")
end

-- A process in "/system.slice/php-fpm@acme.service" or below belongs to account "acme".
local function account_from_cgroup(path)
	return path:match("^/system%.slice/php%-fpm@([%w_%-]+)%.service")
end

mysql_listen("/run/myproxy/myproxy.sock", {
	on_connect = function(client)
		if client.uid == nil then
			return client:err("connect over the UNIX socket")
		end
		local name
		if client.cgroup ~= nil then
			name = account_from_cgroup(client.cgroup.path)
		end
		name = name or account_by_uid[client.uid]
		if name == nil or accounts[name] == nil then
			return client:err("no database account for uid " .. client.uid)
		end
		-- From now on every log line of this connection starts with "acct=NAME".
		client.account = name
	end,

	on_handshake_response = function(client, handshake_response)
		local account = accounts[client.account]
		-- Keep the database and the connection attributes the client sent; replace the
		-- credentials with the account's.
		handshake_response.user = account.user
		handshake_response.password = nil
		handshake_response.password_sha1 = account.password_sha1
		return client:connect(account.server, handshake_response)
	end,
})
