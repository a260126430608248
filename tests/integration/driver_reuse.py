# Run by check_proxy_reuse against a MariaDB socket, directly or through a listener with backend
# connection reuse: 40 short sessions in a row with PyMySQL, each checking that it starts fresh,
# then leaving state behind for the next.  Prints "fresh N/40" and "reused yes|no" (whether some
# session got a server thread an earlier one had), and the first stale observation.
# autocommit=True: PyMySQL's default (False) leaves every session in a transaction at its end,
# which is never reused.
# Usage: python3 driver_reuse.py SOCKET USER PASSWORD
import sys
import time

import pymysql

socket, user, password = sys.argv[1:4]
CHECK = ("SELECT @driver_variable IS NULL, @@session.sql_mode = @@global.sql_mode, "
         "@@session.wait_timeout = @@global.wait_timeout, @@autocommit = 1, "
         "@@character_set_client = 'utf8mb4', @@character_set_results = 'utf8mb4', DATABASE() = 'app_db'")
LEAVE = ["SET @driver_variable = 1", "SET SESSION sql_mode = 'ANSI_QUOTES', SESSION wait_timeout = 1234",
         "CREATE TEMPORARY TABLE driver_table (x INT)", "PREPARE driver_statement FROM 'SELECT 1'",
         "SET NAMES latin1", "SET autocommit = 0"]


def run(link, sql):
    """(first row as strings or None, error code or 0)"""
    try:
        with link.cursor() as cursor:
            cursor.execute(sql)
            row = cursor.fetchone()
            return ([str(v) for v in row] if row else [], 0)
    except pymysql.err.MySQLError as e:
        return (None, e.args[0])


fresh, seen, reused, first_stale = 0, set(), False, None
for i in range(40):
    link = pymysql.connect(unix_socket=socket, user=user, password=password, database="app_db",
                           charset="utf8mb4", autocommit=True)
    thread = run(link, "SELECT CONNECTION_ID()")[0][0]
    reused = reused or thread in seen
    seen.add(thread)
    stale = []
    flags = run(link, CHECK)[0]
    if flags != ["1"] * 7:
        stale.append(f"variables {flags}")
    if run(link, "SELECT COUNT(*) FROM driver_table")[1] != 1146:
        stale.append("temporary table")
    if run(link, "EXECUTE driver_statement")[1] != 1243:
        stale.append("prepared statement")
    if not stale:
        fresh += 1
    elif first_stale is None:
        first_stale = f"session {i}: " + "; ".join(stale)
    for sql in LEAVE:
        if run(link, sql)[1] != 0:
            sys.exit(f"{sql} failed")
    link.close()
    time.sleep(0.05)
print(f"fresh {fresh}/40")
print("reused", "yes" if reused else "no")
if first_stale:
    print("stale:", first_stale)
