#!/usr/bin/env bash
# Rootless podman side by side: the same container published by an
# ordinary user with `podman run -p` (rootlessport, slirp4netns: podman
# 4.3's default for rootless) and through ntb-oci-hook from the user's own
# hooks directory (--network none, the annotation
# org.netns-tcp-bridge.publish, allowed by --allow-publish in that user's
# hooks.d file), in one run.  podman runs as the user $PUSER (made, with
# subordinate ids, if missing, as tests/integration/75-podman.sh does),
# inside a namespace made here, which plays the host: both forwarders
# listen on its 127.0.0.1, and the clients (root) connect there.
# Throughput (iperf3, 1 stream), connections per second (benchtool rate,
# 2 threads) and round-trip latency (benchtool rtt), as tests/bench/cni.sh.
#
#   tests/bench/rootless.sh [BUILD-DIR [SECONDS]]    as root; needs podman 4,
#                                                    slirp4netns, uidmap,
#                                                    runc and iperf3
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
B=$(cd "${1:-$top/build}" && pwd)
secs=${2:-5}
[ "$(id -u)" = 0 ] || { echo "rootless.sh: needs root" >&2; exit 1; }
for c in podman slirp4netns newuidmap runc iperf3 "$B/ntb-oci-hook" "$B/bench/benchtool"; do
	command -v "$c" >/dev/null || { echo "rootless.sh: $c is missing" >&2; exit 1; }
done

PUSER=ntbpodman
if ! id -u "$PUSER" >/dev/null 2>&1; then
	useradd -M -d /nonexistent -s /usr/sbin/nologin "$PUSER"
fi
grep -q "^$PUSER:" /etc/subuid 2>/dev/null || usermod --add-subuids 400000-465535 "$PUSER"
grep -q "^$PUSER:" /etc/subgid 2>/dev/null || usermod --add-subgids 400000-465535 "$PUSER"
uid=$(id -u "$PUSER")
# The hook's default state directory for this user (ntb-oci-hook(8)):
# removed at the end if this run made it.
if [ -d "/run/user/$uid" ]; then st=/run/user/$uid/netns-tcp-bridge/oci; else st=/tmp/netns-tcp-bridge-$uid; fi
st_was=$([ -e "$st" ] && echo 1 || true)

T=$(mktemp -d /tmp/ntb-rootless-bench.XXXXXX)
NS=ntbr-$$
DNAME=ntbr-rlp-$$	# published by rootlessport
HNAME=ntbr-hook-$$	# published by the hook
R=(timeout 60 nsenter --net="/run/netns/$NS" runuser -u "$PUSER" -- env -i
   PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$T/home" XDG_RUNTIME_DIR="$T/xdg"
   podman --root "$T/root" --runroot "$T/runroot" --storage-driver vfs --cgroup-manager cgroupfs
   --events-backend file --runtime runc --hooks-dir "$T/hooks")
