#!/usr/bin/env bash
# Bad input of every kind: one line on stderr naming the problem, the
# documented exit status, no crash, nothing left running.
. "$(dirname "$0")/../lib.sh"
ns_setup || { echo "FAIL $SUITE: cannot create network namespaces (run as root)"; exit 1; }

A=/run/netns/$NSA
NB=/run/netns/$NSB

# expect STATUS PATTERN CMD...: exit status, and one stderr line matching.
expect() {
	local want=$1 pattern=$2 err rc
	shift 2
	err=$(timeout 10 "$@" 2>&1 >/dev/null)
	rc=$?
	[ $rc = 124 ] && fail "hung: $*"
	[ $rc -ge 128 ] && fail "crashed with signal $((rc - 128)): $*"
	assert_eq "$rc" "$want" "exit status of: $*"
	assert_one_line "$err" "stderr of: $*"
	assert_match "$err" "$pattern" "stderr of: $*"
}

t_launcher_arguments() {
	local br=$B/netns-tcp-bridge
	expect 2 "missing -l/--listen" "$br"
	expect 2 "missing -c/--connect" "$br" -l 127.0.0.1:1
	expect 2 "bad address '1.2.3.4' for --listen" "$br" -l 1.2.3.4 -c 127.0.0.1:1
	expect 2 "bad address 'x:80' for --connect" "$br" -l 127.0.0.1:1 -c x:80
	expect 2 "bad address '\[::1\]' for --listen" "$br" -l '[::1]' -c 127.0.0.1:1
	expect 2 "bad address '127.0.0.1:70000' for --connect" "$br" -l 127.0.0.1:1 -c 127.0.0.1:70000
	expect 2 "unknown option '--frobnicate'" "$br" --frobnicate
	expect 2 "option -l needs a value" "$br" -l
	expect 2 "unexpected argument 'extra'" "$br" -l 127.0.0.1:1 -c 127.0.0.1:2 extra
	expect 2 "-l or -L \(any number\), and -S: give exactly one" "$br" -l 127.0.0.1:1 -S 0 -c 127.0.0.1:2
	expect 2 "-l/-L give 1 listening sockets but -c gives 2 targets" \
		"$br" -l 127.0.0.1:1 -c 127.0.0.1:2 -c 127.0.0.1:3
	expect 2 "-l/-L give 4 listening sockets but -c gives 3 targets" \
		"$br" -l 127.0.0.1:1-4 -c 127.0.0.1:2-4
	expect 2 "bad address '127.0.0.1:5-4' for --listen" "$br" -l 127.0.0.1:5-4 -c 127.0.0.1:2
	expect 2 "-l/-L: 1025 listening sockets, more than 1024" \
		"$br" -l 127.0.0.1:1000-2024 -c 127.0.0.1:1000-2024
	expect 2 "file descriptor 77 is not open" "$br" -L 77 -c 127.0.0.1:2
	expect 2 "--listen-fd: not a socket" "$br" -L 0 -c 127.0.0.1:2 </dev/null
	expect 2 "--connect-fd: not a socket" "$br" -l 127.0.0.1:1 -C 0 </dev/null
	expect 2 "--preaccepted-fd: not a socket" "$br" -S 0 -c 127.0.0.1:2 </dev/null
	# ntb-connect's refusals of combinations, from the launcher before anything starts.
	expect 2 "--route and --transparent-source: not both" \
		"$br" -l 127.0.0.1:1 --route --allow tcp://10.0.0.0/8 --transparent-source
	# A connected socket to pass as -S/-C: a connection to ourselves in A.
	local conn=(--listen L "$A" 127.0.0.1 9031 --connect C "$A" 127.0.0.1 9031)
	expect 2 "--transparent-source: not with -C/--connect-fd" \
		$FDEXEC "${conn[@]}" -- "$br" -l 127.0.0.1:1 -C {C} --transparent-source
	# One connected socket as both -S and -C: it would be relayed to itself.
	expect 2 "-S and -C name the same socket \\(fd [0-9]+ and [0-9]+\\): the client would be relayed to itself" \
		$FDEXEC "${conn[@]}" -- "$br" -S {C} -C {C}
	# Or as a dup of it.
	expect 2 "-S and -C name the same socket \\(fd [0-9]+ and [0-9]+\\)" \
		$FDEXEC "${conn[@]}" --dup D C -- "$br" -S {C} -C {D}
	expect 2 "expected a number from 1 to 64" "$br" -l 127.0.0.1:1 -c 127.0.0.1:2 -w 0
	expect 2 "bad value '65' for --workers: expected a number from 1 to 64" \
		"$br" -l 127.0.0.1:1 -c 127.0.0.1:2 -w 65
	expect 2 "expected kill or log" "$br" -l 127.0.0.1:1 -c 127.0.0.1:2 --seccomp off
	expect 2 "--user: no such user" "$br" -l 127.0.0.1:1 -c 127.0.0.1:2 --user nosuchuser-ntb
}

