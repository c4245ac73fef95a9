#!/bin/bash
# st-addrbook against an indexed SQLite table driven by the sqlite3 CLI, side by side,
# whole process included, at several book sizes. Prints a table; asserts nothing.
#   bench/addrbook.sh BUILD_DIR      (BENCH_SIZES="10000 100000 1000000" by default)
set -u
build=${1:-build}
export PATH="$build:$PATH"
sizes=${BENCH_SIZES:-10000 100000 1000000}
reps=${BENCH_REPS:-9}
command -v sqlite3 >/dev/null || { echo "sqlite3 is not installed (make deps)"; exit 1; }
work=$(mktemp -d /tmp/st-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export XDG_CONFIG_HOME=$work/xdg ST_CONFIG= ST_FAKE_NOW=
unset ST_CONFIG ST_FAKE_NOW

# us COMMAND...: wall microseconds of one run
us() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000))
}

# ms MICROSECONDS: milliseconds with one decimal (a query takes about one)
ms() {
	printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100))
}

# median of REPS runs, in ms
med() {
	local i v=()
	for i in $(seq "$reps"); do v+=("$(us "$@")"); done
	ms "$(printf '%s\n' "${v[@]}" | sort -n | sed -n "$(((reps + 1) / 2))p")"
}

gen() {
	awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++)
		printf "%d.%d.%d.%d:7777\n", 11 + int(i / 65536) % 200, int(i / 256) % 256, i % 256, 1 + i % 250 }'
}

printf '%-10s %-14s %12s %12s\n' entries operation st-addrbook sqlite3
for n in $sizes; do
	gen "$n" >"$work/in.txt"
	awk -F: -v now="$(date +%s)" '{ printf "%s\t0.5\t%d\t%d\t0\t0\t0\n", $0, now, now }' \
		"$work/in.txt" >"$work/in.tsv"
	d="$work/book-$n"
	db="$work/book-$n.db"
	one=$(sed -n "$((n / 2))p" "$work/in.txt")
	flags=(--data-dir "$d" --max-addresses $((n * 2)) --max-per-subnet 100)

	timed=()
	[ -x /usr/bin/time ] && timed=(/usr/bin/time -o "$work/add.kb" -f %M)
	st_add=$(us sh -c "${timed[*]} st-addrbook ${flags[*]} add -q <'$work/in.txt'")
	sq_add=$(us sh -c "sqlite3 '$db' 'CREATE TABLE addr(endpoint TEXT PRIMARY KEY, quality REAL, first_seen INT, last_seen INT, attempts INT, successes INT, failures INT); CREATE INDEX addr_q ON addr(quality);' '.mode tabs' '.import $work/in.tsv addr'")
	printf '%-10s %-14s %10sms %10sms\n' "$n" "add (bulk)" "$(ms "$st_add")" "$(ms "$sq_add")"

	st=$(med st-addrbook "${flags[@]}" best -n 8)
	sq=$(med sqlite3 "$db" "SELECT endpoint FROM addr ORDER BY quality DESC LIMIT 8;")
	printf '%-10s %-14s %10sms %10sms\n' "$n" "best -n 8" "$st" "$sq"

	st=$(med st-addrbook "${flags[@]}" record -q "$one" ok)
	sq=$(med sqlite3 "$db" "UPDATE addr SET successes = successes + 1, attempts = attempts + 1, quality = (successes + 2.0) / (successes + failures + 3.0) WHERE endpoint = '$one';")
	printf '%-10s %-14s %10sms %10sms\n' "$n" "record one" "$st" "$sq"

	st=$(med st-addrbook "${flags[@]}" prune -q --max-age 30d)
	sq=$(med sqlite3 "$db" "DELETE FROM addr WHERE last_seen < strftime('%s','now') - 2592000;")
	printf '%-10s %-14s %10sms %10sms\n' "$n" "prune" "$st" "$sq"

	st=$(med st-addrbook "${flags[@]}" list -o tsv)
	sq=$(med sqlite3 "$db" "SELECT * FROM addr;")
	printf '%-10s %-14s %10sms %10sms\n' "$n" "list" "$st" "$sq"

	if [ -x /usr/bin/time ]; then
		printf '%-10s %-14s %10sMB\n' "$n" "peak mem add" "$(($(tail -1 "$work/add.kb") / 1024))"
		for op in "best -n 8" "list -o tsv"; do
			kb=$(/usr/bin/time -f %M st-addrbook "${flags[@]}" $op 2>&1 >/dev/null | tail -1)
			printf '%-10s %-14s %10sMB\n' "$n" "peak mem ${op%% *}" "$((kb / 1024))"
		done
	fi
	rm -rf "$d" "$db"
done
