#!/usr/bin/env bats
# st-peers check searches the bans snapshot through bans.index instead of reading the
# table: the answers are the same with the index, without it, and with a broken one.

load helpers

# (each target is one st-peers run per pass: few, to keep the test quick under ASan)
targets=(8.8.8.8 100.0.4.9 100.0.5.9 100.0.4.0/23 peer-7 peer-14 peer-13993 nobody
	11.0.7.1:7777 id@11.0.8.1:7777 100.9.0.1 2001:db8:5::/48)

# a table written by hand, in no particular order, as an older program could leave it
write_tables() {
	local now
	now=$(date +%s)
	awk -v now="$now" 'BEGIN { print "#st bans 1 gen 1";
		for (i = 1999; i >= 0; i--) {
			if (i % 2) printf "peer-%d\t%d\t0\tmanual\tt\n", i * 7, now
			else printf "100.%d.%d.0/24\t%d\t0\tmanual\tt\n", int(i / 256) % 256, i % 256, now }
		printf "2001:db8::/32\t%d\t0\tmanual\tt\n100.9.0.0/16\t%d\t%d\tmanual\tgone\n", now, now - 10, now - 5
	}' >"$ST_DATA_DIR/bans.tsv"
	awk -v now="$now" 'BEGIN { print "#st peers 1 gen 1";
		for (i = 0; i < 200; i++) printf "peer-%d\t%d\t%d\t0\t1\t0\t0\t1\t0\t11.0.%d.1:7777\t-\n", i, now, now, i }' \
		>"$ST_DATA_DIR/peers.tsv"
}

# answers: each target's exit status, one line
answers() {
	local t s
	for t in "${targets[@]}"; do
		st-peers check "$t" >/dev/null 2>&1 && s=0 || s=$?
		echo "$t $s"
	done
}

@test "check answers the same with the index, without it and with a broken one" {
	mkdir -p "$ST_DATA_DIR"
	write_tables
	answers >"$BATS_TEST_TMPDIR/whole"
	grep -q '^100.0.4.9 1$' "$BATS_TEST_TMPDIR/whole"
	grep -q '^peer-7 1$' "$BATS_TEST_TMPDIR/whole"
	grep -q '^11.0.7.1:7777 1$' "$BATS_TEST_TMPDIR/whole"
	grep -q '^8.8.8.8 0$' "$BATS_TEST_TMPDIR/whole"
	grep -q '^100.9.0.1 0$' "$BATS_TEST_TMPDIR/whole"
	grep -q '^2001:db8:5::/48 1$' "$BATS_TEST_TMPDIR/whole"
	[ ! -e "$ST_DATA_DIR/bans.index" ]
	# a writer leaves the index for the snapshot it found
	run st-peers ban -q tmp-1
	[ "$status" -eq 0 ]
	run st-peers unban -q tmp-1
	[ "$status" -eq 0 ]
	[ -s "$ST_DATA_DIR/bans.index" ]
	answers >"$BATS_TEST_TMPDIR/indexed"
	diff "$BATS_TEST_TMPDIR/whole" "$BATS_TEST_TMPDIR/indexed"
	# the journal on top: a ban lifted from the snapshot, one added
	run st-peers unban -q 100.0.4.0/24
	[ "$status" -eq 0 ]
	run st-peers ban -q nobody
	[ "$status" -eq 0 ]
	run st-peers check 100.0.4.9
	[ "$status" -eq 0 ]
	run st-peers check nobody
	[ "$status" -eq 1 ]
	run st-peers unban -q nobody
	run st-peers ban -q 100.0.4.0/24
	[ "$status" -eq 0 ]
	answers >"$BATS_TEST_TMPDIR/journal"
	diff "$BATS_TEST_TMPDIR/whole" "$BATS_TEST_TMPDIR/journal"
	# damaged: lines out of order under a valid seal (a missing or unsealed index is
	# the unit tests')
	cp "$ST_DATA_DIR/bans.index" "$BATS_TEST_TMPDIR/index"
	python3 - "$BATS_TEST_TMPDIR/index" "$ST_DATA_DIR/bans.index" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
head, body, seal = lines[0], lines[1:-2], lines[-2]
body.reverse()
text = "\n".join(body) + "\n"
# CRC32C, as lib/util.c computes it, over the index bytes before the seal
crc = 0xffffffff
for ch in text.encode():
    crc ^= ch
    for _ in range(8):
        crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
crc ^= 0xffffffff
end, length, _, stamp = seal.split()
open(sys.argv[2], "w").write(head + "\n" + text + "end %s %08x %s\n" % (length, crc, stamp))
PY
	answers >"$BATS_TEST_TMPDIR/reversed"
	diff "$BATS_TEST_TMPDIR/whole" "$BATS_TEST_TMPDIR/reversed"
}

