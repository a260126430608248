#!/bin/sh
# The whole test suite, from a fresh Debian 12 machine: installs the build and test dependencies
# when missing, configures (warnings as errors, ASan+UBSan), builds, runs `make check`, and prints
# every Check summary line plus one total.  Extra arguments go to configure.
# BUILD_DIR (default: build/) is where it builds; the source tree stays clean.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
jobs=$(nproc 2>/dev/null || echo 2)

"$top/scripts/install-deps.sh"

cd "$top"
autoreconf -fi
mkdir -p "$build"
cd "$build"
"$top/configure" --enable-werror --enable-sanitizers "$@"
make -j"$jobs"

status=0
make -j"$jobs" check || status=$?

# automake's test driver keeps each program's output in its .log file; show Check's own summaries.
echo
echo "== Check summaries =="
passed=0
failed=0
for log in $(find tests -name 'check_*.log' | sort); do
	name=${log%.log}
	line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -n 1 || true)
	if [ -z "$line" ]; then
		echo "$name: no Check summary (crashed?)"
		failed=$((failed + 1))
		continue
	fi
	echo "$name: $line"
	checks=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/')
	set -- $checks
	passed=$((passed + $1 - $2 - $3))
	failed=$((failed + $2 + $3))
done
if [ "$status" -ne 0 ]; then
	echo
	echo "== test-suite.log =="
	cat test-suite.log 2>/dev/null || true
fi
echo
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
