#!/usr/bin/env bash
# Issue 9: load, faults and stops.  A cut connection must look cut (a
# reset, never a FIN), a lost peer must be survived, and every figure the
# issue names is measured and printed under its test.
. "$(dirname "$0")/../lib.sh"
ns_setup || { echo "FAIL $SUITE: cannot create network namespaces (run as root)"; exit 1; }

A=/run/netns/$NSA
NB=/run/netns/$NSB
LOAD=$B/bench/benchtool

# pair RENDEZVOUS SRVPORT PORT [ntb-connect args]: the two agents started
# on their own, ntb-listen on A:PORT, ntb-connect to B:SRVPORT; sets CPID, LPID.
pair() {
	local r=$1 sp=$2 lp=$3
	shift 3
	bg "$B/ntb-connect" -n "$NB" -c "127.0.0.1:$sp" -r "$r" "$@" 2>>"$T/c.err"
	CPID=$LAST_PID
	bg "$B/ntb-listen" -n "$A" -l "127.0.0.1:$lp" -r "$r" ${LISTEN_ARGS:-} 2>>"$T/l.err"
	LPID=$LAST_PID
	wait_listen "$NSA" "$lp"
}

# launched SRVPORT PORT [launcher args]: the launcher from A:PORT to B:SRVPORT.
launched() {
	local sp=$1 lp=$2
	shift 2
	bridge -l "127.0.0.1:$lp" -f "$A" -c "127.0.0.1:$sp" -t "$NB" "$@"
	wait_listen "$NSA" "$lp"
}

# wait_for FILE REGEX [SECONDS]: until FILE has a line matching REGEX.
wait_for() {
	local n=$((${3:-5} * 20))
	for _ in $(seq 1 "$n"); do
		grep -qE -e "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "no line /$2/ in $1 within ${3:-5} s: $(tail -n 3 "$1" 2>/dev/null)"
}

# fd_count PID...: open fds of each, space-separated.
fd_count() {
	local p out=""
	for p in "$@"; do out="$out $(ls /proc/"$p"/fd 2>/dev/null | wc -l)"; done
	echo $out
}

# lowest_free_fd PID: the fd number the process would get next.
lowest_free_fd() {
	local n=0
	while [ -e /proc/"$1"/fd/$n ]; do n=$((n + 1)); done
	echo "$n"
}

# rss_kib PID...: resident memory, summed.
rss_kib() {
	local p t=0
	for p in "$@"; do t=$((t + $(awk '/^VmRSS/ { print $2 }' /proc/"$p"/status))); done
	echo "$t"
}

ms_now() { echo $(($(date +%s%N) / 1000000)); }

# pipe_bytes PID...: bytes waiting in all the pipes the processes hold
# (FIONREAD on each, opened through /proc).
pipe_bytes() {
	python3 - "$@" <<-'EOF'
	import fcntl, os, struct, sys, termios
	total, seen = 0, set()
	for pid in sys.argv[1:]:
	    d = "/proc/%s/fd" % pid
	    for n in os.listdir(d):
	        try:
	            link = os.readlink("%s/%s" % (d, n))
	        except OSError:
	            continue
	        if not link.startswith("pipe:") or link in seen:
	            continue
	        seen.add(link)
	        try:
	            fd = os.open("%s/%s" % (d, n), os.O_RDONLY | os.O_NONBLOCK)
	        except OSError:
	            continue
	        total += struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
	        os.close(fd)
	print(total)
	EOF
}

# pipe_caps PID: the largest capacity among the pipes the process holds.
pipe_caps() {
	python3 - "$1" <<-'EOF'
	import fcntl, os, sys
	best, d = 0, "/proc/%s/fd" % sys.argv[1]
	for n in os.listdir(d):
	    try:
	        if not os.readlink("%s/%s" % (d, n)).startswith("pipe:"):
	            continue
	        fd = os.open("%s/%s" % (d, n), os.O_RDONLY | os.O_NONBLOCK)
	    except OSError:
	        continue
	    best = max(best, fcntl.fcntl(fd, 1032))     # F_GETPIPE_SZ
	    os.close(fd)
	print(best)
	EOF
}

t_bulk_grows_pipes() {
	# Small exchanges make no 1 MiB pipe (they go by recv/send, or through
	# a 256 KiB pipe; the spare is 64 KiB); a bulk transfer that fills its
	# pipe at one go gets a 1 MiB one (fewer splices per byte).
	server "$NSB" 127.0.0.1 8822 echo
	pair "@ntbt-$$-gp" 8822 9822 -w 1
	for _ in 1 2 3; do
		out=$(in_a $PEER client 127.0.0.1 9822 bulk 1000) || fail "small: $out"
	done
	small=$(pipe_caps "$CPID")
	assert_match "$small" "^(65536|262144)$" "largest pipe after small exchanges"
	out=$(in_a $PEER client 127.0.0.1 9822 bulk 33554432) || fail "bulk: $out"
	big=$(pipe_caps "$CPID")
	assert_eq "$big" 1048576 "pipe capacity after a 32 MiB echo"
	figure "pipes: $small bytes after three 1000-byte echoes, $big after a 32 MiB echo"
}

t_fast_stop() {
	# SIGTERM: every process gone within 1 s; both ends of an open
	# connection see a reset, not a clean end.
	server "$NSB" 127.0.0.1 8801 source "$T/srv.log"
	launched 8801 9801
	kids=$(children "$BRIDGE_PID")
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9801 download 20 >"$T/stream.out" 2>&1
	client=$LAST_PID
	wait_for "$T/stream.out" STARTED
	sleep 0.3
	t0=$(ms_now)
	kill -TERM "$BRIDGE_PID"
	for p in "$BRIDGE_PID" $kids; do
		wait_gone "$p" 1 || fail "process $p still running 1 s after SIGTERM"
	done
	gone=$(($(ms_now) - t0))
	wait "$client"
	assert_eq "$(tail -n 1 "$T/stream.out")" RESET "what the client saw"
	wait_for "$T/srv.log" '^RESET'
	figure "fast stop: launcher and both agents gone ${gone} ms after SIGTERM; client and target saw RESET"
}

