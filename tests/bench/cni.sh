#!/usr/bin/env bash
# The CNI plugins side by side: a container published with `podman run -p`
# through containernetworking's portmap (DNAT) and through ntb-portmap, in
# one run, each behind its own bridge network (host-local, no ipMasq).
# podman and the clients run inside a namespace made here, which plays
# the host; clients connect to the bridge's gateway address, which both
# paths serve.  Throughput (iperf3, 1 stream), connections per second
# (benchtool rate, 2 threads) and round-trip latency (benchtool rtt).
#
#   tests/bench/cni.sh [BUILD-DIR [SECONDS]]     as root; needs podman 4,
#                                                iperf3 and the CNI plugins
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
B=$(cd "${1:-$top/build}" && pwd)
secs=${2:-5}
[ "$(id -u)" = 0 ] || { echo "cni.sh: needs root" >&2; exit 1; }
for c in podman iperf3 /usr/lib/cni/portmap /usr/lib/cni/bridge "$B/ntb-portmap" "$B/bench/benchtool"; do
	command -v "$c" >/dev/null || { echo "cni.sh: $c is missing" >&2; exit 1; }
done

T=$(mktemp -d /tmp/ntb-cni-bench.XXXXXX)
NS=ntbb-$$
P=(env CONTAINERS_CONF="$T/containers.conf" nsenter --net="/run/netns/$NS" podman
   --root "$T/p/root" --runroot "$T/p/runroot" --tmpdir "$T/p/tmp" --storage-driver vfs
   --cgroup-manager cgroupfs --events-backend file --runtime runc
   --network-backend cni --cni-config-dir "$T/cni")
# podman's CNI cache (/var/lib/cni) has no option: removed if made here.
cni_cache_was=$([ -e /var/lib/cni ] && echo 1 || true)
cleanup() {
	"${P[@]}" rm -f -t 0 "ntbb-dnat-$$" "ntbb-ntb-$$" >/dev/null 2>&1 || true
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$T"
	[ -n "$cni_cache_was" ] || rm -rf /var/lib/cni
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up

# The host's /usr, read-only: busybox, iperf3 and their libraries.
mkdir -p "$T/rootfs/usr" "$T/rootfs/proc" "$T/rootfs/sys" "$T/rootfs/dev" "$T/rootfs/tmp" \
	"$T/rootfs/etc" "$T/rootfs/bench" "$T/cni" "$T/plugins"
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$T/rootfs/$d"; done
for p in bridge host-local loopback portmap; do ln -s "/usr/lib/cni/$p" "$T/plugins/$p"; done
ln -s "$B/ntb-portmap" "$T/plugins/ntb-portmap"
# net NAME SUBNET-PREFIX PLUGIN-JSON: a bridge network and its port plugin.
net() {
	cat >"$T/cni/$1.conflist" <<-EOF
	{"cniVersion": "1.0.0", "name": "$1", "plugins": [
	  {"type": "bridge", "bridge": "$1", "isGateway": true, "ipMasq": false,
	   "ipam": {"type": "host-local", "dataDir": "$T/ipam",
	            "ranges": [[{"subnet": "$2.0/24"}]]}},
	  $3]}
	EOF
}
net ntbb-dnat 10.199.1 '{"type": "portmap", "capabilities": {"portMappings": true}}'
net ntbb-ntb 10.199.2 "{\"type\": \"ntb-portmap\", \"capabilities\": {\"portMappings\": true}, \"stateDir\": \"$T/st\"}"
# ntb-portmap needs the host port that podman would otherwise reserve.
printf '[network]\ncni_plugin_dirs = ["%s"]\n[engine]\nenable_port_reservation = false\n' \
	"$T/plugins" >"$T/containers.conf"

# Both containers alike: an echo server and iperf3 on all their addresses.
for n in dnat ntb; do
	base=$([ $n = dnat ] && echo 182 || echo 183)
	"${P[@]}" run -d --name "ntbb-$n-$$" --network "ntbb-$n" -p "${base}70:7000" -p "${base}71:5201" \
		--ulimit nofile=1024:1024 --ulimit nproc=4096:4096 -v /usr:/usr:ro -v "$B/bench:/bench:ro" \
		--rootfs "$T/rootfs" /bin/sh -c \
		'BENCHTOOL_ADDR=0.0.0.0 /bench/benchtool echo 7000 & exec iperf3 -s -p 5201' >/dev/null
done

in_ns() {
	ip netns exec "$NS" "$@"
}
# wait_up ADDR PORT: until a connection gets through (10 s).
wait_up() {
	for _ in $(seq 1 100); do
		in_ns timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "cni.sh: nothing answers on $1:$2" >&2
	exit 1
}

printf '| path | throughput (Gbit/s) | connections/s | rtt p50 / p99 (us) |\n|---|---|---|---|\n'
for n in dnat ntb; do
	base=$([ $n = dnat ] && echo 182 || echo 183)
	gw=$([ $n = dnat ] && echo 10.199.1.1 || echo 10.199.2.1)
	wait_up "$gw" "${base}70"
	wait_up "$gw" "${base}71"
	gbps=$(in_ns iperf3 -c "$gw" -p "${base}71" -t "$secs" -J |
		python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))')
	rate=$(in_ns env BENCHTOOL_ADDR="$gw" "$B/bench/benchtool" rate "${base}70" "$secs" 2 |
		awk '{ print $2 ($4 ? " (" $4 " failed)" : "") }')
	rtt=$(in_ns env BENCHTOOL_ADDR="$gw" "$B/bench/benchtool" rtt "${base}70" 5000 |
		awk '{ print $2 " / " $4 }')
	label=$([ $n = dnat ] && echo "portmap (DNAT)" || echo "ntb-portmap")
	printf '| %s | %s | %s | %s |\n' "$label" "$gbps" "$rate" "$rtt"
done
