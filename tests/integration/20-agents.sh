#!/usr/bin/env bash
# ntb-listen and ntb-connect started on their own, as nsenter, a runtime
# hook or systemd would: /path and @name rendezvous, peer checks, hostile
# rendezvous records.
. "$(dirname "$0")/../lib.sh"
ns_setup || { echo "FAIL $SUITE: cannot create network namespaces (run as root)"; exit 1; }

A=/run/netns/$NSA
NB=/run/netns/$NSB
AS_NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"

# sock_count PID: open sockets of a process (pooled relay pipes vary).
sock_count() {
	ls -l /proc/"$1"/fd 2>/dev/null | grep -c 'socket:'
}

# lent_count LOGFILE PID: after SIGUSR1 to PID, ntb-listen's count of
# listening sockets handed over.
lent_count() {
	local n
	kill -USR1 "$2"
	for _ in $(seq 1 100); do
		n=$(sed -n 's/.*ntb-listen: stats: listening sockets handed over \([0-9]*\),.*/\1/p' "$1" | tail -n 1)
		[ -n "$n" ] && { echo "$n"; return; }
		sleep 0.05
	done
	echo none
}

t_handoff_mode() {
	# Issue 15: the listening socket itself goes only to a peer that is
	# certain (fd:N, the launcher's socketpair); over @name and /path the
	# default is client hand-off, and --hand-off listener opts in.
	server "$NSB" 127.0.0.1 8114 echo
	bg "$B/ntb-connect" -n "$NB" -c 127.0.0.1:8114 -r "@ntbt-$$-hm" 2>>"$T/c.err"
	bg "$B/ntb-listen" -n "$A" -l 127.0.0.1:9114 -r "@ntbt-$$-hm" 2>>"$T/l.err"
	lpid=$LAST_PID
	wait_listen "$NSA" 9114
	out=$(in_a $PEER client 127.0.0.1 9114 bulk 1000) || fail "@name, default: $out"
	assert_eq "$(lent_count "$T/l.err" "$lpid")" 0 "listening sockets lent over @name by default"
	grep -q "handed off 1," "$T/l.err" || fail "the client was not handed off: $(cat "$T/l.err")"
	bg nsenter --net="$NB" "$B/ntb-connect" -c 127.0.0.1:8114 -r "$T/hm.sock" 2>>"$T/c.err"
	bg nsenter --net="$A" "$B/ntb-listen" -l 127.0.0.1:9115 -r "$T/hm.sock" --hand-off listener \
		2>>"$T/l2.err"
	lpid=$LAST_PID
	wait_listen "$NSA" 9115
	out=$(in_a $PEER client 127.0.0.1 9115 bulk 1000) || fail "/path, --hand-off listener: $out"
	assert_eq "$(lent_count "$T/l2.err" "$lpid")" 1 "listening sockets lent over /path with --hand-off listener"
	bridge -l 127.0.0.1:9116 -f "$A" -c 127.0.0.1:8114 -t "$NB"
	wait_listen "$NSA" 9116
	out=$(in_a $PEER client 127.0.0.1 9116 bulk 1000) || fail "launcher: $out"
	assert_eq "$(lent_count "$T/bridge.err" "$BRIDGE_PID")" 1 "listening sockets lent over the launcher's fd:N"
}

t_nsenter_path() {
	server "$NSB" 127.0.0.1 8101 echo
	bg nsenter --net="$NB" "$B/ntb-connect" -c 127.0.0.1:8101 -r "$T/rdv.sock" 2>>"$T/c.err"
	bg nsenter --net="$A" "$B/ntb-listen" -l 127.0.0.1:9101 -r "$T/rdv.sock" 2>>"$T/l.err"
	wait_listen "$NSA" 9101
	out=$(in_a $PEER client 127.0.0.1 9101 bulk 1000000) || fail "$out"
	[ "$(stat -c %a "$T/rdv.sock")" = 600 ] || fail "socket file mode is $(stat -c %a "$T/rdv.sock")"
}

t_abstract_listen_first() {
	name=@ntbt-$$-abs
	server "$NSB" 127.0.0.1 8102 echo
	# ntb-listen first: it must wait for ntb-connect to appear.
	bg "$B/ntb-listen" -n "name:$NSA" -l 127.0.0.1:9102 -r "$name" 2>>"$T/l.err"
	sleep 0.5
	bg "$B/ntb-connect" -n "name:$NSB" -c 127.0.0.1:8102 -r "$name" 2>>"$T/c.err"
	wait_listen "$NSA" 9102
	out=$(in_a $PEER client 127.0.0.1 9102 bulk 1000000) || fail "$out"
}

