#!/usr/bin/env bash
# Issue 10, the client's address at the server: PROXY protocol out of
# ntb-connect (to HAProxy's accept-proxy), and into ntb-listen from a
# front HAProxy; the
# client's own address as the source (--transparent-source), as root and
# as an ordinary user in user namespaces of its own.  The
# clients come from addresses the test gives namespace A on a veth pair,
# so the server can tell them from the bridge's own 127.0.0.1.
. "$(dirname "$0")/../lib.sh"
ns_setup || { echo "FAIL $SUITE: cannot create network namespaces (run as root)"; exit 1; }

A=/run/netns/$NSA
NB=/run/netns/$NSB

# Client addresses in A: 10.77.0.2 and fd77::2 talk to 10.77.0.1 and fd77::1.
ip -n "$NSA" link add ntbva type veth peer name ntbvb
ip -n "$NSA" addr add 10.77.0.1/24 dev ntbva
ip -n "$NSA" addr add 10.77.0.2/24 dev ntbvb
ip -n "$NSA" addr add fd77::1/64 dev ntbva nodad
ip -n "$NSA" addr add fd77::2/64 dev ntbvb nodad
ip -n "$NSA" link set ntbva up
ip -n "$NSA" link set ntbvb up

# Servers in B on a veth: 10.88.0.1 and fd88::1 (10.88.0.3 has no rule);
# replies from them to A's client prefixes are routed back locally.
ip -n "$NSB" link add ntbwa type veth peer name ntbwb
ip -n "$NSB" addr add 10.88.0.1/24 dev ntbwa
ip -n "$NSB" addr add 10.88.0.3/24 dev ntbwa
ip -n "$NSB" addr add fd88::1/64 dev ntbwa nodad
ip -n "$NSB" link set ntbwa up
ip -n "$NSB" link set ntbwb up
ip -n "$NSB" rule add from 10.88.0.1 lookup 100
ip -n "$NSB" route add local 10.77.0.0/24 dev lo table 100
ip -n "$NSB" -6 rule add from fd88::1 lookup 100
ip -n "$NSB" -6 route add local fd77::/64 dev lo table 100
# A client prefix with no local route in table 100.
ip -n "$NSA" addr add 10.66.0.2/24 dev ntbvb
# Namespace C, beyond B on the veth (route mode's "outside"): 10.88.0.2, fd88::2.
NSC=ntbt-$$-c
ip netns add "$NSC" || { echo "FAIL $SUITE: cannot create a third namespace"; exit 1; }
trap 'ip netns del "$NSC" 2>/dev/null; suite_cleanup' EXIT
ip -n "$NSC" link set lo up
ip -n "$NSB" link set ntbwb netns "$NSC"
ip -n "$NSC" addr add 10.88.0.2/24 dev ntbwb
ip -n "$NSC" addr add fd88::2/64 dev ntbwb nodad
ip -n "$NSC" link set ntbwb up

# HAProxy in B on 127.0.0.1:PORT and [::1]:PORT, expecting PROXY headers
# (accept-proxy): it answers with the client the header named (src,
# src_port) and whom it really talks to (fc_src).
proxy_reader() {
	local port=$1
	cat >"$T/reader-$port.cfg" <<-CONF
	global
	    maxconn 64
	defaults
	    mode http
	    timeout connect 5s
	    timeout client 10s
	    timeout server 10s
	frontend f
	    bind 127.0.0.1:$port accept-proxy
	    bind [::1]:$port accept-proxy
	    http-request return status 200 content-type text/plain lf-string "%[src] %[src_port] %[fc_src]\n"
	CONF
	bg ip netns exec "$NSB" haproxy -db -f "$T/reader-$port.cfg"
	wait_listen "$NSB" "$port"
}

# curl_from SRC PORT URL: the page, fetched from SRC:PORT in A.
curl_from() {
	in_a curl -sS --max-time 10 --interface "$1" --local-port "$2" "$3"
}

