-- Clients that never send a cleartext password: one listener for mysql_native_password (the
-- client's scramble is checked against the account's stored hash, and the recovered SHA1 logs in
-- to the backend), one for caching_sha2_password (fast path against SHA256(SHA256(password)),
-- else the password itself, encrypted with the listener's RSA key when the client is not local).
-- The hashes live in the script here; a real one would fetch them, e.g. from PostgreSQL.

local backend = mysql_resolve("/run/mysqld/mysqld.sock")

-- PASSWORD('password') as MariaDB shows it in mysql.user.
local native_hashes = { alice = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19" }
-- SHA256(SHA256('secret')) in hex.
local sha2_hashes = { bob = "3881219d087dd9c634373fd33dfa33a2cb6bfc6c520b64b8bb60ef2ceb534ae7" }
local passwords = { bob = "secret" }

mysql_listen("/run/myproxy/native.sock", {
    on_handshake_response = function(client, hr)
        if not hr:verify_native_password(native_hashes[hr.user]) then
            return client:err("Access denied for user " .. hr.user)
        end
        -- verify_native_password() set hr.password_sha1: the backend account has the same password.
        return client:connect(backend, hr)
    end,
}, { auth_plugins = "mysql_native_password" })

mysql_listen("127.0.0.1:3307", {
    on_handshake_response = function(client, hr)
        if hr.auth_plugin == "mysql_native_password" then
            if not hr:verify_native_password(native_hashes[hr.user]) then
                return client:err("Access denied for user " .. hr.user)
            end
            return client:connect(backend, hr)
        end
        if hr.password == nil then
            -- Fast path: nil makes myproxy ask for the password instead.
            if not hr:verify_caching_sha2_password(sha2_hashes[hr.user]) then
                return nil
            end
        elseif passwords[hr.user] ~= hr.password then
            return client:err("Access denied for user " .. hr.user)
        end
        return client:connect(backend, { user = "app", password = "app-secret" })
    end,
}, {
    auth_plugins = { "caching_sha2_password", "mysql_native_password" },
    -- Without this line the master generates a key at every start.
    -- rsa_private_key = "/etc/cm4all/myproxy/rsa_key.pem",
})
