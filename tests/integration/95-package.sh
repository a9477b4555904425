#!/usr/bin/env bash
# The Debian package: built by `make deb` (which fails on any lintian error
# or warning), installed into a throwaway root with `dpkg --root` (its
# maintainer scripts run chrootless, with DPKG_ROOT, as debhelper's and
# deb-systemd-helper's support), used for a real forward between two
# namespaces, then purged, leaving nothing.  The machine's own root and
# dpkg database are never touched.
. "$(dirname "$0")/../lib.sh"
ns_setup || { echo "FAIL $SUITE: cannot create network namespaces"; exit 1; }

R=$T/root
PKGB=$T/pkg
DSH=/var/lib/systemd/deb-systemd-helper-enabled
LIBEXEC=/usr/libexec/netns-tcp-bridge
HOOKJSON=/usr/share/containers/oci/hooks.d/netns-tcp-bridge.json
UNITDIR=/lib/systemd/system
UNITS="netns-tcp-bridge-web.service netns-tcp-bridge-web.socket ntb-connect@.service ntb-listen@.service"
# Every file the package must ship; a missing one fails package_install.
FILES="/usr/bin/netns-tcp-bridge /usr/bin/netns_tcp_bridge /usr/bin/ntb-listen /usr/bin/ntb-connect
       $LIBEXEC/ntb-oci-hook $HOOKJSON /usr/lib/cni/ntb-portmap /usr/share/man/man8/ntb-portmap.8.gz
       /usr/share/man/man1/netns-tcp-bridge.1.gz /usr/share/man/man1/netns_tcp_bridge.1.gz
       /usr/share/man/man7/ntb-rendezvous.7.gz /usr/share/man/man8/ntb-listen.8.gz
       /usr/share/man/man8/ntb-connect.8.gz /usr/share/man/man8/ntb-oci-hook.8.gz
       /usr/share/doc/netns-tcp-bridge/copyright /usr/share/doc/netns-tcp-bridge/changelog.gz
       $(for u in $UNITS; do echo "$UNITDIR/$u"; done)"

dpkg_r() {
	dpkg --root="$R" --force-depends --force-script-chrootless "$@"
}

# The host's deb-systemd-helper state, which the package's scripts must
# leave alone (they work on $R/var/lib/systemd under DPKG_ROOT).
host_dsh_state() {
	find "$DSH" -name '*ntb*' -o -name '*netns-tcp-bridge*' 2>/dev/null | sort
}

