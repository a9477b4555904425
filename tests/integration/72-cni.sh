#!/usr/bin/env bash
# ntb-portmap, the chained CNI plugin: run by hand exactly as a runtime
# runs it (CNI_* in the environment, the network configuration on stdin),
# then under podman 4.3's CNI backend behind the bridge plugin.  The
# plugin (and podman) run inside namespace A, which plays the host;
# namespace B plays the container.
. "$(dirname "$0")/../lib.sh"
ns_setup || { echo "FAIL $SUITE: cannot create network namespaces"; exit 1; }

PM=$B/ntb-portmap
ST=$T/st		# the plugin's state directory (stateDir)

# conf VERSION MAPPINGS-JSON [EXTRA-KEYS]: a network configuration as a
# runtime passes it to the second plugin of a conflist.
conf() {
	local prev
	if [ "$1" = 0.4.0 ]; then
		prev='{"cniVersion":"0.4.0","interfaces":[{"name":"eth0"}],"ips":[{"version":"4","address":"10.199.0.5/24","interface":0}],"dns":{}}'
	else
		prev='{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.199.0.5/24","interface":0}],"dns":{}}'
	fi
	printf '{"cniVersion":"%s","name":"ntbt","type":"ntb-portmap","stateDir":"%s"%s,"runtimeConfig":{"portMappings":%s},"prevResult":%s}' \
		"$1" "$ST" "${3:+,$3}" "$2" "$prev"
}

# cni COMMAND ID [NETNS]: the plugin in namespace A; stdin is the configuration.
cni() {
	in_a env -i PATH="$PATH" CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_IFNAME=eth0 \
		${3:+CNI_NETNS="$3"} CNI_PATH=/usr/lib/cni "$PM"
}

# launcher ID: the pid recorded for container ID (eth0), or nothing.
launcher() {
	awk '{ print $1 }' "$ST/$1@eth0" 2>/dev/null
}

# gone PID: exited (a zombie left to an init that does not reap counts).
gone() {
	local s
	for _ in $(seq 1 60); do
		s=$(awk '{ print $3 }' /proc/"$1"/stat 2>/dev/null)
		[ -z "$s" ] || [ "$s" = Z ] && return 0
		sleep 0.05
	done
	return 1
}

# agents PID: the launcher's children (ntb-listen, ntb-connect).
agents() {
	children "$1"
}

# seen PID...: launchers a test found, to stop if it fails with them running.
seen() {
	echo "$@" >>"$T/launchers"
}

