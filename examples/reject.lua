-- myproxy example: refusing clients and restricting COM_INIT_DB.
--
-- on_connect runs before the client gets the greeting, so a refusal there costs nothing: the
-- client gets error 1045 with the message and is disconnected.  on_handshake_response can
-- refuse by what the client sent (user, database).  on_init_db sees every COM_INIT_DB
-- ("USE db" in the mariadb client, mysql_select_db()) and can refuse it (error 1044, the
-- connection stays) or rename the schema.
--
-- on_init_db is no access control: a "USE db" statement sent as a query and the database of
-- the login do not pass through it.  The backend's grants decide what a user may read.
--
-- Check it:  myproxy --check-config --config examples/reject.lua
-- See myproxy.lua(5) for every function and attribute used here.

local backend = mysql_resolve("/run/mysqld/mysqld.sock")

-- System users (and root) have no business with customer databases.
local first_customer_uid = 1000
local blocked_uids = {
	[33] = "www-data must use its own pool's account",
}

-- Schemas no client may select, whoever it is.
local forbidden_schemas = {
	mysql = true,
	performance_schema = true,
	sys = true,
}

mysql_listen("/run/myproxy/myproxy.sock", {
	on_connect = function(client)
		if client.uid == nil then
			return client:err("only local clients, over the UNIX socket")
		end
		local reason = blocked_uids[client.uid]
		if reason ~= nil then
			return client:err(reason)
		end
		if client.uid < first_customer_uid then
			return client:err("uid " .. client.uid .. " may not use the database proxy")
		end
		client.account = "uid" .. client.uid
	end,

	on_handshake_response = function(client, handshake_response)
		-- Every customer's database user is named after its uid ("u1234") and its schemas
		-- start with that name ("u1234_shop").
		local prefix = "u" .. client.uid
		if handshake_response.user ~= prefix then
			return client:err("log in as " .. prefix)
		end
		local database = handshake_response.database
		if database ~= nil and database:sub(1, #prefix + 1) ~= prefix .. "_" then
			return client:err("no access to database " .. database)
		end
		client.notes.prefix = prefix
		return client:connect(backend, handshake_response)
	end,

	on_init_db = function(client, database)
		if forbidden_schemas[database] then
			return client:err("access to " .. database .. " is not allowed through this proxy")
		end
		-- Short names are the customer's own: "USE shop" selects "u1234_shop".
		if not database:find("_", 1, true) then
			return client:init_db(client.notes.prefix .. "_" .. database)
		end
		-- Anything else goes to the server unchanged; its grants decide.
	end,
})
