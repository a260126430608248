#!/bin/sh
# Proves scripts/check-layering.sh can fail: on a copy of the four folders it must pass as is, and
# fail once master/ includes a lua/ header other than the loader's entry point, or worker/ a
# master/ header.  Run by `make check`; touches only a temporary directory.
set -u
top=${srcdir:-.}
work=$(mktemp -d) || exit 99
trap 'rm -rf "$work"' EXIT
copy() {
	rm -rf "$work/tree" && mkdir "$work/tree" || exit 99
	for folder in master worker common lua; do
		cp -R "$top/$folder" "$work/tree/" || exit 99
	done
}
layering() {
	srcdir="$work/tree" sh "$top/scripts/check-layering.sh" >"$work/out" 2>&1
}
copy
layering || { echo "the unchanged tree fails:"; cat "$work/out"; exit 1; }
echo '#include "lua/lua_cluster.hpp"' >>"$work/tree/master/master.cpp"
if layering; then
	echo "a lua/lua_cluster.hpp include in master/ passed"
	exit 1
fi
grep -q 'master/ may include from lua/ only lua/config_loader.hpp' "$work/out" || { cat "$work/out"; exit 1; }
copy
echo '#include "master/master.hpp"' >>"$work/tree/worker/worker.hpp"
if layering; then
	echo "a master/ include in worker/ passed"
	exit 1
fi
echo "layering check: rejects both stray includes"
