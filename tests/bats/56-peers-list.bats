#!/usr/bin/env bats
# st-peers list and best read a packed book: every row is the one `show` prints from
# the whole book, in every format and order, the banned field included.

load helpers

# a snapshot written by hand (no index yet), then a journal on top of it
setup() {
	mkdir -p "$ST_DATA_DIR"
	now=$(date +%s)
	{
		echo "#st peers 1 gen 1"
		for i in $(seq 0 39); do
			printf 'p-%d\t%d\t%d\t%d\t%d\t0\t0\t1\t0\t10.0.%d.1:7777\tst/0.1.0\n' \
				"$i" "$((now - 100 - i))" "$((now - i % 7))" "$((i % 5 - 2))" "$i" "$((i % 20))"
		done
		printf 'v6\t%d\t%d\t3\t0\t0\t0\t1\t0\t[2001:db8::1]:7777,10.9.9.9:1\t\n' "$now" "$now"
	} >"$ST_DATA_DIR/peers.tsv"
	# p-0 .. p-19 and p-20 .. p-39 share endpoints two by two: the later line owns each
	st-peers ban -q p-25 >/dev/null          # the owner of p-5's endpoint
	st-peers ban -q 10.0.3.0/24 >/dev/null
	st-peers ban -q p-7 >/dev/null
	st-peers add owner 10.0.9.1:7777 >/dev/null  # takes p-9's and p-29's endpoint
	st-peers ban -q owner >/dev/null
	st-peers remove p-11 >/dev/null
	st-peers add late 10.0.12.1:7777 >/dev/null
	st-peers remove late >/dev/null          # a removed owner bans nobody
	st-peers ban -q late >/dev/null
	st-peers success p-1 >/dev/null
	st-peers failure p-2 >/dev/null
}

# rows_match FMT ARGS...: every row of `st-peers ARGS -o FMT` is `show` of its peer
rows_match() {
	local fmt=$1 id row want n=0
	shift
	run st-peers "$@" -o "$fmt"
	[ "$status" -eq 0 ]
	local out=$output
	while IFS= read -r row; do
		case $row in "#"*) continue ;; esac
		if [ "$fmt" = json ]; then
			id=$(sed 's/.*"node_id":"\([^"]*\)".*/\1/' <<<"$row")
			want=$(st-peers show "$id" -o json)
		else
			id=$(cut -f2 <<<"$row")
			want=$(st-peers show "$id" -o tsv | tail -n +2)
		fi
		[ "$row" = "$want" ] || { echo "list: $row"; echo "show: $want"; return 1; }
		n=$((n + 1))
	done <<<"$out"
	echo "$n"
}

@test "list rows are show's, in every format and order, the journal on top" {
	for fmt in tsv json; do
		for sort in id reputation last-seen; do
			run rows_match "$fmt" list --sort "$sort"
			[ "$status" -eq 0 ]
			[ "${lines[-1]}" = 41 ]
		done
	done
	run st-peers list -o tsv
	[ "$(cut -f2 <<<"$output" | tail -n +2)" = "$(cut -f2 <<<"$output" | tail -n +2 | LC_ALL=C sort)" ]
	# the banned: by id, by subnet, by the owner of the endpoint, not by a removed one
	run st-peers list --banned -o tsv
	[ "$status" -eq 0 ]
	[ "$(cut -f2 <<<"$output" | tail -n +2 | tr '\n' ' ')" = "owner p-23 p-25 p-29 p-3 p-5 p-7 p-9 " ]
	run rows_match json list --banned --sort reputation
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = 8 ]
	run rows_match tsv best -n 30
	[ "$status" -eq 0 ]
	run st-peers list -o tsv
	[[ "$output" != *$'\tp-11\t'* && "$output" != *$'\tlate\t'* ]]
}

@test "list reads the same after a writer indexes and compacts the table" {
	run st-peers list -o json
	before=$output
	# a writer's close indexes the hand-written snapshot; fsck --repair rewrites both
	# tables whole (the journal folded into new snapshots)
	[ -f "$ST_DATA_DIR/peers.index" ]
	run st-peers fsck
	[ "$status" -eq 0 ]
	run st-peers list -o json
	[ "$output" = "$before" ]
	printf 'x\n' >>"$ST_DATA_DIR/bans.tsv"
	run st-peers fsck --repair
	[ "$status" -eq 0 ]
	[ -f "$ST_DATA_DIR/peers.tsv.bak" ]
	run st-peers list -o json
	[ "$output" = "$before" ]
	run rows_match tsv list --sort last-seen
	[ "$status" -eq 0 ]
}

@test "list on a damaged table fails as a whole read does, and repairs the same" {
	printf 'broken line\n' >>"$ST_DATA_DIR/peers.tsv"
	run st-peers list -o tsv
	[ "$status" -eq 65 ]
	[ "$output" = "st-peers: $ST_DATA_DIR/peers.tsv:43: expected 11 fields" ]
	run st-peers best
	[ "$status" -eq 65 ]
	printf 'repair: auto\n' >"$BATS_TEST_TMPDIR/auto.yaml"
	run env ST_CONFIG="$BATS_TEST_TMPDIR/auto.yaml" st-peers list -o tsv
	[ "$status" -eq 0 ]
	assert_output --partial "peers.tsv:43: expected 11 fields; repaired (repair: auto): "
	run rows_match tsv list
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = 41 ]
}
