#!/bin/sh
# Folders are roles: master/ and worker/ never include each other, common/ includes neither them
# nor lua/, and lua/ includes neither master/ nor worker/.  The privileged master reads its
# configuration from common/ (config.hpp); from lua/ it may include only the loader's entry point,
# lua/config_loader.hpp.  Run by `make check`; `srcdir=DIR` checks another tree.
set -u
top=${srcdir:-.}
violations=0
report() {
	echo "$1"
	echo "$2"
	violations=$((violations + 1))
}
check() {
	folder=$1
	shift
	for forbidden in "$@"; do
		hits=$(grep -n "#include \"$forbidden/" "$top/$folder"/*.hpp "$top/$folder"/*.cpp 2>/dev/null)
		[ -z "$hits" ] || report "$folder/ must not include $forbidden/:" "$hits"
	done
}
# check_only FOLDER OTHER ALLOWED: FOLDER may include from OTHER/ only the header ALLOWED.
check_only() {
	hits=$(grep -n "#include \"$2/" "$top/$1"/*.hpp "$top/$1"/*.cpp 2>/dev/null |
		grep -v "#include \"$3\"")
	[ -z "$hits" ] || report "$1/ may include from $2/ only $3:" "$hits"
}
check master worker
check_only master lua lua/config_loader.hpp
check worker master
check common master worker lua
check lua master worker
echo "layering: 4 folders checked, $violations violations"
[ "$violations" -eq 0 ]
