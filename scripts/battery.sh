#!/bin/sh
# The abuse battery (tests/battery/battery.py) against the production build: a throwaway mariadbd,
# myproxy with its sandbox, one PASS/FAIL line per check with its figure.  As root (workers drop to
# nobody; one check plays a hostile uid).
#   scripts/battery.sh [BUILD_DIR]          quick mode (a few minutes at most; scripts/test.sh)
#   scripts/battery.sh --full [BUILD_DIR]   100,000 churn cycles, 10,000 idle sessions (by hand)
set -eu
srcdir=$(cd "$(dirname "$0")/.." && pwd)
mode=
if [ "${1:-}" = "--full" ]; then
	mode=--full
	shift
fi
build=${1:-$srcdir/build}
if [ ! -x "$build/myproxy" ]; then
	echo "battery: no $build/myproxy; build the production flavour first" >&2
	exit 2
fi
if [ "$(id -u)" != 0 ]; then
	echo "battery: run as root" >&2
	exit 2
fi
exec python3 "$srcdir/tests/battery/battery.py" --myproxy "$build/myproxy" $mode