t_one_connect_two_listens() {
	name=@ntbt-$$-two
	server "$NSB" 127.0.0.1 8103 echo
	bg "$B/ntb-connect" -n "pid:$LAST_PID" -c 127.0.0.1:8103 -r "$name" 2>>"$T/c.err"
	bg "$B/ntb-listen" -n "$A" -l 127.0.0.1:9103 -r "$name" 2>>"$T/l.err"
	bg "$B/ntb-listen" -n "$A" -l '[::1]:9104' -r "$name" 2>>"$T/l.err"
	wait_listen "$NSA" 9103
	wait_listen "$NSA" 9104
	out=$(in_a $PEER client 127.0.0.1 9103 bulk 100000) || fail "first listener: $out"
	out=$(in_a $PEER client ::1 9104 bulk 100000) || fail "second listener: $out"
}

t_connect_dies_listen_reports() {
	# On an inherited fd:N rendezvous nothing can bring ntb-connect back:
	# ntb-listen exits 1 with one line.  (On @name and /path it waits for
	# ntb-connect to come back: 80-faults.sh.)
	server "$NSB" 127.0.0.1 8105 echo
	out=$(python3 - "$B" "$NSA" "$NSB" "$T/c.err" <<-'EOF'
	import socket, subprocess, sys, time
	b, na, nb, cerr = sys.argv[1:5]
	x, y = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
	c = subprocess.Popen([b + "/ntb-connect", "-n", "name:" + nb, "-c", "127.0.0.1:8105",
	                      "-r", "fd:%d" % x.fileno()], pass_fds=[x.fileno()], stderr=open(cerr, "w"))
	l = subprocess.Popen([b + "/ntb-listen", "-n", "name:" + na, "-l", "127.0.0.1:9105",
	                      "-r", "fd:%d" % y.fileno()], pass_fds=[y.fileno()], stderr=subprocess.PIPE)
	x.close()
	y.close()
	time.sleep(1)
	c.kill()
	try:
	    rc = l.wait(timeout=5)
	except subprocess.TimeoutExpired:
	    l.kill()
	    rc = "still running"
	print(rc)
	print(l.stderr.read().decode().strip())
	EOF
	)
	assert_eq "$(printf '%s\n' "$out" | head -n 1)" 1 "ntb-listen exit status"
	err=$(printf '%s\n' "$out" | tail -n +2)
	assert_one_line "$err" "ntb-listen stderr"
	assert_match "$err" "ntb-connect closed the rendezvous"
}

t_other_uid_refused_by_connect() {
	name=@ntbt-$$-uid1
	server "$NSB" 127.0.0.1 8107 echo
	bg "$B/ntb-connect" -n "name:$NSB" -c 127.0.0.1:8107 -r "$name" 2>>"$T/c.err"
	sleep 0.3
	# uid 65534 reaches the abstract socket (no permissions there) ...
	$AS_NOBODY "$B/ntb-listen" -l 127.0.0.1:9107 -r "$name" --rendezvous-timeout 2 \
		2>"$T/l.err"
	rc=$?
	[ $rc -ne 0 ] || fail "a listener of another uid was served"
	# ... and is turned away by SO_PEERCRED.
	grep -q "refused rendezvous peer .*uid 65534" "$T/c.err" ||
		fail "no refusal logged: $(cat "$T/c.err")"
	assert_one_line "$(cat "$T/l.err")" "ntb-listen stderr"
}

t_other_uid_refused_by_listen() {
	name=@ntbt-$$-uid2
	# A stranger (uid 65534) grabs the name first, posing as ntb-connect.
	bg $AS_NOBODY "$B/ntb-connect" -c 127.0.0.1:8108 -r "$name" 2>>"$T/c.err"
	sleep 0.3
	"$B/ntb-listen" -l 127.0.0.1:9108 -n "name:$NSA" -r "$name" 2>"$T/l.err"
	rc=$?
	assert_eq "$rc" 1 "ntb-listen exit status"
	assert_match "$(cat "$T/l.err")" "its owner pid [0-9]+ runs as uid 65534, not an allowed uid"
	assert_one_line "$(cat "$T/l.err")" "ntb-listen stderr"
}