t_launcher_namespace_files() {
	local br=$B/netns-tcp-bridge
	expect 1 "cannot open namespace /nonexistent/ns: No such file or directory" \
		"$br" -l 127.0.0.1:1 -f /nonexistent/ns -c 127.0.0.1:2
	expect 1 "cannot use namespace /etc/hostname: not a namespace file" \
		"$br" -l 127.0.0.1:1 -f /etc/hostname -c 127.0.0.1:2
	expect 1 "cannot use namespace /proc/self/ns/uts: it is a namespace, but not a network namespace" \
		"$br" -l 127.0.0.1:1 -c 127.0.0.1:2 -t /proc/self/ns/uts
	expect 1 "cannot use namespace --connect-netns-fd: not a namespace file" \
		"$br" -l 127.0.0.1:1 -c 127.0.0.1:2 -T 0 </etc/hostname
	expect 1 "cannot open namespace /run/netns/ntb-no-such" \
		"$br" -l 127.0.0.1:1 -c 127.0.0.1:2 -f /run/netns/ntb-no-such
	# A FIFO must not hold open() forever.
	mkfifo "$T/fifo"
	expect 1 "cannot use namespace $T/fifo: not a namespace file" \
		"$br" -l 127.0.0.1:1 -f "$T/fifo" -c 127.0.0.1:2
	expect 1 "cannot use namespace $T/fifo: not a namespace file" \
		"$B/ntb-listen" -l 127.0.0.1:1 -r @x -n "$T/fifo"
}

t_rendezvous_directories() {
	# A socket file only where nobody else can swap a directory on its path.
	mkdir -m 777 "$T/open" && chmod 777 "$T/open"
	expect 1 "cannot bind rendezvous $T/open/r.sock: directory $T/open is writable by others" \
		"$B/ntb-connect" -c 127.0.0.1:1 -r "$T/open/r.sock"
	mkdir "$T/theirs" && chown 65534 "$T/theirs"
	expect 1 "directory $T/theirs belongs to uid 65534, not to root or us" \
		"$B/ntb-connect" -c 127.0.0.1:1 -r "$T/theirs/r.sock"
	[ -e "$T/open/r.sock" ] || [ -e "$T/theirs/r.sock" ] && fail "a socket file was made"
	# Sticky and world-writable (/tmp) is fine.
	mkdir -m 1777 "$T/sticky" && chmod 1777 "$T/sticky"
	bg "$B/ntb-connect" -c 127.0.0.1:1 -r "$T/sticky/r.sock" 2>"$T/c.err"
	for _ in $(seq 1 50); do [ -S "$T/sticky/r.sock" ] && break; sleep 0.1; done
	[ -S "$T/sticky/r.sock" ] || fail "no socket in a sticky directory: $(cat "$T/c.err")"
	# A symbolic link there is its maker's: another user's is refused ...
	mkdir "$T/mine"
	ln -s "$T/mine" "$T/sticky/theirs" && chown -h 65534 "$T/sticky/theirs"
	expect 1 "symbolic link $T/sticky/theirs belongs to uid 65534, not to root or us" \
		"$B/ntb-connect" -c 127.0.0.1:1 -r "$T/sticky/theirs/r.sock"
	# ... and where one of ours leads is checked as well.
	ln -s "$T/open" "$T/sticky/ours"
	expect 1 "directory $T/open is writable by others" \
		"$B/ntb-connect" -c 127.0.0.1:1 -r "$T/sticky/ours/r.sock"
	# A live socket of another type is not stale: it stays.
	bg python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(1)
time.sleep(30)' "$T/mine/stream.sock"
	for _ in $(seq 1 50); do [ -S "$T/mine/stream.sock" ] && break; sleep 0.1; done
	expect 1 "cannot bind rendezvous $T/mine/stream.sock: another process is listening on it: Protocol wrong type for socket" \
		"$B/ntb-connect" -c 127.0.0.1:1 -r "$T/mine/stream.sock"
	[ -S "$T/mine/stream.sock" ] || fail "a live stream socket was unlinked"
}

