#!/usr/bin/env bash
# The security promise: once serving, every process of the bridge has no
# capabilities, no_new_privs, and a seccomp filter that kills anything
# outside its role's allowlist.  Checked from /proc in each way of running
# it, and by calling forbidden syscalls under the same policy/ code.
. "$(dirname "$0")/../lib.sh"
ns_setup || { echo "FAIL $SUITE: cannot create network namespaces (run as root)"; exit 1; }

A=/run/netns/$NSA
NB=/run/netns/$NSB
ZERO=0000000000000000

# sandboxed PID WHAT [bounding]: assert the /proc/PID/status promises.
sandboxed() {
	local pid=$1 what=$2 st field
	st=$(cat /proc/"$pid"/status 2>/dev/null) || fail "$what ($pid) is gone"
	assert_match "$st" $'Seccomp:\t2' "$what Seccomp"
	assert_match "$st" $'NoNewPrivs:\t1' "$what NoNewPrivs"
	for field in CapEff CapPrm CapInh CapAmb ${3:+CapBnd}; do
		assert_match "$st" "$field:.$ZERO" "$what $field"
	done
	return 0
}

t_launcher_mode() {
	server "$NSB" 127.0.0.1 8401 echo
	bridge -l 127.0.0.1:9401 -f "$A" -c 127.0.0.1:8401 -t "$NB"
	wait_listen "$NSA" 9401
	in_a $PEER client 127.0.0.1 9401 bulk 100000 >/dev/null || fail "no forwarding"
	sandboxed "$BRIDGE_PID" netns-tcp-bridge bounding
	n=0
	for k in $(children "$BRIDGE_PID"); do
		sandboxed "$k" "$(cat /proc/$k/comm)" bounding
		n=$((n + 1))
	done
	assert_eq "$n" 2 "sandboxed agents"
	# The connect side really runs relay threads, all under the filter.
	for k in $(children "$BRIDGE_PID"); do
		for task in /proc/$k/task/*; do
			grep -q $'Seccomp:\t2' "$task/status" || fail "thread $task not filtered"
		done
	done
}

t_proc_promises() {
	# What policy_apply() promises besides seccomp, read back from /proc:
	# limits, stdin/stdout on /dev/null, no stray fd (fd 7 is given to
	# the launcher and so inherited by the agents), and not dumpable.
	server "$NSB" 127.0.0.1 8406 echo
	bg "$B/netns-tcp-bridge" -l 127.0.0.1:9407 -f "$A" -c 127.0.0.1:8406 -t "$NB" --user nobody \
		7</etc/hostname 2>>"$T/bridge.err"
	br=$LAST_PID
	wait_listen "$NSA" 9407
	in_a $PEER client 127.0.0.1 9407 bulk 100000 >/dev/null || fail "no forwarding"
	for p in $br $(children $br); do
		what=$(cat /proc/$p/comm)
		lim=$(cat /proc/$p/limits)
		assert_match "$lim" "Max core file size +0 +0 " "$what RLIMIT_CORE"
		soft=$(awk '/Max open files/ {print $4}' /proc/$p/limits)
		hard=$(awk '/Max open files/ {print $5}' /proc/$p/limits)
		assert_eq "$soft" "$hard" "$what RLIMIT_NOFILE soft"
		if [ "$what" != ntb-connect ]; then
			assert_match "$lim" "Max processes +0 +0 " "$what RLIMIT_NPROC"
		fi
		for fd in 0 1; do
			assert_eq "$(readlink /proc/$p/fd/$fd)" /dev/null "$what fd $fd"
		done
		ls -l /proc/$p/fd | grep -q /etc/hostname && fail "$what kept the stray fd 7"
		# Same uid, but not dumpable: another process of that uid cannot
		# read its memory or environment.
		setpriv --reuid=65534 --regid=65534 --clear-groups cat /proc/$p/environ >/dev/null 2>&1 &&
			fail "$what is dumpable"
	done
	# The check above can fail: a process of that uid that is dumpable.
	bg setpriv --reuid=65534 --regid=65534 --clear-groups sleep 30
	sleep 0.2
	setpriv --reuid=65534 --regid=65534 --clear-groups cat /proc/$LAST_PID/environ >/dev/null ||
		fail "cannot read a dumpable process of the same uid either"
}

t_nsenter_agents() {
	server "$NSB" 127.0.0.1 8402 echo
	bg nsenter --net="$NB" "$B/ntb-connect" -c 127.0.0.1:8402 -r "$T/r.sock"
	c=$LAST_PID
	bg nsenter --net="$A" "$B/ntb-listen" -l 127.0.0.1:9402 -r "$T/r.sock"
	l=$LAST_PID
	wait_listen "$NSA" 9402
	in_a $PEER client 127.0.0.1 9402 bulk 100000 >/dev/null || fail "no forwarding"
	sandboxed "$c" ntb-connect bounding
	sandboxed "$l" ntb-listen bounding
}

t_user_switch() {
	server "$NSB" 127.0.0.1 8403 echo
	bridge -l 127.0.0.1:9403 -f "$A" -c 127.0.0.1:8403 -t "$NB" --user nobody
	wait_listen "$NSA" 9403
	in_a $PEER client 127.0.0.1 9403 bulk 100000 >/dev/null || fail "no forwarding as nobody"
	for p in "$BRIDGE_PID" $(children "$BRIDGE_PID"); do
		sandboxed "$p" "process $p" bounding
		assert_match "$(cat /proc/$p/status)" $'Uid:\t65534\t65534\t65534\t65534' "uids of $p"
		assert_match "$(cat /proc/$p/status)" $'Groups:\t65534' "groups of $p"
	done
	# A clean stop still works across the uid change.
	kill -TERM "$BRIDGE_PID"
	wait_gone "$BRIDGE_PID" 5 || fail "launcher as nobody did not stop"
}

t_nonroot_with_caps() {
	# As a runtime might: uid 65534 with just CAP_SYS_ADMIN (to setns) and
	# CAP_SETPCAP as ambient capabilities.  The uid stays, the caps go.
	local caps=+sys_admin,+setpcap
	chmod 711 "$T"
	mkdir "$T/caps" && chown 65534 "$T/caps"
	server "$NSB" 127.0.0.1 8405 echo
	bg setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps $caps --ambient-caps $caps \
		"$B/ntb-connect" -n "name:$NSB" -c 127.0.0.1:8405 -r "$T/caps/r.sock"
	c=$LAST_PID
	bg setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps $caps --ambient-caps $caps \
		"$B/ntb-listen" -n "name:$NSA" -l 127.0.0.1:9406 -r "$T/caps/r.sock"
	l=$LAST_PID
	wait_listen "$NSA" 9406
	in_a $PEER client 127.0.0.1 9406 bulk 100000 >/dev/null || fail "no forwarding"
	for p in $c $l; do
		sandboxed "$p" "$(cat /proc/$p/comm)" bounding
		assert_match "$(cat /proc/$p/status)" $'Uid:\t65534\t65534\t65534\t65534' "uids of $p"
	done
}

t_rootless_userns() {
	chmod 711 "$T"
	# As uid 65534: a user namespace with its own two network namespaces.
	cat >"$T/rootless.sh" <<-EOS
	set -e
	ip link set lo up
	unshare -n sh -c 'ip link set lo up; exec python3 $TOP/tests/tools/peer.py server 127.0.0.1 8404 echo' &
	srv=\$!
	sleep 0.5
	$B/ntb-connect -n pid:\$srv -c 127.0.0.1:8404 -r @rootless 2>&1 &
	c=\$!
	$B/ntb-listen -l 127.0.0.1:9404 -r @rootless 2>&1 &
	l=\$!
	python3 $TOP/tests/tools/peer.py client 127.0.0.1 9404 bulk 1000000
	$B/netns-tcp-bridge -l 127.0.0.1:9405 -c 127.0.0.1:8404 -t /proc/\$srv/ns/net 2>&1 &
	br=\$!
	python3 $TOP/tests/tools/peer.py client 127.0.0.1 9405 bulk 1000000
	for p in \$c \$l \$br \$(cat /proc/\$br/task/*/children); do
		echo "STATUS \$(cat /proc/\$p/comm)-\$([ \$p = \$br ] && echo launcher || echo \$p) \$(grep -E '^(Seccomp|NoNewPrivs|Cap[A-Za-z]+):' /proc/\$p/status | tr -d '\t' | tr '\n' ' ')"
	done
	kill \$c \$l \$br \$srv
	EOS
	chmod 755 "$T/rootless.sh"
	out=$(timeout 30 setpriv --reuid=65534 --regid=65534 --clear-groups \
		unshare -Urn bash "$T/rootless.sh" 2>&1)
	rc=$?
	[ $rc = 0 ] || fail "rootless run failed: $out"
	n=$(printf '%s\n' "$out" | grep -c "OK 1000000 bytes each way")
	assert_eq "$n" 2 "rootless forwarding, agents and launcher"
	n=$(printf '%s\n' "$out" | grep -c "^STATUS ")
	assert_eq "$n" 5 "rootless processes checked"
	while read -r _ role line; do
		for f in Seccomp:2 NoNewPrivs:1 CapEff:$ZERO CapPrm:$ZERO CapInh:$ZERO CapAmb:$ZERO CapBnd:$ZERO; do
			assert_match "$line" "$f" "rootless $role"
		done
	done < <(printf '%s\n' "$out" | grep "^STATUS ")
	grep -q "^STATUS netns-tcp-bridg-launcher " <<<"$out" || fail "launcher not checked"
}

