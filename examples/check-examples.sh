#!/bin/sh
# `make check` test for the example configurations: every examples/*.lua and bench/bench.lua
# must pass `myproxy --check-config`, so an API change that breaks an example fails the build.
# --check-config binds nothing and connects nowhere; the examples use no host names, so no DNS.
# Also checks that a broken script is refused with exit status 78, so "ok" means something.
set -eu

srcdir=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
myproxy=${MYPROXY:-./myproxy}

if [ ! -x "$myproxy" ]; then
	echo "examples: $myproxy not built (run from the build directory, or set MYPROXY)"
	exit 99
fi

# What demo.lua and bench.lua read from the environment; nothing is created there.
export MYPROXY_DEMO_BACKEND=/nonexistent/mariadb.sock
export MYPROXY_DEMO_SOCKET=/nonexistent/myproxy.sock
export MYPROXY_BENCH_BACKEND=/nonexistent/mariadb.sock
export MYPROXY_BENCH_SOCKET=/nonexistent/myproxy.sock

checked=0
failed=0
for config in "$srcdir"/examples/*.lua "$srcdir"/bench/bench.lua; do
	checked=$((checked + 1))
	if output=$("$myproxy" --check-config --config "$config" 2>&1) &&
		[ "$output" = "$config: ok" ]; then
		continue
	fi
	echo "FAIL: $config"
	printf '%s\n' "$output"
	failed=$((failed + 1))
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-examples.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
printf 'mysql_listen("192.0.2.1:99999", { on_handshake_response = function() end })\n' >"$tmp/broken.lua"
checked=$((checked + 1))
rc=0
"$myproxy" --check-config --config "$tmp/broken.lua" >"$tmp/out" 2>&1 || rc=$?
if [ "$rc" -ne 78 ] || ! grep -q 'port out of range' "$tmp/out"; then
	echo "FAIL: a broken config.lua was not refused with status 78 (got $rc):"
	cat "$tmp/out"
	failed=$((failed + 1))
fi

echo "examples: $checked checked, $failed failed"
[ "$failed" -eq 0 ]
