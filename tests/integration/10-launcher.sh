#!/usr/bin/env bash
# Forwarding through the netns-tcp-bridge launcher, with real clients and
# servers in two throwaway network namespaces.
. "$(dirname "$0")/../lib.sh"
ns_setup || { echo "FAIL $SUITE: cannot create network namespaces (run as root)"; exit 1; }

A=/run/netns/$NSA
NB=/run/netns/$NSB

# bridged SRVPORT MODE PORT [LOG]: a peer.py server in B, the launcher from
# A:PORT to it, both ready.
bridged() {
	server "$NSB" 127.0.0.1 "$1" "$2" "${4:-/dev/null}"
	bridge -l "127.0.0.1:$3" -f "$A" -c "127.0.0.1:$1" -t "$NB"
	wait_listen "$NSA" "$3"
}

t_http_curl() {
	mkdir -p "$T/www" && echo "hello through the bridge" >"$T/www/index.html"
	bg ip netns exec "$NSB" python3 -m http.server -d "$T/www" --bind 127.0.0.1 8080
	wait_listen "$NSB" 8080
	bridge -l 127.0.0.1:9000 -f "$A" -c 127.0.0.1:8080 -t "$NB"
	wait_listen "$NSA" 9000
	out=$(in_a curl -sS --max-time 10 http://127.0.0.1:9000/index.html) || fail "curl failed: $out"
	assert_eq "$out" "hello through the bridge" "page"
	# The server really is unreachable from A without the bridge.
	in_a curl -sS --max-time 3 http://127.0.0.1:8080/ >/dev/null 2>&1 && fail "server reachable directly"
	return 0
}

t_ipv6() {
	server "$NSB" ::1 8081 echo
	bridge -l '[::1]:9001' -f "$A" -c '[::1]:8081' -t "$NB"
	wait_listen "$NSA" 9001
	out=$(in_a $PEER client ::1 9001 bulk 100000) || fail "bulk over IPv6: $out"
	return 0
}

t_bulk_64mib_each_way() {
	bridged 8082 echo 9002
	out=$(in_a $PEER client 127.0.0.1 9002 bulk $((64 * 1024 * 1024))) || fail "$out"
	assert_match "$out" "^OK 67108864 bytes each way"
}

t_parallel_200() {
	bridged 8083 echo 9003
	out=$(in_a $PEER client 127.0.0.1 9003 parallel 200 65536) || fail "$out"
	assert_match "$out" "OK 200 of 200 connections intact"
}

t_halfclose_client_side() {
	bridged 8084 replyeof 9004
	# The client shuts down writing; the server's answer must still arrive.
	out=$(in_a $PEER client 127.0.0.1 9004 halfclose) || fail "reply lost after client FIN: $out"
}

t_halfclose_server_side() {
	bridged 8085 finfirst 9005 "$T/srv.log"
	# The server shuts down writing first; the client still sends after it.
	out=$(in_a $PEER client 127.0.0.1 9005 finfirst) || fail "client saw: $out"
	for _ in $(seq 1 50); do [ -s "$T/srv.log" ] && break; sleep 0.1; done
	assert_eq "$(cat "$T/srv.log")" "GOT after-fin" "server log"
}

t_reset_from_client() {
	bridged 8086 observe 9006 "$T/srv.log"
	in_a $PEER client 127.0.0.1 9006 rstclient || fail "client could not connect"
	for _ in $(seq 1 50); do [ -s "$T/srv.log" ] && break; sleep 0.1; done
	assert_match "$(cat "$T/srv.log")" "^RESET 5$" "server saw"
}

t_reset_from_server() {
	bridged 8087 rst 9007
	out=$(in_a $PEER client 127.0.0.1 9007 expectreset) || fail "client saw $out, not a reset"
}

t_refused_then_up() {
	bridge -l 127.0.0.1:9008 -f "$A" -c 127.0.0.1:8088 -t "$NB"
	wait_listen "$NSA" 9008
	start=$(date +%s%N)
	out=$(in_a $PEER client 127.0.0.1 9008 probe 5)
	ms=$((($(date +%s%N) - start) / 1000000))
	assert_eq "$out" "RESET" "client of a refused target"
	[ $ms -lt 3000 ] || fail "reset took $ms ms"
	server "$NSB" 127.0.0.1 8088 echo
	out=$(in_a $PEER client 127.0.0.1 9008 bulk 10000) || fail "after target came up: $out"
	grep -q "cannot connect to 127.0.0.1:8088" "$T/bridge.err" ||
		fail "no log line for the refused connect"
	kill -0 "$BRIDGE_PID" || fail "bridge died"
}

t_connect_timeout() {
	# A target whose accept queue is full drops SYNs: connects hang.
	bg ip netns exec "$NSB" python3 -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 8096)); s.listen(0)
