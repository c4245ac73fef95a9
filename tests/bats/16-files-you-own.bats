#!/usr/bin/env bats
# The data dir holds only files st made: links planted in it are never followed,
# and a directory anyone can write to is refused.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	st-addrbook add --allow-private -q 127.0.0.1:1
	echo "precious" >precious
}

@test "a link planted at the temporary snapshot is not written through by a compaction" {
	ln -s "$BATS_TEST_TMPDIR/precious" "$ST_DATA_DIR/addrbook.tsv.tmp"
	# enough adds for the journal to pass the compaction threshold
	seq 3000 | awk '{ printf "127.1.%d.%d:7777\n", int($1 / 250), $1 % 250 }' |
		st-addrbook --max-per-subnet 1000 add --allow-private -q
	[ "$(cat precious)" = precious ]
	[ ! -L "$ST_DATA_DIR/addrbook.tsv.tmp" ]
	head -1 "$ST_DATA_DIR/addrbook.tsv" | grep -q '^#st addrbook 2 gen '
	[ "$(st-addrbook list -o tsv | records | wc -l)" -eq 3001 ]
}

@test "a link planted at the journal or the lock is refused, its target untouched" {
	rm "$ST_DATA_DIR/addrbook.journal"
	ln -s "$BATS_TEST_TMPDIR/precious" "$ST_DATA_DIR/addrbook.journal"
	run st-addrbook add --allow-private 127.0.0.2:1
	[ "$status" -eq 74 ]
	[ "$(cat precious)" = precious ]
	rm "$ST_DATA_DIR/addrbook.journal" "$ST_DATA_DIR/addrbook.lock"
	ln -s "$BATS_TEST_TMPDIR/precious" "$ST_DATA_DIR/addrbook.lock"
	run st-addrbook add --allow-private 127.0.0.2:1
	[ "$status" -eq 73 ]
	[ "$(cat precious)" = precious ]
}

@test "a link planted at node_id never sends another file's line to peers" {
	echo "secret-token" >secret
	ln -s "$BATS_TEST_TMPDIR/secret" "$ST_DATA_DIR/node_id"
	run st-listen --bind 127.0.0.1:0
	[ "$status" -eq 65 ]
	[[ "$output" == *"node_id': a symbolic link, not followed"* ]]
	run st-connect 127.0.0.1:1
	[ "$status" -eq 65 ]
}

@test "a data dir anyone can write to is refused, for readers and writers" {
	chmod 0777 "$ST_DATA_DIR"
	run st-addrbook list
	[ "$status" -eq 73 ]
	[[ "$output" == *"is writable by anyone: chmod o-w it"* ]]
	run st-addrbook add --allow-private 127.0.0.3:1
	[ "$status" -eq 73 ]
	chmod 0700 "$ST_DATA_DIR"
	run st-addrbook list
	[ "$status" -eq 0 ]
}
