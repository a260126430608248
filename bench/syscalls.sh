#!/usr/bin/env bash
# syscalls.sh - system calls and CPU time per point-select query of a relay, counted, not timed.
#
# On a virtual machine every system call is expensive and wall-clock figures are noise, so this
# counts: it starts the reference MariaDB fixture (../shared/bench/start-mariadb.sh), myproxy with
# bench/bench.lua (and, with RELAY_CMD, any other relay), and for each thread count runs sysbench
# oltp_point_select for a fixed number of events twice: once under `strace -c -f` attached to the
# relay's processes (system calls per event, by name), once without (CPU microseconds per event
# from /proc, user and system).  It never asserts anything; bench.sh stays the timed comparison.
#
# Environment (defaults):
#   MYPROXY=<build-prod/myproxy, build/myproxy>  EVENTS=20000  THREADS="4 16"  TABLE_SIZE=10000
#   MYPROXY_BENCH_WORKERS=2   BENCH_HARNESS=<repo>/../shared/bench   BENCH_PORT=3317
#   RELAYS="label=cmd args;label=cmd args"  other relays to measure after myproxy, one after the
#     other: each is started with BACKEND_SOCKET and LISTEN_SOCKET in its environment and must
#     listen on LISTEN_SOCKET (e.g. RELAYS="uring=/tmp/uring_relay --mode uring", the io_uring
#     experiment of bench/uring_relay.cpp)
#   ONLY_RELAY=0 (1: skip myproxy)   KEEP=0 (1: keep the temporary folder)
#   PERF_EVENTS="ev,ev"  also count these perf events over the untraced run, per event (e.g. a
#     uprobe on malloc: perf probe -x /lib/x86_64-linux-gnu/libc.so.6 malloc; PERF_EVENTS=probe_libc:malloc)
#   PERF_RECORD=1  also `perf record -g` the relay over the untraced run and print the top symbols
# Needs root, sysbench, mariadb-server, strace.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
harness=${BENCH_HARNESS:-$top/../shared/bench}
[ -x "$harness/start-mariadb.sh" ] || { echo "syscalls.sh: no $harness/start-mariadb.sh" >&2; exit 1; }
EVENTS=${EVENTS:-20000}
THREADS=${THREADS:-"4 16"}
TABLE_SIZE=${TABLE_SIZE:-10000}
BENCH_PORT=${BENCH_PORT:-3317}
KEEP=${KEEP:-0}
ONLY_RELAY=${ONLY_RELAY:-0}
export MYPROXY_BENCH_WORKERS=${MYPROXY_BENCH_WORKERS:-2}
myproxy=${MYPROXY:-}
for candidate in "$top/build-prod/myproxy" "$top/build/myproxy"; do
	[ -z "$myproxy" ] && [ -x "$candidate" ] && myproxy=$candidate