t_graceful_stop() {
	# SIGQUIT: new clients refused at once, a 64 MiB transfer in flight
	# completes, then everything exits 0.
	server "$NSB" 127.0.0.1 8802 echo
	launched 8802 9802 --drain-timeout 30
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9802 paced 32 2097152 >"$T/paced.out" 2>&1
	client=$LAST_PID
	wait_for "$T/paced.out" STARTED
	sleep 0.5
	t0=$(ms_now)
	kill -QUIT "$BRIDGE_PID"
	sleep 0.2
	out=$(in_a $PEER client 127.0.0.1 9802 probe 2)
	assert_eq "$out" REFUSED "a new client during the graceful stop"
	kill -0 "$BRIDGE_PID" 2>/dev/null || fail "the bridge exited before the transfer was done"
	wait "$client" || fail "the transfer in flight was cut: $(cat "$T/paced.out")"
	grep -q "^OK 67108864 bytes" "$T/paced.out" || fail "transfer: $(cat "$T/paced.out")"
	wait_gone "$BRIDGE_PID" 5 || fail "the bridge still runs after its last connection ended"
	wait "$BRIDGE_PID"; rc=$?
	assert_eq "$rc" 0 "launcher exit status after SIGQUIT"
	figure "graceful stop: 64 MiB in flight completed, new client refused, exit 0 $(($(ms_now) - t0)) ms after SIGQUIT"
}

t_graceful_stop_sender_gone() {
	# ntb-connect begins its graceful stop after the ntb-listen that lent
	# it a listening socket is gone, before it has seen that: there is no
	# sender to give the socket back to, and no warning.  The order is
	# made: ntb-connect stopped, its SIGQUIT queued, then ntb-listen gone.
	server "$NSB" 127.0.0.1 8823 echo
	LISTEN_ARGS="--hand-off listener" pair "@ntbt-$$-gi" 8823 9823 -v
	wait_for "$T/c.err" "accepting on listening socket 0"
	kill -STOP "$CPID"
	kill -QUIT "$CPID"
	kill "$LPID"
	wait_gone "$LPID" 3 || fail "ntb-listen still runs"
	kill -CONT "$CPID"
	wait_gone "$CPID" 5 || fail "ntb-connect still runs after SIGQUIT"
	grep -q "cannot give listening socket" "$T/c.err" &&
		fail "a warning for a sender that is gone: $(cat "$T/c.err")"
	return 0
}

t_graceful_stop_listener_mode() {
	# Listener hand-off between agents started on their own: on SIGQUIT
	# ntb-connect gives the listening socket back (LISTENER_BACK), and a
	# client during the drain is reset at once instead of waiting in a
	# backlog nobody accepts from.
	server "$NSB" 127.0.0.1 8822 echo
	LISTEN_ARGS="--hand-off listener" pair "@ntbt-$$-gl" 8822 9822 --drain-timeout 30 -v
	wait_for "$T/c.err" "accepting on listening socket 0"
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9822 paced 30 100000 >"$T/paced.out" 2>&1
	client=$LAST_PID
	wait_for "$T/paced.out" STARTED
	kill -QUIT "$CPID"
	wait_for "$T/c.err" "stopping gracefully"
	t0=$(ms_now)
	out=$(in_a $PEER client 127.0.0.1 9822 probe 3)
	took=$(($(ms_now) - t0))
	assert_eq "$out" RESET "a new client during the graceful stop"
	[ "$took" -lt 1000 ] || fail "the client was reset after $took ms"
	grep -q "gave listening socket 0 back (stopping)" "$T/l.err" || fail "no line from ntb-listen: $(cat "$T/l.err")"
	kill -0 "$CPID" 2>/dev/null || fail "ntb-connect exited before the transfer was done"
	wait "$client" || fail "the transfer in flight was cut: $(cat "$T/paced.out")"
	wait_gone "$CPID" 5 || fail "ntb-connect still runs after its last connection ended"
	figure "graceful stop, listener hand-off on @name: new client reset after $took ms"
}

t_drain_timeout() {
	# A connection still open when --drain-timeout runs out is reset.
	server "$NSB" 127.0.0.1 8803 source "$T/srv.log"
	launched 8803 9803 --drain-timeout 1
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9803 download 20 >"$T/stream.out" 2>&1
	client=$LAST_PID
	wait_for "$T/stream.out" STARTED
	t0=$(ms_now)
	kill -QUIT "$BRIDGE_PID"
	wait_gone "$BRIDGE_PID" 4 || fail "the bridge still runs 4 s after SIGQUIT with --drain-timeout 1"
	took=$(($(ms_now) - t0))
	[ "$took" -ge 900 ] || fail "stopped after $took ms, before the drain time-out"
	wait "$client"
	assert_eq "$(tail -n 1 "$T/stream.out")" RESET "what the client saw at the drain time-out"
	wait_for "$T/srv.log" '^RESET'
	figure "drain time-out 1 s: reset both ends after $took ms"
}

t_target_killed() {
	# Killed with bytes it has not read: its kernel resets, and so must we.
	# (A target that dies with nothing unread sends FIN, which is passed on
	# as FIN: TCP cannot tell that from a close; the next byte the client
	# sends then meets the target's reset, which is passed on too.)
	bg ip netns exec "$NSB" $PEER server 127.0.0.1 8804 sink
	spid=$LAST_PID
	wait_listen "$NSB" 8804
	launched 8804 9804
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9804 stream 20 >"$T/stream.out" 2>&1
	client=$LAST_PID
	wait_for "$T/stream.out" STARTED
	sleep 0.5
	kill -9 "$spid"
	wait "$client"
	assert_eq "$(tail -n 1 "$T/stream.out")" RESET "what the client saw when the target died"
	kill -0 "$BRIDGE_PID" 2>/dev/null || fail "the bridge died with the target"
}

t_client_killed() {
	# Killed with echoed bytes it has not read: its kernel resets.
	server "$NSB" 127.0.0.1 8805 echolog "$T/srv.log"
	launched 8805 9805
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9805 push 209715200 20 >"$T/stream.out" 2>&1
	cpid=$LAST_PID
	wait_for "$T/stream.out" SENT 10
	kill -9 "$cpid"
	wait_for "$T/srv.log" '^(RESET|EOF)'
	grep -q '^RESET' "$T/srv.log" || fail "the target saw: $(cat "$T/srv.log")"
}

