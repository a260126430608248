#!/bin/sh
# The whole test suite, from a fresh Debian 12 machine: installs the build and test dependencies
# when missing, then builds and runs `make check` twice:
#   1. BUILD_DIR (default build/): warnings as errors, ASan+UBSan; the daemon under test runs with
#      --no-sandbox (the sanitizers need calls the seccomp filter forbids), except in
#      check_proxy_sandbox, which tests the sandbox itself;
#   2. PROD_BUILD_DIR (default build-prod/): the production build (warnings as errors, no
#      sanitizers), every worker under its seccomp allow-list and, as root, privilege drop.
#   3. FUZZ_BUILD_DIR (default build-fuzz/): scripts/fuzz.sh, every libFuzzer target built with
#      clang and run for FUZZ_SECONDS (default 30) each, two at a time; any finding fails.
# Then the abuse battery's quick mode (scripts/battery.sh) against the production build.
# It prints every Check summary line of both runs, the fuzz stage's lines, the battery's lines and
# one total.  Extra arguments go to both configure runs.  The source tree stays clean.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
prod_build=${PROD_BUILD_DIR:-$top/build-prod}
jobs=$(nproc 2>/dev/null || echo 2)

"$top/scripts/install-deps.sh"

cd "$top"
autoreconf -fi

# build_and_check DIR CONFIGURE-ARGS...: configures, builds and runs `make check` in DIR; the exit
# status of `make check` goes to DIR/.check-status.
build_and_check() {
	dir=$1
	shift
	mkdir -p "$dir"
	(
		cd "$dir"
		"$top/configure" "$@"
		make -j"$jobs"
		status=0
		make -j"$jobs" check || status=$?
		echo "$status" > .check-status
	)
}

build_and_check "$build" --enable-werror --enable-sanitizers "$@"
build_and_check "$prod_build" --enable-werror "$@"

# The fuzz stage: its own build with clang; its verdict lines are counted below.
fuzz_log=${FUZZ_BUILD_DIR:-$top/build-fuzz}.log
fuzz_status=0
"$top/scripts/fuzz.sh" >"$fuzz_log" 2>&1 || fuzz_status=$?

# The abuse battery's quick mode, against the production build only (the sanitizer build runs
# without the sandbox, which the battery is about); one PASS/FAIL line per check.
battery_log=$prod_build.battery.log
battery_status=0
"$top/scripts/battery.sh" "$prod_build" >"$battery_log" 2>&1 || battery_status=$?

# automake's test driver keeps each program's output in its .log file and its verdict in its
# .trs file.  Show Check's own summary line for Check programs, the last line of the others
# (fuzz corpus replays, man page and example checks), and one total over both runs.
passed=0
failed=0
overall=0
summarize() {
	dir=$1
	label=$2
	echo
	echo "== Test summaries: $label ($dir) =="
	status=$(cat "$dir/.check-status" 2>/dev/null || echo 1)
	[ "$status" -eq 0 ] || overall=1
	for trs in $(cd "$dir" && find . -name '*.trs' | sort); do
		name=${trs#./}
		name=${name%.trs}
		log=$dir/${trs%.trs}.log
		verdict=$(sed -n 's/^:test-result: //p' "$dir/$trs" | head -n 1)
		line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" 2>/dev/null | tail -n 1 || true)
		if [ -n "$line" ]; then
			echo "$label $name: $line"
			counts=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/')
			set -- $counts
			passed=$((passed + $1 - $2 - $3))
			failed=$((failed + $2 + $3))
			[ "$verdict" = PASS ] || [ "$2$3" != 00 ] || failed=$((failed + 1))
		else
			last=$(grep -v -E '^(PASS|FAIL|ERROR|SKIP|XFAIL|XPASS) ' "$log" 2>/dev/null | tail -n 1)
			echo "$label $name: $verdict: $last"
			if [ "$verdict" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
		fi
	done
	if [ "$status" -ne 0 ]; then
		echo
		echo "== test-suite.log ($label) =="
		cat "$dir/test-suite.log" 2>/dev/null || true
	fi
}
summarize "$build" "sanitizers"
summarize "$prod_build" "production"

# count_stage TITLE LOG STATUS LINE-PATTERN PASS-PATTERN FAIL-PATTERN: a stage whose log has one
# verdict line per test (the fuzz targets, the battery's checks); each counts in the total, and a
# log without any verdict line counts as one failure.
count_stage() {
	echo
	echo "== $1 ($2) =="
	lines=$(grep -E "$4" "$2" || true)
	if [ -z "$lines" ]; then
		echo "no results:"
		tail -n 20 "$2"
		failed=$((failed + 1))
	else
		echo "$lines"
		passed=$((passed + $(echo "$lines" | grep -c -E "$5" || true)))
		failed=$((failed + $(echo "$lines" | grep -c -E "$6" || true)))
	fi
	[ "$3" -eq 0 ] || overall=1
}
# "fuzz_<name>: PASS (...)" or "fuzz_<name>: FAIL (...)"; "PASS name: figure" or "FAIL name: figure".
count_stage "Fuzz stage" "$fuzz_log" "$fuzz_status" '^fuzz_[a-z0-9_]+: (PASS|FAIL)' ': PASS' ': FAIL'
count_stage "Battery, quick mode, production build" "$battery_log" "$battery_status" '^(PASS|FAIL) ' '^PASS' '^FAIL'
echo
echo "$passed passed, $failed failed"
[ "$overall" -eq 0 ] && [ "$failed" -eq 0 ]
