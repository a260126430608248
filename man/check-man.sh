#!/bin/sh
# `make check` test for the man pages: both must format without a single groff warning, and
# every Lua name the code registers must appear in myproxy.lua(5).  The names come from a list
# kept here AND from the sources in lua/ and worker/ (lua_register, luaL_Reg tables, attribute
# keys, handler fields, ...), so a new function or attribute fails this test until it is
# documented.  Reads only; writes nothing but its output.
set -eu

srcdir=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
pages="$srcdir/man/myproxy.8 $srcdir/man/myproxy.lua.5"
api_page="$srcdir/man/myproxy.lua.5"

if ! command -v groff >/dev/null 2>&1; then
	echo "man pages: groff not installed (apt-get install groff-base); skipped"
	exit 77
fi

status=0
warnings=0
for page in $pages; do
	# -z formats without output, so line-breaking problems warn too; -ww enables every warning.
	# Any message on stderr counts as a warning.
	messages=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" 2>&1 >/dev/null || echo "groff failed on $page")
	if [ -n "$messages" ]; then
		printf '%s\n' "$messages"
		warnings=$((warnings + $(printf '%s\n' "$messages" | wc -l)))
		status=1
	fi
done

# Names as the page writes them: globals, callbacks, client methods and attributes,
# handshake_response fields.
listed="
mysql_listen mysql_resolve systemd worker_processes connect_timeout reload
drain_timeout reload_drain_timeout crash_penalty worker_user
on_connect on_handshake_response on_command_phase on_init_db
client:connect client:err client:init_db
client.pid client.uid client.gid client.account client.cgroup client.address
client.server_version client.notes path
handshake_response user password password_sha1 database auth_plugin attributes
"

# Names the code registers.  Each pattern matches one way the Lua glue exposes a name; the
# quoted identifier is the name.  Metamethods (__index, ...) are not API.
registered=$(
	{
		cat "$srcdir"/lua/*.cpp | grep -oE 'lua_(register|setglobal|getglobal)\(L, "[A-Za-z_][A-Za-z0-9_]*"'
		cat "$srcdir"/worker/*.cpp | grep -oE 'lua_getglobal\(L, "[A-Za-z_][A-Za-z0-9_]*"'
		cat "$srcdir"/lua/*.cpp | grep -oE '\{"[A-Za-z_][A-Za-z0-9_]*", [a-z_]+\}'
		cat "$srcdir"/lua/*.cpp | grep -oE 'key == "[A-Za-z_][A-Za-z0-9_]*"'
		cat "$srcdir"/lua/*.cpp | grep -oE 'strcmp\(key, "[A-Za-z_][A-Za-z0-9_]*"\)'
		cat "$srcdir"/lua/*.cpp | grep -oE 'lua_setfield\(L, -?[0-9]+, "[A-Za-z_][A-Za-z0-9_]*"\)'
		cat "$srcdir"/lua/*.cpp | grep -oE 'lua_getfield\(L, [a-z_]+, "[A-Za-z_][A-Za-z0-9_]*"\)'
		cat "$srcdir"/lua/*.cpp | grep -oE '(set|check)_string_field\([^"]*"[A-Za-z_][A-Za-z0-9_]*"'
		cat "$srcdir"/lua/*.cpp | grep -E 'handler_fields\[\] *=' | grep -oE '"[A-Za-z_][A-Za-z0-9_]*"'
	} | sed -E 's/^[^"]*"([A-Za-z0-9_]+)".*$/\1/' | grep -v '^__' | sort -u
)
if [ -z "$registered" ]; then
	echo "found no registered Lua names in $srcdir/lua: the patterns in $0 need updating"
	status=1
fi

# The page's text without font escapes, so "\fBclient.pid\fR" reads as "client.pid".
text=$(sed -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\-/-/g' "$api_page")

# Word splitting is wanted: both lists are whitespace-separated names.
# shellcheck disable=SC2086
all_names=$(printf '%s\n' $listed $registered | sort -u)
names=0
missing=""
for name in $all_names; do
	names=$((names + 1))
	if ! printf '%s\n' "$text" | grep -qF -- "$name"; then
		missing="$missing $name"
		continue
	fi
	# Bare identifiers must appear as whole words, not inside a longer one.
	case $name in
	*[.:]*) ;;
	*)
		printf '%s\n' "$text" | grep -qE "(^|[^A-Za-z0-9_])$name([^A-Za-z0-9_]|\$)" || missing="$missing $name"
		;;
	esac
done
if [ -n "$missing" ]; then
	echo "not documented in man/myproxy.lua.5:$missing"
	status=1
fi

missing_count=$(printf '%s' "$missing" | wc -w)
summary="man pages: 2 checked, $warnings warnings, $((names - missing_count)) names documented"
[ "$missing_count" -eq 0 ] || summary="$summary, $missing_count missing"
echo "$summary"
exit $status
