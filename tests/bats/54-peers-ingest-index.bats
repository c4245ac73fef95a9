#!/usr/bin/env bats
# st-peers ingest reads of the peers snapshot only the lines of the ids and endpoints a
# batch names, through peers.index: the tables it leaves are the ones a whole read
# leaves, with the index and without it, compaction included.

load helpers

export ST_FAKE_NOW=1800000000

# 3000 peers written by hand, one endpoint each, and a few bans
write_tables() { # DIR
	mkdir -p "$1"
	awk -v now="$ST_FAKE_NOW" 'BEGIN { print "#st peers 1 gen 1";
		for (i = 0; i < 3000; i++) printf "peer-%d\t%d\t%d\t%d\t1\t0\t0\t1\t0\t11.%d.%d.1:7777\t-\n", i, now - 100, now - 100, i % 7 - 3, int(i / 256), i % 256 }' \
		>"$1/peers.tsv"
	printf '#st bans 1 gen 1\npeer-14\t%d\t0\tmanual\tt\n100.0.0.0/8\t%d\t0\tmanual\tt\n' \
		"$ST_FAKE_NOW" "$ST_FAKE_NOW" >"$1/bans.tsv"
}

# results: moves, claims, results without an id, failures enough for automatic bans
results() { # SEED N
	python3 - "$1" "$2" <<'PY'
import json, random, sys
random.seed(int(sys.argv[1]))
for i in range(int(sys.argv[2])):
    p, e = random.randrange(40), random.randrange(60)
    r = {"endpoint": "11.0.%d.1:7777" % (e if random.random() < 0.6 else p),
         "status": random.choice(["ok", "ok", "timeout", "refused", "banned"]),
         "version": random.choice([1, 2]), "user_agent": "st/0.%d" % random.randrange(3),
         "verified": random.random() < 0.1}
    if random.random() < 0.75:
        r["node_id"] = "peer-%d" % (p * 7 if random.random() < 0.5 else p)
    print(json.dumps(r))
PY
}

# ingest IN into DIR; without the index when WHOLE is set
feed() { # DIR IN WHOLE
	[ -z "$3" ] || rm -f "$1/peers.index"
	st-peers --data-dir "$1" ingest -o tsv <"$2" >>"$1.out"
}

@test "ingest through peers.index leaves the tables a whole read leaves, compaction included" {
	a=$BATS_TEST_TMPDIR/a b=$BATS_TEST_TMPDIR/b
	write_tables "$a"
	write_tables "$b"
	run st-peers --data-dir "$a" ban -q bench # the writer's close leaves the index
	[ "$status" -eq 0 ]
	run st-peers --data-dir "$b" ban -q bench
	[ "$status" -eq 0 ]
	[ "$(tail -n 1 "$a/peers.index" | cut -d' ' -f4)" = "k2" ]
	# small batches, as the index serves them (a batch that names many peers for the
	# table's size reads it whole); the journal grows past a compaction on the way
	for seed in 1 2 3 4 5 6 7 8 9 10; do
		results "$seed" 100 >"$BATS_TEST_TMPDIR/in"
		feed "$a" "$BATS_TEST_TMPDIR/in" ""
		feed "$b" "$BATS_TEST_TMPDIR/in" whole
		# a removed peer: a tombstone the next compaction must honour
		st-peers --data-dir "$a" remove -q "peer-$((seed * 3))"
		st-peers --data-dir "$b" remove -q "peer-$((seed * 3))"
		st-peers --data-dir "$a" remove -q "peer-$((seed * 50 + 7))"
		st-peers --data-dir "$b" remove -q "peer-$((seed * 50 + 7))"
	done
	grep -q '	banned	' "$a.out" # automatic bans were made
	[ "$(head -1 "$a/peers.tsv")" != "#st peers 1 gen 1" ] # compacted
	[ -s "$a/peers.journal" ]
	cmp "$b/peers.tsv" "$a/peers.tsv"
	# the same index but for its seal's last field, each snapshot's own modification time
	cmp <(sed '$ s/ [0-9]*$//' "$b/peers.index") <(sed '$ s/ [0-9]*$//' "$a/peers.index")
	diff "$b.out" "$a.out"
	diff <(st-peers --data-dir "$b" bans -o tsv) <(st-peers --data-dir "$a" bans -o tsv)
	diff <(st-peers --data-dir "$b" list -o tsv) <(st-peers --data-dir "$a" list -o tsv)
	# removed snapshot peers no result names stay removed
	run st-peers --data-dir "$a" list -o tsv
	[ "$status" -eq 0 ]
	for id in peer-57 peer-107 peer-157 peer-307 peer-507; do
		! grep -q "	$id	" <<<"$output"
	done
	grep -q "	peer-2999	" <<<"$output"
}

