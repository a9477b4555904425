#!/usr/bin/env bash
# ntb-listen and ntb-connect started on their own, as nsenter, a runtime
# hook or systemd would: /path and @name rendezvous, peer checks, hostile
# rendezvous records.
. "$(dirname "$0")/../lib.sh"
ns_setup || { echo "skip $SUITE: cannot create network namespaces"; exit 0; }

A=/run/netns/$NSA
NB=/run/netns/$NSB
AS_NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"

# sock_count PID: open sockets of a process (pooled relay pipes vary).
sock_count() {
	ls -l /proc/"$1"/fd 2>/dev/null | grep -c 'socket:'
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
	name=@ntbt-$$-die
	server "$NSB" 127.0.0.1 8105 echo
	bg "$B/ntb-connect" -n "name:$NSB" -c 127.0.0.1:8105 -r "$name" 2>>"$T/c.err"
	cpid=$LAST_PID
	"$B/ntb-listen" -n "name:$NSA" -l 127.0.0.1:9105 -r "$name" 2>"$T/l.err" &
	lpid=$!
	wait_listen "$NSA" 9105
	kill -9 "$cpid"
	wait_gone "$lpid" 5 || fail "ntb-listen did not notice ntb-connect dying"
	wait "$lpid"; rc=$?
	assert_eq "$rc" 1 "ntb-listen exit status"
	assert_one_line "$(cat "$T/l.err")" "ntb-listen stderr"
	assert_match "$(cat "$T/l.err")" "ntb-connect closed the rendezvous"
}

t_hostile_records() {
	name=@ntbt-$$-bad
	server "$NSB" 127.0.0.1 8106 echo
	bg "$B/ntb-connect" -n "name:$NSB" -c 127.0.0.1:8106 -r "$name" 2>>"$T/c.err"
	cpid=$LAST_PID
	sleep 0.3
	# A good client through a real ntb-listen, kept busy during the attack.
	bg "$B/ntb-listen" -n "name:$NSA" -l 127.0.0.1:9106 -r "$name" 2>>"$T/l.err"
	wait_listen "$NSA" 9106
	before=$(sock_count "$cpid")
	in_a $PEER client 127.0.0.1 9106 bulk 20000000 >"$T/good.out" 2>&1 &
	good=$!
	out=$(python3 "$TOP/tests/tools/rdvpeer.py" "$name") || fail "valid hand-off after garbage: $out"
	wait "$good" || fail "the other connection was hurt: $(cat "$T/good.out")"
	sleep 0.3
	after=$(sock_count "$cpid")
	assert_eq "$after" "$before" "ntb-connect sockets after the attack (leak?)"
	# The pipe the attacker passed must not be held by ntb-connect.
	pipe=$(sed -n 's/^PIPE //p' <<<"$out")
	[ -n "$pipe" ] || fail "rdvpeer did not report its pipe"
	ls -l /proc/"$cpid"/fd | grep -q "pipe:\[$pipe\]" && fail "ntb-connect kept the attacker's pipe"
	kill -0 "$cpid" || fail "ntb-connect died"
	n=$(grep -c "refused a rendezvous record\|refused client" "$T/c.err")
	[ "$n" -ge 8 ] || fail "only $n refusals logged: $(cat "$T/c.err")"
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

t_drain_on_sigterm() {
	name=@ntbt-$$-drain
	server "$NSB" 127.0.0.1 8110 echo
	bg "$B/ntb-connect" -n "name:$NSB" -c 127.0.0.1:8110 -r "$name" 2>>"$T/c.err"
	cpid=$LAST_PID
	bg "$B/ntb-listen" -n "name:$NSA" -l 127.0.0.1:9110 -r "$name" 2>>"$T/l.err"
	wait_listen "$NSA" 9110
	in_a $PEER client 127.0.0.1 9110 bulk 30000000 >"$T/bulk.out" 2>&1 &
	client=$!
	sleep 0.2
	kill -TERM "$cpid"
	# The connection in flight finishes intact, then ntb-connect exits 0.
	wait "$client" || fail "connection in flight was cut: $(cat "$T/bulk.out")"
	wait_gone "$cpid" 6 || fail "ntb-connect did not exit after draining"
}

run_test nsenter_path_rendezvous t_nsenter_path
run_test abstract_rendezvous_listen_first t_abstract_listen_first
run_test one_connect_two_listens t_one_connect_two_listens
run_test connect_death_seen_by_listen t_connect_dies_listen_reports
run_test hostile_rendezvous_records t_hostile_records
run_test other_uid_refused_by_connect t_other_uid_refused_by_connect
run_test other_uid_refused_by_listen t_other_uid_refused_by_listen
run_test allow_uid t_allow_uid
run_test drain_on_sigterm t_drain_on_sigterm
exit 0
