#!/usr/bin/env bash
# ntb-oci-hook under podman 4.3, rootful and rootless, from a hooks
# directory whose file passes the administrator's --allow-publish rule.
# Containers run from a busybox-static root filesystem the test builds
# (podman run --rootfs: no image, no registry), --network none.  podman
# runs inside namespace A, which plays the host: what the hook publishes
# listens there.
. "$(dirname "$0")/../lib.sh"
ns_setup || { echo "FAIL $SUITE: cannot create network namespaces"; exit 1; }

HOOK=$B/ntb-oci-hook

# The containers the tests made, by name, however a test ended; then the
# rootless pause process (after the last podman call, which would start
# another); then the directories.  Before lib.sh's cleanup deletes $T.
podman_cleanup() {
	local f
	for f in cleanup cleanup.rootless cleanup.last; do
		[ -f "$T/$f" ] && bash "$T/$f" >/dev/null 2>&1
	done
	return 0
}
trap 'podman_cleanup; suite_cleanup' EXIT
PUSER=ntbpodman		# the ordinary user of the rootless test
# Low hard limits on these machines: podman's defaults would not fit.
ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

# rootfs DIR: busybox-static, a page to serve, links for what the tests run.
rootfs() {
	mkdir -p "$1/bin" "$1/www" "$1/proc" "$1/dev" "$1/sys" "$1/tmp" "$1/etc"
	cp /bin/busybox "$1/bin/"
	for a in sh httpd wget cat sleep; do ln -sf busybox "$1/bin/$a"; done
	echo hello-from-podman >"$1/www/index.html"
}

# hooks_dir DIR ARGS...: a hooks.d file running our hook with ARGS, as
# contrib/oci/netns-tcp-bridge.json does plus the administrator's rules.
hooks_dir() {
	local dir=$1
	shift
	mkdir -p "$dir"
	python3 - "$TOP/contrib/oci/netns-tcp-bridge.json" "$HOOK" "$@" >"$dir/ntb.json" <<-'EOF'
	import json, sys
	c = json.load(open(sys.argv[1]))
	c["hook"]["path"] = sys.argv[2]
	c["hook"]["args"] = ["ntb-oci-hook"] + sys.argv[3:]
	print(json.dumps(c))
	EOF
}