# stop_recorded: what a failed test left running, by record or as seen.
stop_recorded() {
	local f p
	for f in "$ST"/*@*; do
		[ -f "$f" ] && awk '{ print $1 }' "$f" >>"$T/launchers"
		rm -f "$f"
	done
	for p in $(cat "$T/launchers" 2>/dev/null); do
		[ "$(cat /proc/"$p"/comm 2>/dev/null)" = netns-tcp-bridg ] && kill "$p"
	done
	rm -f "$T/launchers"
}

# cleaned TEST: run it; whatever it leaves recorded is stopped as it ends.
cleaned() {
	trap stop_recorded EXIT
	"$@"
}

# cni_error OUTPUT CODE PATTERN: one JSON line, the CNI error result.
cni_error() {
	assert_one_line "$1" "the error result"
	printf '%s' "$1" | python3 -c '
import json, re, sys
r = json.loads(sys.stdin.read())
want_code, pattern = int(sys.argv[1]), sys.argv[2]
assert set(r) <= {"cniVersion", "code", "msg", "details"}, r
assert r["code"] == want_code, "code %s, want %s: %s" % (r["code"], want_code, r)
assert re.search(pattern, r["msg"]), "msg %r does not match %r" % (r["msg"], pattern)
assert r["cniVersion"] in ("0.4.0", "1.0.0"), r
' "$2" "$3" || fail "not the CNI error result (code $2, /$3/): $1"
}

# same_json A B: the same JSON document.
same_json() {
	python3 -c 'import json, sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))' "$1" "$2" ||
		fail "${3:-result}: expected $2, got $1"
}

t_version() {
	out=$(printf '{"cniVersion":"1.0.0"}' | cni VERSION x) || fail "VERSION failed: $out"
	same_json "$out" '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}' "VERSION"
	out=$(printf '{"cniVersion":"0.4.0"}' | cni VERSION x) || fail "VERSION failed: $out"
	same_json "$out" '{"cniVersion":"0.4.0","supportedVersions":["0.4.0","1.0.0"]}' "VERSION 0.4.0"
}

# add_check_del VERSION PORT: the whole life of one container's mappings.
add_check_del() {
	local v=$1 port=$2 c out pid ag p
	c=c-$v
	server "$NSB" 127.0.0.1 8901 whoami
	conf "$v" "[{\"hostPort\":$port,\"containerPort\":8901,\"protocol\":\"tcp\",\"hostIP\":\"\"}]" >"$T/conf"
	out=$(cni ADD $c "/run/netns/$NSB" <"$T/conf") || fail "ADD $v failed: $out"
	# prevResult passed on unchanged.
	same_json "$out" "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["prevResult"]))' "$T/conf")" "ADD $v result"
	# Served as ADD returns, on IPv4 and IPv6, from the container's loopback.
	out=$(in_a $PEER client 127.0.0.1 "$port" read) || fail "IPv4 client: $out"
	assert_eq "$out" "PORT 8901" "served on 127.0.0.1:$port"
	out=$(in_a $PEER client ::1 "$port" read) || fail "IPv6 client: $out"
	assert_eq "$out" "PORT 8901" "served on [::1]:$port"
	pid=$(launcher $c)
	[ -n "$pid" ] || fail "no launcher recorded"
	seen "$pid"
	assert_eq "$(awk '/^Uid:/ { print $3 }' /proc/"$pid"/status)" "$(id -u nobody)" "launcher's uid"
	assert_eq "$(awk '{ print $6 }' /proc/"$pid"/stat)" "$pid" "launcher's session"
	ag=$(agents "$pid")
	[ -n "$ag" ] || fail "launcher $pid has no agents"
	out=$(cni CHECK $c "/run/netns/$NSB" <"$T/conf") || fail "CHECK $v failed: $out"
	assert_eq "$out" "" "CHECK output"
	out=$(cni DEL $c "/run/netns/$NSB" <"$T/conf") || fail "DEL $v failed: $out"
	for p in $pid $ag; do gone "$p" || fail "process $p outlived DEL"; done
	[ -e "$ST/$c@eth0" ] && fail "DEL left the record"
	in_a ss -Hltn "sport = :$port" | grep -q . && fail "port $port still bound after DEL"
	out=$(cni DEL $c "/run/netns/$NSB" <"$T/conf") || fail "second DEL failed: $out"
	out=$(cni CHECK $c "/run/netns/$NSB" <"$T/conf") && fail "CHECK after DEL succeeded"
	cni_error "$out" 102 "not running"
}

t_add_check_del_1_0_0() {
	add_check_del 1.0.0 9801
}

t_add_check_del_0_4_0() {
	add_check_del 0.4.0 9802
}

t_container_loopback_and_host_ip() {
	# hostIP names one address; the container's server listens on its
	# own 127.0.0.1 only.
	# (Two workers: one per two CPUs would give one on a small machine.)
	server "$NSB" 127.0.0.1 8903 whoami
	conf 1.0.0 '[{"hostPort":9803,"containerPort":8903,"protocol":"tcp","hostIP":"127.0.0.1"}]' '"workers":2' >"$T/conf"
	out=$(cni ADD c3 "/run/netns/$NSB" <"$T/conf") || fail "ADD failed: $out"
	out=$(in_a $PEER client 127.0.0.1 9803 read) || fail "client: $out"
	assert_eq "$out" "PORT 8903" "served on 127.0.0.1:9803"
	assert_eq "$(in_a ss -Hltn 'sport = :9803' | awk '{ print $4 }')" "127.0.0.1:9803" "what listens"
	cni DEL c3 "/run/netns/$NSB" <"$T/conf" || fail "DEL failed"
	# An IPv6 hostIP: its clients reach the container's IPv4 loopback.
	conf 1.0.0 '[{"hostPort":9807,"containerPort":8903,"protocol":"tcp","hostIP":"::1"}]' >"$T/conf"
	out=$(cni ADD c3 "/run/netns/$NSB" <"$T/conf") || fail "ADD (::1) failed: $out"
	out=$(in_a $PEER client ::1 9807 read) || fail "client: $out"
	assert_eq "$out" "PORT 8903" "served on [::1]:9807"
	assert_eq "$(in_a ss -Hltn 'sport = :9807' | awk '{ print $4 }')" "[::1]:9807" "what listens"
	cni DEL c3 "/run/netns/$NSB" <"$T/conf" || fail "DEL failed"
}

t_bad_input() {
	local out
	out=$(printf '{"cniVersion":"1.0.0",' | cni ADD c4 "/run/netns/$NSB") && fail "bad JSON accepted"
	cni_error "$out" 6 "bad network configuration"
	out=$(printf '[1]' | cni ADD c4 "/run/netns/$NSB") && fail "a JSON array accepted"
	cni_error "$out" 6 "not a JSON object"
	conf 1.0.0 '[{"hostPort":9804,"containerPort":8904,"protocol":"tcp"}]' >"$T/conf"
	out=$(cni ADD c4 <"$T/conf") && fail "ADD without CNI_NETNS accepted"
	cni_error "$out" 4 "^CNI_NETNS is not set"
	out=$(in_a env -i CNI_CONTAINERID=c4 CNI_IFNAME=eth0 CNI_NETNS="/run/netns/$NSB" "$PM" <"$T/conf") &&
		fail "no CNI_COMMAND accepted"
	cni_error "$out" 4 "^CNI_COMMAND is not set"
	out=$(in_a env -i CNI_COMMAND=ADD CNI_CONTAINERID=../x CNI_IFNAME=eth0 CNI_NETNS="/run/netns/$NSB" "$PM" <"$T/conf") &&
		fail "a container id with a slash accepted"
	cni_error "$out" 4 "CNI_CONTAINERID '../x' is not a plain name"
	out=$(in_a env -i CNI_COMMAND=ADD CNI_CONTAINERID=c4 CNI_NETNS="/run/netns/$NSB" "$PM" <"$T/conf") &&
		fail "no CNI_IFNAME accepted"
	cni_error "$out" 4 "^CNI_IFNAME is not set"
	conf 0.3.1 '[]' >"$T/conf"
	out=$(cni ADD c4 "/run/netns/$NSB" <"$T/conf") && fail "cniVersion 0.3.1 accepted"
	cni_error "$out" 1 "cniVersion 0.3.1 is not supported"
	conf 1.0.0 '[{"hostPort":70000,"containerPort":8904,"protocol":"tcp"}]' >"$T/conf"
	out=$(cni ADD c4 "/run/netns/$NSB" <"$T/conf") && fail "port 70000 accepted"
	cni_error "$out" 7 "hostPort 70000 is not a port"
	conf 1.0.0 '[{"hostPort":9804,"containerPort":8904,"protocol":"tcp","hostIP":"localhost"}]' >"$T/conf"
	out=$(cni ADD c4 "/run/netns/$NSB" <"$T/conf") && fail "hostIP localhost accepted"
	cni_error "$out" 7 "hostIP 'localhost' is not an IPv4 or IPv6 address"
	conf 1.0.0 '[]' '"workers":0' >"$T/conf"
	out=$(cni ADD c4 "/run/netns/$NSB" <"$T/conf") && fail "workers 0 accepted"
	cni_error "$out" 7 "workers 0 is not 1 to 64"
	conf 1.0.0 '[]' '"proxyProtocol":"v3"' >"$T/conf"
	out=$(cni ADD c4 "/run/netns/$NSB" <"$T/conf") && fail "proxyProtocol v3 accepted"
	cni_error "$out" 7 "proxyProtocol 'v3' is not v1 or v2"
	conf 1.0.0 '[]' '"user":"no-such-user-ntb"' >"$T/conf"
	out=$(cni ADD c4 "/run/netns/$NSB" <"$T/conf") && fail "an unknown user accepted"
	cni_error "$out" 7 "no such user"
	# udp: refused unless the configuration says to pass it over.
	conf 1.0.0 '[{"hostPort":9805,"containerPort":53,"protocol":"udp"}]' >"$T/conf"
	out=$(cni ADD c4 "/run/netns/$NSB" <"$T/conf") && fail "a udp mapping accepted"
	cni_error "$out" 7 "udp port 9805 is not forwarded by ntb-portmap"
	conf 1.0.0 '[{"hostPort":9805,"containerPort":53,"protocol":"udp"}]' '"udp":"ignore"' >"$T/conf"
	out=$(cni ADD c4 "/run/netns/$NSB" <"$T/conf") || fail "udp ignored failed: $out"
	assert_match "$out" '"ips":' "result with udp ignored"
	[ -e "$ST/c4@eth0" ] && fail "a launcher recorded for udp only"
	# A namespace that is not one: the launcher's line, nothing left.
	conf 1.0.0 '[{"hostPort":9806,"containerPort":8906,"protocol":"tcp"}]' >"$T/conf"
	out=$(cni ADD c4 /etc/hostname <"$T/conf") && fail "ADD with a file for a netns succeeded"
	cni_error "$out" 101 "cannot start the port mappings of container c4: .*/etc/hostname"
	[ -e "$ST/c4@eth0" ] && fail "a failed ADD left a record"
	in_a ss -Hltn 'sport = :9806' | grep -q . && fail "a failed ADD left port 9806 bound"
	return 0
}

