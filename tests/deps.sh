#!/usr/bin/env bash
# Install what building and testing need, from Debian's archive, when missing.
# The README's commands (tests/check, tests/demo.sh) and .ci/run call it; a
# no-op when all is there.  No make target installs: those call it with
# --check, which names what is missing and the command that installs it.
#   tests/deps.sh [--check] [--bench|--fuzz|--lint|--deb|--arm64]...
set -eu
check_only=""
if [ "${1:-}" = "--check" ]; then check_only=1; shift; fi
base="gcc make pkg-config libc6-dev libseccomp-dev libcap-ng-dev libbsd-dev libjson-c-dev
      iproute2 util-linux python3 curl systemd runc busybox-static haproxy nftables
      podman uidmap catatonit containernetworking-plugins"
pkgs=$base
for group in "$@"; do
	case $group in
	--bench) pkgs="$pkgs iperf3 socat haproxy systemd gnuplot-nox util-linux passt strace slirp4netns" ;;
	--fuzz) pkgs="$pkgs clang libclang-rt-14-dev" ;;
	--lint) pkgs="$pkgs cppcheck clang-tidy valgrind" ;;
	# `make deb` and tests/integration/95-package.sh: the Debian package build.
	--deb) pkgs="$pkgs debhelper dpkg-dev lintian fakeroot" ;;
	--arm64)
		pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross libseccomp-dev:arm64 libcap-ng-dev:arm64 libbsd-dev:arm64 qemu-user"
		if [ -z "$check_only" ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
			[ "$(id -u)" = 0 ] || { echo "deps: run as root to add the arm64 architecture" >&2; exit 1; }
			dpkg --add-architecture arm64
		fi ;;
	*) echo "deps: unknown group $group (--bench, --fuzz, --lint, --deb, --arm64)" >&2; exit 2 ;;
	esac
done

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ -n "$check_only" ]; then
	echo "deps: missing packages:$missing (install them: tests/deps.sh $*, as root)" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2