# The containers (their slirp4netns, rootlessport and the hook's launchers
# go with them), then the user's pause process, after the last podman call
# (which would start another), then the namespace and the directories.
cleanup() {
	"${R[@]}" rm -f -t 0 "$DNAME" "$HNAME" >/dev/null 2>&1 || true
	local pause
	pause=$(cat "$T/xdg/libpod/tmp/pause.pid" 2>/dev/null || true)
	[ -n "$pause" ] && kill "$pause" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$T"
	[ -n "$st_was" ] || rm -rf "$st"
	[ -z "$tun_mode" ] || chmod "$tun_mode" /dev/net/tun
}
tun_mode=""
trap cleanup EXIT
# slirp4netns opens /dev/net/tun as the user: Debian makes it 0666, these
# machines 0600; opened to all for the run, as make bench does for pasta.
if [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
	tun_mode=$(stat -c %a /dev/net/tun)
	chmod 0666 /dev/net/tun
fi
ip netns add "$NS"
ip -n "$NS" link set lo up

# The host's /usr, read-only: busybox, iperf3 and their libraries; the
# benchtool copied in (the build directory need not be the user's to read).
mkdir -p "$T/rootfs/usr" "$T/rootfs/proc" "$T/rootfs/sys" "$T/rootfs/dev" "$T/rootfs/tmp" \
	"$T/rootfs/etc" "$T/rootfs/bench" "$T/home" "$T/hooks"
mkdir -m 0700 "$T/xdg"
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$T/rootfs/$d"; done
cp "$B/bench/benchtool" "$T/rootfs/bench/"
# The user's hooks.d file: the installed one's content, naming this
# build's hook, allowing the two ports this run publishes.
python3 - "$top/contrib/oci/netns-tcp-bridge.json" "$B/ntb-oci-hook" >"$T/hooks/netns-tcp-bridge.json" <<-'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["hook"]["path"] = sys.argv[2]
c["hook"]["args"] = ["ntb-oci-hook", "--allow-publish", "tcp://127.0.0.1:18370-18371"]
print(json.dumps(c))
EOF
chown -R "$PUSER:" "$T"

# Both containers alike: an echo server and iperf3 on all their addresses
# (rootlessport's child connects to the container's slirp4netns address),
# on adjacent ports: podman's --annotation splits its value at commas, so
# the hook's two forwards are one range, not a comma-separated list.
SERVE='BENCHTOOL_ADDR=0.0.0.0 /bench/benchtool echo 7000 & exec iperf3 -s -p 7001'
COMMON=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096 -v /usr:/usr:ro --rootfs "$T/rootfs")
"${R[@]}" run -d --name "$DNAME" --network slirp4netns \
	-p 127.0.0.1:18270:7000 -p 127.0.0.1:18271:7001 "${COMMON[@]}" /bin/sh -c "$SERVE" >/dev/null
"${R[@]}" run -d --name "$HNAME" --network none \
	--annotation org.netns-tcp-bridge.publish=127.0.0.1:18370-18371=127.0.0.1:7000-7001 \
	"${COMMON[@]}" /bin/sh -c "$SERVE" >/dev/null

in_ns() {
	timeout $((secs + 30)) ip netns exec "$NS" "$@"
}
# wait_up PORT: until a connection through the forwarder is echoed (10 s);
# rootlessport accepts before its child has reached the container.
wait_up() {
	for _ in $(seq 1 100); do
		in_ns env BENCHTOOL_ADDR=127.0.0.1 "$B/bench/benchtool" rtt "$1" 1 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "rootless.sh: nothing answers on 127.0.0.1:$1" >&2
	exit 1
}
wait_iperf() {
	for _ in $(seq 1 100); do
		in_ns iperf3 -c 127.0.0.1 -p "$1" -n 1K >"$T/iperf3.out" 2>&1 && return 0
		sleep 0.1
	done
	echo "rootless.sh: no iperf3 on 127.0.0.1:$1: $(tail -n 1 "$T/iperf3.out")" >&2
	"${R[@]}" logs "$2" >&2 || true
	exit 1
}

printf '| path | throughput (Gbit/s) | connections/s | rtt p50 / p99 (us) |\n|---|---|---|---|\n'
for n in rlp hook; do
	base=$([ $n = rlp ] && echo 182 || echo 183)
	wait_up "${base}70"
	wait_iperf "${base}71" "$([ $n = rlp ] && echo "$DNAME" || echo "$HNAME")"
	gbps=$(in_ns iperf3 -c 127.0.0.1 -p "${base}71" -t "$secs" -J |
		python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))')
	rate=$(in_ns "$B/bench/benchtool" rate "${base}70" "$secs" 2 |
		awk '{ print $2 ($4 ? " (" $4 " failed)" : "") }')
	rtt=$(in_ns "$B/bench/benchtool" rtt "${base}70" 5000 | awk '{ print $2 " / " $4 }')
	label=$([ $n = rlp ] && echo "podman -p (rootlessport, slirp4netns)" || echo "ntb-oci-hook (--network none)")
	printf '| %s | %s | %s | %s |\n' "$label" "$gbps" "$rate" "$rtt"
done