t_agent_arguments() {
	expect 2 "missing -r/--rendezvous" "$B/ntb-listen" -l 127.0.0.1:1
	expect 2 "give -l/--listen or -L/--listen-fd \\(any number\\), or one -S" "$B/ntb-listen" -r @x
	expect 2 "bad rendezvous 'nowhere' for --rendezvous" "$B/ntb-listen" -l 127.0.0.1:1 -r nowhere
	expect 2 "bad namespace 'pid:abc' for --netns" "$B/ntb-listen" -l 127.0.0.1:1 -r @x -n pid:abc
	expect 2 "bad namespace 'name:../x' for --netns" "$B/ntb-connect" -c 127.0.0.1:1 -r @x -n name:../x
	expect 2 "missing -c/--connect" "$B/ntb-connect" -r @x
	expect 2 "-n/--netns: give one namespace, once" \
		"$B/ntb-listen" -l 127.0.0.1:1 -r @x -n /proc/self/ns/net -n /nonexistent
	expect 2 "-r/--rendezvous: give one rendezvous, once" "$B/ntb-connect" -c 127.0.0.1:1 -r @x -r @y
	expect 2 "more than 1024 listening sockets" "$B/ntb-listen" -r @x -l 127.0.0.1:1000-2024
	expect 2 "bad address '127.0.0.1:1000-2024' for --connect: .*1024 targets at most" \
		"$B/ntb-connect" -r @x -c 127.0.0.1:1000-2024
	expect 2 "bad value '99' for --connect-fd: file descriptor 99 is not open" \
		"$B/ntb-connect" -C 99 -r @x
	expect 1 "cannot use rendezvous fd:0: not a unix SOCK_SEQPACKET socket" \
		"$B/ntb-connect" -c 127.0.0.1:1 -r fd:0 </dev/null
	expect 1 "cannot open namespace /proc/999999999/ns/net" \
		"$B/ntb-connect" -c 127.0.0.1:1 -r @ntbt-$$-x -n pid:999999999
	expect 1 "cannot connect to rendezvous @ntbt-$$-nobody within 0 ms" \
		"$B/ntb-listen" -l 127.0.0.1:1 -r @ntbt-$$-nobody --rendezvous-timeout 0
	expect 1 "cannot bind rendezvous /etc/hostname: it exists and is not a socket" \
		"$B/ntb-connect" -c 127.0.0.1:1 -r /etc/hostname
	expect 2 "bad value '60,10' for --keepalive: expected IDLE,INTERVAL,COUNT" \
		"$B/ntb-connect" -c 127.0.0.1:1 -r @x --keepalive 60,10
	expect 2 "bad value '1,1,128' for --keepalive" \
		"$B/netns-tcp-bridge" -l 127.0.0.1:1 -c 127.0.0.1:1 --keepalive 1,1,128
	expect 2 "bad value '0' for --idle-timeout: expected a number from 1 to 86400" \
		"$B/ntb-connect" -c 127.0.0.1:1 -r @x --idle-timeout 0
	expect 2 "bad value 'x' for --stats" "$B/ntb-listen" -l 127.0.0.1:1 -r @x --stats x
	expect 2 "bad value '3601' for --drain-timeout" \
		"$B/netns-tcp-bridge" -l 127.0.0.1:1 -c 127.0.0.1:1 --drain-timeout 3601
	# A long option only in part is refused, never read as another one.
	expect 2 "unknown option '--allow-u': long options are taken in full only \\(--allow-uid\\?\\)" \
		"$B/ntb-connect" -c 127.0.0.1:1 -r @x --allow-u 0
	expect 2 "unknown option '--rendezvous-time': long options are taken in full only" \
		"$B/ntb-listen" -l 127.0.0.1:1 -r @x --rendezvous-time 3
	expect 2 "unknown option '--max-conn': long options are taken in full only" \
		"$B/netns-tcp-bridge" -l 127.0.0.1:1 -c 127.0.0.1:1 --max-conn=5
	expect 2 "unknown option '--pub': long options are taken in full only" \
		"$B/ntb-oci-hook" --pub 1=2
	expect 2 "bad value 'v3' for --proxy-protocol: expected v1 or v2" \
		"$B/netns-tcp-bridge" -l 127.0.0.1:1 -c 127.0.0.1:1 --proxy-protocol v3
	expect 2 "bad value 'v0' for --proxy-protocol: expected v1 or v2" \
		"$B/ntb-connect" -c 127.0.0.1:1 -r @x --proxy-protocol v0
}

