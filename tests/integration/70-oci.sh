#!/usr/bin/env bash
# ntb-oci-hook: with a real OCI runtime (runc, from Debian), and by hand
# exactly as a runtime calls it (state JSON on stdin).  The runtime and
# the hook run inside namespace A, which plays the host.
. "$(dirname "$0")/../lib.sh"
ns_setup || { echo "FAIL $SUITE: cannot create network namespaces"; exit 1; }

HOOK=$B/ntb-oci-hook

# state ID STATUS [PID [ANNOTATIONS-JSON]]: a container state document.
state() {
	printf '{"ociVersion":"1.0.2","id":"%s","status":"%s"%s,"bundle":"/nonexistent"%s}' \
		"$1" "$2" "${3:+,\"pid\":$3}" "${4:+,\"annotations\":$4}"
}

# holder: a process holding namespace B, as a container's init would.
holder() {
	bg ip netns exec "$NSB" sleep 60
	HOLDER=$LAST_PID
	sleep 0.2
}

# pair_pids ID: the launchers the hook recorded for container ID.
pair_pids() {
	tr ' ' '\n' <"$T/st/$1.pids" | grep -v '^0$'
}

t_by_hand_publish_expose() {
	holder
	server "$NSB" 127.0.0.1 8901 whoami
	server "$NSA" 127.0.0.1 8902 whoami
	start=$(date +%s%N)
	state c1 creating "$HOLDER" '{"org.netns-tcp-bridge.publish":"127.0.0.1:9903-9904=127.0.0.1:8901-8901"}' |
		in_a "$HOOK" --publish 127.0.0.1:9901=127.0.0.1:8901 --expose 127.0.0.1:7902=127.0.0.1:8902 \
			--state-dir "$T/st" 2>"$T/hook.err" && true
	ms=$((($(date +%s%N) - start) / 1000000))
	assert_match "$(cat "$T/hook.err")" "listening ports but" "range mismatch refused"
	# Now a good one: the range pairs 2 with 2.
	start=$(date +%s%N)
	state c1 creating "$HOLDER" '{"org.netns-tcp-bridge.publish":"127.0.0.1:9903=127.0.0.1:8901"}' |
		in_a "$HOOK" --publish 127.0.0.1:9901=127.0.0.1:8901 --expose 127.0.0.1:7902=127.0.0.1:8902 \
			--state-dir "$T/st" 2>"$T/hook.err" || fail "hook failed: $(cat "$T/hook.err")"
	ms=$((($(date +%s%N) - start) / 1000000))
	[ $ms -lt 2000 ] || fail "the hook took $ms ms"
	# Ports are up as the hook returns: no waiting.
	out=$(in_a $PEER client 127.0.0.1 9901 read) || fail "publish: $out"
	assert_eq "$out" "PORT 8901" "publish from --publish"
	out=$(in_a $PEER client 127.0.0.1 9903 read) || fail "publish (annotation): $out"
	assert_eq "$out" "PORT 8901" "publish from the annotation"
	out=$(ip netns exec "$NSB" $PEER client 127.0.0.1 7902 read) || fail "expose: $out"
	assert_eq "$out" "PORT 8902" "expose"
	pids=$(pair_pids c1)
	for p in $pids; do
		assert_eq "$(cat /proc/$p/comm)" netns-tcp-bridg "launcher $p"
		# Detached: a session of its own, no terminal.
		assert_eq "$(awk '{print $6}' /proc/$p/stat)" "$p" "session of $p"
	done
	# The container's init exits: the pairs follow within 2 s.
	kill "$HOLDER"
	for p in $pids; do wait_gone "$p" 2 || fail "launcher $p outlived the container"; done
	# poststop: idempotent, even with nothing left to stop.
	state c1 stopped | "$HOOK" --state-dir "$T/st" || fail "poststop failed"
	[ -e "$T/st/c1.pids" ] && fail "state file left behind"
	state c1 stopped | "$HOOK" --state-dir "$T/st" || fail "second poststop failed"
}

