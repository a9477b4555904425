#!/usr/bin/env bash
# Launched by systemd: socket activation (LISTEN_FDS) through the real
# systemd-socket-activate, and readiness (READY=1, STOPPING=1) on a notify
# socket the test makes and reads.
. "$(dirname "$0")/../lib.sh"
ns_setup || { echo "FAIL $SUITE: cannot create network namespaces"; exit 1; }

A=/run/netns/$NSA
NB=/run/netns/$NSB
NOTIFYD="python3 $TOP/tests/tools/notifyd.py"

t_activation_agents() {
	# Two sockets made by systemd-socket-activate in A, in order, paired
	# with ntb-connect's two targets in B.
	server "$NSB" 127.0.0.1 8701 whoami
	server "$NSB" 127.0.0.1 8702 whoami
	bg nsenter --net="$NB" "$B/ntb-connect" -c 127.0.0.1:8701 -c 127.0.0.1:8702 \
		-r "$T/sa.sock" 2>>"$T/c.err"
	for _ in $(seq 1 50); do [ -S "$T/sa.sock" ] && break; sleep 0.1; done
	bg ip netns exec "$NSA" systemd-socket-activate -l 127.0.0.1:9701 -l 127.0.0.1:9702 \
		"$B/ntb-listen" -r "$T/sa.sock" 2>>"$T/l.err"
	wait_listen "$NSA" 9702
	out=$(in_a $PEER client 127.0.0.1 9701 read) || fail "9701: $out $(cat "$T"/*.err)"
	assert_eq "$out" "PORT 8701" "first activated socket"
	out=$(in_a $PEER client 127.0.0.1 9702 read) || fail "9702: $out"
	assert_eq "$out" "PORT 8702" "second activated socket"
}

t_activation_launcher() {
	server "$NSB" 127.0.0.1 8703 echo
	bg ip netns exec "$NSA" systemd-socket-activate -l 127.0.0.1:9703 \
		"$B/netns-tcp-bridge" -c 127.0.0.1:8703 -t "$NB" 2>>"$T/bridge.err"
	wait_listen "$NSA" 9703
	out=$(in_a $PEER client 127.0.0.1 9703 bulk 200000) || fail "$out $(cat "$T/bridge.err")"
	# More activated sockets than the command line has words (5 here).
	for p in 8711 8712 8713 8714 8715 8716; do server "$NSB" 127.0.0.1 $p whoami; done
	bg ip netns exec "$NSA" systemd-socket-activate -l 127.0.0.1:9711 -l 127.0.0.1:9712 \
		-l 127.0.0.1:9713 -l 127.0.0.1:9714 -l 127.0.0.1:9715 -l 127.0.0.1:9716 \
		"$B/netns-tcp-bridge" -c 127.0.0.1:8711-8716 -t "$NB" 2>>"$T/bridge.err"
	wait_listen "$NSA" 9716
	out=$(in_a $PEER client 127.0.0.1 9716 read) || fail "9716: $out $(cat "$T/bridge.err")"
	assert_eq "$out" "PORT 8716" "the sixth activated socket"
}