t_port_in_use() {
	local out
	server "$NSA" 0.0.0.0 9811 whoami
	server "$NSB" 127.0.0.1 8911 whoami
	conf 1.0.0 '[{"hostPort":9812,"containerPort":8911,"protocol":"tcp"},{"hostPort":9811,"containerPort":8911,"protocol":"tcp"}]' >"$T/conf"
	out=$(cni ADD c5 "/run/netns/$NSB" <"$T/conf") && fail "ADD on a port in use succeeded"
	cni_error "$out" 100 "^host port 9811 is already in use"
	# Nothing left: no record, the free port of the same ADD not bound.
	[ -e "$ST/c5@eth0" ] && fail "a failed ADD left a record"
	in_a ss -Hltn 'sport = :9812' | grep -q . && fail "port 9812 bound after the failed ADD"
	# ADD twice without DEL: refused, the first one untouched.
	conf 1.0.0 '[{"hostPort":9812,"containerPort":8911,"protocol":"tcp"}]' >"$T/conf"
	cni ADD c5 "/run/netns/$NSB" <"$T/conf" >/dev/null || fail "ADD failed"
	out=$(cni ADD c5 "/run/netns/$NSB" <"$T/conf") && fail "second ADD succeeded"
	cni_error "$out" 103 "already has its port mappings"
	out=$(in_a $PEER client 127.0.0.1 9812 read) || fail "client: $out"
	assert_eq "$out" "PORT 8911" "the first ADD's mapping"
	cni DEL c5 "/run/netns/$NSB" <"$T/conf" || fail "DEL failed"
}

