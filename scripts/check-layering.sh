#!/bin/sh
# Folders are roles: master/ and worker/ never include each other, common/ includes neither them
# nor lua/, and lua/ includes neither master/ nor worker/.  Run by `make check`.
set -u
top=${srcdir:-.}
violations=0
check() {
	folder=$1
	shift
	for forbidden in "$@"; do
		hits=$(grep -n "#include \"$forbidden/" "$top/$folder"/*.hpp "$top/$folder"/*.cpp 2>/dev/null)
		if [ -n "$hits" ]; then
			echo "$folder/ must not include $forbidden/:"
			echo "$hits"
			violations=$((violations + 1))
		fi
	done
}
check master worker
check worker master
check common master worker lua
check lua master worker
echo "layering: 4 folders checked, $violations violations"
[ "$violations" -eq 0 ]