fill = [socket.socket() for _ in range(4)]
for f in fill:
    f.setblocking(False)
    try: f.connect(("127.0.0.1", 8096))
    except BlockingIOError: pass
time.sleep(60)'
	wait_listen "$NSB" 8096
	sleep 0.5
	bridge -l 127.0.0.1:9016 -f "$A" -c 127.0.0.1:8096 -t "$NB" --connect-timeout 1
	wait_listen "$NSA" 9016
	start=$(date +%s%N)
	out=$(in_a $PEER client 127.0.0.1 9016 probe 10)
	ms=$((($(date +%s%N) - start) / 1000000))
	assert_eq "$out" "RESET" "client of a target that never answers"
	[ $ms -ge 900 ] && [ $ms -lt 4000 ] || fail "reset after $ms ms, not about 1 s"
	grep -q "timed out after 1000 ms" "$T/bridge.err" || fail "no time-out logged"
}

t_listen_fd() {
	server "$NSB" 127.0.0.1 8089 echo
	bg $FDEXEC --listen L "$A" 127.0.0.1 9009 -- \
		"$B/netns-tcp-bridge" -L '{L}' -c 127.0.0.1:8089 -t "$NB"
	wait_listen "$NSA" 9009
	out=$(in_a $PEER client 127.0.0.1 9009 bulk 100000) || fail "-L: $out"
	out=$(in_a $PEER client 127.0.0.1 9009 bulk 100000) || fail "-L second client: $out"
}

# single_client WHAT PORT FDEXEC-ARGS...: a bulk client to A:PORT and a
# launcher started by fdexec for it; both must end well, the launcher
# because its one client is done.
single_client() {
	local what=$1 port=$2 client br rc
	shift 2
	bg in_a $PEER client 127.0.0.1 "$port" bulk 200000
	client=$LAST_PID
	bg $FDEXEC "$@" 2>"$T/err"
	br=$LAST_PID
	wait "$client" || fail "client through $what failed"
	wait_gone "$br" 10 || { kill "$br"; fail "$what did not exit after its client"; }
	wait "$br"; rc=$?
	assert_eq "$rc" 0 "exit status of $what"
}

t_preaccepted_and_connect() {
	server "$NSB" 127.0.0.1 8090 echo
	single_client "-S -c" 9010 --listen L "$A" 127.0.0.1 9010 --accept S L -- \
		"$B/netns-tcp-bridge" -S '{S}' -c 127.0.0.1:8090 -t "$NB"
}

t_preaccepted_and_connect_fd() {
	server "$NSB" 127.0.0.1 8091 echo
	single_client "-S -C" 9011 --listen L "$A" 127.0.0.1 9011 --accept S L \
		--connect C "$NB" 127.0.0.1 8091 -- "$B/netns-tcp-bridge" -S '{S}' -C '{C}'
}

t_listen_and_connect_fd() {
	server "$NSB" 127.0.0.1 8092 echo
	bg $FDEXEC --connect C "$NB" 127.0.0.1 8092 -- \
		"$B/netns-tcp-bridge" -l 127.0.0.1:9012 -f "$A" -C '{C}' 2>"$T/err"
	br=$LAST_PID
	wait_listen "$NSA" 9012
	out=$(in_a $PEER client 127.0.0.1 9012 bulk 300000) || fail "-l -C: $out"
	wait_gone "$br" 10 || { kill "$br"; fail "-l -C did not exit after its one client"; }
	wait "$br"; rc=$?
	assert_eq "$rc" 0 "exit status of -l -C"
}

t_netns_fds() {
	server "$NSB" 127.0.0.1 8093 echo
	bg $FDEXEC --nsfd FA "$A" --nsfd FB "$NB" -- \
		"$B/netns-tcp-bridge" -l 127.0.0.1:9013 -F '{FA}' -c 127.0.0.1:8093 -T '{FB}'
	wait_listen "$NSA" 9013
	out=$(in_a $PEER client 127.0.0.1 9013 bulk 100000) || fail "-F -T: $out"
}

