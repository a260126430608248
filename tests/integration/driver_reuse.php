<?php
// Run by check_proxy_reuse against a MariaDB socket, directly or through a listener with backend
// connection reuse: 40 short sessions in a row with PHP's mysqli or PDO (mysqlnd), each checking that
// it starts fresh, then leaving state behind for the next.  Prints "fresh N/40" and "reused yes|no"
// (whether some session got a server thread an earlier one had), and the first stale observation.
// Usage: php driver_reuse.php mysqli|pdo SOCKET USER PASSWORD

mysqli_report(MYSQLI_REPORT_OFF);
[, $api, $socket, $user, $password] = $argv;

$check = "SELECT @driver_variable IS NULL, @@session.sql_mode = @@global.sql_mode, "
       . "@@session.wait_timeout = @@global.wait_timeout, @@autocommit = 1, "
       . "@@character_set_client = 'utf8mb4', @@character_set_results = 'utf8mb4', DATABASE() = 'app_db'";
$leave = ["SET @driver_variable = 1", "SET SESSION sql_mode = 'ANSI_QUOTES', SESSION wait_timeout = 1234",
          "CREATE TEMPORARY TABLE driver_table (x INT)", "PREPARE driver_statement FROM 'SELECT 1'",
          "SET NAMES latin1", "SET autocommit = 0"];

// [first row as strings, or null] and the error code of a statement (0: none).
function run_mysqli(mysqli $link, string $sql): array
{
	$result = $link->query($sql);
	if ($result === false)
		return [null, $link->errno];
	return [$result === true ? [] : array_map('strval', $result->fetch_row()), 0];
}

function run_pdo(PDO $link, string $sql): array
{
	try {
		$statement = $link->query($sql);
		$row = $statement->columnCount() > 0 ? $statement->fetch(PDO::FETCH_NUM) : [];
		$statement->closeCursor();
		return [array_map('strval', $row), 0];
	} catch (PDOException $e) {
		return [null, (int)$e->errorInfo[1]];
	}
}

$fresh = 0;
$seen = [];
$reused = false;
$first_stale = null;
for ($i = 0; $i < 40; ++$i) {
	if ($api === 'pdo') {
		$link = new PDO("mysql:unix_socket=$socket;dbname=app_db;charset=utf8mb4", $user, $password,
				[PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
		$run = fn($sql) => run_pdo($link, $sql);
	} else {
		$link = new mysqli('localhost', $user, $password, 'app_db', 0, $socket);
		if ($link->connect_errno) {
			echo "connect ERR", $link->connect_errno, "\n";
			exit(1);
		}
		$link->set_charset('utf8mb4');
		$run = fn($sql) => run_mysqli($link, $sql);
	}
	[$id] = $run('SELECT CONNECTION_ID()')[0];
	$reused = $reused || isset($seen[$id]);
	$seen[$id] = true;
	$stale = [];
	[$flags] = $run($check);
	if ($flags !== array_fill(0, 7, '1'))
		$stale[] = 'variables ' . implode(',', $flags ?? []);
	if ($run('SELECT COUNT(*) FROM driver_table')[1] !== 1146)
		$stale[] = 'temporary table';
	if ($run('EXECUTE driver_statement')[1] !== 1243)
		$stale[] = 'prepared statement';
	if (!$stale)
		++$fresh;
	elseif ($first_stale === null)
		$first_stale = "session $i: " . implode('; ', $stale);
	foreach ($leave as $sql)
		if ($run($sql)[1] !== 0) {
			echo "$sql failed\n";
			exit(1);
		}
	$link = null;
	$run = null;
	usleep(50000);
}
echo "fresh $fresh/40\n", 'reused ', $reused ? 'yes' : 'no', "\n";
if ($first_stale !== null)
	echo "stale: $first_stale\n";