connect_restart() {
	# ntb-connect killed and started again: the same ntb-listen resets
	# clients meanwhile, finds it again and serves.
	local r=$1 sp=$2 lp=$3
	server "$NSB" 127.0.0.1 "$sp" replyeof
	pair "$r" "$sp" "$lp"
	out=$(in_a $PEER client 127.0.0.1 "$lp" halfclose) || fail "before the restart: $out"
	kill -9 "$CPID"
	wait_for "$T/l.err" "lost ntb-connect"
	for i in 1 2 3; do
		t0=$(ms_now)
		out=$(in_a $PEER client 127.0.0.1 "$lp" probe 3)
		took=$(($(ms_now) - t0))
		assert_eq "$out" RESET "client $i while ntb-connect is down"
		[ "$took" -lt 1000 ] || fail "client $i waited $took ms for its reset"
	done
	bg "$B/ntb-connect" -n "$NB" -c "127.0.0.1:$sp" -r "$r" 2>>"$T/c.err"
	wait_for "$T/l.err" "ntb-connect is back" 5
	out=$(in_a $PEER client 127.0.0.1 "$lp" halfclose) || fail "after the restart: $out"
	kill -0 "$LPID" 2>/dev/null || fail "ntb-listen is gone"
	assert_eq "$(grep -c 'lost ntb-connect' "$T/l.err")" 1 "lines about the loss"
	assert_eq "$(grep -c 'ntb-connect is back' "$T/l.err")" 1 "lines about the recovery: $(cat "$T/l.err")"
	assert_eq "$(grep -c 'reset, no ntb-connect' "$T/l.err")" 3 "lines about reset clients"
	figure "$r: 3 clients reset while ntb-connect was down (last after $took ms), served again by the same ntb-listen"
}

t_connect_restart_abstract() { connect_restart "@ntbt-$$-rs" 8806 9806; }
t_connect_restart_path() { connect_restart "$T/rdv.sock" 8807 9807; }

t_listen_death() {
	# ntb-listen killed: ntb-connect finishes what it relays and takes a
	# new ntb-listen.
	server "$NSB" 127.0.0.1 8808 echo
	pair "@ntbt-$$-ld" 8808 9808
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9808 paced 20 100000 >"$T/paced.out" 2>&1
	client=$LAST_PID
	wait_for "$T/paced.out" STARTED
	kill -9 "$LPID"
	wait "$client" || fail "the connection in flight was cut: $(cat "$T/paced.out")"
	bg "$B/ntb-listen" -n "$A" -l 127.0.0.1:9818 -r "@ntbt-$$-ld" 2>>"$T/l2.err"
	wait_listen "$NSA" 9818
	out=$(in_a $PEER client 127.0.0.1 9818 bulk 100000) || fail "through the new ntb-listen: $out"
	kill -0 "$CPID" 2>/dev/null || fail "ntb-connect is gone"
}

t_handoff_emfile() {
	# ntb-connect out of fds when a client arrives: the kernel drops the
	# client's fd from the record, and the client sees a reset, not a FIN.
	server "$NSB" 127.0.0.1 8809 echo
	LISTEN_ARGS="--hand-off client" pair "@ntbt-$$-hf" 8809 9809 -w 1
	out=$(in_a $PEER client 127.0.0.1 9809 bulk 1000) || fail "before: $out"
	sleep 0.2
	n=$(lowest_free_fd "$CPID")
	prlimit --pid "$CPID" --nofile="$n:" || fail "prlimit failed"
	out=$(in_a $PEER client 127.0.0.1 9809 probe 3)
	assert_eq "$out" RESET "a client whose hand-off found ntb-connect out of fds"
	wait_for "$T/c.err" "control data was truncated"
	# Room for the client, none for the target socket: reset, logged, counted.
	prlimit --pid "$CPID" --nofile="$((n + 1)):" || fail "prlimit failed"
	out=$(in_a $PEER client 127.0.0.1 9809 probe 3)
	assert_eq "$out" RESET "a client whose target socket could not be made"
	wait_for "$T/c.err" "cannot create the target socket: Too many open files"
	prlimit --pid "$CPID" --nofile=4096: || fail "prlimit failed"
	out=$(in_a $PEER client 127.0.0.1 9809 bulk 100000) || fail "after fds are free again: $out"
	kill -USR1 "$CPID"
	wait_for "$T/c.err" "stats: received 3, accepted 0, refused 1 \\(limit 0, fds 1, .*lost in hand-off 1,"
	figure "$(grep 'stats:' "$T/c.err")"
}

t_end_reasons() {
	# Each way a connection ends is counted under its own name (issue 16):
	# a refused connect, a target that resets, clients that reset, and an
	# idle time-out, and nothing else.
	server "$NSB" 127.0.0.1 8831 rst
	server "$NSB" 127.0.0.1 8832 echo
	bg "$B/ntb-connect" -n "$NB" -c 127.0.0.1:8830 -c 127.0.0.1:8831 -c 127.0.0.1:8832 \
		-r "@ntbt-$$-er" --idle-timeout 2 2>>"$T/c.err"
	CPID=$LAST_PID
	bg "$B/ntb-listen" -n "$A" -l 127.0.0.1:9830 -l 127.0.0.1:9831 -l 127.0.0.1:9832 \
		-r "@ntbt-$$-er" 2>>"$T/l.err"
	wait_listen "$NSA" 9832
	out=$(in_a $PEER client 127.0.0.1 9830 probe 3)
	assert_eq "$out" RESET "a client whose target refused"
	out=$(in_a $PEER client 127.0.0.1 9831 expectreset) || fail "a client whose target reset: $out"
	# Two client resets to one target reset: a swap of the two would show.
	in_a $PEER client 127.0.0.1 9832 rstclient || fail "a client that resets"
	in_a $PEER client 127.0.0.1 9832 rstclient || fail "a second client that resets"
	out=$(in_a $PEER client 127.0.0.1 9832 probe 5)
	assert_eq "$out" RESET "a silent client past --idle-timeout"
	# The clients that reset may not be counted yet: ask until all are.
	for _ in $(seq 1 50); do
		kill -USR1 "$CPID"
		sleep 0.1
		grep -q 'stats: .*, ended 5' "$T/c.err" && break
	done
	line=$(grep 'stats:' "$T/c.err" | tail -n 1)
	case "$line" in
	*", ended 5 (client reset 2, target reset 1, refused 1, idle 1)") ;;
	*) fail "end reasons miscounted: $line" ;;
	esac
	figure "$line"
}

