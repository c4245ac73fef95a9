#!/bin/bash
# st-peers at 10k/1k, 100k/10k and 1M/100k peers/bans (times BENCH_SCALE): check (whole
# process), ingest of 10,000 st-connect results and list, against the sqlite3 CLI doing
# the same on indexed tables of the same rows. Prints rows for bench/run; asserts nothing.
set -u
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || { echo "sqlite3 is not installed (make deps): no rows"; exit 0; }
work=$(bench_work peers)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/xdg
unset ST_CONFIG ST_FAKE_NOW ST_DATA_DIR
now=$(date +%s)
# the tables are written in their documented format (st-files(5)), in this tree's version
ver=$(sed -n 's/^#define ST_PEERS_FORMAT_VERSION \([0-9]*\).*/\1/p' "$bench_top/include/st/peers.h")
dur="both fsync"
nr=$(bench_size 10000)

# sqlite3 keys for `check ADDR`: every prefix of the address, as st looks them up
prefixes() { # A.B.C.D
	local bits a=0 o oct
	IFS=. read -ra oct <<<"$1"
	for o in "${oct[@]}"; do a=$((a * 256 + o)); done
	for bits in $(seq 32 -1 0); do
		local m=$(((a >> (32 - bits)) << (32 - bits)))
		[ "$bits" -eq 0 ] && m=0
		local s="$((m >> 24 & 255)).$((m >> 16 & 255)).$((m >> 8 & 255)).$((m & 255))"
		[ "$bits" -eq 32 ] && printf "'%s'," "$s" || printf "'%s/%d'," "$s" "$bits"
	done
}

