#!/bin/bash
# Hostile load at scale, loopback only, bounded in time and count (issue 13; never CI):
#  1. st-listen holding BENCH_HOSTILE_CONNS (5000) hostile connections for
#     BENCH_HOSTILE_SECONDS (30): idle heartbeaters, slowloris (the Handshake a byte a
#     second), silent half-open ones, Ping floods that never read, 16 MiB frames pushed
#     past a 32 MiB memory budget (bench/hostile_load.py). Its peak memory (VmHWM), and
#     an honest st-connect --ping dialed every second throughout: its wall time, whether
#     it completed. Reported, never asserted.
#  2. Poisoning: one source offering 100,000 addresses over many subnets, directly
#     (st-addrbook add with one seed source) and through st-connect --getpeers from a
#     hostile listener answering 1000 fresh addresses under a new forged node id every
#     connection (tests/bats/tools/peer.py forged), 100 rounds; and once from one sending
#     1,000,000 entries (peer.py bigpeers). The book's entries from that source against
#     its quota, and how many of the other sources' entries survive.
#  3. st-connect against 64 hostile listeners at once (bench/hostile_servers.py): its
#     peak memory and time under connect.max_memory 32MiB, against one honest dial.
# Prints rows for bench/run (BENCH_SCALE scales the connection count, the offer and the
# listeners).
set -u
. "$(dirname "$0")/lib.sh"
conns=$(bench_size "${BENCH_HOSTILE_CONNS:-5000}")
secs=${BENCH_HOSTILE_SECONDS:-30}
offer=$(bench_size 100000)
work=$(bench_work hostile)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
export XDG_CONFIG_HOME=$work/xdg ST_DATA_DIR=$work/data
unset ST_CONFIG ST_FAKE_NOW
ulimit -n "$(ulimit -Hn)" 2>/dev/null
peer=$bench_top/tests/bats/tools/peer.py

wait_line() { # FILE REGEX [TENTHS]
	for _ in $(seq "${3:-200}"); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
vmhwm() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }
# honest ADDR OUT: one st-connect --ping from its own books; appends "MS STATUS" to OUT
honest() {
	local t0 t1 st
	t0=$(date +%s%N)
	st=$(st-connect --data-dir "$work/honest" -o tsv --ping --timeout 10s "$1" 2>/dev/null |
		awk -F'\t' 'NR > 1 && !/^#/ { print $2; exit }')
	t1=$(date +%s%N)
	echo "$(((t1 - t0) / 1000000)) ${st:-none}" >>"$2"
}

# ---- 1. st-listen under hostile load ----
idle=$((conns * 6 / 10)) slow=$((conns * 2 / 10)) silent=$((conns - conns * 6 / 10 - conns * 2 / 10 - 16))
[ "$silent" -ge 0 ] || silent=0
ST_LISTEN_MAX_MEMORY=32MiB st-listen -q --bind 127.0.7.1:0 --max-conns $((conns + 200)) \
	--data-dir "$work/listen" >"$work/listen.out" 2>"$work/listen.err" &
