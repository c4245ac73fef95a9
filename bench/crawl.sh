#!/bin/bash
# st-crawl over the network in a box (tests/sim/net-in-a-box): nodes dialed per second
# from one seed, beside the bound that -j, the gossip depth and the round trip set
# (max(ceil(found / j), depth + 1) waves x 4 round trips x the median rtt: connect,
# handshake, ping, GetPeers), both from the same run. No slow nodes, so the bound is the
# -j, depth and rtt one alone. Prints rows for bench/run; asserts nothing.
#   (BENCH_CRAWL_NODES=100 BENCH_CRAWL_JOBS=64, nodes times BENCH_SCALE)
set -u
. "$(dirname "$0")/lib.sh"
[ -x "$bench_build/st-crawl" ] || exit 0
nodes=$(bench_size "${BENCH_CRAWL_NODES:-100}")
jobs=${BENCH_CRAWL_JOBS:-64}
work=$(bench_work crawl)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/xdg ST_DATA_DIR=$work/data ST_BUILD=$bench_build
unset ST_CONFIG ST_FAKE_NOW

rates=() bounds=() failed=
for rep in $(seq "$BENCH_HEAVY_REPS"); do
	# the box starts and stops its own nodes, by pid, each repetition
	if ! "$bench_top/tests/sim/net-in-a-box" -n "$nodes" --slow 0 -j "$jobs" --rng "$rep" \
		>"$work/box-$rep.out" 2>&1; then
		failed="net-in-a-box failed: $(grep '^result' "$work/box-$rep.out" | head -1)"
		break
	fi
	read -r found time bound < <(awk '
		$1 == "found" { f = $2 } $1 == "time" { t = $2 } $1 == "bound" { b = $2 }
		END { print f, t, b }' "$work/box-$rep.out")
	rates+=("$(awk -v f="$found" -v t="$time" 'BEGIN { printf "%.0f", (t > 0 ? f / t : 0) }')")
	bounds+=("$(awk -v f="$found" -v b="$bound" 'BEGIN { printf "%.0f", (b > 0 ? f / b : 0) }')")
done
if [ -n "$failed" ]; then
	echo "$failed"
	bench_row crawl "nodes/s in a box, -j $jobs" "$(bench_label "$nodes")" /s high \
		failed failed "bound: max(ceil(found/j), depth+1) x 4 rtt" -
	exit 0
fi
bench_row crawl "nodes/s in a box, -j $jobs" "$(bench_label "$nodes")" /s high \
	"$(bench_values "${rates[@]}")" "$(bench_values "${bounds[@]}")" \
	"bound: max(ceil(found/j), depth+1) x 4 rtt" -
grep -E '^(nodes|found|time|bound|ratio) ' "$work/box-1.out"
