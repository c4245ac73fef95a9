#!/bin/bash
# st-peers at 100,000 peers and 10,000 bans: `check` (whole process) and `ingest` of 10,000
# st-connect results. Prints a table; asserts nothing.
#   bench/peers.sh BUILD_DIR    (BENCH_PEERS=100000 BENCH_BANS=10000 BENCH_RESULTS=10000)
set -u
build=${1:-build}
export PATH="$build:$PATH"
np=${BENCH_PEERS:-100000}
nb=${BENCH_BANS:-10000}
nr=${BENCH_RESULTS:-10000}
reps=${BENCH_REPS:-5}
work=$(mktemp -d /tmp/st-bench-peers.XXXXXX)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/xdg ST_DATA_DIR=$work/data
unset ST_CONFIG ST_FAKE_NOW
mkdir -p "$ST_DATA_DIR"
now=$(date +%s)
# tables written directly in their documented format (st-files(5))
awk -v n="$np" -v now="$now" 'BEGIN { print "#st peers 1 gen 1";
	for (i = 0; i < n; i++) printf "peer-%d\t%d\t%d\t0\t1\t0\t0\t1\t0\t%d.%d.%d.%d:7777\tst/0.1.0\n",
		i, now, now, 11 + int(i / 65536), int(i / 256) % 256, i % 256, 1 }' >"$ST_DATA_DIR/peers.tsv"
awk -v n="$nb" -v now="$now" 'BEGIN { print "#st bans 1 gen 1";
	for (i = 0; i < n; i++) {
		if (i % 2) printf "peer-%d\t%d\t0\tmanual\tbench\n", i * 7, now;
		else printf "%d.%d.%d.0/24\t%d\t0\tmanual\tbench\n", 100 + int(i / 65536), int(i / 256) % 256, i % 256, now }
	}' >"$ST_DATA_DIR/bans.tsv"
awk -v n="$nr" -v np="$np" 'BEGIN { for (i = 0; i < n; i++) {
	p = (i * 13) % np;
	printf "{\"endpoint\":\"%d.%d.%d.%d:7777\",\"status\":\"%s\",\"node_id\":\"peer-%d\",\"verified\":false,\"version\":1,\"user_agent\":\"st/0.1.0\",\"rtt_ms\":1,\"error\":null}\n",
		11 + int(p / 65536), int(p / 256) % 256, p % 256, 1, (i % 3 ? "ok" : "timeout"), p } }' >"$work/results.jsonl"

ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
med() {
	local v=() i
	for i in $(seq "$reps"); do v+=("$(ms "$@")"); done
	printf '%s\n' "${v[@]}" | sort -n | sed -n "$(((reps + 1) / 2))p"
}
printf '%-52s %8s\n' "st-peers ($np peers, $nb bans)" "ms"
printf '%-52s %8s\n' "check 8.8.8.8 (allowed: every ban looked at)" "$(med st-peers check 8.8.8.8)"
printf '%-52s %8s\n' "check 100.0.5.9 (banned subnet)" "$(med st-peers check 100.0.5.9)"
printf '%-52s %8s\n' "check peer-7 (banned id)" "$(med st-peers check peer-7)"
printf '%-52s %8s\n' "ingest $nr st-connect results" "$(ms sh -c "st-peers ingest -q < '$work/results.jsonl'")"
printf '%-52s %8s\n' "list (all peers, tsv)" "$(med st-peers list -o tsv)"