t_idle_timeout() {
	# --idle-timeout 1: a silent connection is reset at both ends; a
	# slow but busy one is not.  One worker, the busy connection opened
	# first: the silent one is behind it in the worker's idle order until
	# the busy one's activity moves it to the back, so the silent one is
	# reset on time only if activity reorders that list.
	server "$NSB" 127.0.0.1 8810 echolog "$T/srv.log"
	launched 8810 9810 --idle-timeout 1 -w 1
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9810 paced 50 1000 >"$T/paced.out" 2>&1
	busy=$LAST_PID
	# Relayed (connected to the target) before the silent one comes.
	for _ in $(seq 1 100); do
		ip netns exec "$NSB" ss -Htn state established 'sport = :8810' | grep -q . && break
		sleep 0.05
	done
	ip netns exec "$NSB" ss -Htn state established 'sport = :8810' | grep -q . ||
		fail "the busy connection never reached the target: $(cat "$T/paced.out")"
	t0=$(ms_now)
	out=$(in_a $PEER client 127.0.0.1 9810 probe 8)
	took=$(($(ms_now) - t0))
	assert_eq "$out" RESET "a silent client behind a busy one on the same worker (after $took ms)"
	kill -0 "$busy" 2>/dev/null || fail "the busy connection ended before the silent one was reset: $(cat "$T/paced.out")"
	[ "$took" -ge 900 ] && [ "$took" -lt 3000 ] || fail "silent client reset after $took ms"
	wait "$busy" || fail "a busy connection was cut: $(cat "$T/paced.out")"
	grep -q '^RESET 0' "$T/srv.log" || fail "the target of the idle connection saw: $(cat "$T/srv.log")"
	figure "idle time-out 1 s, one worker: silent connection (behind a busy one) reset after $took ms; a 5 s paced transfer intact"
}

t_slot_starved_pipe() {
	# The pipe runs out of slots before bytes: 600 pieces of 50 bytes, each
	# sent from its own page (sendfile), queue in the client's socket as
	# 600 page fragments while ntb-connect is stopped; a pipe takes one
	# fragment per slot, so the first read stops at 64 slots, 3200 bytes,
	# far short of the pipe's bytes, with the rest still queued.  No event
	# comes for bytes already there, and the client sends nothing more
	# until its echo is whole: only reading on to EAGAIN finds them (a
	# short read once taken for a drained socket hung a 64 MiB echo).
	server "$NSB" 127.0.0.1 8830 echo
	pair "@ntbt-$$-slot" 8830 9830
	kill -STOP "$CPID"
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9830 scatter 600 50 10 >"$T/scatter.out" 2>&1
	client=$LAST_PID
	wait_for "$T/scatter.out" SENT 10
	kill -CONT "$CPID"
	wait "$client" || fail "echo of 600 pieces of 50 bytes: $(tr '\n' ' ' <"$T/scatter.out")"
	figure "600 pieces of 50 bytes, each its own page fragment, queued while ntb-connect was stopped: $(tail -n 1 "$T/scatter.out")"
}

t_keepalive() {
	# --keepalive: both of ntb-connect's sockets probe; without it, none.
	server "$NSB" 127.0.0.1 8811 echo
	launched 8811 9811 --keepalive 7,3,4
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9811 probe 10
	for _ in $(seq 1 100); do
		a=$(ip netns exec "$NSA" ss -Htno state established "( sport = :9811 )")
		b=$(ip netns exec "$NSB" ss -Htno state established "( dport = :8811 )")
		[ -n "$a" ] && [ -n "$b" ] && break
		sleep 0.05
	done
	assert_match "$a" "timer:\(keepalive" "client socket of the bridge"
	assert_match "$b" "timer:\(keepalive" "target socket of the bridge"
	kill "$BRIDGE_PID"; wait_gone "$BRIDGE_PID" 2
	launched 8811 9812
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9812 probe 10
	for _ in $(seq 1 100); do
		b=$(ip netns exec "$NSB" ss -Htno state established "( dport = :8811 )")
		[ -n "$b" ] && break
		sleep 0.05
	done
	[ -n "$b" ] || fail "no target connection without --keepalive"
	printf '%s' "$b" | grep -q keepalive && fail "keepalive without --keepalive: $b"
	return 0
}

t_counters() {
	# SIGUSR1: the exact counts of a scripted run.
	bg ip netns exec "$NSB" $PEER server 127.0.0.1 8812 echo
	wait_listen "$NSB" 8812
	bridge -l 127.0.0.1:9812-9813 -f "$A" -c 127.0.0.1:8812-8813 -t "$NB"
	wait_listen "$NSA" 9813
	for _ in 1 2 3 4 5; do
		out=$(in_a $PEER client 127.0.0.1 9812 bulk 1000) || fail "client: $out"
	done
	for _ in 1 2; do
		out=$(in_a $PEER client 127.0.0.1 9813 probe 3)
		assert_eq "$out" RESET "a client whose target refuses"
	done
	sleep 0.2
	kill -USR1 "$BRIDGE_PID"
	wait_for "$T/bridge.err" "ntb-connect: stats:"
	wait_for "$T/bridge.err" "ntb-listen: stats:"
	c=$(grep "ntb-connect: stats:" "$T/bridge.err")
	l=$(grep "ntb-listen: stats:" "$T/bridge.err")
	# Its workers accepted all 7 on the two listening sockets handed over.
	assert_match "$c" "received 0, accepted 7, refused 0 " "ntb-connect's counts"
	assert_match "$c" "connects ok 5, failed 2 \(ECONNREFUSED 2\), open 0 \(per worker 0(/0)*\)," "ntb-connect's counts"
	assert_match "$c" "bytes to target 5000, to client 5000, connections reset 2, ended 7 \(client closed 5, refused 2\)$" "ntb-connect's counts"
	assert_match "$l" "listening sockets handed over 2, given back 0, clients accepted here 0, handed off 0, refused 0 " "ntb-listen's counts"
	figure "$c"
	figure "$l"
}