t_build() {
	local start end why
	start=$(date +%s)
	if ! make -C "$TOP" B="$PKGB" deb >"$T/build.out" 2>&1; then
		# lintian's tags if it was lintian, else the end of the build log.
		why=$(grep -E '^[EW]: ' "$T/build.out" | head -n 5)
		fail "make deb failed: ${why:-$(tail -n 5 "$T/build.out")}"
	fi
	end=$(date +%s)
	figure "package build (make deb, lintian included): $((end - start)) s"
	# lintian's own lines: make deb fails on E:/W:, and here none shows.
	grep -E '^[EW]: ' "$T/build.out" && fail "lintian errors or warnings"
	set -- "$PKGB"/deb/netns-tcp-bridge_*_*.deb
	[ $# = 1 ] && [ -f "$1" ] || fail "not one netns-tcp-bridge .deb in $PKGB/deb: $*"
	ls "$PKGB"/deb/netns-tcp-bridge_*.changes >/dev/null || fail "no .changes"
}

deb_file() {
	ls "$PKGB"/deb/netns-tcp-bridge_*_*.deb 2>/dev/null | head -n 1
}

t_install() {
	local deb f
	deb=$(deb_file)
	[ -n "$deb" ] || fail "no package built"
	host_dsh_state >"$T/dsh.before"
	mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
	: >"$R/var/lib/dpkg/status"
	dpkg_r -i "$deb" >"$T/dpkg.log" 2>&1 || fail "dpkg -i: $(tail -n 3 "$T/dpkg.log")"
	assert_eq "$(dpkg-query --root="$R" -W -f='${Status}' netns-tcp-bridge)" \
		"install ok installed" "dpkg status"
	for f in $FILES; do
		[ -e "$R$f" ] || fail "the package misses $f"
	done
	for f in /usr/bin/netns-tcp-bridge /usr/bin/ntb-listen /usr/bin/ntb-connect $LIBEXEC/ntb-oci-hook \
		/usr/lib/cni/ntb-portmap; do
		[ -f "$R$f" ] && [ -x "$R$f" ] || fail "$f is not an executable file"
	done
	# Installed disabled: no unit enabled (no .wants/ link), none masked.
	[ -e "$R/etc" ] && fail "the package's scripts made $(find "$R/etc" | tr '\n' ' ')"
	return 0
}

t_units_verify() {
	local u out
	# systemd-analyze verify checks ExecStart= against the real /usr/bin,
	# and Documentation=man: with man(1): in a mount namespace of its own,
	# /usr/bin and /usr/share/man are the throwaway root's over the
	# machine's (overlays), so the units are checked as installed, without
	# installing anything.
	for u in $UNITS; do
		grep -q "^ExecStart=/usr/bin/" "$R$UNITDIR/$u" || [ "${u%.socket}" != "$u" ] ||
			fail "$u: ExecStart= does not name /usr/bin: $(grep ExecStart= "$R$UNITDIR/$u")"
		out=$(unshare -m sh -c 'mount -t overlay -o "lowerdir=$1/usr/bin:/usr/bin" none /usr/bin &&
			mount -t overlay -o "lowerdir=$1/usr/share/man:/usr/share/man" none /usr/share/man &&
			exec systemd-analyze verify "$1$2"' sh "$R" "$UNITDIR/$u" 2>&1) ||
			fail "systemd-analyze verify $u: $out"
		[ -z "$out" ] || fail "systemd-analyze verify $u says: $out"
	done
}

t_hook() {
	local path out
	path=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["hook"]["path"])' \
		"$R$HOOKJSON") || fail "$HOOKJSON is not a hooks.d file"
	assert_eq "$path" "$LIBEXEC/ntb-oci-hook" "hook path in $HOOKJSON"
	# Otherwise the file is contrib's, path aside.
	sed "s|/usr/local/libexec/netns-tcp-bridge/|$LIBEXEC/|" "$TOP/contrib/oci/netns-tcp-bridge.json" |
		cmp -s - "$R$HOOKJSON" || fail "$HOOKJSON differs from contrib/oci/netns-tcp-bridge.json beyond the path"
	out=$("$R$path" --help 2>&1) || fail "$path --help exited $?: $out"
	assert_match "$out" "ntb-oci-hook" "$path --help"
}

t_forward() {
	local www out kid exe
	www=$T/www
	mkdir -p "$www"
	echo "served in $NSB through the packaged bridge" >"$www/index.html"
	bg ip netns exec "$NSB" python3 -m http.server -d "$www" --bind 127.0.0.1 8951
	wait_listen "$NSB" 8951
	bg "$R/usr/bin/netns-tcp-bridge" -l 127.0.0.1:9951 -f "/run/netns/$NSA" \
		-c 127.0.0.1:8951 -t "/run/netns/$NSB" 2>>"$T/bridge.err"
	BRIDGE_PID=$LAST_PID
	wait_listen "$NSA" 9951
	out=$(in_a curl -sS --max-time 10 http://127.0.0.1:9951/ 2>&1) ||
		fail "curl through the packaged bridge: $out $(cat "$T/bridge.err")"
	assert_eq "$out" "served in $NSB through the packaged bridge" "page fetched from $NSA"
	# The agents are the package's, run from the launcher's directory.
	for kid in $(children "$BRIDGE_PID"); do
		exe=$(readlink "/proc/$kid/exe") || continue
		case $exe in
		"$R"/usr/bin/ntb-listen | "$R"/usr/bin/ntb-connect) echo "$exe" >>"$T/agents.out" ;;
		*) fail "the launcher runs $exe, not the package's agent" ;;
		esac
	done
	assert_eq "$(sort -u "$T/agents.out" | wc -l)" 2 "package agents running"
	# The packaged CNI plugin finds the packaged launcher (../../bin from
	# /usr/lib/cni): an ADD served, then DEL.
	printf '{"cniVersion":"1.0.0","name":"n","type":"ntb-portmap","stateDir":"%s","prevResult":{"cniVersion":"1.0.0"},"runtimeConfig":{"portMappings":[{"hostPort":9952,"containerPort":8951,"protocol":"tcp","hostIP":"127.0.0.1"}]}}' \
		"$T/cni-st" >"$T/cni.conf"
	out=$(in_a env CNI_COMMAND=ADD CNI_CONTAINERID=pkg CNI_IFNAME=eth0 CNI_NETNS="/run/netns/$NSB" \
		"$R/usr/lib/cni/ntb-portmap" <"$T/cni.conf") || fail "packaged ntb-portmap ADD: $out"
	pid=$(awk '{ print $1 }' "$T/cni-st/pkg@eth0")
	exe=$(readlink "/proc/$pid/exe")
	out=$(in_a curl -sS --max-time 10 http://127.0.0.1:9952/ 2>&1)
	in_a env CNI_COMMAND=DEL CNI_CONTAINERID=pkg CNI_IFNAME=eth0 "$R/usr/lib/cni/ntb-portmap" <"$T/cni.conf" ||
		fail "packaged ntb-portmap DEL failed"
	assert_eq "$exe" "$R/usr/bin/netns-tcp-bridge" "the launcher the packaged plugin started"
	assert_eq "$out" "served in $NSB through the packaged bridge" "page fetched through ntb-portmap"
}

t_purge() {
	local left
	dpkg_r --purge netns-tcp-bridge >"$T/dpkg.log" 2>&1 || fail "dpkg --purge: $(tail -n 3 "$T/dpkg.log")"
	out=$(dpkg-query --root="$R" -W -f='${Status}' netns-tcp-bridge 2>/dev/null)
	case $out in *" installed" | *config-files*) fail "dpkg still lists it: $out" ;; esac
	# Nothing but dpkg's database and deb-systemd-helper's (empty) state
	# directory, which a real system has anyway.
	left=$(cd "$R" && find . -path ./var/lib/dpkg -prune -o -print |
		grep -vxE '\.|\./var|\./var/lib|\./var/lib/dpkg|\./var/lib/systemd')
	[ -z "$left" ] || fail "left after purge: $(echo "$left" | tr '\n' ' ')"
	host_dsh_state >"$T/dsh.after"
	cmp -s "$T/dsh.before" "$T/dsh.after" || fail "the host's $DSH changed: $(cat "$T/dsh.after")"
}

run_test package_build t_build
run_test package_install t_install
run_test package_units_verify t_units_verify
run_test package_hook t_hook
run_test package_forward t_forward
run_test package_purge t_purge
exit 0
