#!/bin/bash
# st-connect's handshake rate against st-listen on loopback, beside the raw loopback limit
# (connect, write 64 bytes, read 64 bytes, close) measured in the same run; and the memory
# st-listen needs for 10,000 idle connections. Prints a table; asserts nothing.
#   bench/connect.sh BUILD_DIR     (BENCH_DIALS=20000 BENCH_JOBS=512 BENCH_IDLE=10000)
set -u
build=${1:-build}
export PATH="$build:$PATH"
dials=${BENCH_DIALS:-20000}
jobs=${BENCH_JOBS:-512}
idle=${BENCH_IDLE:-10000}
work=$(mktemp -d /tmp/st-bench-connect.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
export XDG_CONFIG_HOME=$work/xdg ST_DATA_DIR=$work/data
ulimit -n "$(ulimit -Hn)" 2>/dev/null

wait_listening() { # FILE COUNT
	for i in $(seq 200); do
		[ "$(grep -c '^listening ' "$1" 2>/dev/null)" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

# 4 st-listen processes x 16 addresses of 127.0.3.0/24
for k in 1 2 3 4; do
	args=()
	for a in $(seq 1 16); do args+=(--bind "127.0.3.$(((k - 1) * 16 + a)):0"); done
	st-listen -q "${args[@]}" --max-per-ip 1000000 --max-conns 100000 --data-dir "$work/l$k" \
		>"$work/l$k.out" 2>/dev/null &
	pids+=($!)
done
for k in 1 2 3 4; do wait_listening "$work/l$k.out" 16 || { echo "st-listen did not start"; exit 1; }; done
sed -n 's/^listening //p' "$work"/l?.out >"$work/st-addrs"
awk -v n="$dials" '{ a[NR] = $0 } END { for (i = 0; i < n; i++) print a[i % NR + 1] }' \
	"$work/st-addrs" >"$work/st-list"

# the raw limit: the same shape, 64 addresses of 127.0.4.0/24
raw=$build/bench/raw_loopback
rargs=()
for a in $(seq 1 64); do rargs+=("127.0.4.$a:0"); done
"$raw" serve "${rargs[@]}" >"$work/raw.out" &
pids+=($!)
wait_listening "$work/raw.out" 64 || { echo "raw_loopback did not start"; exit 1; }
mapfile -t raddrs < <(sed -n 's/^listening //p' "$work/raw.out")

t0=$(date +%s%N)
st-connect -q -j "$jobs" --timeout 10s -o tsv <"$work/st-list" >"$work/st-results"
t1=$(date +%s%N)
st_ms=$(((t1 - t0) / 1000000))
st_ok=$(awk -F'\t' '$2 == "ok"' "$work/st-results" | wc -l)
read -r raw_ok raw_failed raw_ms < <("$raw" dial "$jobs" "$dials" "${raddrs[@]}")

st_rate=$((st_ok * 1000 / (st_ms ? st_ms : 1)))
raw_rate=$((raw_ok * 1000 / (raw_ms ? raw_ms : 1)))
printf '%-44s %10s %8s %10s\n' "run ($dials dials, -j $jobs)" succeeded ms "per second"
printf '%-44s %10s %8s %10s\n' "st-connect handshakes (st-listen, 64 addrs)" "$st_ok" "$st_ms" "$st_rate"
printf '%-44s %10s %8s %10s\n' "raw connect+64B+64B+close (64 addrs)" "$raw_ok" "$raw_ms" "$raw_rate"
printf '%-44s %29s\n' "st-connect / raw" "$(awk -v a="$st_rate" -v b="$raw_rate" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
wait 2>/dev/null
pids=()

# st-listen holding idle connections
st-listen -q --bind 127.0.5.1:0 --max-per-ip 1000000 --max-conns 100000 --idle-timeout 10m \
	--data-dir "$work/idle" >"$work/idle.out" 2>/dev/null &
lp=$!
pids+=($lp)
wait_listening "$work/idle.out" 1
port=$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$work/idle.out")
rss0=$(awk '/VmRSS/ { print $2 }' "/proc/$lp/status")
python3 - "$port" "$idle" >"$work/holder.out" <<'PY' &
import resource, socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
conns = []
for i in range(n):
    conns.append(socket.create_connection(("127.0.5.1", port)))
print("open", len(conns), flush=True)
time.sleep(20)
PY
hp=$!
pids+=($hp)
for i in $(seq 600); do grep -q '^open' "$work/holder.out" 2>/dev/null && break; sleep 0.1; done
sleep 1
rss1=$(awk '/VmRSS/ { print $2 }' "/proc/$lp/status")
held=$(ls "/proc/$lp/fd" | wc -l)
printf '%-44s %10s\n' "st-listen RSS, no connections" "$((rss0 / 1024)) MB"
printf '%-44s %10s\n' "st-listen RSS, $idle idle connections" "$((rss1 / 1024)) MB"
printf '%-44s %10s\n' "  per connection" "$(((rss1 - rss0) * 1024 / (idle ? idle : 1))) bytes"
printf '%-44s %10s\n' "  descriptors open in st-listen" "$held"
