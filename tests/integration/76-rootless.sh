#!/usr/bin/env bash
# The README's rootless podman recipe, run as written by an ordinary user
# ($PUSER, with subordinate ids, as 75-podman.sh sets up), with /usr/local
# replaced by this test's own install (make install PREFIX=...): the
# user's ~/.config/containers/oci/hooks.d file naming the installed hook
# with --allow-publish, podman run --annotation, curl, podman stop and rm.
# The recipe is read from README.md (the sh block after its "tested by"
# comment), so the two cannot drift apart.  What these machines need
# (runc, cgroupfs, file events, low ulimits, vfs) goes in the user's
# containers.conf and storage.conf, not in the commands.  podman runs
# inside namespace A, which plays the host.
. "$(dirname "$0")/../lib.sh"
ns_setup || { echo "FAIL $SUITE: cannot create network namespaces"; exit 1; }

PUSER=ntbpodman
rootless_cleanup() {
	[ -f "$T/cleanup" ] && bash "$T/cleanup" >/dev/null 2>&1
	return 0
}
trap 'rootless_cleanup; suite_cleanup' EXIT

# recipe: the README's block, /usr/local as this test installed it.
recipe() {
	awk '/<!-- tested by tests\/integration\/76-rootless.sh -->/ { found = 1; next }
	     found && /^```sh$/ { inside = 1; next }
	     inside && /^```$/ { exit }
	     inside { print }' "$TOP/README.md" | sed "s|/usr/local/|$1/|g"
}

t_recipe() {
	local rl uid st pfx out left
	subid_user "$PUSER"
	uid=$(id -u "$PUSER")
	st=/tmp/netns-tcp-bridge-$uid
	[ -e "$st" ] && fail "$st exists before the test"
	[ -e "/run/user/$uid" ] && fail "/run/user/$uid exists: the test expects /tmp"
	rl=$(mktemp -d /tmp/ntb-rootless.XXXXXX)
	pfx=$rl/prefix
	# The pause process after the last podman call, then the directories.
	echo "kill \$(cat $rl/xdg/libpod/tmp/pause.pid 2>/dev/null) 2>/dev/null; rm -rf $rl $st" >"$T/cleanup"
	make -s -C "$TOP" B="$B" PREFIX="$pfx" install >"$T/install.out" 2>&1 ||
		fail "make install failed: $(cat "$T/install.out")"
	[ -n "$(recipe "$pfx")" ] || fail "no recipe found in README.md"
	mkdir -m 0700 "$rl/xdg" "$rl/home"
	mkdir -p "$rl/home/.config/containers" "$rl/rootfs/bin" "$rl/rootfs/www" "$rl/rootfs/proc" \
		"$rl/rootfs/dev" "$rl/rootfs/sys" "$rl/rootfs/tmp"
	cp /bin/busybox "$rl/rootfs/bin/"
	for a in sh httpd; do ln -sf busybox "$rl/rootfs/bin/$a"; done
	echo hello-from-podman >"$rl/rootfs/www/index.html"
	cat >"$rl/home/.config/containers/containers.conf" <<-EOF
	[containers]
	default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
	[engine]
	runtime = "runc"
	cgroup_manager = "cgroupfs"
	events_logger = "file"
	EOF
	printf '[storage]\ndriver = "vfs"\n' >"$rl/home/.config/containers/storage.conf"
	chown -R "$PUSER:" "$rl/xdg" "$rl/home" "$rl/rootfs"
	chmod 0755 "$rl"
	recipe "$pfx" >"$rl/recipe.sh"
	# podman as the user, as the README runs it: the cleanup removes the
	# container if the recipe stopped half-way.
	sed -i "1i nsenter --net=/run/netns/$NSA runuser -u $PUSER -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=$rl/home XDG_RUNTIME_DIR=$rl/xdg podman rm -f -t 0 web" "$T/cleanup"
	out=$(timeout 120 nsenter --net="/run/netns/$NSA" runuser -u "$PUSER" -- env -i \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$rl/home" XDG_RUNTIME_DIR="$rl/xdg" \
		ROOTFS="$rl/rootfs" bash -e "$rl/recipe.sh" 2>"$T/recipe.err") ||
		fail "the recipe failed: $(tail -n 3 "$T/recipe.err")"
	assert_match "$out" "hello-from-podman" "the page published through the hook"
	# podman stop and rm ran: nothing of the hook is left.
	left=$(ls -A "$st" 2>/dev/null)
	[ -z "$left" ] || fail "records left behind in $st: $left"
	in_a ss -Hltn 'sport = :8080' | grep -q . && fail "published port still bound after podman stop"
	pgrep -u "$(awk -F: -v u="$PUSER" '$1 == u { print $2 + 65533; exit }' /etc/subuid)" -f netns-tcp-bridge &&
		fail "a launcher outlived podman stop"
	return 0
}

run_test rootless_recipe t_recipe
exit 0