t_flood_rate_limited() {
	# Clients refused for want of a peer, and over the connection limit:
	# a few lines a second at most, and the count of the rest.
	server "$NSB" 127.0.0.1 8814 echo
	pair "@ntbt-$$-fl" 8814 9814
	kill -9 "$CPID"
	wait_for "$T/l.err" "lost ntb-connect"
	before=$(grep -c 'reset, no ntb-connect' "$T/l.err")
	t0=$(ms_now)
	out=$(in_a $PEER client 127.0.0.1 9814 flood 400 2.5)
	assert_match "$out" "RESET=" "flood outcome"
	sleep 1.1
	in_a $PEER client 127.0.0.1 9814 probe 2 >/dev/null
	took=$(($(ms_now) - t0))
	lines=$(($(grep -c 'reset, no ntb-connect' "$T/l.err") - before))
	# The limit: a burst of 5, then 5 a second.
	[ "$lines" -le $((5 + 5 * (took + 999) / 1000)) ] ||
		fail "$lines lines for $out refused clients in $took ms"
	grep -qE '[0-9]+ similar lines not shown' "$T/l.err" || fail "no count of suppressed lines: $(tail -n 3 "$T/l.err")"
	figure "no-peer flood ($out in 2.5 s): $lines lines, then: $(grep -E 'similar lines' "$T/l.err" | head -n 1)"
	# Over --max-connections, in ntb-connect.
	server "$NSB" 127.0.0.1 8815 echo
	bg "$B/ntb-connect" -n "$NB" -c 127.0.0.1:8815 -r "@ntbt-$$-fm" --max-connections 1 2>>"$T/m.err"
	bg "$B/ntb-listen" -n "$A" -l 127.0.0.1:9815 -r "@ntbt-$$-fm" 2>>"$T/ml.err"
	wait_listen "$NSA" 9815
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9815 probe 20
	sleep 0.5
	out=$(in_a $PEER client 127.0.0.1 9815 flood 400 2.5)
	sleep 1.1
	in_a $PEER client 127.0.0.1 9815 probe 2 >/dev/null
	lines=$(grep -c 'connections already open' "$T/m.err")
	[ "$lines" -ge 1 ] && [ "$lines" -le 25 ] || fail "$lines lines for $out clients over the limit"
	grep -qE '[0-9]+ similar lines not shown' "$T/m.err" || fail "no count of suppressed lines: $(tail -n 3 "$T/m.err")"
	figure "limit flood ($out in 2.5 s): $lines lines, then: $(grep -E 'similar lines' "$T/m.err" | head -n 1)"
}

t_fd_levels() {
	# Open fds of every process back at their level after 500 sequential
	# connections, every tenth aborted.
	server "$NSB" 127.0.0.1 8816 echo
	launched 8816 9816
	procs="$BRIDGE_PID $(children "$BRIDGE_PID")"
	out=$(in_a $PEER client 127.0.0.1 9816 sequential 20) || fail "warm-up: $out"
	sleep 0.5
	before=$(fd_count $procs)
	out=$(in_a $PEER client 127.0.0.1 9816 sequential 500) || fail "500 connections: $out"
	sleep 0.5
	after=$(fd_count $procs)
	assert_eq "$after" "$before" "open fds of launcher, agents after 500 connections"
	figure "fds (launcher, agents) after warm-up: $before; after 500 connections, 50 aborted: $after"
}

t_accept_emfile() {
	# The accepting agent out of fds while clients keep coming: little CPU,
	# the transfer in flight finishes, service comes back by itself.
	# $1: client (ntb-listen accepts) or listener (ntb-connect's workers do).
	local who
	server "$NSB" 127.0.0.1 8817 echo
	LISTEN_ARGS="--hand-off $1" pair "@ntbt-$$-af" 8817 9817
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9817 paced 30 100000 >"$T/paced.out" 2>&1
	busy=$LAST_PID
	wait_for "$T/paced.out" STARTED
	who=$LPID
	[ "$1" = listener ] && who=$CPID
	n=$(lowest_free_fd "$who")
	prlimit --pid "$who" --nofile="$n:" || fail "prlimit failed"
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9817 flood 150 3 >"$T/flood.out"
	flood=$LAST_PID
	sleep 0.5
	a=$(cpu_ticks "$LPID" "$CPID")
	sleep 2
	b=$(cpu_ticks "$LPID" "$CPID")
	wait "$flood"
	# 5 % of 2 s is 10 ticks (USER_HZ 100), for both agents together.
	[ $((b - a)) -le 10 ] || fail "the pair used $((b - a)) ticks in 2 s with accepts failing"
	wait "$busy" || fail "the transfer in flight was cut: $(cat "$T/paced.out")"
	grep -q "cannot accept" "$T/$([ "$1" = listener ] && echo c || echo l).err" ||
		fail "no line about the fd limit"
	prlimit --pid "$who" --nofile=4096: || fail "prlimit failed"
	sleep 2.5	# the longest pause of accepting, UTIL_BACKOFF_MAX_MS
	out=$(in_a $PEER client 127.0.0.1 9817 bulk 100000) || fail "after fds are free again: $out"
	figure "accepts failing (EMFILE), clients arriving ($(cat "$T/flood.out")): pair CPU $((b - a)) ticks in 2 s; served again after the limit was raised"
}

t_listener_mode_fd_limit() {
	# Listener hand-off, ntb-connect started with a low fd limit, 100
	# clients at once: each is served or reset within 3 s (the workers
	# give up a spare pipe to accept and reset one), none left waiting in
	# the backlog; once they are gone, new clients are served.  Two
	# limits, one odd and one even: every served client holds two fds, so
	# with one of them the workers end with no fd at all (accept4 fails,
	# the client would stay in the backlog) rather than with one (the
	# client is accepted and reset when its target socket cannot be made).
	# With several workers (the argument) the fds one worker frees from its spare
	# can be taken by another's accept and target socket (a served
	# client); a worker left with no spare gives the listening socket back,
	# and ntb-listen accepts and hands over (or resets) the rest.
	# "nospare": every worker's spare is lost from the start (a test hook),
	# as that race would leave them.
	local workers=$1 nospare=${2:-} lim out all="" env=()
	[ -n "$nospare" ] && env=(env NTB_TEST_NO_SPARE=0xffff)
	server "$NSB" 127.0.0.1 8823 whoami
	for lim in 64 65; do
		bg "${env[@]}" prlimit --nofile=$lim:$lim "$B/ntb-connect" -n "$NB" -c 127.0.0.1:8823 \
			-r "@ntbt-$$-lf$lim" -w "$workers" 2>>"$T/c.err"
		CPID=$LAST_PID
		bg "$B/ntb-listen" -n "$A" -l 127.0.0.1:9823 -r "@ntbt-$$-lf$lim" --hand-off listener \
			2>>"$T/l.err"
		LPID=$LAST_PID
		wait_listen "$NSA" 9823
		out=$(in_a $PEER client 127.0.0.1 9823 hold 100 3)
		assert_match "$out" "DATA=[1-9]" "clients served at $lim fds"
		assert_match "$out" "TIMEOUT=0$" "clients neither served nor reset within 3 s at $lim fds"
		sleep 0.5
		for i in 1 2 3; do
			out2=$(in_a $PEER client 127.0.0.1 9823 probe 3)
			assert_eq "$out2" DATA "a client after the others left ($lim fds, $i)"
		done
		all="$all; $lim fds: $out"
		kill "$LPID" "$CPID"
		wait_gone "$LPID" 3 && wait_gone "$CPID" 3 || fail "agents did not stop"
	done
	if [ -n "$nospare" ]; then
		grep -q "with no spare left to reset clients with: giving listening socket 0 back" "$T/c.err" ||
			fail "no line about giving the listening socket back: $(cat "$T/c.err")"
	else
		# With several workers a spare can be lost before any client is
		# reset with it: then the listening socket went back instead.
		local said="cannot accept a client; reset it"
		[ "$workers" -gt 1 ] && said="$said|no spare left to reset clients with"
		grep -qE "$said" "$T/c.err" ||
			fail "no line about resetting at the fd limit: $(cat "$T/c.err")"
	fi
	figure "listener hand-off, $workers workers${nospare:+ (no spare pipes)}, ntb-connect at a low fd limit, 100 clients at once$all; served again after they left"
}

