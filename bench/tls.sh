#!/bin/bash
# TLS handshakes per second: st-connect --tls against st-listen --tls on loopback, beside
# plain st-connect against st-listen and beside bench/tls_pair (a minimal OpenSSL client
# and server doing only the mutual TLS 1.3 handshake with Ed25519 certificates: the limit
# to approach), all in the same run. Prints a table; asserts nothing.
#   bench/tls.sh BUILD_DIR     (BENCH_TLS_DIALS=3000 BENCH_TLS_JOBS=64)
set -u
build=${1:-build}
export PATH="$build:$PATH"
dials=${BENCH_TLS_DIALS:-3000}
jobs=${BENCH_TLS_JOBS:-64}
work=$(mktemp -d /tmp/st-bench-tls.XXXXXX)
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

# list NAME ADDR...: $work/NAME-list, $dials endpoints round-robin over ADDR...
list() {
	local name=$1
	shift
	printf '%s\n' "$@" | awk -v n="$dials" '{ a[NR] = $0 } END { for (i = 0; i < n; i++) print a[i % NR + 1] }' \
		>"$work/$name-list"
}

# st_run NAME [FLAG]: one st-listen on 8 addresses of 127.0.7.0/24 (with FLAG), dialed by
# st-connect (with FLAG); prints "ok ms".
st_run() {
	local name=$1 flag=${2:-} args=() a
	for a in $(seq 1 8); do args+=(--bind "127.0.7.$a:0"); done
	st-keygen -q --out "$work/$name-l" >/dev/null && st-keygen -q --out "$work/$name-c" >/dev/null || return 1
	st-listen -q $flag "${args[@]}" --max-per-ip 1000000 --max-conns 100000 \
		--data-dir "$work/$name-l" >"$work/$name-l.out" 2>/dev/null &
	local lp=$!
	pids+=($lp)
	wait_listening "$work/$name-l.out" 8 || { echo "st-listen $flag did not start" >&2; return 1; }
	mapfile -t addrs < <(sed -n 's/^listening //p' "$work/$name-l.out")
	list "$name" "${addrs[@]}"
	local t0 t1
	t0=$(date +%s%N)
	st-connect -q $flag -j "$jobs" --timeout 10s -o tsv --data-dir "$work/$name-c" \
		<"$work/$name-list" >"$work/$name-results"
	t1=$(date +%s%N)
	kill "$lp" 2>/dev/null
	wait "$lp" 2>/dev/null
	echo "$(awk -F'\t' '$2 == "ok"' "$work/$name-results" | wc -l) $(((t1 - t0) / 1000000))"
}

rate() { awk -v ok="$1" -v ms="$2" 'BEGIN { printf "%d", ms ? ok * 1000 / ms : 0 }'; }

read -r plain_ok plain_ms < <(st_run plain)
tls_ok=- tls_ms=-
if st-connect --help 2>&1 | grep -q -- '--tls'; then
	read -r tls_ok tls_ms < <(st_run tls --tls)
fi

pair=$build/bench/tls_pair
pargs=()
for a in $(seq 1 8); do pargs+=("127.0.8.$a:0"); done
"$pair" serve "${pargs[@]}" >"$work/pair.out" &
pids+=($!)
wait_listening "$work/pair.out" 8 || { echo "tls_pair did not start"; exit 1; }
mapfile -t paddrs < <(sed -n 's/^listening //p' "$work/pair.out")
read -r pair_ok pair_failed pair_ms < <("$pair" dial "$jobs" "$dials" "${paddrs[@]}")

printf '%-46s %10s %8s %10s\n' "run ($dials dials, -j $jobs, $(nproc) cores)" succeeded ms "per second"
printf '%-46s %10s %8s %10s\n' "st-connect, plain TCP (st-listen)" "$plain_ok" "$plain_ms" "$(rate "$plain_ok" "$plain_ms")"
if [ "$tls_ok" != - ]; then
	printf '%-46s %10s %8s %10s\n' "st-connect --tls (st-listen --tls)" "$tls_ok" "$tls_ms" "$(rate "$tls_ok" "$tls_ms")"
else
	printf '%-46s %29s\n' "st-connect --tls (st-listen --tls)" "(no --tls in this build)"
fi
printf '%-46s %10s %8s %10s\n' "tls_pair: mutual TLS 1.3 handshake only" "$pair_ok" "$pair_ms" "$(rate "$pair_ok" "$pair_ms")"
if [ "$tls_ok" != - ]; then
	printf '%-46s %29s\n' "st --tls / tls_pair" \
		"$(awk -v a="$(rate "$tls_ok" "$tls_ms")" -v b="$(rate "$pair_ok" "$pair_ms")" 'BEGIN { printf "%.2f", b ? a / b : 0 }')"
fi
