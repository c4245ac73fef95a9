# bench/lib.sh - sourced by every bench/*.sh: sizes, timing and the one row format.
# A script prints rows with bench_row; bench/run gathers them into one table and a TSV.
# Anything else a script prints is shown under its name as a note, never as a figure.

bench_build=${1:-${BENCH_BUILD:-build}}
export PATH="$bench_build:$PATH"
bench_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
measure=$bench_build/bench/measure
BENCH_SCALE=${BENCH_SCALE:-1}
BENCH_REPS=${BENCH_REPS:-7}
BENCH_HEAVY_REPS=${BENCH_HEAVY_REPS:-3}

# bench_size N: N scaled by BENCH_SCALE (at least 10)
bench_size() {
	awk -v n="$1" -v s="$BENCH_SCALE" 'BEGIN { v = int(n * s + 0.5); print v < 10 ? 10 : v }'
}

# bench_label N: 10000 -> 10k, 1000000 -> 1M (what the table's size column shows)
bench_label() {
	awk -v n="$1" 'BEGIN {
		if (n >= 1000000 && n % 1000000 == 0) printf "%dM", n / 1000000
		else if (n >= 1000 && n % 1000 == 0) printf "%dk", n / 1000
		else printf "%d", n }'
}

# bench_time [measure options] -- COMMAND...: "ok MIN MED MAX KBMIN KBMED KBMAX" or "failed WHY"
bench_time() {
	"$measure" "$@" 2>&1 | tail -1
}

# bench_values V...: several figures of one quantity as a measurement ("ok MIN MED MAX")
bench_values() {
	printf '%s\n' "$@" | grep . | sort -g | awk '{ v[NR] = $1 } END {
		if (!NR) { print "failed no figure"; exit }
		printf "ok %s %s %s\n", v[1], v[int((NR + 1) / 2)], v[NR] }'
}

# bench_mem M: the peak-memory figures (MB) of a bench_time measurement
bench_mem() {
	set -- $1
	[ "$1" = ok ] || { echo "failed $*"; return; }
	awk -v a="$5" -v b="$6" -v c="$7" 'BEGIN { printf "ok %.1f %.1f %.1f\n", a / 1024, b / 1024, c / 1024 }'
}

# bench_row AREA OPERATION SIZE UNIT BETTER ST CMP COMPARISON DURABILITY [per-invocation]
#   UNIT ms, MB, B, /s...; BETTER low or high; ST and CMP are measurements (bench_time,
#   bench_values, bench_mem) or "-" when there is nothing to compare with; DURABILITY says
#   whether each side fsyncs its commit ("-" when nothing is written). per-invocation:
#   the row is the cost of one program run, shown also as a multiple of the start floor.
bench_row() {
	local area=$1 op=$2 size=$3 unit=$4 better=$5 st=$6 cmp=$7 what=$8 dur=$9 inv=${10:-}
	printf 'row\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$area" "$op" "$size" "$unit" \
		"$better" "$(bench_fields "$st")" "$(bench_fields "$cmp")" "$what" "$dur" \
		"${inv:+1}"
}

# bench_fields M: "MED<TAB>MIN<TAB>MAX" of a measurement; "failed" (and no figure) when it failed
bench_fields() {
	set -- $1
	case ${1:-} in
	ok) printf '%s\t%s\t%s' "$3" "$2" "$4" ;;
	-) printf -- '-\t-\t-' ;;
	*) printf 'failed\t-\t-' ;;
	esac
}

bench_work() {
	mktemp -d "${TMPDIR:-/tmp}/st-bench-$1.XXXXXX"
}
