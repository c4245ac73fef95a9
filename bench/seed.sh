#!/bin/bash
# st-seed: parsing a 1,000,000-line seed list from a local file against `grep -c` over
# the same file (the floor: reading it), and a refresh of 20 lists served on loopback
# against curl fetching the same lists in parallel. Prints rows for bench/run.
set -u
. "$(dirname "$0")/lib.sh"
work=$(bench_work seed)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/xdg ST_DATA_DIR=$work/data
unset ST_CONFIG ST_FAKE_NOW

n=$(bench_size 1000000)
gen() { # N: endpoint lines, a comment and a blank line now and then
	awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) {
		if (i % 1000 == 0) print "# part " i / 1000
		printf "%d.%d.%d.%d:7777\n", 11 + int(i / 65536) % 200, int(i / 256) % 256, i % 256, 1 + i % 250 } }'
}
gen "$n" >"$work/big.txt"
st=$(bench_time -n "$BENCH_HEAVY_REPS" -- st-seed fetch -o tsv --max-size 1GiB "$work/big.txt")
gr=$(bench_time -n "$BENCH_HEAVY_REPS" -- grep -c . "$work/big.txt")
bench_row seed "parse a local list" "$(bench_label "$n") lines" ms low "$st" "$gr" "grep -c over the file" - per-invocation

# 20 lists on one loopback HTTP server
m=$(bench_size 5000)
mkdir -p "$work/www"
urls=()
for i in $(seq 1 20); do gen "$m" | sed "s/^11\./$((20 + i))./" >"$work/www/list$i.txt"; done
python3 "$bench_top/tests/bats/tools/httpd.py" "$work/www" >"$work/httpd.out" 2>/dev/null &
pids+=($!)
for i in $(seq 100); do grep -q '^listening ' "$work/httpd.out" 2>/dev/null && break; sleep 0.1; done
base=http://$(sed -n 's/^listening //p' "$work/httpd.out" | head -1)
mkdir -p "$XDG_CONFIG_HOME/spacetime"
{
	echo "seeds:"
	for i in $(seq 1 20); do
		echo "  - url: $base/list$i.txt"
		urls+=("$base/list$i.txt")
	done
} >"$XDG_CONFIG_HOME/spacetime/st.yaml"
# a dry run fetches and reads every list and changes nothing, so each repetition is
# the same work; curl only fetches
st=$(bench_time -n "$BENCH_HEAVY_REPS" -- st-seed refresh --dry-run -q)
cu=$(bench_time -n "$BENCH_HEAVY_REPS" -- curl -sf --parallel --parallel-max 20 \
	$(printf -- '-o /dev/null %s ' "${urls[@]}"))
bench_row seed "refresh 20 lists (dry run)" "20 x $(bench_label "$m")" ms low "$st" "$cu" \
	"curl --parallel, the same lists" - per-invocation