@test "a snapshot edited by hand to the same length: its index is stale, check answers from the edit" {
	mkdir -p "$ST_DATA_DIR"
	write_tables
	run st-peers ban -q tmp-1 # a writer leaves the index
	[ "$status" -eq 0 ]
	[ -s "$ST_DATA_DIR/bans.index" ]
	# 100.0.4.0/24 becomes 100.9.4.0/24: its line's length kept, its place in the
	# index's order not: a search of the old index would look for it elsewhere
	sed -i 's|^100\.0\.4\.0/24\t|100.9.4.0/24\t|' "$ST_DATA_DIR/bans.tsv"
	grep -q '^100.9.4.0/24	' "$ST_DATA_DIR/bans.tsv"
	run st-peers check 100.9.4.9
	[ "$status" -eq 1 ]
	run st-peers check 100.0.4.9
	[ "$status" -eq 0 ]
	targets=(100.9.4.9 100.0.4.9 100.0.5.9 peer-7 8.8.8.8)
	answers >"$BATS_TEST_TMPDIR/edited"
	rm "$ST_DATA_DIR/bans.index"
	answers >"$BATS_TEST_TMPDIR/whole"
	diff "$BATS_TEST_TMPDIR/whole" "$BATS_TEST_TMPDIR/edited"
}

@test "a snapshot with a target in another spelling gets no index and answers right" {
	mkdir -p "$ST_DATA_DIR"
	printf '#st bans 1 gen 1\nPeer-X\t1\t0\tmanual\tt\n2001:DB8::/32\t1\t0\tmanual\tt\n' \
		>"$ST_DATA_DIR/bans.tsv"
	run st-peers ban -q tmp-1
	[ "$status" -eq 0 ]
	[ ! -e "$ST_DATA_DIR/bans.index" ]
	run st-peers check 2001:db8::5
	[ "$status" -eq 1 ]
	run st-peers check Peer-X
	[ "$status" -eq 1 ]
}

@test "check of an endpoint reads only its peer's lines: damage elsewhere in peers.tsv is not met" {
	mkdir -p "$ST_DATA_DIR"
	write_tables
	now=$(date +%s)
	printf 'peer-10\t%d\t%d\tmanual\tgone\n' $((now - 10)) $((now - 5)) >>"$ST_DATA_DIR/bans.tsv"
	run st-peers ban -q peer-8
	[ "$status" -eq 0 ]
	[ -s "$ST_DATA_DIR/peers.index" ]
	answers >"$BATS_TEST_TMPDIR/indexed"
	mv "$ST_DATA_DIR/peers.index" "$BATS_TEST_TMPDIR/peers.index"
	answers >"$BATS_TEST_TMPDIR/whole"
	mv "$BATS_TEST_TMPDIR/peers.index" "$ST_DATA_DIR/peers.index"
	diff "$BATS_TEST_TMPDIR/whole" "$BATS_TEST_TMPDIR/indexed"
	# a peer's line broken in place, same length: a whole read refuses the table
	break_peer_line "$ST_DATA_DIR/peers.tsv" peer-150
	run st-peers list
	[ "$status" -eq 65 ]
	run st-peers check 11.0.7.1:7777 # the peer's id ban (snapshot)
	[ "$status" -eq 1 ]
	run st-peers check 11.0.8.1:7777 # the peer's id ban (journal)
	[ "$status" -eq 1 ]
	run st-peers check 11.0.10.1:7777 # the peer's ban expired
	[ "$status" -eq 0 ]
	run st-peers check 11.0.11.1:7777 # a peer not banned
	[ "$status" -eq 0 ]
	run st-peers check 100.0.4.9:7777 # its address's subnet
	[ "$status" -eq 1 ]
	run st-peers check peer-21@11.0.12.1:7777 # by the id given
	[ "$status" -eq 1 ]
}
