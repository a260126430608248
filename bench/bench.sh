#!/usr/bin/env bash
# bench.sh - myproxy side by side with a direct connection (and haproxy, when installed).
#
# Starts a throwaway MariaDB with the reference fixture, starts myproxy in front of its UNIX
# socket with bench/bench.lua, and runs the reference harness (sysbench point_select,
# read_only, and a new connection per query) against each endpoint in turn: direct, through
# myproxy, through myproxy with backend connection reuse (a second listener whose script passes
# client:connect() the option reuse; REUSE=0 skips it), and through a haproxy layer-4 relay if
# haproxy is installed.  Prints the harness
# tables, then throughput ratios and the proxies' CPU time per event.
#
# The harness and fixture are not copied here: they live in the repository's sibling folder
# ../shared/bench/ (BENCH_HARNESS overrides).  Without them this script stops.
#
# Environment (defaults):
#   DURATION=5 WARMUP=1 THREADS="1 4 16" CONN_THREADS="1 4 16" ROUNDS=1 SETTLE=10
#   TESTS="point_select read_only connrate"   TABLE_SIZE=100000   PS_MODE=auto
#   MYPROXY=<first of build-prod/myproxy, build-demo/myproxy, ./myproxy, build/myproxy>
#     (build/ is the sanitizer build of scripts/test.sh: slow, never the one to measure)
#   MYPROXY_BENCH_WORKERS=<one per CPU>       HAPROXY=auto (0: never, 1: required)
#   BENCH_HARNESS=<repo>/../shared/bench      BENCH_DIR=<new /tmp/myproxy-bench.XXXXXX>
#   BENCH_PORT=3316 (the throwaway MariaDB's loopback TCP port, used by haproxy)
#   KEEP=0 (1: keep BENCH_DIR with logs and results)   REUSE=1 (0: no myproxy-reuse row)
# Needs root (the fixture runs mariadbd as user mysql), sysbench, mariadb-server.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
harness=${BENCH_HARNESS:-$top/../shared/bench}
if [ ! -x "$harness/proxybench.sh" ] || [ ! -x "$harness/start-mariadb.sh" ]; then
	echo "bench.sh: the reference harness is missing: expected $harness/proxybench.sh and" >&2
	echo "bench.sh: $harness/start-mariadb.sh (the repository's sibling folder ../shared/bench/;" >&2
	echo "bench.sh: set BENCH_HARNESS to its location)" >&2
	exit 1
fi

export DURATION=${DURATION:-5}
export WARMUP=${WARMUP:-1}
export THREADS=${THREADS:-"1 4 16"}
export CONN_THREADS=${CONN_THREADS:-"1 4 16"}
export TESTS=${TESTS:-"point_select read_only connrate"}
export TABLE_SIZE=${TABLE_SIZE:-100000}
export PS_MODE=${PS_MODE:-auto}
ROUNDS=${ROUNDS:-1}
SETTLE=${SETTLE:-10}
HAPROXY=${HAPROXY:-auto}
BENCH_PORT=${BENCH_PORT:-3316}
KEEP=${KEEP:-0}
REUSE=${REUSE:-1}

find_myproxy() {
	local candidate
	for candidate in "${MYPROXY:-}" "$top/build-prod/myproxy" "$top/build-demo/myproxy" "$top/myproxy" "$top/build/myproxy"; do
		if [ -n "$candidate" ] && [ -x "$candidate" ]; then
			echo "$candidate"
			return 0
		fi
	done
	return 1
}
myproxy=$(find_myproxy) || {
	echo "bench.sh: myproxy is not built; build it (e.g. scripts/test.sh, or configure && make" >&2
	echo "bench.sh: in build/) or set MYPROXY=/path/to/myproxy" >&2
	exit 1
}
command -v sysbench >/dev/null || { echo "bench.sh: sysbench not installed (apt-get install sysbench)" >&2; exit 1; }
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] ||
	{ echo "bench.sh: mariadbd not installed (apt-get install mariadb-server)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench.sh: run as root (the fixture runs mariadbd as user mysql)" >&2; exit 1; }

