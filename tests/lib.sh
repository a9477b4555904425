# shellcheck shell=bash
# Shared helpers of the integration tests: namespaces, background processes,
# assertions and one result line per test.  Sourced by tests/integration/*.sh.
#
# A test is a function run in a subshell by run_test; it fails by calling
# fail "why", which ends the subshell.  Every process a test starts goes
# through bg, and is stopped by its PID when the test ends.

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${NTB_BUILD:-$TOP/build}
PEER="python3 $TOP/tests/tools/peer.py"
FDEXEC="python3 $TOP/tests/tools/fdexec.py"
T=$(mktemp -d /tmp/ntb-test.XXXXXX)
SUITE=$(basename "$0" .sh)
NSA=ntbt-$$-a
NSB=ntbt-$$-b
NS_MADE=""

ns_setup() {
	ip netns add "$NSA" && ip netns add "$NSB" || return 1
	NS_MADE=1
	ip -n "$NSA" link set lo up
	ip -n "$NSB" link set lo up
}

suite_cleanup() {
	stop_bg
	if [ -n "$NS_MADE" ]; then
		ip netns del "$NSA" 2>/dev/null
		ip netns del "$NSB" 2>/dev/null
	fi
	rm -rf "$T"
}
trap suite_cleanup EXIT

# bg CMD...: start in the background, remember the PID.
bg() {
	"$@" &
	echo $! >>"$T/pids"
	LAST_PID=$!
}

# stop_bg: TERM then KILL every process started with bg, by PID.
stop_bg() {
	[ -f "$T/pids" ] || return 0
	local p
	for p in $(cat "$T/pids"); do kill "$p" 2>/dev/null; done
	for _ in $(seq 1 20); do
		local alive=""
		for p in $(cat "$T/pids"); do kill -0 "$p" 2>/dev/null && alive=1; done
		[ -z "$alive" ] && break
		sleep 0.1
	done
	for p in $(cat "$T/pids"); do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -f "$T/pids"
}

fail() {
	echo "$*" >"$T/why"
	exit 1
}

# figure TEXT: a measured figure, printed as "# TEXT" under the test's ok line.
figure() {
	echo "$*" >>"$T/figures"
}

# cpu_ticks PID...: user+system clock ticks used so far, summed.
cpu_ticks() {
	local p t=0
	for p in "$@"; do
		t=$((t + $(awk '{ print $14 + $15 }' /proc/"$p"/stat 2>/dev/null || echo 0)))
	done
	echo "$t"
}


# run_test NAME FUNCTION: one result line, then clean up after it.
# NTB_ONLY=REGEX (for working on one test) runs only the names it matches.
run_test() {
	local name=$1 rc
	shift
	if [ -n "${NTB_ONLY:-}" ] && ! [[ $SUITE/$name =~ $NTB_ONLY ]]; then
		return 0
	fi
	# Logs are per test: a line left by an earlier test must not satisfy a
	# later one's wait or count.
	rm -f "$T/why" "$T/skip" "$T/figures" "$T"/*.err "$T"/*.log "$T"/*.out
	( "$@" ) >"$T/out" 2>&1
	rc=$?
	stop_bg
	case $rc in
	0)
		echo "ok $SUITE/$name"
		sed 's/^/# /' "$T/figures" 2>/dev/null
		;;
	*)
		# One FAIL line; the rest of a long reason indented below it.
		echo "FAIL $SUITE/$name: $(head -n 1 "$T/why" 2>/dev/null || echo "exit $rc")"
		tail -n +2 "$T/why" 2>/dev/null | sed 's/^/    | /'
		sed 's/^/    | /' "$T/out" | tail -n 15
		;;
	esac
}

# wait_listen NS PORT: until something listens on PORT in NS (5 s at most).
wait_listen() {
	local ns=$1 port=$2
	for _ in $(seq 1 100); do
		if ip netns exec "$ns" ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
			return 0
		fi
		sleep 0.05
	done
	fail "nothing listens on port $port in $ns"
}

# subid_user USER: an ordinary user (made if missing) with subordinate
# uids and gids, for rootless podman.
subid_user() {
	if ! id -u "$1" >/dev/null 2>&1; then
		useradd -M -d /nonexistent -s /usr/sbin/nologin "$1" || fail "cannot create user $1"
	fi
	grep -q "^$1:" /etc/subuid 2>/dev/null ||
		usermod --add-subuids 400000-465535 "$1" || fail "cannot add subordinate uids"
	grep -q "^$1:" /etc/subgid 2>/dev/null ||
		usermod --add-subgids 400000-465535 "$1" || fail "cannot add subordinate gids"
}

# alive PID: the process runs: it exists and is not a zombie (one that
# was reparented to an init that reaps slowly still answers kill -0).
alive() {
	local st
	st=$(sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}

# wait_gone PID [SECONDS]: until the process has exited.
wait_gone() {
	local pid=$1 n=$((${2:-5} * 20))
	for _ in $(seq 1 "$n"); do
		alive "$pid" || return 0
		sleep 0.05
	done
	return 1
}

# children PID: PIDs of the direct children of PID.
children() {
	cat /proc/"$1"/task/*/children 2>/dev/null
}

# server NS ADDR PORT MODE [LOG]: a peer.py server in NS, waited for.
server() {
	local ns=$1 addr=$2 port=$3 mode=$4 log=${5:-/dev/null}
	bg ip netns exec "$ns" $PEER server "$addr" "$port" "$mode" --log "$log"
	wait_listen "$ns" "$port"
}

# bridge ARGS...: the launcher in the background, stderr to $T/bridge.err.
bridge() {
	bg "$B/netns-tcp-bridge" "$@" 2>>"$T/bridge.err"
	BRIDGE_PID=$LAST_PID
}

# in_a CMD...: run CMD in namespace A (the clients' side).
in_a() {
	ip netns exec "$NSA" "$@"
}

assert_eq() {
	[ "$1" = "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}

assert_match() {
	printf '%s' "$1" | grep -qE -e "$2" || fail "${3:-output}: '$1' does not match /$2/"
}

# one_line TEXT: exactly one non-empty line.
assert_one_line() {
	local n
	n=$(printf '%s\n' "$1" | grep -c .)
	[ "$n" = 1 ] || fail "${2:-stderr} has $n lines, not one: '$1'"
}