t_stranger_takes_name_later() {
	# ntb-connect goes, and a stranger (uid 65534) binds its name: each
	# reconnect to it costs ntb-listen a spare socket, so after the first
	# refusal it looks again only in 30 s, not every 2 s (it would run out
	# of spares, and exit, within a minute).
	lone_pair ntbt-$$-sq 8111 9111
	kill "$cpid"
	wait_gone "$cpid" 3 || fail "ntb-connect still runs"
	bg $AS_NOBODY "$B/ntb-connect" -c 127.0.0.1:8111 -r "@ntbt-$$-sq" 2>>"$T/stranger.err"
	for _ in $(seq 1 100); do
		grep -q "runs as uid 65534" "$T/l.err" && break
		sleep 0.05
	done
	grep -q "runs as uid 65534, not an allowed uid; next try in 30 s" "$T/l.err" ||
		fail "no refusal of the stranger: $(cat "$T/l.err")"
	sleep 2.5
	n=$(grep -c "runs as uid 65534" "$T/l.err")
	assert_eq "$n" 1 "refusals of the stranger within 2.5 s"
	out=$(in_a $PEER client 127.0.0.1 9111 probe 3)
	assert_eq "$out" RESET "a client meanwhile"
}

t_allow_uid() {
	# A socket file both uids can reach; SO_PEERCRED decides.
	chmod 711 "$T"
	server "$NSB" 127.0.0.1 8109 echo
	bg nsenter --net="$NB" "$B/ntb-connect" -c 127.0.0.1:8109 -r "$T/shared.sock" \
		--allow-uid nobody 2>>"$T/c.err"
	for _ in $(seq 1 50); do [ -S "$T/shared.sock" ] && break; sleep 0.1; done
	bg nsenter --net="$A" $AS_NOBODY "$B/ntb-listen" -l 127.0.0.1:9109 -r "$T/shared.sock" \
		--allow-uid 0 2>>"$T/l.err"
	wait_listen "$NSA" 9109
	out=$(in_a $PEER client 127.0.0.1 9109 bulk 100000) || fail "$out"
	[ "$(stat -c %a "$T/shared.sock")" = 666 ] || fail "socket file mode is not 666"
}

# lone_pair NAME SRVPORT PORT: an echo server in B and the two agents on
# @NAME, started on their own; sets cpid (ntb-connect).
lone_pair() {
	server "$NSB" 127.0.0.1 "$2" echo
	bg "$B/ntb-connect" -n "name:$NSB" -c "127.0.0.1:$2" -r "@$1" 2>>"$T/c.err"
	cpid=$LAST_PID
	bg "$B/ntb-listen" -n "name:$NSA" -l "127.0.0.1:$3" -r "@$1" 2>>"$T/l.err"
	wait_listen "$NSA" "$3"
}

t_drain_on_sigquit() {
	lone_pair ntbt-$$-drain 8110 9110
	# A paced transfer: 3 s long, so the signal surely lands inside it.
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9110 paced 30 100000 >"$T/paced.out" 2>&1
	client=$LAST_PID
	for _ in $(seq 1 50); do grep -q STARTED "$T/paced.out" && break; sleep 0.1; done
	grep -q STARTED "$T/paced.out" || fail "transfer did not start: $(cat "$T/paced.out")"
	kill -QUIT "$cpid"
	# The connection in flight finishes intact, then ntb-connect exits 0.
	wait "$client" || fail "connection in flight was cut: $(cat "$T/paced.out")"
	wait_gone "$cpid" 6 || fail "ntb-connect did not exit after draining"
	wait "$cpid"; rc=$?
	assert_eq "$rc" 0 "ntb-connect exit status after draining"
}

t_fast_stop_alone() {
	# SIGTERM to a lone ntb-connect: gone at once, the client sees a reset.
	lone_pair ntbt-$$-fast 8112 9112
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9112 stream 20 >"$T/stream.out" 2>&1
	client=$LAST_PID
	for _ in $(seq 1 50); do grep -q STARTED "$T/stream.out" && break; sleep 0.1; done
	kill -TERM "$cpid"
	wait_gone "$cpid" 1 || fail "ntb-connect still running 1 s after SIGTERM"
	wait "$client"
	assert_eq "$(tail -n 1 "$T/stream.out")" RESET "what the client saw"
}