t_del_after_netns_gone() {
	local ns=ntbt-$$-c out pid
	ip netns add "$ns" || fail "cannot create $ns"
	ip -n "$ns" link set lo up
	bg ip netns exec "$ns" $PEER server 127.0.0.1 8921 whoami
	wait_listen "$ns" 8921
	conf 1.0.0 '[{"hostPort":9821,"containerPort":8921,"protocol":"tcp"}]' >"$T/conf"
	out=$(cni ADD c6 "/run/netns/$ns" <"$T/conf") || { ip netns del "$ns"; fail "ADD failed: $out"; }
	pid=$(launcher c6)
	seen "$pid"
	ip netns del "$ns"
	# The runtime removed the namespace before DEL: DEL still stops it.
	out=$(cni DEL c6 "/run/netns/$ns" <"$T/conf") || fail "DEL after the netns went failed: $out"
	gone "$pid" || fail "launcher $pid outlived DEL"
	[ -e "$ST/c6@eth0" ] && fail "DEL left the record"
	# DEL of what was never added, and with no CNI_NETNS at all.
	out=$(cni DEL never-added <"$T/conf") || fail "DEL without ADD failed: $out"
	assert_eq "$out" "" "DEL output"
	# A recycled pid in a record is never signalled: the start time
	# differs, even where the name is the launcher's.
	mkdir -p "$ST"
	cp "$(command -v sleep)" "$T/netns-tcp-bridge"
	bg "$T/netns-tcp-bridge" 30
	sleep 0.1
	assert_eq "$(cat /proc/"$LAST_PID"/comm)" netns-tcp-bridg "the impostor's name"
	echo "$LAST_PID 1" >"$ST/c7@eth0"
	cni DEL c7 <"$T/conf" || fail "DEL of a stale record failed"
	kill -0 "$LAST_PID" || fail "DEL signalled a process that is not its launcher"
	[ -e "$ST/c7@eth0" ] && fail "DEL left the stale record"
	return 0
}

# --- podman 4.3, CNI backend: bridge (host-local, no ipMasq) + ntb-portmap.
ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

