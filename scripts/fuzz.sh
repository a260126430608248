#!/bin/sh
# The fuzz stage of CI (scripts/test.sh runs it; it also runs alone): builds every libFuzzer target
# of tests/fuzz/ with clang in FUZZ_BUILD_DIR (default build-fuzz/), runs each for FUZZ_SECONDS
# (default 30) from a copy of its seed corpus, FUZZ_JOBS (default 2) at a time, and fails on any
# finding.  A crash, leak, timeout or broken invariant leaves its input in
# FUZZ_BUILD_DIR/findings/<target>/: add it to tests/fuzz/corpus/<target>/ as a regression seed (see
# tests/fuzz/README.md).  Ends with one line per target ("fuzz_<name>: PASS|FAIL ...") and
# "fuzz: N passed, M failed", which scripts/test.sh counts.  The source tree stays clean.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$top/build-fuzz}
seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-2}
cxx=${FUZZ_CXX:-clang++}

targets=$(cd "$top/tests/fuzz" && ls fuzz_*.cpp | sed 's/\.cpp$//')
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ]; then
	[ -f "$top/configure" ] || (cd "$top" && autoreconf -fi)
	"$top/configure" --enable-fuzzing CXX="$cxx" >configure.log 2>&1 ||
		{ tail -n 20 configure.log; exit 1; }
fi
programs=$(for t in $targets; do printf 'tests/fuzz/%s ' "$t"; done)
# shellcheck disable=SC2086 # one word per program
make -j"$jobs" $programs >make.log 2>&1 || { tail -n 40 make.log; exit 1; }

# run_target NAME: fuzzes tests/fuzz/NAME for $seconds; its verdict goes to results/NAME.
run_target() {
	name=$1
	short=${name#fuzz_}
	work=runs/$short
	rm -rf "$work" "findings/$short"
	mkdir -p "$work/corpus" "findings/$short" results
	cp "$top/tests/fuzz/corpus/$short"/* "$work/corpus/" 2>/dev/null || true
	status=0
	# New inputs go to the copy (the seeds stay hand-picked); findings to findings/NAME/.
	"tests/fuzz/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="findings/$short/" "$work/corpus" >"$work/log" 2>&1 || status=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
	if [ "$status" -eq 0 ] && [ -z "$(ls "findings/$short")" ]; then
		echo "$name: PASS (${runs:-?} runs in ${seconds} s)" >"results/$name"
	else
		echo "$name: FAIL (exit $status; input kept in $build/findings/$short/; log $build/$work/log)" >"results/$name"
		grep -E 'ERROR|invariant broken|SUMMARY' "$work/log" | head -n 5 >>"results/$name" || true
	fi
}

rm -rf results
running=0
for t in $targets; do
	run_target "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait

passed=0
failed=0
for t in $targets; do
	line=$(cat "results/$t" 2>/dev/null || echo "$t: FAIL (no result)")
	echo "$line"
	case $line in
	"$t: PASS"*) passed=$((passed + 1)) ;;
	*) failed=$((failed + 1)) ;;
	esac
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