t_busy_port() {
	server "$NSA" 127.0.0.1 9301 echo
	expect 1 "ntb-listen: cannot bind 127.0.0.1:9301: Address already in use" \
		"$B/netns-tcp-bridge" -l 127.0.0.1:9301 -f "$A" -c 127.0.0.1:1 -t "$NB"
}

t_path_rendezvous_in_use() {
	bg "$B/ntb-connect" -c 127.0.0.1:1 -r "$T/busy.sock"
	for _ in $(seq 1 50); do [ -S "$T/busy.sock" ] && break; sleep 0.1; done
	expect 1 "another process is listening on it" "$B/ntb-connect" -c 127.0.0.1:1 -r "$T/busy.sock"
	# A stale socket file (its owner gone) is replaced.
	kill "$LAST_PID"; wait_gone "$LAST_PID" 2
	bg "$B/ntb-connect" -c 127.0.0.1:1 -r "$T/busy.sock" 2>"$T/err2"
	sleep 0.5
	kill -0 "$LAST_PID" || fail "stale socket file not replaced: $(cat "$T/err2")"
}

t_help_and_version() {
	for p in netns-tcp-bridge ntb-listen ntb-connect ntb-oci-hook; do
		out=$("$B/$p" --help) || fail "$p --help failed"
		assert_match "$out" "^Usage: $p" "$p --help"
		out=$("$B/$p" --version) || fail "$p --version failed"
		assert_match "$out" "^$p [0-9]+\.[0-9]+" "$p --version"
	done
}

t_help_matches_man() {
	for pair in netns-tcp-bridge:1 ntb-listen:8 ntb-connect:8 ntb-oci-hook:8; do
		p=${pair%:*}
		help=$("$B/$p" --help | grep -oE -e '--[a-z][a-z-]+' | sort -u)
		man=$(sed '/^\.SH EXAMPLES/,$d' "$TOP/man/$p.${pair#*:}" | grep -oE '\\-\\-[a-z][a-z\\-]+' | sed 's/\\-/-/g' | sort -u)
		[ -n "$help" ] || fail "$p --help lists no options"
		[ "$help" = "$man" ] || fail "$p: --help and man page differ: $(diff <(echo "$help") <(echo "$man") | grep '^[<>]' | tr '\n' ' ')"
		# And the code accepts every option the help lists.
		for o in $help; do
			out=$("$B/$p" "$o" 2>&1 </dev/null)
			printf '%s' "$out" | grep -q "unknown option" && fail "$p rejects its own $o"
		done
	done
	return 0
}

run_test launcher_bad_arguments t_launcher_arguments
run_test launcher_bad_namespace_files t_launcher_namespace_files
run_test agent_bad_arguments t_agent_arguments
run_test rendezvous_directories t_rendezvous_directories
run_test port_in_use t_busy_port
run_test path_rendezvous_in_use_or_stale t_path_rendezvous_in_use
run_test help_and_version t_help_and_version
run_test help_matches_man_page t_help_matches_man
exit 0
