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

# automake's test driver keeps each program's output in its .log file and its verdict in its
# .trs file.  Show Check's own summary line for Check programs, the last line of the others
# (fuzz corpus replays, man page and example checks), and one total.
echo
echo "== Test summaries =="
passed=0
failed=0
for trs in $(find . -name '*.trs' | sort); do
	name=${trs#./}
	name=${name%.trs}
	log=${trs%.trs}.log
	verdict=$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)
	line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" 2>/dev/null | tail -n 1 || true)
	if [ -n "$line" ]; then
		echo "$name: $line"
		counts=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/')
		set -- $counts
		passed=$((passed + $1 - $2 - $3))
		failed=$((failed + $2 + $3))
		[ "$verdict" = PASS ] || [ "$2$3" != 00 ] || failed=$((failed + 1))
	else
		last=$(grep -v -E '^(PASS|FAIL|ERROR|SKIP|XFAIL|XPASS) ' "$log" 2>/dev/null | tail -n 1)
		echo "$name: $verdict: $last"
		if [ "$verdict" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
	fi
done
if [ "$status" -ne 0 ]; then
	echo
	echo "== test-suite.log =="
	cat test-suite.log 2>/dev/null || true
fi
echo
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