lp=$!
pids+=("$lp")
if wait_line "$work/listen.out" '^listening '; then
	addr=$(sed -n 's/^listening //p' "$work/listen.out")
	start_mb=$(vmhwm "$lp")
	for _ in 1 2 3 4 5; do honest "$addr" "$work/before"; done
	python3 "$bench_top/bench/hostile_load.py" "$addr" "$secs" "$idle" "$slow" "$silent" 8 8 \
		>"$work/load.out" 2>"$work/load.err" &
	loadp=$!
	pids+=("$loadp")
	if wait_line "$work/load.out" '^open ' 600; then
		t_end=$(($(date +%s) + secs - 2))
		while [ "$(date +%s)" -lt "$t_end" ] && kill -0 "$loadp" 2>/dev/null; do
			honest "$addr" "$work/during"
			sleep 1
		done
	fi
	wait "$loadp" 2>/dev/null
	peak_mb=$(vmhwm "$lp")
	kill "$lp" 2>/dev/null
	wait "$lp" 2>/dev/null
	ok=$(grep -c ' ok$' "$work/during" 2>/dev/null)
	n=$(wc -l <"$work/during" 2>/dev/null || echo 0)
	worst=$(sort -n "$work/during" 2>/dev/null | tail -1 | cut -d' ' -f1)
	echo "load: $(grep '^open ' "$work/load.out") of $conns asked ($idle idle heartbeaters," \
		"$slow slowloris, $silent silent, 8 Ping floods, 8 16 MiB frames), ${secs}s," \
		"listen.max_memory 32MiB"
	grep '^t=' "$work/load.out" | tail -2 | sed 's/^/load: /'
	echo "load: $(tail -1 "$work/load.out")"
	echo "load: st-listen VmHWM ${start_mb} MB at start, ${peak_mb} MB at the end"
	echo "load: honest st-connect --ping (a program start, handshake, ping) every second:" \
		"$ok of $n completed (status ok); ms: $(cut -d' ' -f1 "$work/during" | tr '\n' ' ')"
	# the listener's side of the same sessions: accept to close, no program start in it
	srv=$(awk '/from 127\.0\.0\.1:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+ms$/) { sub(/ms/, "", $i); print $i } }' \
		"$work/listen.out" | tail -n "$n" | tr '\n' ' ')
	echo "load: st-listen's records of the honest sessions under load (accept to close), ms: $srv"
	echo "load: before the load, ms: $(cut -d' ' -f1 "$work/before" | tr '\n' ' '); the slowest under load ${worst:-?} ms"
	echo "load: st-listen's sessions: $(grep -c . "$work/listen.out") records;" \
		"$(grep -c 'memory budget is spent' "$work/listen.out") shed over the budget," \
		"$(grep -c 'no handshake in time' "$work/listen.out") handshake timeouts"
	during=$(bench_values $(cut -d' ' -f1 "$work/during" 2>/dev/null))
	[ "$ok" = "$n" ] && [ "$n" -gt 0 ] || during="failed $((n - ok)) of $n honest dials"
	bench_row hostile "honest handshake+ping, under load" "$(bench_label "$conns") conns" ms low \
		"$during" "$(bench_values $(cut -d' ' -f1 "$work/before"))" "the same, before the load" -
	bench_row hostile "st-listen peak memory (VmHWM)" "$(bench_label "$conns") conns" MB low \
		"$(bench_values "$peak_mb")" "$(bench_values "$start_mb")" "st-listen at start" -
else
	bench_row hostile "honest handshake+ping, under load" "$(bench_label "$conns") conns" ms low \
		"failed st-listen did not start" - - -
fi

# ---- 2. poisoning ----
# a book with 500 manual and 500 seed-list entries, then one source's offer
base_book() { # DIR
	awk 'BEGIN { for (i = 0; i < 500; i++) printf "127.200.%d.%d:7777\n", i / 10, i % 10 + 1 }' |
		st-addrbook --data-dir "$1" add -q --allow-private --source manual
	awk 'BEGIN { for (i = 0; i < 500; i++) printf "127.201.%d.%d:7777\n", i / 10, i % 10 + 1 }' |
		st-addrbook --data-dir "$1" add -q --allow-private --source seed:https://good.example/list
}
count() { # DIR: "SOURCE_GROUP COUNT" lines: hostile, manual, seed
	st-addrbook --data-dir "$1" list -o tsv | awk -F'\t' '
		NR == 1 || /^#/ { for (i = 1; i <= NF; i++) if ($i ~ /source$/) c = i; next }
		{ s = $c; if (s == "manual") m++; else if (s ~ /good\.example/) g++; else h++ }
		END { printf "%d %d %d\n", h, m, g }'
}
quota=$(st-addrbook --print-config list 2>/dev/null | awk '
	$1 == "max_addresses:" { a = $2 } $1 == "max_per_source_group:" { s = $2 }
	END { sub(/%/, "", s); printf "%d", a * s / 100 }')

# directly: 100,000 addresses over 127.0.0.0/8's /24s from one seed source
base_book "$work/direct"
t0=$(date +%s%N)
awk -v n="$offer" 'BEGIN { for (i = 0; i < n; i++)
		printf "127.%d.%d.%d:7777\n", i % 199 + 1, int(i / 199) % 256, int(i / 50944) + 1 }' |
	st-addrbook --data-dir "$work/direct" add -q --allow-private --source seed:https://evil.example/list \
		2>/dev/null
t1=$(date +%s%N)
read -r dh dm dg < <(count "$work/direct")
echo "poison direct: $offer offered by seed:https://evil.example/list in $(((t1 - t0) / 1000000)) ms:" \
	"$dh kept (quota $quota), manual $dm of 500, other seed $dg of 500"