t_demo_as_user() {
	# The README's demo as an ordinary user, from a checkout of their own.
	chmod 711 "$T"
	mkdir "$T/user"
	git -C "$TOP" ls-files -z | (cd "$TOP" && xargs -0 cp --parents -t "$T/user")
	chown -R 65534:65534 "$T/user"
	out=$(cd "$T/user" && timeout 120 setpriv --reuid=65534 --regid=65534 --clear-groups \
		env -i PATH=/usr/bin:/bin HOME="$T/user" bash tests/demo.sh 2>&1) ||
		fail "demo as uid 65534 failed: $out"
	assert_match "$out" "Hello from namespace B" "demo output"
	assert_match "$out" "demo OK" "demo output"
}

t_rootless_separate_agents() {
	# Issue 8: agents started on their own by an unprivileged user, from
	# outside the user namespace that owns the target namespace.  The one
	# that joins it sees its peer's uid through that namespace's uid_map.
	chmod 711 "$T"
	cat >"$T/sep.sh" <<-EOS
	set -e
	# Whatever happens, nothing of ours outlives the script.
	trap 'kill \$(jobs -p) 2>/dev/null || true' EXIT
	PY=/usr/bin/python3
	# A holder: its own user and network namespace, a server on 8407 inside.
	unshare -Urn sh -c 'ip link set lo up; exec \$0 $TOP/tests/tools/peer.py server 127.0.0.1 8407 echo' \$PY &
	h=\$!
	sleep 0.5
	# 1. ntb-connect joins the holder (and its user namespace); ntb-listen
	#    stays in the host namespace.
	$B/ntb-connect -n pid:\$h -c 127.0.0.1:8407 -r @ntbt-$$-sep1 --allow-uid 65534 2>&1 &
	c=\$!
	$B/ntb-listen -l 127.0.0.1:29407 -r @ntbt-$$-sep1 2>&1 &
	l=\$!
	\$PY $TOP/tests/tools/peer.py client 127.0.0.1 29407 bulk 300000
	kill \$c \$l 2>/dev/null || true
	# 2. The other way round: ntb-listen joins the holder, ntb-connect
	#    relays to a server on the host's loopback.
	\$PY $TOP/tests/tools/peer.py server 127.0.0.1 28407 echo &
	s=\$!
	sleep 0.3
	$B/ntb-connect -c 127.0.0.1:28407 -r @ntbt-$$-sep2 2>&1 &
	c=\$!
	$B/ntb-listen -n pid:\$h -l 127.0.0.1:9408 -r @ntbt-$$-sep2 2>&1 &
	l=\$!
	sleep 0.5
	nsenter -t \$h -U -n --preserve-credentials \$PY $TOP/tests/tools/peer.py client 127.0.0.1 9408 bulk 300000 ||
		nsenter -t \$h -U -n \$PY $TOP/tests/tools/peer.py client 127.0.0.1 9408 bulk 300000
	kill \$c \$l \$s \$h 2>/dev/null || true
	EOS
	out=$(cd / && timeout -k 5 60 setpriv --reuid=65534 --regid=65534 --clear-groups \
		env -i PATH=/usr/bin:/bin bash "$T/sep.sh" 2>&1)
	rc=$?
	[ $rc = 0 ] || fail "rootless separate agents failed: $out"
	n=$(printf '%s\n' "$out" | grep -c "OK 300000 bytes each way")
	assert_eq "$n" 2 "forwarded both ways: $out"
	printf '%s' "$out" | grep -q "refused rendezvous peer" && fail "a peer was refused: $out"
	return 0
}

