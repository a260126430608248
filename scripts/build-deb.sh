#!/bin/sh
# Builds myproxy's Debian package (Debian 12): installs the build dependencies with apt-get (as
# root, or through sudo), runs `dpkg-buildpackage -us -uc -b` in a clean copy of the tree, and
# runs lintian on the result.  The .deb lands in build-deb/.  Not part of scripts/test.sh: the
# build takes minutes.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build-deb"

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Build-Depends of debian/control, plus the tools.
packages="debhelper dpkg-dev lintian fakeroot autoconf automake pkgconf liblua5.4-dev libsodium-dev
libpq-dev libsystemd-dev libseccomp-dev libssl-dev check libmariadb-dev systemd"
missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "build-deb: installing$missing"
	as_root apt-get update -q
	# shellcheck disable=SC2086
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

# A clean copy: no build directories, no generated autotools files from a developer's tree.
rm -rf "$out"
mkdir -p "$out/src"
git -C "$top" ls-files -z | (cd "$top" && xargs -0 tar cf -) | tar xf - -C "$out/src"
cd "$out/src"

dpkg-buildpackage -us -uc -b
cd "$out"
lintian --fail-on error ./*.changes
echo "build-deb: $(ls "$out"/*.deb)"