t_spread_over_workers() {
	# Listener hand-off through the launcher, 4 workers, 8 long
	# connections opened one after another, each echoing before the next
	# opens: each lands on a worker with the fewest open, 2 each.
	# EPOLLEXCLUSIVE alone wakes the same idle worker first every time, so
	# they would pile onto one.
	local pid c
	server "$NSB" 127.0.0.1 8826 echo
	launched 8826 9826 -w 4
	rm -f "$T/stop"
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9826 chain 8 20 "$T/stop" >"$T/chain.out"
	pid=$LAST_PID
	wait_for "$T/chain.out" "^READY" 10 || fail "the 8 connections did not open: $(cat "$T/chain.out")"
	kill -USR1 "$BRIDGE_PID"
	wait_for "$T/bridge.err" "ntb-connect: stats:"
	touch "$T/stop"
	wait "$pid" || fail "the held connections: $(cat "$T/chain.out")"
	assert_match "$(cat "$T/chain.out")" "OK 8" "the held connections"
	c=$(grep "ntb-connect: stats:" "$T/bridge.err")
	assert_match "$c" "open 8 \(per worker 2/2/2/2\)," "connections per worker"
	figure "8 long connections one after another, 4 workers: $(printf '%s' "$c" | grep -oE 'open 8 \([^)]*\)')"
}

t_default_workers() {
	# Without -w, one worker per two usable CPUs, at least one: the
	# stats line has a count per worker.  (The suite's NTB_TEST_WORKERS,
	# which keeps several workers on a small machine, is set aside.)
	local -x NTB_TEST_WORKERS=0
	local want=$(( $(nproc) / 2 )) c n out
	[ "$want" -ge 1 ] || want=1
	[ "$want" -le 64 ] || want=64
	server "$NSB" 127.0.0.1 8827 echo
	launched 8827 9827
	# One client through first: ntb-connect is serving, its workers made.
	out=$(in_a $PEER client 127.0.0.1 9827 bulk 1000) || fail "client: $out"
	kill -USR1 "$BRIDGE_PID"
	wait_for "$T/bridge.err" "ntb-connect: stats:"
	c=$(grep "ntb-connect: stats:" "$T/bridge.err")
	assert_match "$c" "\(per worker [0-9/]+\)" "the stats line"
	n=$(printf '%s' "$c" | grep -oE '\(per worker [0-9/]+\)' | tr -cd / | wc -c)
	assert_match "$((n + 1))" "^$want\$" "workers by default on $(nproc) CPUs ($c)"
}

t_1000_concurrent() {
	# 1,000 connections at once, 1 MiB of checked data each way on each.
	bg ip netns exec "$NSB" "$LOAD" echo 8818
	wait_listen "$NSB" 8818
	launched 8818 9818
	if ! out=$(in_a "$LOAD" mesh 9818 1000 1048576 120); then
		# Why each bad connection ended, and the pair's own counts.
		kill -USR1 "$BRIDGE_PID"
		sleep 0.5
		fail "$out
$(tail -n 20 "$T/bridge.err")"
	fi
	assert_match "$out" "^OK conns=1000 intact=1000 unfinished=0" "mesh"
	figure "1000 concurrent x 1 MiB each way, checked byte by byte: $out"
}

t_pipe_slots() {
	# A pipe can run out of slots (one fragment each, however small) before
	# it runs out of bytes; then the read splice says EAGAIN with bytes
	# still in the socket, and no event will come for them.  Forced here:
	# the agents run as a user whose pipes are past fs.pipe-user-pages-soft
	# (held by a hog of that user), so every pipe has two slots, behind a
	# target that reads slowly, and the client ends on small writes.
	local user=ntbslots
	id "$user" >/dev/null 2>&1 ||
		useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$user" || fail "cannot create user $user"
	bg python3 "$TOP/tests/tools/slots.py" hog "$user" >"$T/hog.out"
	wait_for "$T/hog.out" "^held [0-9]+" 10
	bg ip netns exec "$NSB" python3 "$TOP/tests/tools/slots.py" slowsink 127.0.0.1 8822
	wait_listen "$NSB" 8822
	launched 8822 9822 --user "$user"
	out=$(in_a python3 "$TOP/tests/tools/slots.py" trickle 127.0.0.1 9822 10) || fail "bytes stranded in a socket:
$out"
	figure "two-slot pipes, slow target: $(echo "$out" | tail -n 1); hog: $(cat "$T/hog.out")"
}