# records DIR: the launchers recorded there ("PID START PID START" files).
records() {
	cat "$1"/*.pids 2>/dev/null | awk '{ if ($1) print $1; if ($3) print $3 }'
}

# served PORT: curl from namespace A until the container's page comes.
served() {
	local out=""
	for _ in $(seq 1 30); do
		out=$(in_a curl -sS --max-time 2 "http://127.0.0.1:$1/" 2>&1) && break
		sleep 0.1
	done
	assert_eq "$out" "hello-from-podman" "page published on port $1"
}

# refused WHAT PATTERN OUTPUT: podman failed and our one line is in what it said.
refused() {
	local n
	n=$(printf '%s\n' "$3" | grep -o 'ntb-oci-hook: [^"\\]*' | sort -u | grep -c .)
	[ "$n" = 1 ] || fail "$1: expected one line from the hook, got $n: $3"
	assert_match "$3" "$2" "$1"
}

# asks_more NAME ROOTFS PORT PODMAN...: a container publishing 127.0.0.1:PORT,
# which no rule covers, and one exposing the host's loopback: each refused
# at creation with the hook's one line, and the port not bound.
asks_more() {
	local name=$1 rootfs=$2 port=$3 out
	shift 3
	out=$("$@" run -d --name "$name-more" --network none "${ULIMITS[@]}" \
		--annotation org.netns-tcp-bridge.publish=127.0.0.1:$port=127.0.0.1:8080 \
		--rootfs "$rootfs" /bin/httpd -f -p 127.0.0.1:8080 -h /www 2>&1) &&
		fail "a publish beyond the rule was created: $out"
	figure "podman run, publish beyond the rule: $(printf '%s' "$out" | tr '\n' ' ')"
	refused "publish beyond the rule" \
		"refused forward '127\.0\.0\.1:$port=127\.0\.0\.1:8080' from annotation org\.netns-tcp-bridge\.publish: .*--allow-publish tcp://127\.0\.0\.1:$port" \
		"$out"
	out=$("$@" run -d --name "$name-expose" --network none "${ULIMITS[@]}" \
		--annotation org.netns-tcp-bridge.expose=127.0.0.1:7000=127.0.0.1:22 \
		--rootfs "$rootfs" /bin/sleep 30 2>&1) && fail "an expose to the host's loopback was created: $out"
	refused "expose to the host's loopback" \
		"refused forward '127\.0\.0\.1:7000=127\.0\.0\.1:22' from annotation org\.netns-tcp-bridge\.expose: target 127\.0\.0\.1:22: on the built-in deny list" \
		"$out"
	in_a ss -Hltn "sport = :$port" | grep -q . && fail "the refused port $port is bound"
	return 0
}

# Rootful: podman as root, its storage and runtime state under $T.
P=(nsenter --net="/run/netns/$NSA" podman --root "$T/p/root" --runroot "$T/p/runroot" --tmpdir "$T/p/tmp"
   --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime runc
   --hooks-dir "$T/hooks")

t_rootful() {
	local name=ntbp-$$ out pids
	rootfs "$T/rootfs"
	hooks_dir "$T/hooks" --allow-publish tcp://127.0.0.1:9751 --allow-publish tcp://127.0.0.1:9753 \
		--state-dir "$T/st"
	echo "${P[*]} rm -f -i -t 0 $name $name-more $name-expose $name-fail" >>"$T/cleanup"
	"${P[@]}" run -d --name "$name" --network none "${ULIMITS[@]}" \
		--annotation org.netns-tcp-bridge.publish=127.0.0.1:9751=127.0.0.1:8080 \
		--rootfs "$T/rootfs" /bin/httpd -f -p 127.0.0.1:8080 -h /www >"$T/podman.out" 2>&1 ||
		fail "podman run failed: $(cat "$T/podman.out")"
	served 9751
	pids=$(records "$T/st")
	[ -n "$pids" ] || fail "no launcher recorded"
	for p in $pids; do
		assert_eq "$(awk '/^Uid:/ { print $3 }' /proc/"$p"/status)" "$(id -u nobody)" "uid of launcher $p"
	done
	# More than the rule allows, and the host's loopback with no
	# --allow-expose rule at all: refused at creation.
	asks_more "$name" "$T/rootfs" 9752 "${P[@]}"
	# Creation failing after the hook said yes (no such command): no
	# poststop comes; the pair ends with the container's init, and the
	# next hook call (poststop of the first, below) removes its record.
	out=$("${P[@]}" run -d --name "$name-fail" --network none "${ULIMITS[@]}" \
		--annotation org.netns-tcp-bridge.publish=127.0.0.1:9753=127.0.0.1:8080 \
		--rootfs "$T/rootfs" /bin/no-such-command 2>&1) && fail "a container without a command ran: $out"
	figure "records after a failed creation: $(ls "$T/st" | wc -l) (1 is the running container's)"
	# Stopped: the pair goes, and with it the record.
	"${P[@]}" stop -t 0 "$name" >/dev/null 2>&1 || fail "podman stop failed"
	for p in $pids; do wait_gone "$p" 2 || fail "launcher $p outlived podman stop"; done
	"${P[@]}" rm -f -i "$name" "$name-more" "$name-expose" "$name-fail" >/dev/null 2>&1 || fail "podman rm failed"
	[ -z "$("${P[@]}" ps -a -q)" ] || fail "containers left: $("${P[@]}" ps -a)"
	left=$(ls -A "$T/st")
	[ -z "$left" ] || fail "state left behind: $left"
	in_a ss -Hltn 'sport = :9751' | grep -q . && fail "published port still bound"
	return 0
}

# Rootless: podman as $PUSER, an ordinary user with subordinate ids, its
# storage, runtime dir and hooks dir under a directory of its own.  No
# --state-dir: the hook, uid 0 of the user's namespace, is not root and
# picks /tmp/netns-tcp-bridge-UID (the user has no /run/user/UID here).
t_rootless() {
	local name=ntbr-$$ rl pids st sub
	subid_user "$PUSER"
	# nobody (65534) of the user's namespace, as the host sees it.
	sub=$(awk -F: -v u="$PUSER" '$1 == u { print $2 + 65533; exit }' /etc/subuid)
	st=/tmp/netns-tcp-bridge-$(id -u "$PUSER")
	[ -e "$st" ] && fail "$st exists before the test"
	[ -e "/run/user/$(id -u "$PUSER")" ] && fail "/run/user/$(id -u "$PUSER") exists: the test expects /tmp"
	rl=$(mktemp -d /tmp/ntb-podman.XXXXXX)
	echo "rm -rf $rl $st" >>"$T/cleanup.last"
	mkdir -m 0700 "$rl/xdg" "$rl/home"
	rootfs "$rl/rootfs"
	hooks_dir "$rl/hooks" --allow-publish tcp://127.0.0.1:9761
	chown -R "$PUSER:" "$rl"
	R=(nsenter --net="/run/netns/$NSA" runuser -u "$PUSER" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin
	   HOME="$rl/home" XDG_RUNTIME_DIR="$rl/xdg" podman --root "$rl/root" --runroot "$rl/runroot"
	   --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime runc
	   --hooks-dir "$rl/hooks")
	# Whatever the rootless podman leaves running (its pause process) ends
	# with the test, after the last podman call (which would start another).
	echo "${R[*]} rm -f -i -t 0 $name $name-more $name-expose" >"$T/cleanup.rootless"
	echo "kill \$(cat $rl/xdg/libpod/tmp/pause.pid 2>/dev/null) 2>/dev/null" >>"$T/cleanup.rootless"
	"${R[@]}" run -d --name "$name" --network none "${ULIMITS[@]}" \
		--annotation org.netns-tcp-bridge.publish=127.0.0.1:9761=127.0.0.1:8080 \
		--rootfs "$rl/rootfs" /bin/httpd -f -p 127.0.0.1:8080 -h /www >"$T/podman.out" 2>&1 ||
		fail "rootless podman run failed: $(cat "$T/podman.out")"
	served 9761
	pids=$(records "$st")
	[ -n "$pids" ] || fail "no launcher recorded in $st: $(ls -la "$st" 2>&1)"
	assert_eq "$(stat -c '%a %U' "$st")" "700 $PUSER" "the state directory"
	for p in $pids; do
		assert_eq "$(awk '/^Uid:/ { print $3 }' /proc/"$p"/status)" "$sub" \
			"uid of launcher $p (nobody of the user's namespace)"
	done
	# A rootless user's annotations get no more than a rootful one's.
	asks_more "$name" "$rl/rootfs" 9762 "${R[@]}"
	"${R[@]}" stop -t 0 "$name" >/dev/null 2>&1 || fail "rootless podman stop failed"
	for p in $pids; do wait_gone "$p" 2 || fail "launcher $p outlived podman stop"; done
	"${R[@]}" rm -f -i "$name" "$name-more" "$name-expose" >/dev/null 2>&1 || fail "rootless podman rm failed"
	[ -z "$("${R[@]}" ps -a -q)" ] || fail "containers left: $("${R[@]}" ps -a)"
	left=$(ls -A "$st")
	[ -z "$left" ] || fail "state left behind in $st: $left"
	in_a ss -Hltn 'sport = :9761' | grep -q . && fail "published port still bound"
	return 0
}

run_test rootful_podman t_rootful
run_test rootless_podman t_rootless
exit 0