for base in 100000 1000000 10000000; do
	np=$(bench_size $((base / 10)))
	nb=$(bench_size $((base / 100)))
	sz="$(bench_label "$np")/$(bench_label "$nb")"
	d=$work/data
	rm -rf "$d" "$work/fresh"
	mkdir -p "$d"
	awk -v n="$np" -v now="$now" 'BEGIN {
		for (i = 0; i < n; i++) printf "peer-%d\t%d\t%d\t0\t1\t0\t0\t1\t0\t%d.%d.%d.%d:7777\tst/0.1.0\n",
			i, now, now, 11 + int(i / 65536) % 200, int(i / 256) % 256, i % 256, 1 }' >"$work/peers.body"
	{ echo "#st peers $ver gen 1"; cat "$work/peers.body"; } >"$d/peers.tsv"
	awk -v n="$nb" -v now="$now" 'BEGIN {
		for (i = 0; i < n; i++) {
			if (i % 2) printf "peer-%d\t%d\t0\tmanual\tbench\n", i * 7, now;
			else printf "%d.%d.%d.0/24\t%d\t0\tmanual\tbench\n", 100 + int(i / 65536), int(i / 256) % 256, i % 256, now }
		}' | LC_ALL=C sort -t "$(printf '\t')" -k1,1 >"$work/bans.body"
	{ echo "#st bans $ver gen 1"; cat "$work/bans.body"; } >"$d/bans.tsv"
	p=$(((np * 13 + 7) % np))
	awk -v n="$nr" -v np="$np" 'BEGIN { for (i = 0; i < n; i++) {
		p = (i * 13) % np;
		printf "{\"endpoint\":\"%d.%d.%d.%d:7777\",\"status\":\"%s\",\"node_id\":\"peer-%d\",\"verified\":false,\"version\":1,\"user_agent\":\"st/0.1.0\",\"rtt_ms\":1,\"error\":null}\n",
			11 + int(p / 65536) % 200, int(p / 256) % 256, p % 256, 1, (i % 3 ? "ok" : "timeout"), p } }' \
		>"$work/results.jsonl"
	# a writer's first close leaves the tables as st keeps them (derived files included)
	st-peers --data-dir "$d" ban -q bench-writer >/dev/null 2>&1
	st-peers --data-dir "$d" unban -q bench-writer >/dev/null 2>&1
	cp -a "$d" "$work/fresh"

	db=$work/peers.db
	rm -f "$db"
	sqlite3 "$db" "CREATE TABLE peers(id TEXT PRIMARY KEY, first_seen INT, last_seen INT,
		reputation INT, successes INT, failures INT, consecutive INT, version INT, verified INT,
		endpoint TEXT, ua TEXT); CREATE INDEX peers_ep ON peers(endpoint);
		CREATE TABLE bans(target TEXT PRIMARY KEY, created INT, expires INT, origin TEXT, reason TEXT);" \
		".mode tabs" ".import $work/peers.body peers" ".import $work/bans.body bans"
	cp "$db" "$work/fresh.db"
	live="(expires = 0 OR expires > strftime('%s','now'))"
	S=(st-peers --data-dir "$d")

	st=$(bench_time -n "$BENCH_REPS" -- "${S[@]}" check 8.8.8.8)
	sq=$(bench_time -n "$BENCH_REPS" -- sqlite3 "$db" "SELECT 1 FROM bans WHERE target IN ($(prefixes 8.8.8.8) '') AND $live LIMIT 1;")
	bench_row peers "check 8.8.8.8 (allowed)" "$sz" ms low "$st" "$sq" "sqlite3 33 prefixes by key" - per-invocation
	st=$(bench_time -n "$BENCH_REPS" -r 1 -- "${S[@]}" check 100.0.4.9)
	sq=$(bench_time -n "$BENCH_REPS" -- sqlite3 "$db" "SELECT 1 FROM bans WHERE target IN ($(prefixes 100.0.4.9) '') AND $live LIMIT 1;")
	bench_row peers "check 100.0.4.9 (subnet ban)" "$sz" ms low "$st" "$sq" "sqlite3 33 prefixes by key" - per-invocation
	st=$(bench_time -n "$BENCH_REPS" -r 1 -- "${S[@]}" check peer-7)
	sq=$(bench_time -n "$BENCH_REPS" -- sqlite3 "$db" "SELECT 1 FROM bans WHERE target = 'peer-7' AND $live;")
	bench_row peers "check peer-7 (id ban)" "$sz" ms low "$st" "$sq" "sqlite3 SELECT by key" - per-invocation
	# an endpoint: its address's prefixes and the id of the peer last seen there
	ep="11.0.7.1:7777"
	st=$(bench_time -n "$BENCH_HEAVY_REPS" -r 1 -- "${S[@]}" check "$ep")
	sq=$(bench_time -n "$BENCH_REPS" -- sqlite3 "$db" "SELECT 1 FROM bans WHERE (target IN ($(prefixes 11.0.7.1) '')
		OR target IN (SELECT id FROM peers WHERE endpoint = '$ep')) AND $live LIMIT 1;")
	bench_row peers "check $ep (peer's id ban)" "$sz" ms low "$st" "$sq" "sqlite3 prefixes + peer by endpoint" - per-invocation
	bench_row peers "peak memory: check $ep" "$sz" MB low "$(bench_mem "$st")" "$(bench_mem "$sq")" "sqlite3 the same" -

	st=$(bench_time -n "$BENCH_HEAVY_REPS" -p "rm -rf '$d' && cp -a '$work/fresh' '$d'" \
		-i "$work/results.jsonl" -- "${S[@]}" ingest -q)
	sq=$(bench_time -n "$BENCH_HEAVY_REPS" -p "cp '$work/fresh.db' '$db'" -- sqlite3 "$db" \
		"CREATE TEMP TABLE raw(j TEXT);" ".mode ascii" ".separator \"\\037\" \"\\n\"" \
		".import $work/results.jsonl raw" \
		"INSERT INTO peers SELECT json_extract(j, '\$.node_id'), $now, $now, 0,
			json_extract(j, '\$.status') = 'ok', json_extract(j, '\$.status') != 'ok', 0, 1, 0,
			json_extract(j, '\$.endpoint'), json_extract(j, '\$.user_agent') FROM raw WHERE true
		ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen,
			successes = successes + excluded.successes, failures = failures + excluded.failures,
			endpoint = excluded.endpoint;")
	bench_row peers "ingest $(bench_label "$nr") results" "$sz" ms low "$st" "$sq" "sqlite3 json_extract + upsert" "$dur"
	bench_row peers "peak memory: ingest" "$sz" MB low "$(bench_mem "$st")" "$(bench_mem "$sq")" "sqlite3 the same" -

	st=$(bench_time -n "$BENCH_HEAVY_REPS" -- "${S[@]}" list -o tsv)
	sq=$(bench_time -n "$BENCH_HEAVY_REPS" -- sqlite3 "$db" "SELECT * FROM peers;")
	bench_row peers "list -o tsv" "$sz" ms low "$st" "$sq" "sqlite3 SELECT *" - per-invocation
	bench_row peers "peak memory: list" "$sz" MB low "$(bench_mem "$st")" "$(bench_mem "$sq")" "sqlite3 SELECT *" -
	rm -rf "$d" "$work/fresh" "$db" "$work/fresh.db"
done