t_installed_drop_in() {
	# make install, then the original's name, as a drop-in.
	make -s -C "$TOP" B="$B" install DESTDIR="$T/root" PREFIX=/usr >/dev/null ||
		fail "make install failed"
	[ -L "$T/root/usr/bin/netns_tcp_bridge" ] || fail "no netns_tcp_bridge link"
	[ -x "$T/root/usr/libexec/netns-tcp-bridge/ntb-oci-hook" ] || fail "no ntb-oci-hook in libexec"
	for m in man1/netns-tcp-bridge.1 man8/ntb-listen.8 man8/ntb-connect.8 man8/ntb-oci-hook.8 \
		man7/ntb-rendezvous.7; do
		[ -f "$T/root/usr/share/man/$m" ] || fail "man page $m not installed"
	done
	server "$NSB" 127.0.0.1 8097 echo
	bg "$T/root/usr/bin/netns_tcp_bridge" -l 127.0.0.1:9017 -f "$A" -c 127.0.0.1:8097 -t "$NB"
	wait_listen "$NSA" 9017
	out=$(in_a $PEER client 127.0.0.1 9017 bulk 100000) || fail "installed drop-in: $out"
	for k in $(children "$LAST_PID"); do
		case $(readlink /proc/$k/exe) in
		"$T/root/usr/bin/"*) ;;
		*) fail "agent $k runs $(readlink /proc/$k/exe), not the installed one" ;;
		esac
	done
}

# agent_pid NAME: the launcher's child running NAME.
agent_pid() {
	local k
	for k in $(children "$BRIDGE_PID"); do
		grep -qx "$1" /proc/$k/comm 2>/dev/null && echo "$k"
	done
}

t_many_workers() {
	# Issue 7, items 1 and 2: past 8 threads glibc's malloc read a file
	# under the sandbox (SIGSYS), and past 30 workers the sandbox closed
	# worker fds.  300 clients at once reach every worker.
	local w conn
	server "$NSB" 127.0.0.1 8098 echo
	for w in 12 40 64; do
		bridge -l 127.0.0.1:9018 -f "$A" -c 127.0.0.1:8098 -t "$NB" -w $w
		wait_listen "$NSA" 9018
		conn=$(agent_pid ntb-connect)
		n=$(ls /proc/"$conn"/task | wc -l)
		assert_eq "$n" $((w + 1)) "ntb-connect threads with -w $w (workers and the watchdog)"
		out=$(in_a $PEER client 127.0.0.1 9018 parallel 300 65536) || fail "-w $w: $out"
		assert_match "$out" "OK 300 of 300" "-w $w"
		kill -0 "$BRIDGE_PID" || fail "-w $w: the bridge died: $(cat "$T/bridge.err")"
		kill "$BRIDGE_PID"
		wait_gone "$BRIDGE_PID" 5 || fail "-w $w: bridge did not stop"
		grep -q "SIGSYS\|Bad file descriptor" "$T/bridge.err" && fail "-w $w: $(cat "$T/bridge.err")"
	done
	return 0
}

t_listen_death_with_connection_open() {
	# The launcher itself must stop ntb-connect: with a connection open,
	# ntb-connect would otherwise keep running.
	bridged 8099 echo 9019
	bg in_a $PEER client 127.0.0.1 9019 probe 20
	sleep 0.5
	kill -9 "$(agent_pid ntb-listen)"
	wait_gone "$BRIDGE_PID" 5 || fail "launcher still running after ntb-listen died"
	wait "$BRIDGE_PID"; rc=$?
	assert_eq "$rc" 1 "launcher exit status"
	grep -q "ntb-listen was killed by signal 9" "$T/bridge.err" || fail "no line: $(cat "$T/bridge.err")"
}

t_sighup_to_agent() {
	# An agent that stops when nobody told it to is a failure of the bridge.
	bridged 8100 echo 9020
	lp=$(agent_pid ntb-listen)
	[ -n "$lp" ] || fail "no ntb-listen child"
	# Serving, signals taken by its signalfd: the sandbox is the last step.
	for _ in $(seq 1 50); do grep -q $'Seccomp:\t2' /proc/"$lp"/status && break; sleep 0.05; done
	kill -HUP "$lp"
	wait_gone "$BRIDGE_PID" 5 || fail "launcher still running"
	wait "$BRIDGE_PID"; rc=$?
	assert_eq "$rc" 1 "launcher exit status"
	grep -q "ntb-listen exited with status 0 before it was told to stop" "$T/bridge.err" ||
		fail "no line: $(cat "$T/bridge.err")"
}

