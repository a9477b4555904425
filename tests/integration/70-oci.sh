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
# A record is "PID START PID START", 0 0 for a direction not used.
pair_pids() {
	awk '{ if ($1) print $1; if ($3) print $3 }' "$T/st/$1.pids"
}

# start_time PID: the process's start time (field 22 of /proc/PID/stat),
# as the hook records it.
start_time() {
	sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | awk '{ print $20 }'
}

# stop_recorded: after each test, stop every launcher a record of the
# hook's still names (a test that failed before its poststop leaves them
# detached, in sessions of their own), and its agents: by PID, and only a
# PID that still has the start time recorded.  Then the records go.
stop_recorded() {
	local f pid_start pid start p pids=""
	for f in "$T"/st/*.pids; do
		[ -f "$f" ] && [ ! -L "$f" ] || continue
		for pid_start in $(awk '{ print $1 ":" $2; print $3 ":" $4 }' "$f"); do
			pid=${pid_start%:*} start=${pid_start#*:}
			[[ $pid =~ ^[1-9][0-9]*$ ]] && [ "$(start_time "$pid")" = "$start" ] || continue
			pids="$pids $pid $(children "$pid")"
		done
		rm -f "$f"
	done
	[ -n "$pids" ] || return 0
	for p in $pids; do kill "$p" 2>/dev/null; done
	for p in $pids; do wait_gone "$p" 2 || kill -9 "$p" 2>/dev/null; done
}

# oci_test NAME FUNCTION: run_test, then stop what the hook's records name.
oci_test() {
	run_test "$@"
	stop_recorded
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
	# Now a good one, two forwards in the annotation, separated by a space
	# (podman splits its annotation option's value at commas).
	start=$(date +%s%N)
	state c1 creating "$HOLDER" '{"org.netns-tcp-bridge.publish":"127.0.0.1:9903=127.0.0.1:8901 127.0.0.1:9905=127.0.0.1:8901"}' |
		in_a "$HOOK" --publish 127.0.0.1:9901=127.0.0.1:8901 --expose 127.0.0.1:7902=127.0.0.1:8902 \
			--allow-publish tcp://127.0.0.1:9903 --allow-publish tcp://127.0.0.1:9905 \
			--state-dir "$T/st" 2>"$T/hook.err" ||
		fail "hook failed: $(cat "$T/hook.err")"
	ms=$((($(date +%s%N) - start) / 1000000))
	[ $ms -lt 2000 ] || fail "the hook took $ms ms"
	# Ports are up as the hook returns: no waiting.
	out=$(in_a $PEER client 127.0.0.1 9901 read) || fail "publish: $out"
	assert_eq "$out" "PORT 8901" "publish from --publish"
	out=$(in_a $PEER client 127.0.0.1 9903 read) || fail "publish (annotation): $out"
	assert_eq "$out" "PORT 8901" "publish from the annotation"
	out=$(in_a $PEER client 127.0.0.1 9905 read) || fail "publish (annotation, second forward): $out"
	assert_eq "$out" "PORT 8901" "publish from the annotation's second forward"
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

t_pass_through() {
	# --accept-proxy and --transparent-source reach the launcher the hook
	# starts, and through it the agents.  --accept-proxy: the listener takes
	# the client's PROXY header off, so the target's first line is the
	# client's own.
	holder
	server "$NSB" 127.0.0.1 8912 firstline
	state c5 creating "$HOLDER" |
		in_a "$HOOK" --publish 127.0.0.1:9912=127.0.0.1:8912 --accept-proxy \
			--state-dir "$T/st" 2>"$T/hook.err" || fail "hook failed: $(cat "$T/hook.err")"
	p=$(pair_pids c5)
	assert_match "$(tr '\0' ' ' </proc/"$p"/cmdline)" " --accept-proxy( |$)" "launcher $p's command line"
	out=$(in_a python3 -c '
import socket
s = socket.create_connection(("127.0.0.1", 9912), timeout=10)
s.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 40001 9912\r\nhello\n")
s.shutdown(socket.SHUT_WR)
print(s.recv(300).decode().strip())') || fail "client: $out"
	assert_eq "$out" hello "the target's first line (the header taken off by ntb-listen)"
	state c5 stopped | "$HOOK" --state-dir "$T/st" || fail "poststop failed"
	# --transparent-source: ntb-connect refuses a loopback target (replies
	# to the clients' addresses would be dropped as martians), so the
	# launcher fails its start with that line, and the hook with it.
	server "$NSB" 127.0.0.1 8913 whoami
	err=$(state c6 creating "$HOLDER" |
		in_a "$HOOK" --publish 127.0.0.1:9913=127.0.0.1:8913 --transparent-source \
			--state-dir "$T/st" 2>&1 >/dev/null) && fail "a loopback target was started with --transparent-source"
	assert_match "$err" "--transparent-source: target 127\.0\.0\.1:8913 is a loopback address" "the hook's line"
	[ -e "$T/st/c6.pids" ] && fail "a failed start was recorded"
	left_running 9913
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

t_poststop_pid_zero() {
	# crun runs poststop with "pid": 0 (no process any more): a stop like
	# any other, not bad state.  A negative pid is still refused.
	holder
	state c9 creating "$HOLDER" | in_a "$HOOK" --publish 127.0.0.1:9912=127.0.0.1:8911 \
		--state-dir "$T/st" || fail "hook failed"
	pids=$(pair_pids c9)
	err=$(state c9 stopped 0 | "$HOOK" --state-dir "$T/st" 2>&1) || fail "poststop with pid 0 failed: $err"
	for p in $pids; do wait_gone "$p" 2 || fail "launcher $p still running after poststop"; done
	[ -e "$T/st/c9.pids" ] && fail "state file left behind"
	bad "negative pid" "is not a process id" --publish 127.0.0.1:9921=127.0.0.1:1 \
		<<<'{"id": "c9", "status": "creating", "pid": -1}'
	bad "pid 0 at create" "no \"pid\"" --publish 127.0.0.1:9921=127.0.0.1:1 \
		<<<'{"id": "c9", "status": "creating", "pid": 0}'
}

# bad WHAT PATTERN [HOOK-ARGS...] < STATE: exit 1 or 2, one line, nothing
# left; the line in $BAD_ERR.
bad() {
	local what=$1 pattern=$2 rc err
	shift 2
	err=$(in_a timeout 5 "$HOOK" --state-dir "$T/st" "$@" 2>&1 >/dev/null)
	rc=$?
	[ $rc = 1 ] || [ $rc = 2 ] || fail "$what: exit status $rc"
	assert_one_line "$err" "$what: stderr"
	assert_match "$err" "$pattern" "$what"
	BAD_ERR=$err
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
	# What a container's creator writes is refused before it is echoed.
	bad "null annotation" "bad annotation org\.netns-tcp-bridge\.publish: not a string" \
		< <(state c3 creating "$HOLDER" '{"org.netns-tcp-bridge.publish":null}')
	bad "number annotation" "bad annotation org\.netns-tcp-bridge\.expose: not a string" \
		< <(state c3 creating "$HOLDER" '{"org.netns-tcp-bridge.expose":8080}')
	bad "newline in an annotation" "bad annotation org\.netns-tcp-bridge\.publish: byte 5 is not printable ASCII" \
		< <(state c3 creating "$HOLDER" '{"org.netns-tcp-bridge.publish":"bogus\nFAKE LINE"}')
	bad "NUL in an annotation" "bad annotation org\.netns-tcp-bridge\.publish: byte 27 is not printable ASCII" \
		< <(state c3 creating "$HOLDER" '{"org.netns-tcp-bridge.publish":"127.0.0.1:8000=127.0.0.1:80\u0000,0.0.0.0:80=1.1.1.1:80"}')
	# The launcher takes 1024 ports at most: more are refused before any is checked.
	bad "too many ports" "too many ports to expose in org\.netns-tcp-bridge\.expose: at most 1024 in all" \
		< <(state c3 creating "$HOLDER" '{"org.netns-tcp-bridge.expose":"127.0.0.1:1000-2100=10.1.1.1:1000-2100"}')
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

t_two_launchers_fail() {
	# Both directions fail to bind: the hook's one line names one of them,
	# never the two glued into one.  Only the publish one fails: its line
	# comes at once, not as a time-out while the expose one is ready.
	holder
	server "$NSA" 127.0.0.1 9923 echo
	server "$NSB" 127.0.0.1 7923 echo
	bad "both fail" "cannot bind 127\.0\.0\.1:(9923|7923): Address already in use$" \
		--publish 127.0.0.1:9923=127.0.0.1:1 --expose 127.0.0.1:7923=127.0.0.1:1 \
		< <(state c10 creating "$HOLDER")
	n=$(grep -o "cannot bind" <<<"$BAD_ERR" | wc -l)
	assert_eq "$n" 1 "lines in the hook's message: $BAD_ERR"
	server "$NSA" 127.0.0.1 8924 echo
	bad "publish fails" "^ntb-oci-hook: cannot start the forwards of container c11: ntb-listen: cannot bind 127\.0\.0\.1:9923: Address already in use$" \
		--publish 127.0.0.1:9923=127.0.0.1:1 --expose 127.0.0.1:7924=127.0.0.1:8924 \
		< <(state c11 creating "$HOLDER")
	[ -e "$T/st/c10.pids" ] || [ -e "$T/st/c11.pids" ] && fail "a failed start was recorded"
	left_running 7924
}

# left_running PORT: fail if a process of ours still names PORT in its command line.
left_running() {
	local p
	sleep 0.3
	for p in $(pgrep -x netns-tcp-bridg) $(pgrep -x ntb-listen) $(pgrep -x ntb-connect); do
		grep -q "$1" /proc/$p/cmdline 2>/dev/null && fail "process $p left running ($1)"
	done
	return 0
}

t_annotation_needs_rule() {
	# Without --allow-* rules every annotation is refused: one line naming
	# the annotation, the forward and the option; nothing runs, no record.
	holder
	bad "publish, no rule" "refused forward '127.0.0.1:9941=127.0.0.1:8941' from annotation org\.netns-tcp-bridge\.publish: .*--allow-publish tcp://127\.0\.0\.1:9941" \
		< <(state c41 creating "$HOLDER" '{"org.netns-tcp-bridge.publish":"127.0.0.1:9941=127.0.0.1:8941"}')
	bad "expose, no rule" "refused forward '127.0.0.1:7941=192\.0\.2\.9:8941' from annotation org\.netns-tcp-bridge\.expose: .*--allow-expose tcp://192\.0\.2\.9:8941" \
		< <(state c41 creating "$HOLDER" '{"org.netns-tcp-bridge.expose":"127.0.0.1:7941=192.0.2.9:8941"}')
	# The administrator's own --publish beside it does not carry it through.
	bad "publish beside --publish" "from annotation org\.netns-tcp-bridge\.publish" \
		--publish 127.0.0.1:9942=127.0.0.1:8941 \
		< <(state c41 creating "$HOLDER" '{"org.netns-tcp-bridge.publish":"127.0.0.1:9941=127.0.0.1:8941"}')
	# A rule covers the exact listening address and every port of a range.
	bad "port outside the rule" "127\.0\.0\.1:9944: no rule covers it" \
		--allow-publish tcp://127.0.0.1:9941-9943 \
		< <(state c41 creating "$HOLDER" '{"org.netns-tcp-bridge.publish":"127.0.0.1:9942-9944=127.0.0.1:8941-8943"}')
	bad "0.0.0.0 needs a rule covering it" "listening address 0\.0\.0\.0:9941: no rule covers it" \
		--allow-publish tcp://127.0.0.0/8 \
		< <(state c41 creating "$HOLDER" '{"org.netns-tcp-bridge.publish":"0.0.0.0:9941=127.0.0.1:8941"}')
	bad "[::] takes IPv4 too" "listening address 0\.0\.0\.0:9941: taken too by a listen on \[::\]" \
		--allow-publish 'tcp://[::]/128:9941' \
		< <(state c41 creating "$HOLDER" '{"org.netns-tcp-bridge.publish":"[::]:9941=127.0.0.1:8941"}')
	bad "IPv4-mapped is IPv4" "listening address 127\.0\.0\.1:9941: no rule covers it" \
		--allow-publish 'tcp://[::]/0' \
		< <(state c41 creating "$HOLDER" '{"org.netns-tcp-bridge.publish":"[::ffff:127.0.0.1]:9941=127.0.0.1:8941"}')
	bad "bad rule" "bad value 'tcp://10.0.0.1/8' for --allow-publish: address has bits set" \
		--allow-publish tcp://10.0.0.1/8 < <(state c41 creating "$HOLDER")
	bad "no such user" "bad value 'no-such-user-ntb' for --user: no such user" \
		--user no-such-user-ntb < <(state c41 creating "$HOLDER")
	# A container in the host's own network namespace (podman --network
	# host): its side is the host's, so no annotation runs, rules or not.
	bg ip netns exec "$NSA" sleep 60
	sleep 0.2
	bad "host network, publish" "refused forward '127\.0\.0\.1:9941=127\.0\.0\.1:8941' from annotation org\.netns-tcp-bridge\.publish: the container shares the host's network namespace" \
		--allow-publish tcp://127.0.0.1:9941 \
		< <(state c41 creating "$LAST_PID" '{"org.netns-tcp-bridge.publish":"127.0.0.1:9941=127.0.0.1:8941"}')
	bad "host network, expose" "from annotation org\.netns-tcp-bridge\.expose: the container shares the host's network namespace" \
		--allow-expose tcp://192.0.2.0/24 \
		< <(state c41 creating "$LAST_PID" '{"org.netns-tcp-bridge.expose":"127.0.0.1:22=192.0.2.9:8941"}')
	[ -e "$T/st/c41.pids" ] && fail "a refused container was recorded"
	in_a ss -Hltn 'sport >= :9941 and sport <= :9944' | grep -q . && fail "a refused port is bound"
	left_running 9941
}

t_annotation_publish_allowed() {
	holder
	server "$NSB" 127.0.0.1 8945 whoami
	state c45 creating "$HOLDER" '{"org.netns-tcp-bridge.publish":"0.0.0.0:9945=127.0.0.1:8945"}' |
		in_a "$HOOK" --allow-publish tcp://0.0.0.0/0:9945 --state-dir "$T/st" 2>"$T/hook.err" ||
		fail "hook failed: $(cat "$T/hook.err")"
	out=$(in_a $PEER client 127.0.0.1 9945 read) || fail "publish: $out"
	assert_eq "$out" "PORT 8945" "published through an allowed annotation"
	state c45 stopped | "$HOOK" --state-dir "$T/st" || fail "poststop failed"
}

t_expose_deny_list() {
	# The host's loopback, link-local and own addresses: a broad rule does
	# not open them, a rule inside the denied range opens exactly that.
	holder
	ip -n "$NSA" addr add 198.51.100.7/32 dev lo || fail "cannot add an address to A"
	server "$NSA" 127.0.0.1 8951 whoami
	bad "loopback under 0.0.0.0/0" "target 127\.0\.0\.1:8951: on the built-in deny list.*--allow-expose tcp://127\.0\.0\.1:8951" \
		--allow-expose tcp://0.0.0.0/0 \
		< <(state c51 creating "$HOLDER" '{"org.netns-tcp-bridge.expose":"127.0.0.1:7951=127.0.0.1:8951"}')
	bad "metadata under 0.0.0.0/0" "target 169\.254\.169\.254:80: on the built-in deny list" \
		--allow-expose tcp://0.0.0.0/0 \
		< <(state c51 creating "$HOLDER" '{"org.netns-tcp-bridge.expose":"127.0.0.1:7951=169.254.169.254:80"}')
	bad "::1 under [::]/0" "target \[::1\]:8951: on the built-in deny list" \
		--allow-expose 'tcp://[::]/0' \
		< <(state c51 creating "$HOLDER" '{"org.netns-tcp-bridge.expose":"127.0.0.1:7951=[::1]:8951"}')
	bad "IPv4-mapped loopback" "target 127\.0\.0\.1:8951: on the built-in deny list" \
		--allow-expose 'tcp://[::]/0' --allow-expose tcp://0.0.0.0/0 \
		< <(state c51 creating "$HOLDER" '{"org.netns-tcp-bridge.expose":"127.0.0.1:7951=[::ffff:127.0.0.1]:8951"}')
	bad "the host's own address under its /24" "target 198\.51\.100\.7:8951: on the built-in deny list" \
		--allow-expose tcp://198.51.100.0/24 \
		< <(state c51 creating "$HOLDER" '{"org.netns-tcp-bridge.expose":"127.0.0.1:7951=198.51.100.7:8951"}')
	bad "a rule for another loopback port" "target 127\.0\.0\.1:8951: on the built-in deny list" \
		--allow-expose tcp://127.0.0.1:8952 \
		< <(state c51 creating "$HOLDER" '{"org.netns-tcp-bridge.expose":"127.0.0.1:7951=127.0.0.1:8951"}')
	# An AnyIP range the host's routes make local, on no interface: its
	# services answer there too.  An address outside it is not local.
	ip -n "$NSA" route add local 10.99.0.0/16 dev lo || fail "cannot add a local route to A"
	bad "an AnyIP local route under 10.0.0.0/8" "target 10\.99\.0\.5:8951: on the built-in deny list" \
		--allow-expose tcp://10.0.0.0/8 \
		< <(state c51 creating "$HOLDER" '{"org.netns-tcp-bridge.expose":"127.0.0.1:7951=10.99.0.5:8951"}')
	# The same over IPv6, whose bind() would not see a local route.
	ip -n "$NSA" -6 route add local 2001:db8:99::/48 dev lo || fail "cannot add an IPv6 local route to A"
	bad "an IPv6 AnyIP local route under [2001:db8::]/32" "target \[2001:db8:99::5\]:8951: on the built-in deny list" \
		--allow-expose 'tcp://[2001:db8::]/32' \
		< <(state c51 creating "$HOLDER" '{"org.netns-tcp-bridge.expose":"127.0.0.1:7951=[2001:db8:99::5]:8951"}')
	# Metadata and special ranges under the broadest rules.
	local t
	for t in '[fd00:ec2::254]:80' '[64:ff9b:1::a9fe:a9fe]:80' 100.100.100.200:80 240.0.0.1:80; do
		bad "$t under the broadest rules" "target .*: on the built-in deny list" \
			--allow-expose tcp://0.0.0.0/0 --allow-expose 'tcp://[::]/0' \
			< <(state c51 creating "$HOLDER" "{\"org.netns-tcp-bridge.expose\":\"127.0.0.1:7951=$t\"}")
	done
	[ -e "$T/st/c51.pids" ] && fail "a refused container was recorded"
	left_running 7951
	# A host with many addresses (a node's veths) still takes allowed forwards.
	for t in $(seq 1 200); do echo "addr add 10.97.$((t / 100)).$((t % 100 + 1))/32 dev lo"; done |
		ip -n "$NSA" -batch - || fail "cannot add 200 addresses to A"
	state c52 creating "$HOLDER" '{"org.netns-tcp-bridge.expose":"127.0.0.1:7952=10.98.0.5:8951"}' |
		in_a "$HOOK" --allow-expose tcp://10.0.0.0/8 --state-dir "$T/st" 2>"$T/hook.err" ||
		fail "a target that is not local was refused: $(cat "$T/hook.err")"
	state c52 stopped | "$HOOK" --state-dir "$T/st" || fail "poststop failed"
	state c51 creating "$HOLDER" '{"org.netns-tcp-bridge.expose":"127.0.0.1:7951=127.0.0.1:8951"}' |
		in_a "$HOOK" --allow-expose tcp://0.0.0.0/0 --allow-expose tcp://127.0.0.1:8951 \
			--state-dir "$T/st" 2>"$T/hook.err" || fail "hook failed: $(cat "$T/hook.err")"
	out=$(ip netns exec "$NSB" $PEER client 127.0.0.1 7951 read) || fail "expose: $out"
	assert_eq "$out" "PORT 8951" "exposed through a rule inside 127.0.0.0/8"
	state c51 stopped | "$HOOK" --state-dir "$T/st" || fail "poststop failed"
	# A rule for the whole loopback range names the host by intent: it opens
	# 127.0.0.1 (whose own /32 would otherwise be the narrowest range).
	state c53 creating "$HOLDER" '{"org.netns-tcp-bridge.expose":"127.0.0.1:7953=127.0.0.1:8951"}' |
		in_a "$HOOK" --allow-expose tcp://127.0.0.0/8:8951 \
			--state-dir "$T/st" 2>"$T/hook.err" || fail "hook failed: $(cat "$T/hook.err")"
	out=$(ip netns exec "$NSB" $PEER client 127.0.0.1 7953 read) || fail "expose: $out"
	assert_eq "$out" "PORT 8951" "exposed through tcp://127.0.0.0/8"
	state c53 stopped | "$HOOK" --state-dir "$T/st" || fail "poststop failed"
}

# uid_of PID: the effective uid in /proc/PID/status.
uid_of() {
	awk '/^Uid:/ { print $3 }' /proc/"$1"/status
}

t_user_drop() {
	# Bound below 1024 as root, then nobody: the launcher and both agents.
	holder
	server "$NSB" 127.0.0.1 8961 whoami
	local nobody
	nobody=$(id -u nobody)
	state c61 creating "$HOLDER" | in_a "$HOOK" --publish 127.0.0.1:81=127.0.0.1:8961 \
		--state-dir "$T/st" 2>"$T/hook.err" || fail "hook failed: $(cat "$T/hook.err")"
	out=$(in_a $PEER client 127.0.0.1 81 read) || fail "port 81: $out"
	assert_eq "$out" "PORT 8961" "port 81, bound before the drop"
	p=$(pair_pids c61)
	assert_eq "$(uid_of "$p")" "$nobody" "launcher's uid"
	agents=$(children "$p")
	assert_eq "$(echo $agents | wc -w)" 2 "agents of launcher $p"
	for a in $agents; do assert_eq "$(uid_of "$a")" "$nobody" "uid of agent $a ($(cat /proc/$a/comm))"; done
	state c61 stopped | "$HOOK" --state-dir "$T/st" || fail "poststop failed"
	wait_gone "$p" 2 || fail "launcher $p still running after poststop"
	# --user names another.
	state c62 creating "$HOLDER" | in_a "$HOOK" --publish 127.0.0.1:82=127.0.0.1:8961 \
		--user daemon --state-dir "$T/st" 2>"$T/hook.err" || fail "hook failed: $(cat "$T/hook.err")"
	p=$(pair_pids c62)
	assert_eq "$(uid_of "$p")" "$(id -u daemon)" "launcher's uid under --user daemon"
	state c62 stopped | "$HOOK" --state-dir "$T/st" || fail "poststop failed"
}

t_stale_records() {
	# A container whose creation failed after the hook: its init is gone,
	# so are its launchers, and no poststop comes.  The next hook call
	# removes that record, and only records whose launchers are gone.
	holder
	local h1=$HOLDER
	state c71 creating "$h1" | in_a "$HOOK" --publish 127.0.0.1:9971=127.0.0.1:8971 \
		--state-dir "$T/st" || fail "hook failed"
	holder
	state c72 creating "$HOLDER" | in_a "$HOOK" --publish 127.0.0.1:9972=127.0.0.1:8971 \
		--state-dir "$T/st" || fail "hook failed"
	p1=$(pair_pids c71)
	kill "$h1"
	wait_gone "$p1" 2 || fail "launcher $p1 outlived its container"
	echo keep >"$T/st/notes.txt"
	echo "1 1 0 0" >"$T/st/.c79.tmp"
	ln -s /etc/hostname "$T/st/link.pids"
	[ -e "$T/st/c71.pids" ] || fail "no record to go stale"
	# Any call will do: a container without forwards.
	state c73 creating "$HOLDER" | "$HOOK" --state-dir "$T/st" || fail "hook failed"
	[ -e "$T/st/c71.pids" ] && fail "stale record c71.pids left behind"
	[ -e "$T/st/c72.pids" ] || fail "live record c72.pids removed"
	[ -e "$T/st/notes.txt" ] && [ -e "$T/st/.c79.tmp" ] && [ -L "$T/st/link.pids" ] ||
		fail "a file that is no record was removed: $(ls -a "$T/st")"
	rm -f "$T/st/notes.txt" "$T/st/.c79.tmp" "$T/st/link.pids"
	state c72 stopped | "$HOOK" --state-dir "$T/st" || fail "poststop failed"
}

t_start_time_identity() {
	# poststop stops a recorded pid only if it still started when recorded.
	holder
	state c81 creating "$HOLDER" | in_a "$HOOK" --publish 127.0.0.1:9981=127.0.0.1:8981 \
		--state-dir "$T/st" || fail "hook failed"
	read -r pid start _ <"$T/st/c81.pids"
	assert_eq "$start" "$(sed 's/.*) //' /proc/"$pid"/stat | awk '{ print $20 }')" "recorded start time"
	echo "$pid $((start + 1)) 0 0" >"$T/st/c82.pids"
	state c82 stopped | "$HOOK" --state-dir "$T/st" || fail "poststop c82 failed"
	sleep 0.2
	alive "$pid" || fail "launcher $pid stopped for a record with another start time"
	[ -e "$T/st/c82.pids" ] && fail "the false record is left"
	state c81 stopped | "$HOOK" --state-dir "$T/st" || fail "poststop c81 failed"
	wait_gone "$pid" 2 || fail "launcher $pid still running after its own poststop"
}

t_default_state_dir() {
	# Not root of the initial user namespace (rootless podman's hooks):
	# /run/user/UID where a login made it ours, else a private
	# /tmp/netns-tcp-bridge-UID; never $XDG_RUNTIME_DIR, which podman's
	# poststop call does not have.
	holder
	local d=/tmp/netns-tcp-bridge-$(id -u nobody) ru=/run/user/$(id -u nobody)
	[ -e "$d" ] && fail "$d exists before the test"
	[ -e "$ru" ] && fail "$ru exists before the test"
	echo "rm -rf $d $ru" >>"$T/cleanup"
	AS_NOBODY=(env XDG_RUNTIME_DIR=/nonexistent setpriv --reuid nobody --regid nogroup --clear-groups "$HOOK")
	ln -s "$T" "$d"
	err=$(state c91 creating "$HOLDER" | "${AS_NOBODY[@]}" 2>&1 >/dev/null) && fail "a symlink was accepted"
	assert_match "$err" "cannot use the state directory $d: not a directory" "symlink"
	rm "$d" && mkdir -m 0755 "$d" && chown nobody "$d"
	err=$(state c91 creating "$HOLDER" | "${AS_NOBODY[@]}" 2>&1 >/dev/null) && fail "mode 0755 was accepted"
	assert_match "$err" "mode 755 lets others in" "loose mode"
	chown root "$d" && chmod 0700 "$d"
	err=$(state c91 creating "$HOLDER" | "${AS_NOBODY[@]}" 2>&1 >/dev/null) && fail "another's directory was accepted"
	assert_match "$err" "owned by uid 0, not by us" "owner"
	rmdir "$d"
	state c91 creating "$HOLDER" | "${AS_NOBODY[@]}" 2>"$T/hook.err" || fail "hook failed: $(cat "$T/hook.err")"
	assert_eq "$(stat -c '%a %U' "$d")" "700 nobody" "the directory made"
	rmdir "$d"
	# A runtime directory of the user's own comes first.
	mkdir -m 0700 "$ru" && chown nobody "$ru"
	state c91 creating "$HOLDER" | "${AS_NOBODY[@]}" 2>"$T/hook.err" || fail "hook failed: $(cat "$T/hook.err")"
	assert_eq "$(stat -c '%a %U' "$ru/netns-tcp-bridge/oci")" "700 nobody" "the directory made in $ru"
	[ -e "$d" ] && fail "$d made although $ru is there"
	rm -rf "$ru"
	# uid 0, but of a user namespace of its own: not root, so not /run.
	if [ ! -e /run/user/0 ]; then
		[ -e /tmp/netns-tcp-bridge-0 ] && fail "/tmp/netns-tcp-bridge-0 exists before the test"
		state c91 creating "$HOLDER" | unshare -U -r "$HOOK" 2>"$T/hook.err" ||
			fail "hook failed: $(cat "$T/hook.err")"
		[ -d /tmp/netns-tcp-bridge-0 ] || fail "uid 0 of a user namespace used /run, not /tmp"
		rmdir /tmp/netns-tcp-bridge-0
	fi
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
	                       "127.0.0.1:9931=127.0.0.1:8080", "--state-dir", st,
	                       "--allow-expose", "tcp://127.0.0.1:8931"]}],
	    "poststop": [{"path": hook, "args": ["ntb-oci-hook", "--state-dir", st]}],
	}
	json.dump(c, open(path, "w"), indent=1)
	EOF
	# nsenter, not ip netns exec: that one remounts /sys, and with it the
	# cgroup mounts runc needs.
	nsenter --net="/run/netns/$NSA" runc --root "$T/runc" run -d --bundle "$b" "$id" \
		</dev/null >"$T/runc.out" 2>&1 ||
		fail "runc run failed: $(cat "$T/runc.out")"
	echo "runc --root $T/runc delete -f $id" >>"$T/cleanup"
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

oci_test by_hand_publish_expose t_by_hand_publish_expose
oci_test by_hand_poststop_stops t_poststop_stops
oci_test by_hand_poststop_pid_zero t_poststop_pid_zero
oci_test by_hand_two_launchers_fail t_two_launchers_fail
oci_test by_hand_bad_input t_by_hand_bad_input
oci_test by_hand_proxy_protocol t_by_hand_proxy
oci_test by_hand_pass_through t_pass_through
oci_test annotation_needs_rule t_annotation_needs_rule
oci_test annotation_publish_allowed t_annotation_publish_allowed
oci_test expose_deny_list t_expose_deny_list
oci_test user_drop t_user_drop
oci_test stale_records t_stale_records
oci_test start_time_identity t_start_time_identity
oci_test default_state_dir t_default_state_dir
oci_test runc_container t_runc
[ -f "$T/cleanup" ] && bash "$T/cleanup" >/dev/null 2>&1
exit 0