@test "ingest reads only the lines of the peers it names: damage elsewhere is not met" {
	d=$ST_DATA_DIR
	write_tables "$d"
	run st-peers ban -q bench
	[ "$status" -eq 0 ]
	break_peer_line "$d/peers.tsv" peer-150
	run st-peers list
	[ "$status" -eq 65 ]
	printf '%s\n' '{"endpoint":"11.0.7.1:7777","status":"ok","node_id":"peer-7"}' \
		'{"endpoint":"11.0.9.1:7777","status":"timeout"}' >"$BATS_TEST_TMPDIR/in"
	run st-peers ingest -o tsv <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 0 ]
	# peer-7 had reputation -3, peer-9 -1: the snapshot's lines were read
	[ "${lines[1]}" = "peer-7	11.0.7.1:7777	success	-2	-" ]
	[ "${lines[2]}" = "peer-9	11.0.9.1:7777	failure	-3	-" ]
	run st-peers list
	[ "$status" -eq 65 ]
	# without the index the table is read whole, and the damage met
	rm "$d/peers.index"
	run st-peers ingest -o tsv <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 65 ]
}

@test "a snapshot edited by hand to hold a second line for one id, its length kept: ingest refuses it as a whole read does" {
	d=$ST_DATA_DIR
	write_tables "$d"
	run st-peers ban -q bench # the writer's close leaves the index
	[ "$status" -eq 0 ]
	[ -f "$d/peers.index" ]
	# peer-2999's line becomes a second line of peer-1000: same length, same generation
	sed -i 's/^peer-2999\t/peer-1000\t/' "$d/peers.tsv"
	[ "$(grep -c '^peer-1000	' "$d/peers.tsv")" = 2 ]
	printf '%s\n' '{"endpoint":"11.3.232.1:7777","status":"ok","node_id":"peer-1000"}' >"$BATS_TEST_TMPDIR/in"
	run st-peers ingest -o tsv <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 65 ]
	assert_output --partial "peer-1000"
	with_index=$output
	rm "$d/peers.index"
	run st-peers ingest -o tsv <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 65 ]
	[ "$output" = "$with_index" ]
	[ "$(grep -c '^peer-1000	' "$d/peers.tsv")" = 2 ] # nothing written over the damage
}

@test "repair: auto: damage on a line ingest never read is repaired when a compaction meets it, and no batch is lost" {
	a=$BATS_TEST_TMPDIR/a b=$BATS_TEST_TMPDIR/b
	write_tables "$a"
	write_tables "$b"
	st-peers --data-dir "$a" ban -q bench
	st-peers --data-dir "$b" ban -q bench
	break_peer_line "$a/peers.tsv" peer-150
	printf 'repair: auto\n' >"$BATS_TEST_TMPDIR/auto.yaml"
	# batches of 60 lines with long user agents: the journal passes a compaction twice
	for seed in $(seq 1 8); do
		python3 -c "
import json
for i in range(60): print(json.dumps({'endpoint': '11.0.%d.1:7777' % ((i + $seed) % 40), 'status': 'ok', 'node_id': 'peer-%d' % ((i + $seed) % 40), 'user_agent': 'u' * 100}))" \
			>"$BATS_TEST_TMPDIR/in"
		ST_CONFIG=$BATS_TEST_TMPDIR/auto.yaml st-peers --data-dir "$a" ingest <"$BATS_TEST_TMPDIR/in" \
			>/dev/null 2>>"$BATS_TEST_TMPDIR/a.err"
		st-peers --data-dir "$b" ingest <"$BATS_TEST_TMPDIR/in" >/dev/null
	done
	# repaired once, told once; every batch counted
	[ "$(grep -c 'peers.tsv:152: expected 11 fields; repaired (repair: auto)' "$BATS_TEST_TMPDIR/a.err")" -eq 1 ]
	[ "$(head -1 "$a/peers.tsv")" != "#st peers 1 gen 1" ]
	ls "$a"/*.bak* >/dev/null
	# the same peers as a table never damaged holds, but for the line lost
	diff <(st-peers --data-dir "$b" list -o tsv | grep -v '	peer-150	') \
		<(st-peers --data-dir "$a" list -o tsv)
}
