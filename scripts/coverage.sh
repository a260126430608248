#!/bin/sh
# Line coverage of the daemon's code by `make check`: builds with gcov instrumentation
# (--enable-coverage, -O0) in COVERAGE_BUILD_DIR (default build-coverage/), runs `make check` there
# (the daemons under test without their seccomp filter, so that forked workers can write their
# counters before _exit(); see common/coverage_flush.hpp), and prints line coverage per folder
# (common/, lua/, master/, worker/, main.cpp) and in total with gcovr, which it installs (Debian
# package gcovr) when missing.  The HTML report, file by file, goes to COVERAGE_BUILD_DIR/coverage/.
# Failing tests are reported but do not stop the report; the exit status is make check's.  Slow:
# run it alone, not beside other builds.  The source tree stays clean.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
build=${COVERAGE_BUILD_DIR:-$top/build-coverage}
jobs=${COVERAGE_JOBS:-$(nproc 2>/dev/null || echo 2)}

if ! command -v gcovr >/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get install -y --no-install-recommends gcovr
fi

[ -f "$top/configure" ] || (cd "$top" && autoreconf -fi)
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ]; then
	"$top/configure" --enable-coverage CXXFLAGS="-O0 -g" >configure.log 2>&1 || { tail -n 20 configure.log; exit 1; }
fi
make -j"$jobs" >make.log 2>&1 || { tail -n 40 make.log; exit 1; }
# Workers drop privileges to `nobody` when the tests run as root, so every counter file exists
# before the tests, empty (gcov fills an empty one) and writable by all.  Only these: the tests
# themselves run with the usual umask (systemd-analyze refuses world-writable unit files).
find . -name '*.gcda' -delete
find . -name '*.gcno' | while read -r note; do
	: >"${note%.gcno}.gcda"
	chmod 666 "${note%.gcno}.gcda"
done
status=0
make -j"$jobs" -k check >check.log 2>&1 || status=$?
grep -E '^(# |FAIL|ERROR)' check.log || true

mkdir -p coverage
# --gcov-ignore-parse-errors: processes that write the same counter file at once (the workers and
# their tests) can leave a negative branch count ("branch 15 taken -1"), which gcovr refuses to parse;
# only branch counts are affected, and the table is of lines.
gcovr --gcov-ignore-parse-errors --root "$top" --object-directory "$build" \
	--filter "$top/common/" --filter "$top/lua/" --filter "$top/master/" --filter "$top/worker/" \
	--filter "$top/main.cpp" \
	--json-summary coverage/summary.json --html-details coverage/index.html >/dev/null
python3 - "$top" coverage/summary.json <<'PY'
import json, sys
top, path = sys.argv[1], sys.argv[2]
files = json.load(open(path))["files"]
folders = {}
for f in files:
    name = f["filename"]
    folder = name.split("/", 1)[0] + "/" if "/" in name else name
    total, covered = folders.get(folder, (0, 0))
    folders[folder] = (total + f["line_total"], covered + f["line_covered"])
print(f"{'folder':<10} {'lines':>7} {'covered':>8} {'cover':>7}")
all_total = all_covered = 0
for folder in sorted(folders):
    total, covered = folders[folder]
    all_total += total
    all_covered += covered
    print(f"{folder:<10} {total:>7} {covered:>8} {100.0 * covered / max(total, 1):>6.1f}%")
print(f"{'total':<10} {all_total:>7} {all_covered:>8} {100.0 * all_covered / max(all_total, 1):>6.1f}%")
PY
echo "coverage: file by file in $build/coverage/index.html; make check exit status $status"
exit "$status"
