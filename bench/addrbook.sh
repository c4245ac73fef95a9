#!/bin/bash
# st-addrbook against an indexed SQLite table driven by the sqlite3 CLI, the same rows,
# whole process included, at 10k, 100k and 1M entries (times BENCH_SCALE).
# Prints rows for bench/run (bench/lib.sh); asserts nothing.
set -u
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || { echo "sqlite3 is not installed (make deps): no rows"; exit 0; }
work=$(bench_work addrbook)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/xdg
unset ST_CONFIG ST_FAKE_NOW ST_DATA_DIR

# both sides commit durably: st fdatasyncs its journal (and fsyncs a compacted snapshot
# and its directory), sqlite3 runs with synchronous=FULL, its default
dur="both fsync"
schema="CREATE TABLE addr(endpoint TEXT PRIMARY KEY, quality REAL, first_seen INT,
	last_seen INT, attempts INT, successes INT, failures INT);
	CREATE INDEX addr_q ON addr(quality);"

for base in 10000 100000 1000000; do
	n=$(bench_size "$base")
	sz=$(bench_label "$n")
	reps=$BENCH_REPS
	heavy=$BENCH_HEAVY_REPS
	awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++)
		printf "%d.%d.%d.%d:7777\n", 11 + int(i / 65536) % 200, int(i / 256) % 256, i % 256, 1 + i % 250 }' \
		>"$work/in.txt"
	awk -F: -v now="$(date +%s)" '{ printf "%s\t0.5\t%d\t%d\t0\t0\t0\n", $0, now, now }' \
		"$work/in.txt" >"$work/in.tsv"
	d=$work/book
	db=$work/book.db
	one=$(sed -n "$(((n + 1) / 2))p" "$work/in.txt")
	flags=(--data-dir "$d" --max-addresses $((n * 2)) --max-per-subnet 100)

	# bulk add: a fresh book each repetition; the last one stays for the queries
	st=$(bench_time -n "$heavy" -p "rm -rf '$d'" -i "$work/in.txt" -- st-addrbook "${flags[@]}" add -q)
	sq=$(bench_time -n "$heavy" -p "rm -f '$db'" -- sqlite3 "$db" "$schema" .mode\ tabs ".import $work/in.tsv addr")
	bench_row addrbook "add (bulk)" "$sz" ms low "$st" "$sq" "sqlite3 .import, indexed" "$dur"
	bench_row addrbook "peak memory: add" "$sz" MB low "$(bench_mem "$st")" "$(bench_mem "$sq")" \
		"sqlite3 .import" -

	st=$(bench_time -n "$reps" -- st-addrbook "${flags[@]}" best -n 8)
	sq=$(bench_time -n "$reps" -- sqlite3 "$db" "SELECT endpoint FROM addr ORDER BY quality DESC LIMIT 8;")
	bench_row addrbook "best -n 8" "$sz" ms low "$st" "$sq" "sqlite3 ORDER BY quality LIMIT 8" - per-invocation
	bench_row addrbook "peak memory: best" "$sz" MB low "$(bench_mem "$st")" "$(bench_mem "$sq")" \
		"sqlite3 the same query" -

	st=$(bench_time -n "$reps" -- st-addrbook "${flags[@]}" record -q "$one" ok)
	sq=$(bench_time -n "$reps" -- sqlite3 "$db" "UPDATE addr SET successes = successes + 1,
		attempts = attempts + 1, quality = (successes + 2.0) / (successes + failures + 3.0)
		WHERE endpoint = '$one';")
	bench_row addrbook "record one result" "$sz" ms low "$st" "$sq" "sqlite3 UPDATE by key" "$dur" per-invocation

	# nothing is old enough to go: the cost of finding that out
	st=$(bench_time -n "$reps" -- st-addrbook "${flags[@]}" prune -q --max-age 30d)
	sq=$(bench_time -n "$reps" -- sqlite3 "$db" "DELETE FROM addr WHERE last_seen < strftime('%s','now') - 2592000;")
	bench_row addrbook "prune (none due)" "$sz" ms low "$st" "$sq" "sqlite3 DELETE (no age index)" "$dur" per-invocation

	st=$(bench_time -n "$heavy" -- st-addrbook "${flags[@]}" list -o tsv)
	sq=$(bench_time -n "$heavy" -- sqlite3 "$db" "SELECT * FROM addr;")
	bench_row addrbook "list -o tsv" "$sz" ms low "$st" "$sq" "sqlite3 SELECT *" - per-invocation
	bench_row addrbook "peak memory: list" "$sz" MB low "$(bench_mem "$st")" "$(bench_mem "$sq")" \
		"sqlite3 SELECT *" -
	rm -rf "$d" "$db"
done
