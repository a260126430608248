<?php
// Run by check_proxy_change_user_reset against a MariaDB socket, directly or through myproxy:
// what PHP's mysqli (mysqlnd) sees after mysqli_change_user() and after reusing a persistent link
// ("p:" host, which mysqli resets with COM_CHANGE_USER).  Prints one "name=value" line per
// observation; the check program compares them with what the server gives directly.
// Usage: php -d mysqli.allow_persistent=1 driver_change_user.php SOCKET USER PASSWORD DB LONG_SOCKET
//        LONG_USER LONG_PASSWORD
// LONG_SOCKET must greet with mysql_native_password: mysqlnd names the greeting's plugin in
// COM_CHANGE_USER, and refuses to put a cleartext password over 255 bytes into it.

mysqli_report(MYSQLI_REPORT_OFF);
[, $socket, $user, $password, $database, $long_socket, $long_user, $long_password] = $argv;

// The first column of the first row, "NULL", or "ERR<code>".
function value(mysqli $link, string $sql): string
{
	$result = mysqli_query($link, $sql);
	if ($result === false)
		return 'ERR' . mysqli_errno($link);
	if ($result === true)
		return 'OK';
	$row = mysqli_fetch_row($result);
	return $row === null || $row[0] === null ? 'NULL' : (string)$row[0];
}

function line(string $name, string $value): void
{
	echo $name, '=', $value, "\n";
}

function connect(string $host, string $user, string $password, ?string $database, string $socket): mysqli
{
	$link = mysqli_connect($host, $user, $password, $database, 0, $socket);
	if ($link === false) {
		line('connect', 'ERR' . mysqli_connect_errno() . ' ' . mysqli_connect_error());
		exit(1);
	}
	return $link;
}

// A session with a database and state of every kind, then mysqli_change_user() without a database.
$link = connect('localhost', $user, $password, $database, $socket);
line('login.database', value($link, 'SELECT DATABASE()'));
value($link, 'SET @user_variable = 42');
value($link, "SET SESSION sql_mode = 'ANSI_QUOTES'");
value($link, 'CREATE TEMPORARY TABLE session_table (x INT)');
line('login.temporary_table', value($link, 'SELECT COUNT(*) FROM session_table'));
value($link, "PREPARE sql_statement FROM 'SELECT 1'");
$statement = mysqli_prepare($link, 'SELECT 2');
line('login.prepared', $statement === false ? 'ERR' . mysqli_errno($link) : 'OK');
line('change_user', mysqli_change_user($link, $user, $password, null) ? 'OK' : 'ERR' . mysqli_errno($link));
line('after.database', value($link, 'SELECT DATABASE()'));
line('after.user_variable', value($link, 'SELECT @user_variable'));
line('after.sql_mode_is_global', value($link, 'SELECT @@session.sql_mode = @@global.sql_mode'));
line('after.temporary_table', value($link, "SELECT COUNT(*) FROM $database.session_table"));
line('after.sql_prepared', value($link, 'EXECUTE sql_statement'));
line('after.user', value($link, 'SELECT CURRENT_USER()'));

// The character set mysqlnd names in its COM_CHANGE_USER is the connection's (mysqli_set_charset).
mysqli_set_charset($link, 'latin1');
line('change_user.latin1', mysqli_change_user($link, $user, $password, $database) ? 'OK' : 'ERR' . mysqli_errno($link));
line('latin1.charset', value($link, 'SELECT @@character_set_client'));
line('latin1.collation', value($link, 'SELECT @@collation_connection'));
line('latin1.results', value($link, 'SELECT @@character_set_results'));
line('latin1.database', value($link, 'SELECT DATABASE()'));
mysqli_close($link);

// A persistent link, reused by a second "request" of this process: mysqli resets it with
// COM_CHANGE_USER, so the state of the first is gone.
$first_id = null;
for ($request = 0; $request < 2; ++$request) {
	$persistent = connect('p:localhost', $user, $password, null, $socket);
	$id = value($persistent, 'SELECT CONNECTION_ID()');
	if ($request === 0)
		$first_id = $id;
	else
		line('persistent.reused', $id === $first_id ? 'yes' : "no ($first_id, $id)");
	line("persistent$request.database", value($persistent, 'SELECT DATABASE()'));
	line("persistent$request.user_variable", value($persistent, 'SELECT @persistent_variable'));
	line("persistent$request.temporary_table",
	     value($persistent, "SELECT COUNT(*) FROM $database.persistent_table"));
	value($persistent, 'SET @persistent_variable = 1');
	value($persistent, "CREATE TEMPORARY TABLE $database.persistent_table (x INT)");
	line("persistent$request.created", value($persistent, "SELECT COUNT(*) FROM $database.persistent_table"));
	value($persistent, 'USE ' . $database);
	mysqli_close($persistent);
}

// A password longer than COM_CHANGE_USER's 255-byte auth field could carry in clear.
$link = connect('localhost', $long_user, $long_password, null, $long_socket);
line('long.login', value($link, 'SELECT CURRENT_USER()'));
line('long.change_user', mysqli_change_user($link, $long_user, $long_password, null) ? 'OK' : 'ERR' . mysqli_errno($link));
line('long.user', value($link, 'SELECT CURRENT_USER()'));
mysqli_close($link);