use_haproxy=0
case $HAPROXY in
0) ;;
1) command -v haproxy >/dev/null || { echo "bench.sh: HAPROXY=1 but haproxy is not installed" >&2; exit 1; }
   use_haproxy=1 ;;
*) command -v haproxy >/dev/null && use_haproxy=1 ;;
esac

dir=${BENCH_DIR:-$(mktemp -d /tmp/myproxy-bench.XXXXXX)}
mkdir -p "$dir"
# mariadbd runs as user mysql and must reach its datadir and socket below this folder.
chmod 755 "$dir"
db_base=$dir/mariadb
db_socket=$db_base/mysqld.sock
proxy_socket=$dir/myproxy.sock
reuse_socket=""
[ "$REUSE" = 1 ] && reuse_socket=$dir/myproxy-reuse.sock
haproxy_socket=$dir/haproxy.sock
results=$dir/results.csv
: >"$results"

myproxy_pid=""
haproxy_pid=""
db_started=0
cleanup() {
	local status=$?
	set +e
	if [ -n "$myproxy_pid" ]; then
		kill "$myproxy_pid" 2>/dev/null && wait "$myproxy_pid" 2>/dev/null
	fi
	if [ -n "$haproxy_pid" ]; then
		kill "$haproxy_pid" 2>/dev/null
	fi
	if [ "$db_started" = 1 ]; then
		BASE=$db_base "$harness/start-mariadb.sh" stop >/dev/null
	fi
	if [ "$KEEP" = 1 ] || [ "$status" -ne 0 ]; then
		echo "bench.sh: logs and results kept in $dir"
	else
		rm -rf "$dir"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# bench.sh: myproxy=$myproxy duration=${DURATION}s threads=\"$THREADS\" conn_threads=\"$CONN_THREADS\" rounds=$ROUNDS"

# The fixture: loopback TCP on BENCH_PORT and a UNIX socket, user sbtest/sbtest.
BASE=$db_base PORT=$BENCH_PORT INSTALL=0 "$harness/start-mariadb.sh" >"$dir/start-mariadb.log" 2>&1 || {
	cat "$dir/start-mariadb.log" >&2
	exit 1
}
db_started=1
server_pid=$(cat "$db_base/mariadbd.pid")

MYPROXY_BENCH_BACKEND=$db_socket MYPROXY_BENCH_SOCKET=$proxy_socket MYPROXY_BENCH_REUSE_SOCKET=$reuse_socket \
	"$myproxy" --config "$top/bench/bench.lua" >"$dir/myproxy.log" 2>&1 &
myproxy_pid=$!
for _ in $(seq 100); do
	[ -S "$proxy_socket" ] && grep -q 'ready' "$dir/myproxy.log" && break
	kill -0 "$myproxy_pid" 2>/dev/null || { cat "$dir/myproxy.log" >&2; exit 1; }
	sleep 0.1
done
[ -S "$proxy_socket" ] || { echo "bench.sh: myproxy did not start:" >&2; cat "$dir/myproxy.log" >&2; exit 1; }

if [ "$use_haproxy" = 1 ]; then
	# The same path as myproxy's: a UNIX socket in front of the server's UNIX socket.
	cat >"$dir/haproxy.cfg" <<EOF
global
    maxconn 8000
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend mysql_unix
    bind unix@$haproxy_socket mode 666
    default_backend mariadb
backend mariadb
    server db1 unix@$db_socket maxconn 4000
EOF
	haproxy -D -f "$dir/haproxy.cfg" -p "$dir/haproxy.pid" >"$dir/haproxy.log" 2>&1 ||
		{ cat "$dir/haproxy.log" >&2; exit 1; }
	haproxy_pid=$(cat "$dir/haproxy.pid")
	for _ in $(seq 50); do [ -S "$haproxy_socket" ] && break; sleep 0.1; done
fi

export RESULTS=$results SERVER_PID=$server_pid
run() {   # label endpoint [proxy pid]
	PROXY_PID=${3:-} OUTDIR=$dir/$1-round$round PREPARE_ENDPOINT=$db_socket \
		"$harness/proxybench.sh" "$2" "$1"
}

# Create the table first, untimed, and let InnoDB finish the background work the bulk insert
# left (it would slow down whichever endpoint runs first).
echo "# preparing sbtest1 ($TABLE_SIZE rows) and letting the server settle for ${SETTLE}s"
TESTS=point_select THREADS=1 DURATION=1 WARMUP=0 RESULTS="" PROXY_PID="" OUTDIR=$dir/prepare \
	"$harness/proxybench.sh" "$db_socket" prepare >"$dir/prepare.log" 2>&1 ||
	{ cat "$dir/prepare.log" >&2; exit 1; }
sleep "$SETTLE"

endpoints=(direct myproxy)
[ -n "$reuse_socket" ] && endpoints+=(myproxy-reuse)
[ "$use_haproxy" = 1 ] && endpoints+=(haproxy)
for round in $(seq "$ROUNDS"); do
	# Each round starts with another endpoint, so none always gets the freshest server.
	count=${#endpoints[@]}
	for ((i = 0; i < count; i++)); do
		case ${endpoints[(i + round - 1) % count]} in
		direct) run direct "$db_socket" ;;
		myproxy) run myproxy "$proxy_socket" "$myproxy_pid" ;;
		myproxy-reuse) run myproxy-reuse "$reuse_socket" "$myproxy_pid" ;;
		haproxy) run haproxy "$haproxy_socket" "$haproxy_pid" ;;
		esac
	done