t_by_hand_proxy() {
	# --proxy-protocol reaches the launchers the hook starts: the target
	# gets the client's addresses in a PROXY v1 line first.
	holder
	server "$NSB" 127.0.0.1 8911 firstline
	state c3 creating "$HOLDER" |
		in_a "$HOOK" --publish 127.0.0.1:9911=127.0.0.1:8911 --proxy-protocol v1 \
			--state-dir "$T/st" 2>"$T/hook.err" || fail "hook failed: $(cat "$T/hook.err")"
	out=$(in_a $PEER client 127.0.0.1 9911 read) || fail "client: $out"
	assert_match "$out" "^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 [0-9]+ 9911$" "what the target read first"
	state c3 stopped | "$HOOK" --state-dir "$T/st" || fail "poststop failed"
}

t_poststop_stops() {
	holder
	state c2 creating "$HOLDER" | in_a "$HOOK" --publish 127.0.0.1:9911=127.0.0.1:8911 \
		--state-dir "$T/st" || fail "hook failed"
	pids=$(pair_pids c2)
	state c2 stopped "$HOLDER" | "$HOOK" --state-dir "$T/st" || fail "poststop failed"
	for p in $pids; do wait_gone "$p" 2 || fail "launcher $p still running after poststop"; done
	in_a ss -Hltn 'sport = :9911' | grep -q . && fail "port still bound"
	return 0
}

# bad WHAT PATTERN [HOOK-ARGS...] < STATE: exit 1 or 2, one line, nothing left.
bad() {
	local what=$1 pattern=$2 rc err
	shift 2
	err=$(in_a timeout 5 "$HOOK" --state-dir "$T/st" "$@" 2>&1 >/dev/null)
	rc=$?
	[ $rc = 1 ] || [ $rc = 2 ] || fail "$what: exit status $rc"
	assert_one_line "$err" "$what: stderr"
	assert_match "$err" "$pattern" "$what"
}

t_by_hand_bad_input() {
	holder
	bad "bad JSON" "bad container state" --publish 127.0.0.1:9921=127.0.0.1:1 <<<'{"id": "x", '
	bad "not an object" "not a JSON object" --publish 127.0.0.1:9921=127.0.0.1:1 <<<'[1,2]'
	bad "no id" "no \"id\" string" <<<'{"pid": 1}'
	bad "id with a slash" "is not a plain name" <<<'{"id": "../x", "pid": 1}'
	bad "no pid" "no \"pid\"" --publish 127.0.0.1:9921=127.0.0.1:1 <<<'{"id": "c3", "status": "creating"}'
	bad "malformed spec" "expected LISTEN=TARGET" --publish 127.0.0.1:9921 < <(state c3 creating "$HOLDER")
	bad "malformed address" "bad forward" --expose 'x:1=127.0.0.1:1' < <(state c3 creating "$HOLDER")
	bad "malformed annotation" "bad forward .* in org.netns-tcp-bridge.publish" \
		< <(state c3 creating "$HOLDER" '{"org.netns-tcp-bridge.publish":"127.0.0.1:1=nowhere"}')
	head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big.json"
	bad "oversized state" "more than 65536 bytes" <"$T/big.json"
	# A port in use: the launcher's own line, and nothing left running.
	server "$NSA" 127.0.0.1 9922 echo
	bad "port in use" "cannot bind 127.0.0.1:9922: Address already in use" \
		--publish 127.0.0.1:9922=127.0.0.1:1 < <(state c4 creating "$HOLDER")
	[ -e "$T/st/c4.pids" ] && fail "a failed start was recorded"
	sleep 0.3
	for p in $(pgrep -x netns-tcp-bridg) $(pgrep -x ntb-listen) $(pgrep -x ntb-connect); do
		grep -q "9922" /proc/$p/cmdline 2>/dev/null && fail "process $p left running"
	done
	return 0
}

