#!/bin/sh
# Installs what building, testing and the demo need on Debian 12, with apt-get, when missing.
# Idempotent: does nothing (and needs no network) when every package is already installed.
set -eu

# python3-nacl: tests/integration/check_proxy_pg seals a box with libsodium outside myproxy.
# python3-cryptography: tests/unit/vectors/auth_vectors.py, which computed the auth plugins' test
# vectors independently of myproxy (the tests use the committed values; kept to re-run it).
# php-cli, php-mysql, python3-pymysql, libdbd-mysql-perl: tests/integration/check_proxy_refusals checks
# what PHP (mysqli, PDO on mysqlnd), PyMySQL and Perl's DBD::mysql show for a refusal over TLS.
# systemd: its systemd-socket-activate passes sockets the way a .socket unit does, for
# tests/integration/check_proxy_systemd (no running systemd is needed).
PACKAGES="build-essential autoconf automake pkg-config clang
	liblua5.4-dev libsodium-dev zlib1g-dev libpq-dev libsystemd-dev libseccomp-dev liburing-dev libssl-dev check libmariadb-dev
	nlohmann-json3-dev
	mariadb-server mariadb-client postgresql sysbench python3 python3-nacl python3-cryptography systemd
	php-cli php-mysql python3-pymysql libdbd-mysql-perl"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# The Debian packages of mariadb-server and postgresql would start system-wide instances; the demo
# and the tests start their own in temporary directories, so keep the packages from starting any.
policy_created=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
	policy_created=1
fi
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
[ -n "$policy_created" ] && $SUDO rm -f /usr/sbin/policy-rc.d
exit 0
