#!/usr/bin/env bash
# The main job, end to end: two throwaway network namespaces, an HTTP
# server in one, the bridge, and curl in the other fetching through it.
# As root it uses `ip netns`; otherwise a user namespace from `unshare`.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if [ "${NTB_DEMO_INNER:-}" != 1 ]; then
	if [ "$(id -u)" = 0 ]; then
		./tests/deps.sh
	else
		./tests/deps.sh || true
	fi
	make -s all >/dev/null
fi
B=$top/build
www=$(mktemp -d /tmp/ntb-demo.XXXXXX)
chmod 755 "$www"
echo "Hello from namespace B, served by python3 -m http.server" >"$www/index.html"
pids=""

if [ "$(id -u)" = 0 ] && [ "${NTB_DEMO_INNER:-}" != 1 ]; then
	A=ntb-demo-$$-a
	NB=ntb-demo-$$-b
	cleanup() {
		for p in $pids; do kill "$p" 2>/dev/null || true; done
		wait 2>/dev/null || true
		ip netns del "$A" 2>/dev/null || true
		ip netns del "$NB" 2>/dev/null || true
		rm -rf "$www"
	}
	trap cleanup EXIT
	ip netns add "$A"
	ip netns add "$NB"
	ip -n "$A" link set lo up
	ip -n "$NB" link set lo up
	echo "== namespaces: $A (clients) and $NB (server), loopback only"
	ip netns exec "$NB" python3 -m http.server -d "$www" --bind 127.0.0.1 8080 \
		>/dev/null 2>&1 &
	pids="$pids $!"
	listen_ns=/run/netns/$A
	connect_ns=/run/netns/$NB
	in_a="ip netns exec $A"
else
	# Not root: one user namespace, the current netns as A, a child netns as B.
	if [ "${NTB_DEMO_INNER:-}" != 1 ]; then
		export NTB_DEMO_INNER=1
		exec unshare -Urn "$0" "$@"
	fi
	cleanup() {
		for p in $pids; do kill "$p" 2>/dev/null || true; done
		wait 2>/dev/null || true
		rm -rf "$www"
	}
	trap cleanup EXIT
	ip link set lo up
	echo "== rootless: user namespace, namespace A = ours, B = a child netns"
	unshare -n sh -c "ip link set lo up; exec python3 -m http.server -d '$www' --bind 127.0.0.1 8080 >/dev/null 2>&1" &
	srv=$!
	pids="$pids $srv"
	sleep 0.5
	listen_ns=/proc/self/ns/net
	connect_ns=/proc/$srv/ns/net
	in_a=""
fi

# Wait for the server (rootless: no ip netns to look into, so just wait).
if [ -n "$in_a" ]; then
	for _ in $(seq 1 50); do
		ip netns exec "$NB" ss -Hltn 'sport = :8080' | grep -q . && break
		sleep 0.1
	done
else
	sleep 1
fi
echo "== from A without the bridge:"
$in_a curl -sS --max-time 3 http://127.0.0.1:8080/ 2>&1 | sed 's/^/   /' || true

echo "== starting: netns-tcp-bridge -l 127.0.0.1:9000 -f $listen_ns -c 127.0.0.1:8080 -t $connect_ns"
"$B/netns-tcp-bridge" -l 127.0.0.1:9000 -f "$listen_ns" -c 127.0.0.1:8080 -t "$connect_ns" &
pids="$pids $!"
sleep 0.2
ok=""
for _ in $(seq 1 50); do
	if out=$($in_a curl -sS --max-time 5 http://127.0.0.1:9000/index.html 2>/dev/null); then
		ok=1
		break
	fi
	sleep 0.1
done
echo "== from A through the bridge: curl http://127.0.0.1:9000/index.html"
echo "   $out"
[ -n "$ok" ] || { echo "!! demo failed"; exit 1; }
echo "== the bridge's processes once serving:"
for p in $(pgrep -P "$(echo $pids | awk '{print $NF}')") $(echo $pids | awk '{print $NF}'); do
	printf '   %-16s pid %-6s %s\n' "$(cat /proc/$p/comm)" "$p" \
		"$(grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/$p/status | tr -s '\t' ' ' | tr '\n' ' ')"
done
echo "== demo OK; cleaning up"