proxy_out() {
	local v=$1 port=$2
	proxy_reader 89$port
	bridge -l 10.77.0.1:99$port -l "[fd77::1]:99$port" -l "[::]:98$port" -f "$A" \
		-c 127.0.0.1:89$port -c "[::1]:89$port" -c 127.0.0.1:89$port -t "$NB" --proxy-protocol "$v"
	wait_listen "$NSA" 99$port
	out=$(curl_from 10.77.0.2 41$port "http://10.77.0.1:99$port/") || fail "IPv4: $out $(cat "$T/bridge.err")"
	assert_eq "$out" "10.77.0.2 41$port 127.0.0.1" "what HAProxy (accept-proxy) saw over IPv4 ($v)"
	out=$(curl_from fd77::2 42$port "http://[fd77::1]:99$port/") || fail "IPv6: $out $(cat "$T/bridge.err")"
	assert_eq "$out" "fd77::2 42$port ::1" "what HAProxy (accept-proxy) saw over IPv6 ($v)"
	# An IPv4 client of a dual-stack listener is named as IPv4, not ::ffff:.
	wait_listen "$NSA" 98$port
	out=$(curl_from 10.77.0.2 43$port "http://10.77.0.1:98$port/") || fail "dual-stack: $out $(cat "$T/bridge.err")"
	assert_eq "$out" "10.77.0.2 43$port 127.0.0.1" "what HAProxy saw of an IPv4 client of [::] ($v)"
}

t_proxy_v1() { proxy_out v1 01; }
t_proxy_v2() { proxy_out v2 02; }