t_9000_idle() {
	# 9,000 idle connections held; a new one still gets its first byte in
	# 100 ms.  ntb-connect holds two fds per connection.
	bg ip netns exec "$NSB" "$LOAD" echo 8819
	wait_listen "$NSB" 8819
	launched 8819 9819 --max-connections 10000
	coproc IDLE { ip netns exec "$NSA" "$LOAD" idle 9819 9000; }
	echo "$IDLE_PID" >>"$T/pids"
	read -r -t 100 line <&"${IDLE[0]}" || fail "idle connections not ready"
	assert_eq "$line" "ready" "idle holder"
	out=$(in_a "$LOAD" firstbyte 9819 50) || fail "$out"
	max=$(printf '%s' "$out" | sed -n 's/.*max_ms=\([0-9]*\).*/\1/p')
	[ "$max" -lt 100 ] || fail "first byte took up to $max ms with 9000 idle: $out"
	cfds=$(fd_count $(children "$BRIDGE_PID"))
	figure "9000 idle connections held (agents' fds: $cfds); 50 new ones: $out"
}

t_never_reads() {
	# A target that accepts and never reads: the pair holds at most a
	# pipe's worth, and another connection moves 64 MiB at full speed.
	cg=/sys/fs/cgroup/memory/ntbt-$$
	mkdir -p "$cg" || fail "no memory cgroup"
	bg ip netns exec "$NSB" $PEER server 127.0.0.1 8820 sink
	bg ip netns exec "$NSB" $PEER server 127.0.0.1 8821 echo
	wait_listen "$NSB" 8821
	bg sh -c "echo \$\$ >$cg/cgroup.procs && exec $B/netns-tcp-bridge -l 127.0.0.1:9820-9821 -f $A -c 127.0.0.1:8820-8821 -t $NB" 2>>"$T/bridge.err"
	BRIDGE_PID=$LAST_PID
	wait_listen "$NSA" 9821
	kids=$(children "$BRIDGE_PID")
	t0=$(ms_now)
	out=$(in_a $PEER client 127.0.0.1 9821 bulk 67108864) || fail "64 MiB alone: $out"
	alone=$(($(ms_now) - t0))
	rss0=$(rss_kib $kids)
	mem0=$(cat "$cg/memory.usage_in_bytes")
	bg ip netns exec "$NSA" $PEER client 127.0.0.1 9820 push 209715200 30 >"$T/push.out" 2>&1
	wait_for "$T/push.out" SENT 30
	t0=$(ms_now)
	out=$(in_a $PEER client 127.0.0.1 9821 bulk 67108864) || fail "64 MiB beside the stalled one: $out"
	beside=$(($(ms_now) - t0))
	rss1=$(rss_kib $kids)
	mem1=$(cat "$cg/memory.usage_in_bytes")
	inpipes=$(pipe_bytes $kids)
	procs=$(wc -l <"$cg/cgroup.procs")
	sent=$(sed -n 's/^SENT //p' "$T/push.out")
	grow=$(((mem1 - mem0) / 1024))
	kill "$BRIDGE_PID"
	wait_gone "$BRIDGE_PID" 3
	rmdir "$cg" 2>/dev/null
	# Bounded by the pipe (256 KiB, 1 MiB once the direction moved bulk
	# while the target's socket buffers still took it) and the kernel's
	# socket buffers, not by what the client pushed.
	[ "$procs" -ge 3 ] || fail "only $procs processes in the memory cgroup"
	[ "$grow" -lt 16384 ] || fail "the pair's memory grew by $grow KiB while $sent bytes were pushed at a target that never reads"
	[ $((rss1 - rss0)) -lt 2048 ] || fail "the agents' RSS grew by $((rss1 - rss0)) KiB"
	[ "$inpipes" -gt 0 ] && [ "$inpipes" -le 1048576 ] || fail "$inpipes bytes in the relay's pipes (one pipe's worth, 1048576, at most)"
	[ "$beside" -lt $((alone * 2 + 1000)) ] || fail "64 MiB took $beside ms beside the stalled connection, $alone ms alone"
	figure "target never reads: client got $sent of 209715200 bytes out; pair memory (cgroup, $procs processes) $((mem0 / 1024)) -> $((mem1 / 1024)) KiB, agents' RSS +$((rss1 - rss0)) KiB, bytes held in pipes $inpipes; 64 MiB echo alone $alone ms, beside it $beside ms"
}

# lent_and_left NAME PORT [clear]: ntb-listen on A:PORT and @NAME, whose
# peer is a fake ntb-connect: it takes the listening socket, makes it
# blocking, and goes, keeping its copy (with "clear", it makes it blocking
# again every 5 ms).  Three clients are then reset for want of a peer.
# Sets LPID.
lent_and_left() {
	python3 - "$1" "${3:-}" >"$T/fake.out" 2>&1 <<-'EOF' &
	import array, fcntl, socket, struct, sys, time
	s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
	s.bind("\0" + sys.argv[1])
	s.listen(1)
	c, _ = s.accept()
	s.close()                       # no second meeting: ntb-listen stays peerless
	c.recv(64)                      # its HELLO
	c.sendall(struct.pack("!BBHIHHHH", 1, 0, 12, 0x4E544221, 4, 2, 1, 1))
	fds = array.array("i")
	msg, anc, _, _ = c.recvmsg(64, socket.CMSG_SPACE(4))
	for level, kind, data in anc:
	    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
	        fds.frombytes(data[:4])
	fcntl.fcntl(fds[0], fcntl.F_SETFL, 0)   # blocking, for everyone holding it
	print("LISTENER %d" % msg[0], flush=True)
	c.close()
	while True:                     # the copy stays open; the test ends us
	    if sys.argv[2] == "clear":
	        fcntl.fcntl(fds[0], fcntl.F_SETFL, 0)
	    time.sleep(0.005 if sys.argv[2] == "clear" else 30)
	EOF
	echo $! >>"$T/pids"
	sleep 0.3
	bg "$B/ntb-listen" -n "name:$NSA" -l "127.0.0.1:$2" -r "@$1" --hand-off listener 2>>"$T/l.err"
	LPID=$LAST_PID
	wait_for "$T/l.err" "lost ntb-connect"
	assert_eq "$(cat "$T/fake.out")" "LISTENER 3" "what the fake ntb-connect was sent"
	for i in 1 2 3; do
		out=$(in_a $PEER client 127.0.0.1 "$2" probe 3)
		assert_eq "$out" RESET "client $i while no ntb-connect is there"
	done
}

# stop_listen: ntb-listen (LPID) still stops on SIGTERM.
stop_listen() {
	kill "$LPID"
	wait_gone "$LPID" 3 || fail "ntb-listen did not stop on SIGTERM: $(cat /proc/$LPID/wchan 2>/dev/null)"
}

