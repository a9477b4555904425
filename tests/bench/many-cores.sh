#!/usr/bin/env bash
# The many-core figures of issue 18, in one run on a borrowed machine with
# more CPUs and nothing installed (the `device` tool), with the scripts of
# shared/scale/ (bulk with 1, 4 and 16 streams, connections per second,
# round trips, CPU ticks per thread: direct, the bridge and HAProxy, same
# run).  Each is run twice: the launcher with its default worker count (one
# per two CPUs) and with one worker per CPU (-w $(nproc)), so the run says
# which default is right there too.
#
#   tests/bench/many-cores.sh bundle [SCALE_DIR]   here, after make: gathers
#       the programs and libraries into .scale/ (ignored by git), to carry
#   tests/bench/many-cores.sh run                  there (run with carry
#       [".scale"]): results under $OUT/default/ and $OUT/per-cpu/
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
D=$top/.scale
case "${1:-}" in
bundle)
	scale=${2:-$top/../shared/scale}
	[ -x "$scale/bundle.sh" ] || { echo "many-cores.sh: no $scale/bundle.sh" >&2; exit 1; }
	scale=$(cd "$scale" && pwd)
	[ -x "$top/build/netns-tcp-bridge" ] || { echo "many-cores.sh: run make first" >&2; exit 1; }
	rm -rf "$D"
	(cd "$top" && "$scale/bundle.sh" "$D")
	# shared/scale's scripts start "netns-tcp-bridge" from $D/bin: the
	# real one moves aside, and this adds -w when NTB_W is set.
	mv "$D/bin/netns-tcp-bridge" "$D/bin/netns-tcp-bridge.real"
	cat >"$D/bin/netns-tcp-bridge" <<'EOF'
#!/bin/sh
exec "$(dirname "$0")/netns-tcp-bridge.real" ${NTB_W:+-w "$NTB_W"} "$@"
EOF
	chmod +x "$D/bin/netns-tcp-bridge"
	du -sh "$D"
	;;
run)
	[ -x "$D/scale.sh" ] || { echo "many-cores.sh: no $D (bundle it, and carry .scale)" >&2; exit 1; }
	out=${OUT:-/tmp/out}
	for mode in default per-cpu; do
		mkdir -p "$out/$mode"
		w=; [ $mode = per-cpu ] && w=$(nproc)
		[ -z "$w" ] || [ "$w" -le 64 ] || w=64	# the most --workers takes
		echo "== $mode workers${w:+ (-w $w)}"
		# About 100 s and 40 s on 2 CPUs: both modes fit one 600 s call.
		NTB_W=$w OUT=$out/$mode timeout 180 "$D/scale.sh" || echo "scale.sh: exit $?"
		NTB_W=$w OUT=$out/$mode timeout 80 "$D/threads.sh" || echo "threads.sh: exit $?"
	done
	;;
*)
	sed -n '2,13p' "$0" >&2
	exit 2
	;;
esac