t_stderr_reader_gone() {
	# A launcher whose stderr pipe has no reader must still exit 1, not
	# die of SIGPIPE, when it has something to say.
	server "$NSB" 127.0.0.1 8101 echo
	rc=$(python3 - "$B/netns-tcp-bridge" "$A" "$NB" <<-'EOF'
	import os, subprocess, sys, time
	r, w = os.pipe()
	p = subprocess.Popen([sys.argv[1], "-l", "127.0.0.1:9021", "-f", sys.argv[2],
	                      "-c", "127.0.0.1:8101", "-t", sys.argv[3]], stderr=w)
	os.close(w); os.close(r)
	time.sleep(1)
	kids = open("/proc/%d/task/%d/children" % (p.pid, p.pid)).read().split()
	for k in kids:
	    if open("/proc/%s/comm" % k).read().strip() == "ntb-connect":
	        os.kill(int(k), 9)
	print(p.wait(timeout=10))
	EOF
	)
	assert_eq "$rc" 1 "launcher exit status with no stderr reader"
}

t_inetd_stdin() {
	# inetd style: the client on fd 0 (-S 0).
	server "$NSB" 127.0.0.1 8102 echo
	single_client "-S 0" 9022 --listen L "$A" 127.0.0.1 9022 --accept S L -- \
		/bin/bash -c 'exec "$0" -S 0 -c 127.0.0.1:8102 -t "$1" 0<&"$2" {S}<&-' \
		"$B/netns-tcp-bridge" "$NB" '{S}'
}

t_max_connections() {
	bridge -l 127.0.0.1:9023 -f "$A" -c 127.0.0.1:8103 -t "$NB" --max-connections 2
	server "$NSB" 127.0.0.1 8103 echo
	wait_listen "$NSA" 9023
	bg in_a $PEER client 127.0.0.1 9023 probe 20
	bg in_a $PEER client 127.0.0.1 9023 probe 20
	sleep 1
	out=$(in_a $PEER client 127.0.0.1 9023 probe 5)
	assert_eq "$out" "RESET" "third client over --max-connections 2"
	grep -q "refused, 2 connections already open" "$T/bridge.err" || fail "no line: $(cat "$T/bridge.err")"
}

t_verbose() {
	server "$NSB" 127.0.0.1 8104 echo
	bridge -l 127.0.0.1:9024 -f "$A" -c 127.0.0.1:8104 -t "$NB" -v -v
	wait_listen "$NSA" 9024
	in_a $PEER client 127.0.0.1 9024 bulk 1000 >/dev/null || fail "no forwarding"
	sleep 0.3
	grep -q "ntb-connect: relaying to 127.0.0.1:8104 with" "$T/bridge.err" || fail "no -v line"
	grep -q "ntb-connect: client 127.0.0.1:[0-9]*: relaying" "$T/bridge.err" || fail "no -v -v line"
}

# stop_with SIGNAL: the launcher stops both agents, exits 0, says nothing.
stop_with() {
	bridged 8095 echo 9015
	kids=$(children "$BRIDGE_PID")
	kill -"$1" "$BRIDGE_PID"
	wait_gone "$BRIDGE_PID" 5 || fail "launcher ignored SIG$1"
	wait "$BRIDGE_PID"; rc=$?
	assert_eq "$rc" 0 "exit status after SIG$1"
	for k in $kids; do wait_gone "$k" 2 || fail "agent $k left behind"; done
	[ -s "$T/bridge.err" ] && fail "unexpected messages: $(cat "$T/bridge.err")"
	return 0
}

t_port_ranges() {
	# Issue 8: repeated -l/-c and port ranges pair up in order.
	bg ip netns exec "$NSB" $PEER server 127.0.0.1 8600 whoami --last 8603
	wait_listen "$NSB" 8603
	bridge -l 127.0.0.1:9600-9602 -l '[::1]:9603' -f "$A" -c 127.0.0.1:8600-8603 -t "$NB"
	wait_listen "$NSA" 9603
	for i in 0 1 2; do
		out=$(in_a $PEER client 127.0.0.1 960$i read) || fail "960$i: $out"
		assert_eq "$out" "PORT 860$i" "listener 960$i"
	done
	out=$(in_a $PEER client ::1 9603 read) || fail "[::1]:9603: $out"
	assert_eq "$out" "PORT 8603" "listener [::1]:9603"
}