# probe ROLE CALL WANT: WANT is killed, errno or works.
# A sanitizer build (make asan) loads the same filters, but they log
# where they would kill (policy.c: the sanitizer runtime makes calls of
# its own), so a kill cannot be seen there: its probes check what works
# and what fails with an errno; the normal build checks the kills.
SANITIZED=""
ldd "$B/tests/sandbox_probe" 2>/dev/null | grep -qE 'lib(asan|tsan|ubsan)' && SANITIZED=1
UNSEEN=0

probe() {
	local role=$1 call=$2 want=$3 rc got
	if [ "$want" = killed ] && [ -n "$SANITIZED" ]; then
		UNSEEN=$((UNSEEN + 1))
		return 0
	fi
	"$B/tests/sandbox_probe" "$role" "$call" ${4:-} 2>/dev/null
	rc=$?
	case $rc in
	159) got=killed ;;	# 128 + SIGSYS
	10) got=errno ;;
	0) got=works ;;
	*) got="exit $rc" ;;
	esac
	assert_eq "$got" "$want" "$role: $call"
}

t_forbidden_calls() {
	for role in listen connect launcher; do
		for call in execve openat ptrace mount setns fork mmap-exec socket-unix; do
			probe $role $call killed
		done
		probe $role write works
	done
	probe listen socket-inet killed
	probe launcher socket-inet killed
	probe listen thread killed
	probe connect socket-inet works
	probe connect thread works
	# A worker's arena trimmed after a burst (glibc would open a /proc file).
	probe connect thread-heap-trim works
	probe connect clone3 errno
	[ -z "$SANITIZED" ] || figure "sanitizer build: $UNSEEN kills not tried (the filter logs here)"
}