done
[ -n "$myproxy" ] || { echo "syscalls.sh: myproxy is not built (MYPROXY=...)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "syscalls.sh: run as root" >&2; exit 1; }

dir=$(mktemp -d /tmp/myproxy-syscalls.XXXXXX)
chmod 755 "$dir"
db_base=$dir/mariadb
db_socket=$db_base/mysqld.sock
pids=()
cleanup() {
	local status=$?
	set +e
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
	BASE=$db_base "$harness/start-mariadb.sh" stop >/dev/null 2>&1
	[ "$KEEP" = 1 ] || [ "$status" -ne 0 ] && echo "syscalls.sh: logs kept in $dir" || rm -rf "$dir"
	exit "$status"
}
trap cleanup EXIT

BASE=$db_base PORT=$BENCH_PORT INSTALL=0 "$harness/start-mariadb.sh" >"$dir/start-mariadb.log" 2>&1 ||
	{ cat "$dir/start-mariadb.log" >&2; exit 1; }
sb=(sysbench oltp_point_select --db-driver=mysql --mysql-user=sbtest --mysql-password=sbtest
	--mysql-db=sbtest --tables=1 --table-size="$TABLE_SIZE" --rand-type=special)
"${sb[@]}" --mysql-socket="$db_socket" prepare >"$dir/prepare.log" 2>&1 || { cat "$dir/prepare.log" >&2; exit 1; }

wait_socket() {   # socket pid log
	for _ in $(seq 100); do
		[ -S "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	echo "syscalls.sh: nothing listens on $1:" >&2
	cat "$3" >&2
	exit 1
}

ticks() {   # utime+stime of the pids, in clock ticks
	for p in "$@"; do cat "/proc/$p/stat"; done | awk '{sub(/^.*\) /, ""); t += $12 + $13} END {print t}'
}

measure() {   # label socket pid...
	local label=$1 socket=$2 threads log before after
	shift 2
	for threads in $THREADS; do
		log=$dir/$label-t$threads
		strace -c -f -o "$log.strace" $(printf -- '-p %s ' "$@") 2>/dev/null &
		local tracer=$!
		sleep 1
		"${sb[@]}" --mysql-socket="$socket" --threads="$threads" --events="$EVENTS" --time=0 run >"$log.traced" 2>&1
		kill -INT "$tracer"
		wait "$tracer" 2>/dev/null || true
		local counter="" recorder=""
		if [ -n "${PERF_EVENTS:-}" ]; then
			perf stat -x, -e "$PERF_EVENTS" -o "$log.perf" -p "$(IFS=,; echo "$*")" &
			counter=$!
		fi
		if [ "${PERF_RECORD:-0}" = 1 ]; then
			perf record -q -g -o "$log.perf.data" -p "$(IFS=,; echo "$*")" 2>/dev/null &
			recorder=$!
		fi
		[ -n "$counter$recorder" ] && sleep 0.5
		before=$(ticks "$@")
		"${sb[@]}" --mysql-socket="$socket" --threads="$threads" --events="$EVENTS" --time=0 run >"$log.plain" 2>&1
		after=$(ticks "$@")
		for pid in $counter $recorder; do
			kill -INT "$pid"
			wait "$pid" 2>/dev/null || true
		done
		echo "## $label, $threads threads, $EVENTS events"
		awk -v e="$EVENTS" -v t=$((after - before)) -v h="$(getconf CLK_TCK)" '
			/^-/ || /^%/ || /^ *$/ { next }
			$NF == "total" { total = $4; next }
			{ calls = $4; errs = ($6 != "" ? $5 : 0); name = $NF
			  line[++n] = sprintf("  %-18s %7.3f per event%s", name, calls / e,
					      errs > 0 ? sprintf(" (%.3f failed)", errs / e) : "") }
			END { for (i = 1; i <= n; i++) print line[i]
			      printf "  %-18s %7.3f per event\n", "total", total / e
			      printf "  cpu                %7.1f us per event (untraced run)\n", t / h * 1e6 / e }
		' "$log.strace"
		if [ -f "$log.perf.data" ]; then
			perf report -i "$log.perf.data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null |
				awk '/^ +[0-9]/ && shown++ < 12'
		fi
		if [ -f "$log.perf" ]; then
			awk -F, -v e="$EVENTS" '$1 ~ /^[0-9]+$/ { printf "  %-18s %7.3f per event (untraced run)\n", $3, $1 / e }' "$log.perf"
		fi
	done
}

if [ "$ONLY_RELAY" != 1 ]; then
	MYPROXY_BENCH_BACKEND=$db_socket MYPROXY_BENCH_SOCKET=$dir/myproxy.sock \
		"$myproxy" --config "$top/bench/bench.lua" >"$dir/myproxy.log" 2>&1 &
	master=$!
	pids+=("$master")
	wait_socket "$dir/myproxy.sock" "$master" "$dir/myproxy.log"
	sleep 0.5
	# shellcheck disable=SC2046
	measure myproxy "$dir/myproxy.sock" $(cat /proc/"$master"/task/*/children)
fi
IFS=';' read -r -a relays <<<"${RELAYS:-}"
for relay_spec in "${relays[@]}"; do
	label=${relay_spec%%=*}
	# shellcheck disable=SC2086
	BACKEND_SOCKET=$db_socket LISTEN_SOCKET=$dir/$label.sock ${relay_spec#*=} >"$dir/$label.log" 2>&1 &
	relay=$!
	pids+=("$relay")
	wait_socket "$dir/$label.sock" "$relay" "$dir/$label.log"
	measure "$label" "$dir/$label.sock" "$relay"
	kill "$relay"
done