t_runc() {
	# A real container: busybox-static rootfs, its own network namespace,
	# the hook at createRuntime and poststop in config.json.
	local b=$T/bundle id=ntbt-$$
	mkdir -p "$b/rootfs/bin" "$b/rootfs/www" "$b/rootfs/proc" "$b/rootfs/dev" "$b/rootfs/sys" \
		"$b/rootfs/tmp" "$T/www"
	cp /bin/busybox "$b/rootfs/bin/"
	for a in sh httpd ip wget cat sleep; do ln -s busybox "$b/rootfs/bin/$a"; done
	echo hello-from-the-container >"$b/rootfs/www/index.html"
	echo hello-from-the-host >"$T/www/host.html"
	bg ip netns exec "$NSA" python3 -m http.server -d "$T/www" --bind 127.0.0.1 8931
	wait_listen "$NSA" 8931
	(cd "$b" && runc spec) || fail "runc spec failed"
	python3 - "$b/config.json" "$HOOK" "$T/st" <<-'EOF'
	import json, sys
	path, hook, st = sys.argv[1:4]
	c = json.load(open(path))
	c["process"]["terminal"] = False
	c["process"]["args"] = ["/bin/sh", "-c",
	    "ip link set lo up && exec httpd -f -p 127.0.0.1:8080 -h /www"]
	for k in ("bounding", "effective", "permitted"):
	    c["process"]["capabilities"][k].append("CAP_NET_ADMIN")
	c["annotations"] = {"org.netns-tcp-bridge.expose": "127.0.0.1:7931=127.0.0.1:8931"}
	c["hooks"] = {
	    "createRuntime": [{"path": hook, "args": ["ntb-oci-hook", "--publish",
	                       "127.0.0.1:9931=127.0.0.1:8080", "--state-dir", st]}],
	    "poststop": [{"path": hook, "args": ["ntb-oci-hook", "--state-dir", st]}],
	}
	json.dump(c, open(path, "w"), indent=1)
	EOF
	# nsenter, not ip netns exec: that one remounts /sys, and with it the
	# cgroup mounts runc needs.
	nsenter --net="/run/netns/$NSA" runc --root "$T/runc" run -d --bundle "$b" "$id" \
		</dev/null >"$T/runc.out" 2>&1 ||
		fail "runc run failed: $(cat "$T/runc.out")"
	echo "runc --root $T/runc delete -f $id" >"$T/cleanup"
	# Published: the container's httpd from the host's side.
	for _ in $(seq 1 50); do
		out=$(in_a curl -sS --max-time 2 http://127.0.0.1:9931/ 2>/dev/null) && break
		sleep 0.1
	done
	assert_eq "$out" "hello-from-the-container" "published port"
	# Exposed: the host's server from inside the container.
	out=$(runc --root "$T/runc" exec "$id" wget -qO- http://127.0.0.1:7931/host.html 2>&1)
	assert_eq "$out" "hello-from-the-host" "exposed port"
	pids=$(pair_pids "$id")
	[ -n "$pids" ] || fail "no launcher recorded"
	# Stopped: the pairs are gone within 2 s, the state with them.
	runc --root "$T/runc" kill "$id" KILL
	for p in $pids; do wait_gone "$p" 2 || fail "launcher $p outlived the container"; done
	nsenter --net="/run/netns/$NSA" runc --root "$T/runc" delete "$id" || fail "runc delete failed"
	[ -e "$T/st/$id.pids" ] && fail "poststop left the state file"
	in_a ss -Hltn 'sport = :9931' | grep -q . && fail "published port still bound"
	return 0
}

run_test by_hand_publish_expose t_by_hand_publish_expose
run_test by_hand_poststop_stops t_poststop_stops
run_test by_hand_bad_input t_by_hand_bad_input
run_test by_hand_proxy_protocol t_by_hand_proxy
run_test runc_container t_runc
[ -f "$T/cleanup" ] && bash "$T/cleanup" >/dev/null 2>&1
exit 0
