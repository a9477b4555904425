#!/usr/bin/env bash
# Install what building and testing need, from Debian's archive, when missing.
# Used by `make check` and tests/demo.sh; a no-op when all is there.
set -eu
pkgs="gcc make pkg-config libc6-dev libseccomp-dev libcap-ng-dev libbsd-dev libjson-c-dev
      iproute2 util-linux python3 curl systemd runc busybox-static haproxy nftables
      podman uidmap catatonit containernetworking-plugins"
[ "${1:-}" = "--bench" ] && pkgs="$pkgs iperf3 socat haproxy systemd gnuplot-nox util-linux passt strace slirp4netns"
[ "${1:-}" = "--fuzz" ] && pkgs="$pkgs clang libclang-rt-14-dev"
[ "${1:-}" = "--lint" ] && pkgs="$pkgs cppcheck clang-tidy valgrind"
# `make deb` and tests/integration/95-package.sh: the Debian package build.
[ "${1:-}" = "--deb" ] && pkgs="$pkgs debhelper dpkg-dev lintian fakeroot"
if [ "${1:-}" = "--arm64" ]; then
	pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross libseccomp-dev:arm64 libcap-ng-dev:arm64 libbsd-dev:arm64 qemu-user"
	dpkg --print-foreign-architectures | grep -qx arm64 || {
		[ "$(id -u)" = 0 ] || { echo "deps: run as root to add the arm64 architecture" >&2; exit 1; }
		dpkg --add-architecture arm64
	}
fi

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2