done

# Means per (label, test, threads) over the rounds, then the ratios to the direct connection
# (and to haproxy) and the proxies' CPU time per event.
echo
echo "# ratios: throughput through the proxy / direct (and / haproxy); CPU us per event"
awk -F, -v have_haproxy="$use_haproxy" -v have_reuse="$([ -n "$reuse_socket" ] && echo 1 || echo 0)" '
	{
		key = $2 SUBSEP $3
		if (!(key in seen)) { seen[key] = 1; order[++n] = key }
		qps[$1, key] += $4; runs[$1, key]++
		if ($11 != "") { cpu[$1, key] += $11; cpus[$1, key]++ }
	}
	function mean(label, key) { return runs[label, key] ? qps[label, key] / runs[label, key] : 0 }
	function meancpu(label, key) { return cpus[label, key] ? sprintf("%.1f", cpu[label, key] / cpus[label, key]) : "-" }
	function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
	END {
		printf "%-13s %3s %11s %11s %7s %9s", "test", "thr", "direct", "myproxy", "ratio", "cpu_us/ev"
		if (have_reuse) printf " %13s %7s %9s", "myproxy-reuse", "ratio", "cpu_us/ev"
		if (have_haproxy) printf " %11s %7s %9s %9s", "haproxy", "ratio", "cpu_us/ev", "my/hap"
		printf "\n"
		for (i = 1; i <= n; i++) {
			key = order[i]; split(key, part, SUBSEP)
			d = mean("direct", key); m = mean("myproxy", key)
			printf "%-13s %3s %11.1f %11.1f %7s %9s", part[1], part[2], d, m, ratio(m, d), meancpu("myproxy", key)
			if (have_reuse) {
				r = mean("myproxy-reuse", key)
				printf " %13.1f %7s %9s", r, ratio(r, d), meancpu("myproxy-reuse", key)
			}
			if (have_haproxy) {
				h = mean("haproxy", key)
				printf " %11.1f %7s %9s %9s", h, ratio(h, d), meancpu("haproxy", key), ratio(m, h)
			}
			printf "\n"
		}
	}' "$results"
echo "(qps for point_select and read_only, connections/s for connrate; means over $ROUNDS round(s))"

if command -v python3 >/dev/null && [ -x "$harness/summarize.py" ]; then
	echo
	"$harness/summarize.py" --base direct "$results" || true
fi
