#!/bin/bash
# st-connect's handshake rate against st-listen on loopback, beside the raw loopback limit
# (connect, write 64 bytes, read 64 bytes, close) measured in the same run; the rate at
# which st-listen answers a minimal client against the raw accept limit; and the memory
# st-listen needs per idle connection. Prints rows for bench/run; asserts nothing.
#   (BENCH_DIALS=20000 BENCH_JOBS=512 BENCH_IDLE=10000, sizes times BENCH_SCALE)
set -u
. "$(dirname "$0")/lib.sh"
dials=$(bench_size "${BENCH_DIALS:-20000}")
jobs=${BENCH_JOBS:-512}
idle=$(bench_size "${BENCH_IDLE:-10000}")
reps=$BENCH_REPS # each repetition is a few seconds: the median of 7 rather than 3, the spread being wide
raw=$bench_build/bench/raw_loopback
work=$(bench_work connect)
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

wait_listening() { # FILE COUNT
	for i in $(seq 200); do
		[ "$(grep -c '^listening ' "$1" 2>/dev/null)" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
stop_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	pids=()
}
rate() { # OK MS
	awk -v ok="$1" -v ms="$2" 'BEGIN { printf "%.0f", (ms > 0 ? ok * 1000 / ms : 0) }'
}

# one st-listen on 16 addresses of 127.0.3.0/24, and the raw server in the same shape: one
# process each (the raw server is one epoll loop), so neither side's figure is a count of
# processes sharing the two cores. Several addresses keep the TIME_WAITs of the repeated
# runs (20,000 a run) apart.
started=1
args=()
for a in $(seq 1 16); do args+=(--bind "127.0.3.$a:0"); done
st-listen -q "${args[@]}" --max-per-ip 1000000 --max-conns 100000 --data-dir "$work/l1" \
	>"$work/l1.out" 2>/dev/null &
pids+=($!)
wait_listening "$work/l1.out" 16 || started=0
sed -n 's/^listening //p' "$work/l1.out" >"$work/st-addrs"
awk -v n="$dials" '{ a[NR] = $0 } END { for (i = 0; i < n; i++) print a[i % NR + 1] }' \
	"$work/st-addrs" >"$work/st-list"
mapfile -t saddrs <"$work/st-addrs"

rargs=()
for a in $(seq 1 16); do rargs+=("127.0.4.$a:0"); done
"$raw" serve "${rargs[@]}" >"$work/raw.out" &
pids+=($!)
wait_listening "$work/raw.out" 16 || started=0
mapfile -t raddrs < <(sed -n 's/^listening //p' "$work/raw.out")

# a Handshake as st-connect sends it, captured once, for the minimal client below
python3 - "$work/hello" >"$work/cap.out" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.6.1", 0)); s.listen(1)
print("listening 127.0.6.1:%d" % s.getsockname()[1], flush=True)
s.settimeout(20)
c, _ = s.accept(); c.settimeout(1); data = b""; end = time.time() + 2
while time.time() < end:
    try:
        b = c.recv(4096)
    except socket.timeout:
        break
    if not b:
        break
    data += b
open(sys.argv[1], "wb").write(data)
PY
cap=$!
wait_listening "$work/cap.out" 1 && st-connect -q --timeout 3s "$(sed -n 's/^listening //p' "$work/cap.out")" \
	>/dev/null 2>&1
wait "$cap" 2>/dev/null

st_rates=() raw_rates=() srv_rates=() acc_rates=() st_bad=0 raw_bad=0 srv_bad=0
if [ "$started" = 1 ]; then
	# st first in odd repetitions, the raw client first in even ones: whatever a run
	# leaves behind (TIME_WAITs, a warm cache) falls on both sides alike
	st_run() {
		local t0 t1 st_ok
		t0=$(date +%s%N)
		st-connect -q -j "$jobs" --timeout 10s -o tsv <"$work/st-list" >"$work/st-results" 2>/dev/null
		t1=$(date +%s%N)
		st_ok=$(awk -F'\t' '$2 == "ok"' "$work/st-results" | wc -l)
		[ "$st_ok" -eq "$dials" ] || st_bad=1
		st_rates+=("$(rate "$st_ok" $(((t1 - t0) / 1000000)))")
	}
	raw_run() {
		local ok failed ms
		read -r ok failed ms < <("$raw" dial "$jobs" "$dials" "${raddrs[@]}")
		[ "${failed:-1}" -eq 0 ] || raw_bad=1
		raw_rates+=("$(rate "${ok:-0}" "${ms:-0}")")
	}
	for r in $(seq "$reps"); do
		if [ $((r % 2)) = 1 ]; then st_run; raw_run; else raw_run; st_run; fi
		if [ -s "$work/hello" ]; then
			read -r ok failed ms < <(RAW_MSG=$work/hello "$raw" dial "$jobs" "$dials" "${saddrs[@]}")
			[ "${failed:-1}" -eq 0 ] || srv_bad=1
			srv_rates+=("$(rate "${ok:-0}" "${ms:-0}")")
			read -r ok failed ms < <(RAW_MSG=$work/hello "$raw" dial "$jobs" "$dials" "${raddrs[@]}")
			acc_rates+=("$(rate "${ok:-0}" "${ms:-0}")")
		fi
	done
fi
# a run where a dial failed is no rate: "failed", not a figure
st=$(bench_values "${st_rates[@]}")
[ "$st_bad" = 0 ] || st="failed some dials"
rw=$(bench_values "${raw_rates[@]}")
[ "$raw_bad" = 0 ] || rw="failed some dials"
sz="$(bench_label "$dials") x -j$jobs"
# each repetition's st run beside the raw run next to it: a machine whose speed drifts
# moves both alike, so the pairs' ratios show what the medians' ratio hides
if [ "$st_bad$raw_bad" = 00 ] && [ ${#st_rates[@]} -gt 0 ]; then
	for i in "${!st_rates[@]}"; do echo "${st_rates[$i]} ${raw_rates[$i]}"; done |
		awk '$2 > 0 { r[++n] = $1 / $2 } END {
			if (!n) exit
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
			printf "plain st/raw in pairs (st and raw run back to back): median %.2f, %.2f..%.2f over %d\n", r[int((n + 1) / 2)], r[1], r[n], n }'
fi
bench_row connect "handshakes/s (st-listen)" "$sz" /s high "$st" "$rw" "raw connect+64B+64B+close" -
if [ -s "$work/hello" ] || [ "$started" = 0 ]; then
	sv=$(bench_values "${srv_rates[@]}")
	[ "$srv_bad" = 0 ] || sv="failed some dials"
	bench_row listen "handshakes/s answered" "$sz" /s high "$sv" "$(bench_values "${acc_rates[@]}")" \
		"raw accept+echo, same client" -
fi
# TLS: when st-connect speaks it and bench/tls_pair is built (bench/tls.sh adds the rows)
stop_all

# idle connections held open: st-listen's resident memory per connection, against the
# raw epoll server holding the same number; then the same after each sent the captured
# Handshake and read st-listen's answer (a peer that said who it is and went quiet)
hold() { # PORT ADDR N OUT [HELLO]: opens N connections (each sends HELLO, reads the answer), keeps them 20 s
	python3 - "$1" "$2" "$3" "${5:-}" >"$4" <<'PY' &
import resource, socket, sys, time
port, addr, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
hello = open(sys.argv[4], "rb").read() if sys.argv[4] else b""
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
conns = [socket.create_connection((addr, port)) for _ in range(n)]
answered = 0
for c in conns if hello else []:
    c.sendall(hello)
for c in conns if hello else []:
    c.settimeout(10)
    try:  # a HandshakeAck's header: a length, then type 2 (an Error or a close is no answer)
        head = c.recv(5, socket.MSG_WAITALL)
        answered += 1 if len(head) == 5 and head[4] == 2 else 0
    except OSError:
        pass
if not hello or answered == n:
    print("open", len(conns), flush=True)
else:
    print("answered only", answered, "of", n, flush=True)
time.sleep(20)
PY
	pids+=($!)
	for i in $(seq 600); do
		grep -q '^open' "$4" 2>/dev/null && return 0
		grep -q '^answered only' "$4" 2>/dev/null && return 1
		sleep 0.1
	done
	return 1
}
per_conn() { # PID PORT ADDR [HELLO]: VmRSS delta per connection (bytes) while N are held; "" when it failed
	local rss0 rss1
	rss0=$(awk '/VmRSS/ { print $2 }' "/proc/$1/status")
	hold "$2" "$3" "$idle" "$work/hold-$1.out" "${4:-}" || return 1
	sleep 1
	rss1=$(awk '/VmRSS/ { print $2 }' "/proc/$1/status")
	[ -n "$rss1" ] && echo $(((rss1 - rss0) * 1024 / idle))
}
idle_listener() { # VAR TAG [HELLO]: sets VAR to st-listen's bytes per held connection ("" when it failed)
	local out=$work/idle-$2.out
	st-listen -q --bind 127.0.5.1:0 --max-per-ip 1000000 --max-conns 100000 --idle-timeout 10m \
		--data-dir "$work/idle-$2" >"$out" 2>/dev/null &
	lp=$!
	pids+=($lp) # in this shell, so that cleanup reaches it however the script ends
	local b=
	wait_listening "$out" 1 &&
		b=$(per_conn "$lp" "$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$out")" 127.0.5.1 "${3:-}")
	printf -v "$1" '%s' "$b"
	stop_all
}
st_b= st_hb=
idle_listener st_b plain
[ -s "$work/hello" ] && idle_listener st_hb hello "$work/hello"
"$raw" serve 127.0.5.2:0 >"$work/ridle.out" &
rp=$!
pids+=($rp)
raw_b=
wait_listening "$work/ridle.out" 1 &&
	raw_b=$(per_conn "$rp" "$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$work/ridle.out")" 127.0.5.2)
stop_all
bench_row listen "memory per idle connection" "$(bench_label "$idle") conns" B low \
	"$(bench_values $st_b)" "$(bench_values $raw_b)" "raw epoll server, same conns" -
bench_row listen "memory per handshaken idle connection" "$(bench_label "$idle") conns" B low \
	"$(bench_values $st_hb)" "$(bench_values $raw_b)" "raw epoll server, same conns (no handshake)" -