t_narrowed_calls() {
	# socket() in ntb-connect: TCP over IPv4/IPv6 only, not the other
	# stream or datagram protocols (with --transparent-source it keeps
	# CAP_NET_ADMIN: no spoofed UDP).
	probe connect socket-tcp6-flags works
	for call in socket-udp socket-udp6 socket-raw socket-sctp socket-mptcp; do
		probe connect $call killed
	done
	# tgkill: our own threads only; kill: the launcher's agents only.
	for role in listen connect launcher; do
		probe $role tgkill-self works
		for call in tgkill-other kill-other kill-group; do
			probe $role $call killed
		done
	done
	probe launcher kill-child works
	probe connect kill-child killed
	# connect() in ntb-listen: the spare rendezvous sockets only.
	probe listen connect-spare errno
	probe listen connect-other killed
	probe connect connect-other errno
	[ -z "$SANITIZED" ] || figure "sanitizer build: $UNSEEN kills not tried (the filter logs here)"
}

t_log_mode() {
	# --seccomp=log: the same filter logs instead of killing.
	probe connect openat works log
	probe listen socket-inet works log
}

t_print_policy() {
	for p in ntb-listen ntb-connect netns-tcp-bridge; do
		out=$("$B/$p" --print-policy) || fail "$p --print-policy failed"
		assert_match "$out" "^role: $p" "$p role line"
		assert_match "$out" "capabilities kept: none" "$p capabilities"
		n=$(printf '%s\n' "$out" | sed -n 's/.*; \([0-9]*\) syscalls allowed:/\1/p')
		lines=$(printf '%s\n' "$out" | grep '^  ' | grep -vc 'fails with an errno')
		assert_eq "$lines" "$n" "$p: listed syscalls vs count"
		printf '%s\n' "$out" | grep -qE '^  (open|openat|execve|ptrace|mount|setns) ' &&
			fail "$p allows a forbidden call"
	done
	# The README's table states the counts.
	row=$(grep '^| syscalls allowed |' "$TOP/README.md") || fail "README has no syscall count row"
	i=2
	for p in ntb-listen ntb-connect netns-tcp-bridge; do
		want=$(printf '%s' "$row" | cut -d'|' -f$((i + 1)) | grep -oE '^ *[0-9]+' | tr -d ' ')
		got=$("$B/$p" --print-policy | sed -n 's/.*; \([0-9]*\) syscalls allowed:/\1/p')
		assert_eq "$want" "$got" "README's syscall count for $p"
		i=$((i + 1))
	done
	"$B/ntb-listen" --print-policy | grep -qE '^  socket ' && fail "ntb-listen may create sockets"
	"$B/ntb-connect" --print-policy | grep -qE '^  socket .*AF_INET, AF_INET6 only; SOCK_STREAM, protocol 0 or IPPROTO_TCP only' ||
		fail "ntb-connect socket() not restricted to TCP/IP"
	"$B/ntb-listen" --print-policy | grep -qE '^  connect .*the spare rendezvous sockets only' ||
		fail "ntb-listen connect() not restricted to its spares"
	"$B/netns-tcp-bridge" --print-policy | grep -qE "^  kill .*the agents' pids only" ||
		fail "the launcher's kill() not restricted to its agents"
	return 0
}

run_test launcher_mode_sandboxed t_launcher_mode
run_test nsenter_agents_sandboxed t_nsenter_agents
run_test proc_limits_fds_dumpable t_proc_promises
run_test user_switch t_user_switch
run_test nonroot_with_ambient_caps t_nonroot_with_caps
run_test rootless_user_namespace t_rootless_userns
run_test rootless_separate_agents t_rootless_separate_agents
run_test forbidden_calls_killed t_forbidden_calls
run_test narrowed_calls_killed t_narrowed_calls
run_test seccomp_log_mode t_log_mode
run_test print_policy t_print_policy
run_test demo_as_ordinary_user t_demo_as_user
exit 0