t_accept_proxy_haproxy() {
	# A front HAProxy in A sends PROXY (v1, then v2) to ntb-listen; the
	# addresses it names go on to the reader in B in ntb-connect's v2 header.
	proxy_reader 8903
	bridge -l 127.0.0.1:9903 -f "$A" -c 127.0.0.1:8903 -t "$NB" --accept-proxy --proxy-protocol v2
	wait_listen "$NSA" 9903
	cat >"$T/haproxy.cfg" <<-CONF
	global
	    maxconn 64
	defaults
	    mode tcp
	    timeout connect 5s
	    timeout client 10s
	    timeout server 10s
	listen v1
	    bind 10.77.0.1:7001
	    bind [fd77::1]:7001
	    server s 127.0.0.1:9903 send-proxy
	listen v2
	    bind 10.77.0.1:7002
	    bind [fd77::1]:7002
	    server s 127.0.0.1:9903 send-proxy-v2
	CONF
	bg ip netns exec "$NSA" haproxy -db -f "$T/haproxy.cfg"
	wait_listen "$NSA" 7002
	out=$(curl_from 10.77.0.2 43001 http://10.77.0.1:7001/) || fail "v1 front: $out"
	assert_eq "$out" "10.77.0.2 43001 127.0.0.1" "the reader behind HAProxy (v1) and the bridge"
	out=$(curl_from fd77::2 43002 "http://[fd77::1]:7002/") || fail "v2 front: $out"
	assert_eq "$out" "fd77::2 43002 127.0.0.1" "the reader behind HAProxy (v2, IPv6) and the bridge"
}

t_accept_proxy_refusals() {
	# Missing, malformed, slow or split headers: one line each, a reset for
	# the bad ones, and the bytes after a good header untouched.
	server "$NSB" 127.0.0.1 8904 echo
	bridge -l 127.0.0.1:9904 -f "$A" -c 127.0.0.1:8904 -t "$NB" --accept-proxy
	wait_listen "$NSA" 9904
	out=$(in_a python3 - <<-'EOF'
	import errno, socket, struct, time
	def talk(chunks, pause=0.0, wait=5):
	    s = socket.create_connection(("127.0.0.1", 9904), timeout=wait)
	    try:
	        for c in chunks:
	            s.sendall(c)
	            time.sleep(pause)
	        s.shutdown(socket.SHUT_WR)
	        data = b""
	        while True:
	            b = s.recv(65536)
	            if not b:
	                return "EOF " + data.decode(errors="replace")
	            data += b
	    except socket.timeout:
	        return "TIMEOUT"
	    except OSError as e:
	        # The reset, wherever it surfaced: a read, a write, the shutdown.
	        return "RESET" if e.errno in (errno.ECONNRESET, errno.ENOTCONN, errno.EPIPE) else "ERROR %s" % e
	v2 = (b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c" + socket.inet_aton("192.0.2.7") +
	      socket.inet_aton("198.51.100.1") + struct.pack("!HH", 5555, 80))
	print("plain", talk([b"GET / HTTP/1.0\r\n\r\n"]))
	print("bad-v1", talk([b"PROXY TCP4 1.2.3.4 nowhere 1 2\r\nhello"]))
	print("long-v1", talk([b"PROXY " + b"x" * 200]))
	print("good-v1", talk([b"PROXY TCP4 192.0.2.7 198.51.100.1 5555 80\r\nhello"]))
	print("split-v2", talk([v2[:9], v2[9:20], v2[20:] + b"hello"], pause=0.3))
	print("half-fin", talk([b"PROX"]))
	t = time.time()
	s = socket.create_connection(("127.0.0.1", 9904), timeout=10)
	try:
	    r = "EOF" if not s.recv(10) else "DATA"
	except ConnectionResetError:
	    r = "RESET"
	print("silent %s %.1f" % (r, time.time() - t))
	EOF
	)
	assert_match "$out" "plain RESET" "a client without a header"
	assert_match "$out" "bad-v1 RESET" "a malformed v1 header"
	assert_match "$out" "long-v1 RESET" "a v1 line too long"
	assert_match "$out" "good-v1 EOF hello" "data after a good v1 header"
	assert_match "$out" "split-v2 EOF hello" "a v2 header in three pieces"
	assert_match "$out" "half-fin RESET" "half a header, then FIN"
	assert_match "$out" "silent RESET [34]\\." "a client that sends nothing, reset after 3 s"
	for why in "no PROXY header" "bad address or port in a PROXY v1 line" \
		"PROXY v1 line longer than 107 bytes" "no complete PROXY header within 3 s" \
		"it closed before its PROXY header was whole"; do
		grep -q "$why" "$T/bridge.err" || fail "no line saying '$why': $(cat "$T/bridge.err")"
	done
	kill -0 "$BRIDGE_PID" || fail "the bridge died"
	figure "refusals: $(echo $out)"
}

# The client talks from SRC to 10.77.0.1:PORT: TALK SRC PORT DATA in python.
PY_TALK='
import errno, socket
def talk(src, port, data):
    s = socket.socket()
    s.settimeout(5)
    s.bind((src, 0))
    try:
        # A reset that lands during the handshake surfaces in connect().
        s.connect(("10.77.0.1", port))
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        buf = b""
        while True:
            b = s.recv(65536)
            if not b:
                return "EOF " + buf.decode(errors="replace")
            buf += b
    except socket.timeout:
        return "TIMEOUT"
    except OSError as e:
        return "RESET" if e.errno in (errno.ECONNRESET, errno.ENOTCONN, errno.EPIPE) else "ERROR %s" % e
HDR = b"PROXY TCP4 192.0.2.7 198.51.100.1 5555 80\r\nhello"
'

t_accept_proxy_from() {
	# Only the front proxy named may send headers: a client from another
	# address, with a perfectly good header, is reset with one line.
	server "$NSB" 127.0.0.1 8909 echo
	bridge -l 10.77.0.1:9909 -f "$A" -c 127.0.0.1:8909 -t "$NB" --accept-proxy \
		--accept-proxy-from tcp://10.77.0.1 --accept-proxy-from "tcp://[fd77::1]"
	wait_listen "$NSA" 9909
	out=$(in_a python3 -c "$PY_TALK
print('front', talk('10.77.0.1', 9909, HDR))
print('other', talk('10.77.0.2', 9909, HDR))")
	assert_match "$out" "front EOF hello" "a client from the front proxy's address"
	assert_match "$out" "other RESET" "a client from another address"
	grep -q "client 10.77.0.2:[0-9]*: reset, not a front proxy that --accept-proxy-from allows" "$T/bridge.err" ||
		fail "no line for the client that may not send headers: $(cat "$T/bridge.err")"
	figure "--accept-proxy-from 10.77.0.1: $(echo $out)"
}

t_accept_proxy_per_source() {
	# One source holding every header slot it may (16) does not lock out
	# another: 256 silent clients from 10.77.0.2, then one from 10.77.0.1.
	server "$NSB" 127.0.0.1 8910 echo
	bridge -l 10.77.0.1:9910 -f "$A" -c 127.0.0.1:8910 -t "$NB" --accept-proxy
	wait_listen "$NSA" 9910
	out=$(in_a python3 -c "$PY_TALK
import subprocess, time
held = []
for i in range(256):
    s = socket.socket()
    s.bind(('10.77.0.2', 0))
    held.append(s)
    try:
        s.connect(('10.77.0.1', 9910))
        s.sendall(b'PROXY ')
    except OSError:
        pass  # reset already: over its source's share
# Until ntb-listen has taken them all: its accept queue (Recv-Q) is empty.
for _ in range(250):
    f = subprocess.run(['ss', '-ltnH', 'sport = :9910'], capture_output=True, text=True).stdout.split()
    if f and f[1] == '0':
        break
    time.sleep(0.02)
print('other', talk('10.77.0.1', 9910, HDR))
waiting = 0
for s in held:
    s.setblocking(False)
    try:
        s.recv(1)
    except BlockingIOError:
        waiting += 1
    except OSError:
        pass
print('waiting', waiting)")
	assert_match "$out" "other EOF hello" "a client from another source while one holds its share"
	n=$(printf '%s\n' "$out" | sed -n 's/^waiting //p')
	[ -n "$n" ] && [ "$n" -le 16 ] || fail "clients from one source left waiting: '$n', more than 16: $out"
	grep -q "client 10.77.0.2:[0-9]*: reset, 16 clients from its source (address, or IPv6 /64) already wait" "$T/bridge.err" ||
		fail "no line for the source over its share: $(cat "$T/bridge.err")"
	kill -0 "$BRIDGE_PID" || fail "the bridge died"
	figure "256 silent clients from one source, $n of them left waiting; another source served: $(echo $out)"
}

t_accept_proxy_arguments() {
	# Where a header decides the source or the destination, the front
	# proxies must be named: one line, exit 2.
	expect_usage() {
		local want=$1 rc
		shift
		err=$(timeout 10 "$@" 2>&1 </dev/null >/dev/null)
		rc=$?
		assert_eq "$rc" 2 "exit status of $*"
		assert_match "$err" "$want" "what $1 said"
		assert_eq "$(printf '%s\n' "$err" | wc -l)" 1 "lines from $*"
	}
	expect_usage "--accept-proxy with --transparent-source: give --accept-proxy-from RULE" \
		"$B/netns-tcp-bridge" -l 127.0.0.1:1 -c 127.0.0.1:2 --accept-proxy --transparent-source
	expect_usage "--accept-proxy with --route: give --accept-proxy-from RULE" \
		"$B/netns-tcp-bridge" -l 127.0.0.1:1 --route --allow tcp://10.0.0.0/8 --accept-proxy
	expect_usage "--accept-proxy with --transparent: give --accept-proxy-from RULE" \
		"$B/ntb-listen" -l 127.0.0.1:1 -r @ntbt-$$-ap --transparent --accept-proxy
	expect_usage "--accept-proxy with --transparent-source: give --accept-proxy-from RULE" \
		"$B/ntb-oci-hook" --accept-proxy --transparent-source
	expect_usage "--accept-proxy-from: only with --accept-proxy" \
		"$B/ntb-listen" -l 127.0.0.1:1 -r @ntbt-$$-ap --accept-proxy-from tcp://10.0.0.1
	expect_usage "--accept-proxy-from: only with --accept-proxy" \
		"$B/netns-tcp-bridge" -l 127.0.0.1:1 -c 127.0.0.1:2 --accept-proxy-from tcp://10.0.0.1
	expect_usage "bad rule 'tcp://10.0.0.1/8' for --accept-proxy-from" \
		"$B/netns-tcp-bridge" -l 127.0.0.1:1 -c 127.0.0.1:2 --accept-proxy --accept-proxy-from tcp://10.0.0.1/8
	# The launcher passes the rules on: a route-mode pair starts with them.
	bridge -l 127.0.0.1:9911 -f "$A" -t "$NB" --route --allow tcp://10.88.0.0/24 --accept-proxy \
		--accept-proxy-from tcp://127.0.0.1
	wait_listen "$NSA" 9911
	for k in $(children "$BRIDGE_PID"); do
		grep -q ntb-listen /proc/"$k"/comm && args=$(tr '\0' ' ' </proc/"$k"/cmdline)
	done
	assert_match "$args" "--accept-proxy-from tcp://127.0.0.1" "ntb-listen's command line"
}

t_transparent_source() {
	# The server sees the client's own address and port, IPv4 and IPv6.
	server "$NSB" 10.88.0.1 8905 peer
	server "$NSB" fd88::1 8915 peer
	bridge -l 10.77.0.1:9905 -l "[fd77::1]:9905" -f "$A" -c 10.88.0.1:8905 -c "[fd88::1]:8915" \
		-t "$NB" --transparent-source --user nobody
	wait_listen "$NSA" 9905
	out=$(in_a curl -sS --max-time 5 --interface 10.77.0.2 --local-port 44001 telnet://10.77.0.1:9905 </dev/null)
	assert_eq "$out" "PEER 10.77.0.2 44001" "what the server saw over IPv4"
	out=$(in_a curl -sS --max-time 5 --interface fd77::2 --local-port 44002 "telnet://[fd77::1]:9905" </dev/null)
	assert_eq "$out" "PEER fd77::2 44002" "what the server saw over IPv6: $(cat "$T/bridge.err")"
	for k in $(children "$BRIDGE_PID"); do grep -q ntb-connect /proc/"$k"/comm && cpid=$k; done
	cap=$(awk '/^CapEff/ { print $2 }' /proc/"$cpid"/status)
	assert_eq "$cap" 0000000000001000 "ntb-connect's effective capabilities (CAP_NET_ADMIN only)"
	figure "transparent source: server saw 10.77.0.2:44001 and [fd77::2]:44002; ntb-connect CapEff $cap"
}

t_transparent_refusals() {
	# Missing routes, a loopback target, a client outside the local routes:
	# one clear line each, never a connection that hangs.
	expect_exit() {
		local rc
		err=$(timeout 10 "$B/netns-tcp-bridge" -l 10.77.0.1:9906 -f "$A" -c "$1" -t "$NB" \
			--transparent-source 2>&1 >/dev/null)
		rc=$?
		assert_eq "$rc" 1 "exit status for target $1"
		assert_match "$err" "$2" "what the launcher said for target $1"
	}
	expect_exit 10.88.0.3:8906 "replies from 10.88.0.3:8906 to clients would not come back: add a rule"
	expect_exit 127.0.0.1:8906 "target 127.0.0.1:8906 is a loopback address, and the kernel drops packets"
	server "$NSB" 10.88.0.1 8906 peer
	bridge -l 10.77.0.1:9906 -f "$A" -c 10.88.0.1:8906 -t "$NB" --transparent-source
	wait_listen "$NSA" 9906
	t0=$(date +%s%N)
	out=$(in_a curl -sS --max-time 5 --interface 10.66.0.2 telnet://10.77.0.1:9906 </dev/null 2>&1)
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$ms" -lt 2000 ] || fail "a client outside the local routes waited $ms ms"
	grep -q "client 10.66.0.2:[0-9]*: refused, replies from 10.88.0.1:8906 would not come back: table 100" \
		"$T/bridge.err" || fail "no line for the client outside the routes: $(cat "$T/bridge.err")"
	printf '%s' "$out" | grep -q PEER && fail "a client outside the routes was served: $out"
	figure "client outside table 100's local routes: refused after $ms ms ($out)"
}

t_transparent_rootless() {
	# As an ordinary user: both namespaces in user namespaces of its own,
	# the agents started from outside; ntb-connect holds CAP_NET_ADMIN in
	# the target's user namespace only.
	mkdir -p "$T/u" && chmod 777 "$T/u"
	out=$(cd "$T/u" && timeout -k 5 60 setpriv --reuid=65534 --regid=65534 --clear-groups \
		env B="$B" PEER="$TOP/tests/tools/peer.py" bash -c '
	set -u
	unshare -Urn sleep 60 & HA=$!
	unshare -Urn sleep 60 & HB=$!
	sleep 0.3
	na() { nsenter -t $HA -U -n --preserve-credentials "$@"; }
	nb() { nsenter -t $HB -U -n --preserve-credentials "$@"; }
	na ip link set lo up; nb ip link set lo up
	na ip link add va type veth peer name vb
	na ip addr add 10.77.0.1/24 dev va; na ip addr add 10.77.0.2/24 dev vb
	na ip addr add fd77::1/64 dev va nodad; na ip addr add fd77::2/64 dev vb nodad
	na ip link set va up; na ip link set vb up
	nb ip link add wa type veth peer name wb
	nb ip addr add 10.88.0.1/24 dev wa; nb ip addr add fd88::1/64 dev wa nodad
	nb ip link set wa up; nb ip link set wb up
	nb ip rule add from 10.88.0.1 lookup 100
	nb ip route add local 10.77.0.0/24 dev lo table 100
	nb ip -6 rule add from fd88::1 lookup 100
	nb ip -6 route add local fd77::/64 dev lo table 100
	nsenter -t $HB -U -n --preserve-credentials python3 $PEER server 10.88.0.1 8907 peer & S=$!
	nsenter -t $HB -U -n --preserve-credentials python3 $PEER server fd88::1 8917 peer & S6=$!
	"$B/ntb-connect" -n pid:$HB -c 10.88.0.1:8907 -c "[fd88::1]:8917" -r @ntbt-rootless-$$ \
		--transparent-source 2>c.err & C=$!
	"$B/ntb-listen" -n pid:$HA -l 10.77.0.1:9907 -l "[fd77::1]:9907" -r @ntbt-rootless-$$ 2>l.err & L=$!
	sleep 1
	na curl -sS --max-time 5 --interface 10.77.0.2 --local-port 44007 telnet://10.77.0.1:9907 </dev/null
	na curl -sS --max-time 5 --interface fd77::2 --local-port 44017 "telnet://[fd77::1]:9907" </dev/null
	echo "CAP $(awk "/^CapEff/ { print \$2 }" /proc/$C/status)"
	kill $C $L $S $S6 $HA $HB 2>/dev/null; wait 2>/dev/null
	cat c.err l.err
	' 2>&1)
	assert_match "$out" "PEER 10.77.0.2 44007" "what the server saw (rootless): $out"
	assert_match "$out" "PEER fd77::2 44017" "what the server saw over IPv6 (rootless): $out"
	assert_match "$out" "CAP 0000000000001000" "ntb-connect's capabilities (rootless)"
	figure "rootless transparent source: $(printf '%s' "$out" | head -n 3 | tr '\n' ' ')"
}

t_route_mode() {
	# Namespace A reaches out: outbound TCP to 10.88.0.0/24 and fd88::/64 is
	# steered by nftables TPROXY to ntb-listen's transparent listeners, and
	# ntb-connect connects each to its original destination in B, as the
	# rules allow.
	in_a ip route add 10.88.0.0/24 dev ntbva
	in_a ip -6 route add fd88::/64 dev ntbva
	in_a ip route add 10.99.0.0/16 dev ntbva
	in_a ip -6 route add fd99::/64 dev ntbva
	in_a nft -f - <<-'NFT' || fail "nft failed"
	table inet ntbroute {
	    chain out {
	        type route hook output priority mangle;
	        ip daddr { 10.88.0.0/24, 10.99.0.0/16 } meta l4proto tcp meta mark set 1
	        ip6 daddr { fd88::/64, fd99::/64 } meta l4proto tcp meta mark set 1
	    }
	    chain pre {
	        type filter hook prerouting priority mangle;
	        meta mark 1 meta l4proto tcp ip daddr { 10.88.0.0/24, 10.99.0.0/16 } tproxy ip to 127.0.0.1:9950
	        meta mark 1 meta l4proto tcp ip6 daddr { fd88::/64, fd99::/64 } tproxy ip6 to [::1]:9951
	    }
	}
	NFT
	in_a ip rule add fwmark 1 lookup 100
	in_a ip route add local 0.0.0.0/0 dev lo table 100
	in_a ip -6 rule add fwmark 1 lookup 100
	in_a ip -6 route add local ::/0 dev lo table 100
	bg ip netns exec "$NSC" $PEER server 10.88.0.2 8921 whoami --last 8922
	bg ip netns exec "$NSC" $PEER server fd88::2 8923 whoami
	server "$NSB" 10.88.0.1 8924 whoami
	# B's own service on every address of B, those made local later included.
	server "$NSB" :: 8925 whoami
	wait_listen "$NSC" 8922
	wait_listen "$NSC" 8923
	bridge -l 127.0.0.1:9950 -l "[::1]:9951" -f "$A" -t "$NB" --route \
		--allow tcp://10.88.0.0/24:8921-8925 --allow "tcp://[fd88::]/64:8923-8925" \
		--allow tcp://10.99.0.0/16:8925 --allow "tcp://[fd99::]/64:8925" \
		--deny tcp://10.88.0.2/32:8922
	wait_listen "$NSA" 9951
	# Made local to B after the bridge started: an address (a VIP), and
	# AnyIP routes, which make whole prefixes local with no address at all.
	ip -n "$NSB" addr add 10.88.0.5/24 dev ntbwa
	ip -n "$NSB" route add local 10.99.0.0/16 dev lo
	ip -n "$NSB" -6 route add local fd99::/64 dev lo
	for dst in "10.88.0.5 8925" "10.99.0.7 8925" "fd99::7 8925"; do
		out=$(ip netns exec "$NSB" $PEER client $dst read)
		assert_eq "$out" "PORT 8925" "B's own service on $dst, from inside B"
	done
	out=$(in_a $PEER client 10.88.0.2 8921 read) || fail "allowed IPv4 destination: $out $(cat "$T/bridge.err")"
	assert_eq "$out" "PORT 8921" "A to 10.88.0.2:8921 in C, through the bridge and B"
	out=$(in_a $PEER client fd88::2 8923 read) || fail "allowed IPv6 destination: $out $(cat "$T/bridge.err")"
	assert_eq "$out" "PORT 8923" "A to [fd88::2]:8923 in C, through the bridge and B"
	for dst in "10.88.0.2 8922" "10.88.0.2 8926" "10.88.0.1 8924"; do
		out=$(in_a $PEER client $dst probe 3)
		assert_eq "$out" RESET "a client to $dst"
	done
	# Refusals log 5 lines a second at most: the next four in a new second.
	sleep 1.1
	# B's own IPv6 address, which an --allow covers (B's service on [::]
	# answers there): denied as the IPv4 one is.
	out=$(in_a $PEER client fd88::1 8925 probe 3)
	assert_eq "$out" RESET "a client to B's own IPv6 address [fd88::1]:8925"
	for dst in "10.88.0.5 8925" "10.99.0.7 8925" "fd99::7 8925"; do
		out=$(in_a $PEER client $dst probe 3)
		assert_eq "$out" RESET "a client to $dst"
	done
	for why in "destination 10.88.0.2:8922 is denied by a --deny rule" \
		"destination 10.88.0.2:8926 is no --allow rule covers it" \
		"destination 10.88.0.1:8924 is on the built-in deny list" \
		"destination \\[fd88::1\\]:8925 is on the built-in deny list (local to this namespace)" \
		"destination 10.88.0.5:8925 is on the built-in deny list (local to this namespace)" \
		"destination 10.99.0.7:8925 is on the built-in deny list (local to this namespace)" \
		"destination \\[fd99::7\\]:8925 is on the built-in deny list (local to this namespace)"; do
		grep -q "$why" "$T/bridge.err" || fail "no line saying '$why': $(cat "$T/bridge.err")"
	done
	kill -USR1 "$BRIDGE_PID"
	wait_for_line "ntb-connect: stats: received 9, accepted 0, refused 7 \\(.*policy 7\\)"
	in_a nft delete table inet ntbroute
	figure "route mode: A reached 10.88.0.2:8921 and [fd88::2]:8923 in C through TPROXY, the bridge and B; a --deny, an unlisted port, B's own IPv4 and IPv6 addresses, an address added to B and AnyIP local routes made after start (built-in deny, though an --allow covers them) were reset"
}

# wait_for_line REGEX: until the launcher's log has it (5 s).
wait_for_line() {
	for _ in $(seq 1 100); do
		grep -qE -e "$1" "$T/bridge.err" && return 0
		sleep 0.05
	done
	fail "no line /$1/ in the log: $(tail -n 3 "$T/bridge.err")"
}

t_route_builtin_denied() {
	# Loopback and the connecting namespace's own addresses are denied even
	# when an --allow covers them, unless --allow-builtin-denied.
	err=$(timeout 10 "$B/ntb-connect" -r @ntbt-$$-bi --connect-original -c 127.0.0.1:1 \
		--allow tcp://0.0.0.0/0 2>&1 >/dev/null)
	assert_match "$err" "--connect-original: the destination is each client's own; no -c/-C" "-c with --connect-original"
	err=$(timeout 10 "$B/netns-tcp-bridge" -l 127.0.0.1:1 --route 2>&1 >/dev/null)
	assert_match "$err" "--route: give --allow rules" "--route without rules"
	err=$(timeout 10 "$B/netns-tcp-bridge" -l 127.0.0.1:1 -c 127.0.0.1:2 --allow tcp://10.0.0.0/8 2>&1 >/dev/null)
	assert_match "$err" "--allow, --deny: only with --route" "--allow without --route"
	err=$(timeout 10 "$B/netns-tcp-bridge" -l 127.0.0.1:1 --route --allow tcp://10.0.0.1/8 2>&1 >/dev/null)
	assert_match "$err" "bad rule 'tcp://10.0.0.1/8' for --allow: address has bits set beyond its prefix length" "a malformed rule"
	return 0
}

run_test route_mode_tproxy t_route_mode
run_test route_mode_arguments t_route_builtin_denied
run_test transparent_source_v4_v6 t_transparent_source
run_test transparent_source_refusals t_transparent_refusals
run_test transparent_source_rootless t_transparent_rootless
run_test proxy_v1_to_haproxy t_proxy_v1
run_test proxy_v2_to_haproxy t_proxy_v2
run_test accept_proxy_from_haproxy t_accept_proxy_haproxy
run_test accept_proxy_refusals t_accept_proxy_refusals
run_test accept_proxy_from_front_only t_accept_proxy_from
run_test accept_proxy_per_source_share t_accept_proxy_per_source
run_test accept_proxy_from_required t_accept_proxy_arguments
exit 0
