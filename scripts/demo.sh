#!/bin/sh
# The demo: installs what is needed (Debian 12), builds myproxy, starts a throwaway MariaDB in a
# temporary directory, starts myproxy in front of it with examples/demo.lua, and runs one query
# through the proxy with the `mariadb` client.  Everything is stopped and removed on exit.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build-demo}
jobs=$(nproc 2>/dev/null || echo 2)

"$top/scripts/install-deps.sh"

cd "$top"
if [ ! -f "$build/Makefile" ]; then
	autoreconf -fi
	mkdir -p "$build"
	(cd "$build" && "$top/configure" -q)
fi
make -C "$build" -j"$jobs" myproxy

tmp=$(mktemp -d /tmp/myproxy-demo.XXXXXX)
# Started as root, myproxy's workers run as nobody: they must be able to reach the MariaDB socket.
chmod 0711 "$tmp"
mariadbd_pid=""
myproxy_pid=""
cleanup() {
	[ -n "$myproxy_pid" ] && kill "$myproxy_pid" 2>/dev/null && wait "$myproxy_pid" 2>/dev/null
	[ -n "$mariadbd_pid" ] && kill "$mariadbd_pid" 2>/dev/null && wait "$mariadbd_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

user=$(id -un)
echo "demo: starting a throwaway MariaDB in $tmp"
mariadb-install-db --no-defaults --datadir="$tmp/data" --user="$user" \
	--auth-root-authentication-method=normal --skip-test-db >"$tmp/install.log" 2>&1
mariadbd --no-defaults --datadir="$tmp/data" --user="$user" --socket="$tmp/mariadb.sock" \
	--skip-networking --skip-log-bin --innodb-buffer-pool-size=16M \
	--log-error="$tmp/mariadbd.err" --pid-file="$tmp/mariadbd.pid" 2>>"$tmp/mariadbd.err" &
mariadbd_pid=$!
i=0
until mariadb --no-defaults -uroot --socket="$tmp/mariadb.sock" -e 'SELECT 1' >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 300 ] || { echo "demo: MariaDB did not start:"; tail -20 "$tmp/mariadbd.err"; exit 1; }
	sleep 0.1
done
mariadb --no-defaults -uroot --socket="$tmp/mariadb.sock" -e "
	CREATE DATABASE demo;
	CREATE USER 'demo'@'localhost' IDENTIFIED BY 'demo-password';
	GRANT ALL ON demo.* TO 'demo'@'localhost';"

echo "demo: starting myproxy with examples/demo.lua"
MYPROXY_DEMO_BACKEND="$tmp/mariadb.sock" MYPROXY_DEMO_SOCKET="$tmp/myproxy.sock" \
	"$build/myproxy" --config "$top/examples/demo.lua" 2>"$tmp/myproxy.log" &
myproxy_pid=$!
i=0
until [ -S "$tmp/myproxy.sock" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "demo: myproxy did not start:"; cat "$tmp/myproxy.log"; exit 1; }
	sleep 0.1
done

echo "demo: one query through myproxy (account 'alice', mapped to the backend user 'demo'):"
mariadb --no-defaults -ualice -pdemo-password --socket="$tmp/myproxy.sock" \
	-e 'SELECT VERSION() AS backend_version, CURRENT_USER() AS backend_user, DATABASE() AS db'
echo "demo: myproxy's log:"
sed 's/^/    /' "$tmp/myproxy.log"
echo "demo: done"
