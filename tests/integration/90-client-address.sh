#!/usr/bin/env bash
# Issue 10, the client's address at the server: PROXY protocol out of
# ntb-connect (to nginx), and into ntb-listen from a front HAProxy.  The
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

# nginx in B on 127.0.0.1:PORT and [::1]:PORT, expecting PROXY headers; it
# answers with what the header told it and whom it really talks to.
nginx_proxy() {
	local port=$1
	mkdir -p "$T/nginx"
	cat >"$T/nginx/nginx.conf" <<-CONF
	daemon off;
	worker_processes 1;
	pid $T/nginx/nginx.pid;
	error_log $T/nginx/error.log;
	events { worker_connections 64; }
	http {
	    access_log off;
	    client_body_temp_path $T/nginx;
	    server {
	        listen 127.0.0.1:$port proxy_protocol;
	        listen [::1]:$port proxy_protocol;
	        location / { return 200 "\$proxy_protocol_addr \$proxy_protocol_port \$remote_addr\n"; }
	    }
	}
	CONF
	bg ip netns exec "$NSB" nginx -c "$T/nginx/nginx.conf"
	wait_listen "$NSB" "$port"
}

# curl_from SRC PORT URL: the page, fetched from SRC:PORT in A.
curl_from() {
	in_a curl -sS --max-time 10 --interface "$1" --local-port "$2" "$3"
}

proxy_out() {
	local v=$1 port=$2
	nginx_proxy 89$port
	bridge -l 10.77.0.1:99$port -l "[fd77::1]:99$port" -f "$A" \
		-c 127.0.0.1:89$port -c "[::1]:89$port" -t "$NB" --proxy-protocol "$v"
	wait_listen "$NSA" 99$port
	out=$(curl_from 10.77.0.2 41$port "http://10.77.0.1:99$port/") || fail "IPv4: $out $(cat "$T/bridge.err")"
	assert_eq "$out" "10.77.0.2 41$port 127.0.0.1" "what nginx saw over IPv4 ($v)"
	out=$(curl_from fd77::2 42$port "http://[fd77::1]:99$port/") || fail "IPv6: $out $(cat "$T/bridge.err")"
	assert_eq "$out" "fd77::2 42$port ::1" "what nginx saw over IPv6 ($v)"
}

t_proxy_v1_nginx() { proxy_out v1 01; }
t_proxy_v2_nginx() { proxy_out v2 02; }

t_accept_proxy_haproxy() {
	# A front HAProxy in A sends PROXY (v1, then v2) to ntb-listen; the
	# addresses it names go on to nginx in a v2 header of ntb-connect's.
	nginx_proxy 8903
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
	assert_eq "$out" "10.77.0.2 43001 127.0.0.1" "nginx behind HAProxy (v1) and the bridge"
	out=$(curl_from fd77::2 43002 "http://[fd77::1]:7002/") || fail "v2 front: $out"
	assert_eq "$out" "fd77::2 43002 127.0.0.1" "nginx behind HAProxy (v2, IPv6) and the bridge"
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
	assert_match "$out" "silent RESET [34]\\." "a client that sends nothing, reset after 3 s"
	for why in "no PROXY header" "bad address or port in a PROXY v1 line" \
		"PROXY v1 line longer than 107 bytes" "no complete PROXY header within 3 s"; do
		grep -q "$why" "$T/bridge.err" || fail "no line saying '$why': $(cat "$T/bridge.err")"
	done
	kill -0 "$BRIDGE_PID" || fail "the bridge died"
	figure "refusals: $(echo $out)"
}

run_test proxy_v1_to_nginx t_proxy_v1_nginx
run_test proxy_v2_to_nginx t_proxy_v2_nginx
run_test accept_proxy_from_haproxy t_accept_proxy_haproxy
run_test accept_proxy_refusals t_accept_proxy_refusals
exit 0
