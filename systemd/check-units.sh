#!/bin/sh
# `make check` test for systemd/: the service and socket units pass `systemd-analyze verify`
# (directives, ExecStart, the socket/service pair), with ExecStart pointing at the myproxy just
# built, and the service keeps the settings myproxy(8) promises.  Writes only to a temp dir.
set -eu

srcdir=${srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=$(pwd)
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "systemd units: systemd-analyze missing (apt-get install systemd)"
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e "s|@bindir@|$builddir|g" "$srcdir/systemd/myproxy.service.in" > "$tmp/myproxy.service"
cp "$srcdir/systemd/myproxy.socket" "$tmp/myproxy.socket"

status=0
if ! out=$(systemd-analyze verify --man=no "$tmp/myproxy.service" "$tmp/myproxy.socket" 2>&1); then
	status=1
fi
# verify warns without failing for some problems; any output is one.
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	status=1
fi
for setting in Type=notify ExecReload= "RestartPreventExitStatus=64 78" NoNewPrivileges=yes KillMode=mixed LimitNOFILE=; do
	grep -q "^$setting" "$tmp/myproxy.service" || { echo "myproxy.service lacks $setting"; status=1; }
done
grep -q '^PassCredentials=true' "$tmp/myproxy.socket" || { echo "myproxy.socket lacks PassCredentials=true"; status=1; }
for f in myproxy.sysusers myproxy.tmpfiles; do
	[ -s "$srcdir/systemd/$f" ] || { echo "systemd/$f missing"; status=1; }
done
# The hardening promise of myproxy(8): an exposure of at most 2.0 (systemd-analyze security).
exposure=$(systemd-analyze security --offline=true "$tmp/myproxy.service" 2>/dev/null |
	sed -n 's/^.*Overall exposure level for myproxy.service: \([0-9.]*\).*$/\1/p')
if [ -z "$exposure" ] || ! awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
	echo "myproxy.service: exposure '${exposure}' above 2.0 (systemd-analyze security --offline=true)"
	status=1
fi
[ "$status" -eq 0 ] && echo "systemd units: verified (exposure $exposure)"
exit "$status"