t_activation_not_listening() {
	# A socket-activated fd that is not a listening TCP socket.
	out=$(bash -c 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -r @x 3</etc/hostname' "$B/ntb-listen" 2>&1)
	rc=$?
	assert_eq "$rc" 2 "exit status"
	assert_eq "$out" "ntb-listen: bad socket-activated fd 3: not a socket" "message"
	# Meant for another process: not ours to take.
	out=$(bash -c 'LISTEN_PID=1 LISTEN_FDS=1 exec "$0" -r @x 3</etc/hostname' "$B/ntb-listen" 2>&1)
	assert_match "$out" "give -l/--listen" "LISTEN_PID of another process"
}

# ready_check WHO NOTIFY CMD...: CMD (in the background) must say READY=1
# on NOTIFY, from its own pid, then STOPPING=1 on SIGTERM.
ready_check() {
	local who=$1 addr=$2
	shift 2
	$NOTIFYD "$addr" 2 15 >"$T/$who.notify" &
	local nd=$!
	for _ in $(seq 1 50); do grep -q BOUND "$T/$who.notify" && break; sleep 0.1; done
	NOTIFY_SOCKET=$addr "$@" 2>>"$T/$who.err" &
	local pid=$!
	echo $pid >>"$T/pids"
	for _ in $(seq 1 100); do grep -q "READY=1" "$T/$who.notify" && break; sleep 0.05; done
	grep -q "^$pid READY=1$" "$T/$who.notify" || fail "$who: no READY=1 from pid $pid: $(cat "$T/$who.notify" "$T/$who.err")"
	kill -TERM $pid
	wait $nd
	grep -q "^$pid STOPPING=1$" "$T/$who.notify" || fail "$who: no STOPPING=1: $(cat "$T/$who.notify")"
	n=$(grep -c "READY=1" "$T/$who.notify")
	assert_eq "$n" 1 "$who: READY=1 lines"
}

t_readiness() {
	server "$NSB" 127.0.0.1 8704 echo
	# ntb-connect joins B; its notify socket is abstract, in our namespace.
	ready_check connect "@ntbt-$$-notify" "$B/ntb-connect" -n "$NB" -c 127.0.0.1:8704 -r "$T/rd.sock"
	bg nsenter --net="$NB" "$B/ntb-connect" -c 127.0.0.1:8704 -r "$T/rd2.sock" 2>>"$T/c.err"
	for _ in $(seq 1 50); do [ -S "$T/rd2.sock" ] && break; sleep 0.1; done
	ready_check listen "$T/listen.notify.sock" "$B/ntb-listen" -n "$A" -l 127.0.0.1:9704 -r "$T/rd2.sock"
	# The launcher speaks for the pair: one READY=1, after both agents.
	ready_check launcher "$T/launcher.notify.sock" "$B/netns-tcp-bridge" -l 127.0.0.1:9705 -f "$A" \
		-c 127.0.0.1:8704 -t "$NB"
}

t_log_journal_prefix() {
	# stderr is "the journal" when JOURNAL_STREAM names it: <N> prefixes.
	: >"$T/j.err"
	JOURNAL_STREAM=$(stat -c %d:%i "$T/j.err") "$B/ntb-listen" -l 127.0.0.1:1 \
		-r @ntbt-$$-nobody --rendezvous-timeout 0 2>>"$T/j.err"
	assert_match "$(cat "$T/j.err")" "^<3>ntb-listen: cannot connect to rendezvous" "journal line"
	# Any other stderr: plain lines.
	JOURNAL_STREAM=1:1 "$B/ntb-listen" -l 127.0.0.1:1 -r @ntbt-$$-nobody --rendezvous-timeout 0 \
		2>"$T/p.err"
	assert_match "$(cat "$T/p.err")" "^ntb-listen: cannot connect" "plain line"
}

t_log_syslog() {
	# --log syslog: datagrams to /dev/log, which this test provides in a
	# mount namespace of its own; the socket outlives the sandbox.
	server "$NSB" 127.0.0.1 8705 echo
	cat >"$T/sl.sh" <<-EOS
	set -e
	mount -t tmpfs tmpfs /dev
	mknod -m 666 /dev/null c 1 3
	$NOTIFYD /dev/log 50 4 >$T/syslog.out &
	d=\$!
	for i in \$(seq 1 50); do [ -S /dev/log ] && break; sleep 0.1; done
	$B/ntb-listen -l 127.0.0.1:1 -r @ntbt-$$-nobody --rendezvous-timeout 0 --log syslog 2>$T/sl1.err || true
	$B/netns-tcp-bridge -l 127.0.0.1:9706 -f $A -c 127.0.0.1:8705 -t $NB --log syslog -v 2>$T/sl2.err &
	b=\$!
	sleep 1.5
	kill \$b
	wait \$d || true
	EOS
	timeout -k 5 30 unshare -m bash "$T/sl.sh" || fail "syslog script failed"
	out=$(cat "$T/syslog.out")
	assert_match "$out" "<27>ntb-listen\[[0-9]+\]: cannot connect to rendezvous" "error line"
	assert_match "$out" "<30>ntb-connect\[[0-9]+\]: sandboxed:" "info line after the sandbox"
	assert_match "$out" "<30>ntb-listen\[[0-9]+\]: sandboxed:" "info line of the launched ntb-listen"
	[ -s "$T/sl1.err" ] && fail "stderr used despite --log syslog: $(cat "$T/sl1.err")"
	return 0
}

run_test log_journal_prefix t_log_journal_prefix
run_test log_syslog t_log_syslog
run_test socket_activation_agents t_activation_agents
run_test socket_activation_launcher t_activation_launcher
run_test socket_activation_bad_fd t_activation_not_listening
run_test readiness_notify t_readiness
exit 0