# via st-connect --getpeers: 100 rounds of 1000 from a listener forging a new id each time
python3 "$peer" forged >"$work/forged.out" 2>/dev/null &
pids+=($!)
python3 "$peer" bigpeers >"$work/big.out" 2>/dev/null &
pids+=($!)
gh=0 gm=0 gg=0
if wait_line "$work/forged.out" '^listening ' && wait_line "$work/big.out" '^listening '; then
	faddr=$(sed -n 's/^listening //p' "$work/forged.out")
	baddr=$(sed -n 's/^listening //p' "$work/big.out")
	base_book "$work/gossip"
	rounds=$(((offer + 999) / 1000))
	t0=$(date +%s%N)
	for _ in $(seq "$rounds"); do
		st-connect --data-dir "$work/gossip" -q --timeout 5s --getpeers 1000 "$faddr" 2>/dev/null |
			st-addrbook --data-dir "$work/gossip" add -q --allow-private 2>/dev/null
	done
	st-connect --data-dir "$work/gossip" --timeout 10s --getpeers 1000 "$baddr" 2>"$work/big.err" |
		st-addrbook --data-dir "$work/gossip" add -q --allow-private 2>/dev/null
	t1=$(date +%s%N)
	read -r gh gm gg < <(count "$work/gossip")
	ids=$(st-addrbook --data-dir "$work/gossip" list -o tsv | grep -o 'gossip:forged-[0-9a-f]*' |
		sort -u | wc -l)
	echo "poison gossip: $rounds rounds of st-connect --getpeers 1000 | st-addrbook add against" \
		"peer.py forged in $(((t1 - t0) / 1000000)) ms: $gh kept under $ids forged ids (quota $quota)," \
		"manual $gm of 500, seed $gg of 500"
	echo "poison gossip: peer.py bigpeers (1,000,000 entries): $(grep -m1 -F "$baddr" "$work/big.err" || head -1 "$work/big.err")"
fi
bench_row poison "one source's entries kept (st-addrbook add)" "$(bench_label "$offer") offered" \
	entries low "$(bench_values "$dh")" "$(bench_values "$quota")" "its quota (10% of the book)" -
bench_row poison "others' entries kept (st-addrbook add)" "$(bench_label "$offer") offered" \
	entries high "$(bench_values $((dm + dg)))" "$(bench_values 1000)" "before the offer" -
bench_row poison "one source's entries kept (--getpeers)" "$(bench_label "$offer") offered" \
	entries low "$(bench_values "$gh")" "$(bench_values "$quota")" "its quota (10% of the book)" -
bench_row poison "others' entries kept (--getpeers)" "$(bench_label "$offer") offered" \
	entries high "$(bench_values $((gm + gg)))" "$(bench_values 1000)" "before the offer" -

# 3. st-connect against BENCH_HOSTILE_SERVERS (64) hostile listeners at once, -j 64, with
#    connect.max_memory 32MiB (bench/hostile_servers.py: 16 MiB frames, 1M-entry Peers,
#    endless Heartbeats, a byte a second, garbage, bad lengths, silence): its peak memory
#    and wall time against one dial of an honest st-listen. No dial answers honestly, so
#    the run exits 69; each ends with a status of its own (counted below).
nh=$(bench_size "${BENCH_HOSTILE_SERVERS:-64}")
python3 "$bench_top/bench/hostile_servers.py" "$nh" >"$work/servers.out" 2>/dev/null &
pids+=($!)
st-listen --data-dir "$work/honest" --bind 127.0.0.1:0 -q >"$work/honest.out" 2>/dev/null </dev/null &
pids+=($!)
for _ in $(seq 200); do
	[ "$(grep -c '^listening ' "$work/servers.out" 2>/dev/null)" -ge "$nh" ] && break
	sleep 0.1
done
hostile=()
mapfile -t hostile < <(awk '/^listening / { print $2 }' "$work/servers.out")
hs=failed hb=failed
if [ "${#hostile[@]}" -eq "$nh" ] && wait_line "$work/honest.out" '^listening '; then
	honest=$(sed -n 's/^listening \([^ ]*\).*/\1/p' "$work/honest.out" | head -1)
	export ST_CONNECT_MAX_MEMORY=32MiB
	hs=$(bench_time -n 3 -r 69 -t 120 -- st-connect -q --getpeers 100 --timeout 5s -j 64 "${hostile[@]}")
	hb=$(bench_time -n 3 -- st-connect -q --getpeers 100 --timeout 5s "$honest")
	echo "hostile servers: $nh listeners, one st-connect -j 64 --timeout 5s, statuses:" \
		"$(st-connect --getpeers 100 --timeout 5s -j 64 "${hostile[@]}" 2>&1 >/dev/null |
			awk -F': ' '/^st-connect: [0-9]/ { n[$3 ": " $4]++ } END { for (s in n) printf "%d %s; ", n[s], s }')"
	unset ST_CONNECT_MAX_MEMORY
fi
bench_row hostile "st-connect peak memory, -j 64" "$nh hostile listeners" MB low \
	"$(bench_mem "$hs")" "$(bench_mem "$hb")" "one dial of an honest st-listen" -
bench_row hostile "st-connect wall time, -j 64" "$nh hostile listeners" ms low \
	"$hs" "$hb" "one dial of an honest st-listen" -