t_closed_std_fds() {
	# Started with stdin and stdout closed: the first fds opened must not
	# be taken for them and overwritten.
	name=@ntbt-$$-std
	server "$NSB" 127.0.0.1 8111 echo
	bg "$B/ntb-connect" -n "name:$NSB" -c 127.0.0.1:8111 -r "$name" -w 2 <&- >&- 2>>"$T/c.err"
	cpid=$LAST_PID
	bg "$B/ntb-listen" -n "name:$NSA" -l 127.0.0.1:9111 -r "$name" <&- >&- 2>>"$T/l.err"
	lpid=$LAST_PID
	wait_listen "$NSA" 9111
	out=$(in_a $PEER client 127.0.0.1 9111 parallel 4 100000) || fail "$out: $(cat "$T"/*.err)"
	for p in $cpid $lpid; do
		for fd in 0 1; do
			assert_eq "$(readlink /proc/$p/fd/$fd)" /dev/null "fd $fd of $p"
		done
	done
}

t_several_forwards() {
	# Issue 8: several -l and -c in one pair, up to 1024 listening sockets.
	name=@ntbt-$$-many
	server "$NSB" 127.0.0.1 30000 whoami
	server "$NSB" 127.0.0.1 31023 whoami
	bg "$B/ntb-connect" -n "name:$NSB" -c 127.0.0.1:30000-31023 -r "$name" 2>>"$T/c.err"
	bg "$B/ntb-listen" -n "name:$NSA" -l 127.0.0.1:20000-21022 -l 127.0.0.1:21023 -r "$name" \
		2>>"$T/l.err"
	wait_listen "$NSA" 21023
	n=$(in_a ss -Hltn 'sport >= :20000 and sport <= :21023' | wc -l)
	assert_eq "$n" 1024 "listening sockets"
	out=$(in_a $PEER client 127.0.0.1 20000 read) || fail "first: $out"
	assert_eq "$out" "PORT 30000" "first listener"
	out=$(in_a $PEER client 127.0.0.1 21023 read) || fail "last: $out"
	assert_eq "$out" "PORT 31023" "last listener"
}

t_forward_count_mismatch() {
	name=@ntbt-$$-mis
	bg "$B/ntb-connect" -n "name:$NSB" -c 127.0.0.1:8113-8115 -r "$name" 2>>"$T/c.err"
	sleep 0.3
	"$B/ntb-listen" -n "name:$NSA" -l 127.0.0.1:9113-9114 -r "$name" 2>"$T/l.err"
	rc=$?
	assert_eq "$rc" 1 "ntb-listen exit status"
	assert_one_line "$(cat "$T/l.err")" "ntb-listen stderr"
	assert_match "$(cat "$T/l.err")" "ntb-connect has 3 targets for our 2 listening sockets"
	grep -q "its count of listening sockets is not our count of targets" "$T/c.err" ||
		fail "ntb-connect said nothing: $(cat "$T/c.err")"
}

t_listen_once_alone() {
	name=@ntbt-$$-once
	server "$NSB" 127.0.0.1 8112 echo
	bg "$B/ntb-connect" -n "name:$NSB" -c 127.0.0.1:8112 -r "$name" 2>>"$T/c.err"
	bg "$B/ntb-listen" -n "name:$NSA" -l 127.0.0.1:9112 -r "$name" --once 2>"$T/l.err"
	lpid=$LAST_PID
	wait_listen "$NSA" 9112
	out=$(in_a $PEER client 127.0.0.1 9112 bulk 100000) || fail "$out"
	wait_gone "$lpid" 5 || fail "ntb-listen --once still running after its client"
	wait "$lpid"; rc=$?
	assert_eq "$rc" 0 "ntb-listen --once exit status"
	out=$(in_a $PEER client 127.0.0.1 9112 probe 2)
	assert_eq "$out" "REFUSED" "a second client of --once"
}

run_test handoff_mode_by_rendezvous t_handoff_mode
run_test nsenter_path_rendezvous t_nsenter_path
run_test abstract_rendezvous_listen_first t_abstract_listen_first
run_test one_connect_two_listens t_one_connect_two_listens
run_test connect_death_seen_by_listen t_connect_dies_listen_reports
run_test other_uid_refused_by_connect t_other_uid_refused_by_connect
run_test other_uid_refused_by_listen t_other_uid_refused_by_listen
run_test stranger_takes_name_later t_stranger_takes_name_later
run_test allow_uid t_allow_uid
run_test drain_on_sigquit t_drain_on_sigquit
run_test fast_stop_alone t_fast_stop_alone
run_test closed_stdin_stdout t_closed_std_fds
run_test listen_once_alone t_listen_once_alone
run_test several_forwards_1024 t_several_forwards
run_test forward_count_mismatch t_forward_count_mismatch
exit 0