t_lost_peer_left_listener_blocking() {
	# ntb-listen takes the socket back non-blocking: it resets clients
	# until a peer is back, and still stops on SIGTERM, rather than
	# sleeping in accept4().
	lent_and_left ntbt-$$-lb 9520
	# Made non-blocking when the peer went: the accept alarm (1 s) never
	# has to act on the accept4() after the last client.
	sleep 2.5
	grep -q "blocked accept4" "$T/l.err" && fail "accept4() blocked: $(cat "$T/l.err")"
	stop_listen
}

t_lost_peer_keeps_blocking() {
	# The fake keeps making its copy blocking after it went: ntb-listen's
	# accept4() on a socket it lent is cut short by a one-second alarm, so
	# it still serves its signals.
	lent_and_left ntbt-$$-lk 9522 clear
	wait_for "$T/l.err" "blocked accept4\(\) \(the ntb-connect that had it made it blocking\)"
	stop_listen
}

# flood PORT: 600 clients to A:PORT, held open for 20 s: more than a peer's
# queue holds records for (about 280).
flood() {
	ip netns exec "$NSA" python3 - "$1" <<-'EOF' &
	import socket, sys, time
	held = []
	for i in range(600):
	    try:
	        held.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2))
	    except OSError:
	        pass
	time.sleep(20)
	EOF
	echo $! >>"$T/pids"
}

t_stalled_peer_fd() {
	# The same stall on an inherited fd:N rendezvous, where no other
	# ntb-connect can come: the peer is kept, the client in hand is reset,
	# and accepting waits until the peer reads again; SIGTERM works
	# meanwhile.
	python3 - "$B" "$NSA" >"$T/fd.out" 2>"$T/l.err" <<-'EOF' &
	import socket, struct, subprocess, sys, time
	b, na = sys.argv[1:3]
	x, y = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
	l = subprocess.Popen([b + "/ntb-listen", "-n", "name:" + na, "-l", "127.0.0.1:9523",
	                      "-r", "fd:%d" % y.fileno()], pass_fds=[y.fileno()])
	y.close()
	x.recv(64)                      # its HELLO
	x.sendall(struct.pack("!BBHIHHHH", 1, 0, 12, 0x4E544221, 4, 2, 1, 0))
	print(l.pid, flush=True)
	time.sleep(9)                   # nothing read for a while, then all of it
	x.settimeout(30)
	while x.recv(64):
	    pass
	EOF
	echo $! >>"$T/pids"
	for _ in $(seq 1 50); do [ -s "$T/fd.out" ] && break; sleep 0.1; done
	LPID=$(cat "$T/fd.out")
	echo "$LPID" >>"$T/pids"
	wait_listen "$NSA" 9523
	flood 9523
	wait_for "$T/l.err" "ntb-connect took no record for 5 s; reset a client, and accept no more until it takes one" 15
	kill -0 "$LPID" 2>/dev/null || fail "ntb-listen exited: $(cat "$T/l.err")"
	kill -USR1 "$LPID"
	wait_for "$T/l.err" "ntb-listen: stats:" 2
	wait_for "$T/l.err" "ntb-connect takes records again; accepting" 15
	stop_listen
}

t_stalled_peer() {
	# A fake ntb-connect greets and then reads nothing: once its queue is
	# full, ntb-listen's hand-off waits 5 s at most, drops it as lost, and
	# still stops on SIGTERM, rather than sleeping in sendmsg() for ever.
	local name=ntbt-$$-st
	python3 - "$name" >"$T/fake.out" 2>&1 <<-'EOF' &
	import socket, struct, sys, time
	s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
	s.bind("\0" + sys.argv[1])
	s.listen(1)
	c, _ = s.accept()
	s.close()
	c.recv(64)                      # its HELLO
	c.sendall(struct.pack("!BBHIHHHH", 1, 0, 12, 0x4E544221, 4, 2, 1, 0))
	time.sleep(30)                  # and nothing read: the test ends us
	EOF
	echo $! >>"$T/pids"
	sleep 0.3
	bg "$B/ntb-listen" -n "name:$NSA" -l 127.0.0.1:9521 -r "@$name" 2>>"$T/l.err"
	LPID=$LAST_PID
	wait_listen "$NSA" 9521
	flood 9521
	wait_for "$T/l.err" "lost ntb-connect on @$name \(took no record for 5 s\)" 15
	stop_listen
}

run_test bulk_grows_pipes t_bulk_grows_pipes
run_test fast_stop_resets_both_ends t_fast_stop
run_test graceful_stop_finishes_transfer t_graceful_stop
run_test graceful_stop_listener_mode_resets_new t_graceful_stop_listener_mode
run_test graceful_stop_sender_gone_no_warning t_graceful_stop_sender_gone
run_test drain_timeout_resets t_drain_timeout
run_test target_killed_client_sees_reset t_target_killed
run_test client_killed_target_sees_reset t_client_killed
run_test connect_restart_abstract t_connect_restart_abstract
run_test connect_restart_path t_connect_restart_path
run_test listen_death_connect_goes_on t_listen_death
run_test handoff_emfile_resets_client t_handoff_emfile
run_test idle_timeout t_idle_timeout
run_test slot_starved_pipe_echo t_slot_starved_pipe
run_test keepalive t_keepalive
run_test counters_exact t_counters
run_test floods_rate_limited t_flood_rate_limited
run_test fd_levels_500_connections t_fd_levels
run_test accept_emfile_low_cpu t_accept_emfile client
run_test accept_emfile_low_cpu_listener_mode t_accept_emfile listener
run_test listener_mode_fd_limit_resets t_listener_mode_fd_limit 1
run_test listener_mode_fd_limit_resets_4_workers t_listener_mode_fd_limit 4
run_test listener_mode_fd_limit_no_spare_gives_back t_listener_mode_fd_limit 4 nospare
run_test spread_over_workers t_spread_over_workers
run_test default_workers t_default_workers
run_test load_1000_concurrent_1mib t_1000_concurrent
run_test load_9000_idle t_9000_idle
run_test pipe_slots_run_out t_pipe_slots
run_test target_never_reads t_never_reads
run_test end_reasons_counted t_end_reasons
run_test lost_peer_left_listener_blocking t_lost_peer_left_listener_blocking
run_test lost_peer_keeps_listener_blocking t_lost_peer_keeps_blocking
run_test stalled_peer_dropped t_stalled_peer
run_test stalled_peer_on_fd_kept t_stalled_peer_fd
exit 0