t_podman() {
	local net=ntbt$$ out pids p name=ntbc-$$
	command -v podman >/dev/null || fail "podman is not installed"
	mkdir -p "$T/rootfs/bin" "$T/rootfs/www" "$T/rootfs/proc" "$T/rootfs/dev" "$T/rootfs/sys" \
		"$T/rootfs/tmp" "$T/rootfs/etc" "$T/cni" "$T/plugins"
	cp /bin/busybox "$T/rootfs/bin/"
	for a in sh httpd sleep; do ln -sf busybox "$T/rootfs/bin/$a"; done
	echo hello-from-cni >"$T/rootfs/www/index.html"
	for p in bridge host-local loopback; do ln -s "/usr/lib/cni/$p" "$T/plugins/$p"; done
	ln -s "$PM" "$T/plugins/ntb-portmap"
	cat >"$T/cni/$net.conflist" <<-EOF
	{"cniVersion": "1.0.0", "name": "$net", "plugins": [
	  {"type": "bridge", "bridge": "ntbt$$", "isGateway": true, "ipMasq": false,
	   "ipam": {"type": "host-local", "dataDir": "$T/ipam", "ranges": [[{"subnet": "10.199.0.0/24"}]]}},
	  {"type": "ntb-portmap", "capabilities": {"portMappings": true}, "stateDir": "$ST"}]}
	EOF
	# podman reserves published ports itself unless told not to: the
	# plugin listens on them.
	cat >"$T/containers.conf" <<-EOF
	[network]
	cni_plugin_dirs = ["$T/plugins"]
	[engine]
	enable_port_reservation = false
	EOF
	P=(env CONTAINERS_CONF="$T/containers.conf" nsenter --net="/run/netns/$NSA" podman
	   --root "$T/p/root" --runroot "$T/p/runroot" --tmpdir "$T/p/tmp" --storage-driver vfs
	   --cgroup-manager cgroupfs --events-backend file --runtime runc
	   --network-backend cni --cni-config-dir "$T/cni")
	echo "${P[*]} rm -f -t 0 $name $name-lo" >>"$T/cleanup"
	# podman's CNI cache (libcni's /var/lib/cni) has no option: made by
	# this test, removed by it.
	[ -e /var/lib/cni ] || echo "rm -rf /var/lib/cni" >>"$T/cleanup"
	"${P[@]}" run -d --name "$name" --network "$net" -p 18090:80 "${ULIMITS[@]}" \
		--rootfs "$T/rootfs" /bin/httpd -f -p 80 -h /www >"$T/podman.out" 2>&1 ||
		fail "podman run failed: $(cat "$T/podman.out")"
	# The container's server listens on its own 127.0.0.1 only.
	"${P[@]}" run -d --name "$name-lo" --network "$net" -p 127.0.0.1:18091:80 "${ULIMITS[@]}" \
		--rootfs "$T/rootfs" /bin/httpd -f -p 127.0.0.1:80 -h /www >"$T/podman.out" 2>&1 ||
		fail "podman run (loopback server) failed: $(cat "$T/podman.out")"
	gw=$(in_a ip -4 -o addr show dev "ntbt$$" | awk '{ sub("/.*", "", $4); print $4 }')
	for url in "http://127.0.0.1:18090/" "http://$gw:18090/" "http://127.0.0.1:18091/"; do
		out=$(in_a curl -sS --max-time 3 "$url" 2>&1)
		assert_eq "$out" "hello-from-cni" "$url"
	done
	pids=$(cat "$ST"/*@* 2>/dev/null | awk '{ print $1 }')
	seen $pids
	assert_eq "$(echo $pids | wc -w)" 2 "launchers recorded"
	for p in $pids; do pids="$pids $(agents "$p")"; done
	"${P[@]}" stop -t 1 "$name" "$name-lo" >"$T/podman.out" 2>&1 || fail "podman stop failed: $(cat "$T/podman.out")"
	for p in $pids; do gone "$p" || fail "process $p outlived podman stop"; done
	[ -n "$(ls -A "$ST")" ] && fail "state left after podman stop: $(ls -A "$ST")"
	in_a ss -Hltn 'sport = :18090 or sport = :18091' | grep -q . && fail "ports still bound after podman stop"
	"${P[@]}" rm "$name" "$name-lo" >"$T/podman.out" 2>&1 || fail "podman rm failed: $(cat "$T/podman.out")"
	return 0
}

run_test version cleaned t_version
run_test add_check_del_1.0.0 cleaned t_add_check_del_1_0_0
run_test add_check_del_0.4.0 cleaned t_add_check_del_0_4_0
run_test container_loopback_host_ip cleaned t_container_loopback_and_host_ip
run_test bad_input cleaned t_bad_input
run_test port_in_use cleaned t_port_in_use
run_test del_after_netns_gone cleaned t_del_after_netns_gone
run_test podman_cni cleaned t_podman
[ -f "$T/cleanup" ] && bash "$T/cleanup" >/dev/null 2>&1
exit 0