t_agent_death() {
	bridged 8094 echo 9014
	kids=$(children "$BRIDGE_PID")
	[ "$(echo $kids | wc -w)" = 2 ] || fail "expected two agents, found: $kids"
	conn=""
	for k in $kids; do grep -q ntb-connect /proc/$k/comm && conn=$k; done
	[ -n "$conn" ] || fail "no ntb-connect child"
	kill -9 "$conn"
	wait_gone "$BRIDGE_PID" 5 || fail "launcher still running after ntb-connect died"
	wait "$BRIDGE_PID"; rc=$?
	assert_eq "$rc" 1 "launcher exit status after an agent died"
	grep -q "ntb-connect was killed by signal 9" "$T/bridge.err" ||
		fail "no line naming ntb-connect: $(cat "$T/bridge.err")"
	for k in $kids; do wait_gone "$k" 2 || fail "agent $k left behind"; done
	in_a ss -Hltn "sport = :9014" | grep -q . && fail "port still listening"
	return 0
}

t_sigterm() { stop_with TERM; }
t_sigint() { stop_with INT; }
t_sighup() { stop_with HUP; }

run_test http_curl t_http_curl
run_test ipv6 t_ipv6
run_test bulk_64mib_each_way t_bulk_64mib_each_way
run_test parallel_200_connections t_parallel_200
run_test halfclose_client_fin t_halfclose_client_side
run_test halfclose_server_fin t_halfclose_server_side
run_test reset_from_client t_reset_from_client
run_test reset_from_server t_reset_from_server
run_test refused_target_then_up t_refused_then_up
run_test connect_timeout t_connect_timeout
run_test listen_fd t_listen_fd
run_test preaccepted_with_connect t_preaccepted_and_connect
run_test preaccepted_with_connect_fd t_preaccepted_and_connect_fd
run_test listen_with_connect_fd t_listen_and_connect_fd
run_test netns_fds t_netns_fds
run_test installed_drop_in t_installed_drop_in
run_test agent_death t_agent_death
run_test sigterm t_sigterm
run_test sigint t_sigint
run_test sighup t_sighup
run_test many_workers_300_clients t_many_workers
run_test listen_death_with_connection_open t_listen_death_with_connection_open
run_test sighup_to_agent_is_a_failure t_sighup_to_agent
run_test stderr_reader_gone t_stderr_reader_gone
run_test inetd_client_on_stdin t_inetd_stdin
t_signals_at_start() {
	# SIGUSR1 as soon as the launcher takes it, while its agents start:
	# an agent that has no signalfd yet must not die of its default
	# action.
	server "$NSB" 127.0.0.1 8105 echo
	bridge -l 127.0.0.1:9025 -f "$A" -c 127.0.0.1:8105 -t "$NB"
	# The launcher's own start is not what is tested: wait until it blocks SIGUSR1.
	for _ in $(seq 1 2000); do
		mask=$(awk '/^SigBlk:/ { print $2 }' /proc/"$BRIDGE_PID"/status 2>/dev/null)
		[ -n "$mask" ] && (( 0x$mask & 0x200 )) && break
		sleep 0.005
	done
	(( 0x${mask:-0} & 0x200 )) || fail "the launcher never blocked SIGUSR1"
	for _ in $(seq 1 25); do kill -USR1 "$BRIDGE_PID"; sleep 0.004; done
	wait_listen "$NSA" 9025
	out=$(in_a $PEER client 127.0.0.1 9025 bulk 1000) || fail "after SIGUSR1 at start: $out"
	kill -0 "$BRIDGE_PID" || fail "the launcher is gone: $(cat "$T/bridge.err")"
	grep -q "killed by signal" "$T/bridge.err" && fail "an agent died: $(cat "$T/bridge.err")"
	return 0
}

run_test max_connections t_max_connections
run_test signals_at_start t_signals_at_start
run_test verbose t_verbose
run_test port_ranges_pair_up t_port_ranges
exit 0
