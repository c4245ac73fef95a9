#!/usr/bin/env bats
# st-addrbook: a damaged or inconsistent book never gives a wrong answer.
# Addresses here are data only (127.0.0.0/8): nothing is ever dialed.

load helpers

# make_book N [LAST_SEEN]: a book of N entries with a sorted snapshot and its
# indexes, imported from an export file: 127.G.H.1:7777, G = 1 + i % 250 (one
# /16 group each), H = i / 250; entry 0 (127.1.0.1) has 5 successes, the best.
make_book() {
	local n=$1 seen=${2:-1700000000}
	mkdir -p "$XDG_CONFIG_HOME/spacetime"
	printf 'addrbook:\n  allow_private: true\n  max_addresses: 1000000\n  max_per_subnet: 1000000\n' \
		>"$XDG_CONFIG_HOME/spacetime/st.yaml"
	awk -v n="$n" -v t="$seen" 'BEGIN { for (i = 0; i < n; i++) {
		ok = i == 0 ? 5 : 0
		printf "127.%d.%d.1:7777\t%d\t%d\t%d\t%d\t%d\t%d\t0\t0\t0\t0\tmanual\n",
			1 + i % 250, int(i / 250), t, t, ok ? t : 0, ok ? t : 0, ok, ok } }' >book.in
	# a small book's journal is compacted once it has grown enough: import again
	local i
	for i in $(seq 20); do
		st-addrbook import book.in 2>/dev/null || return 1
		[ -f "$ST_DATA_DIR/addrbook.tsv" ] && break
	done
	[ -f "$ST_DATA_DIR/addrbook.tsv" ] && [ -f "$ST_DATA_DIR/addrbook.rank" ] &&
		[ -f "$ST_DATA_DIR/addrbook.age" ]
}

# entries: how many entry lines an export prints
entries() {
	st-addrbook export | grep -vc '^#' || true
}

@test "removed entries stay removed in list and export when the journal holds only deletions" {
	make_book 1000
	run st-addrbook remove 127.6.0.1:7777
	[ "$status" -eq 0 ]
	run st-addrbook list -o tsv
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = $'#endpoint\tquality\tsuccesses\tfailures\tconsecutive_failures\tattempts\tfirst_seen\tlast_seen\tlast_attempt\tlast_success\tclass\tpinned\tsource' ]
	[ "$(records <<<"$output" | wc -l)" -eq 999 ]
	[[ "$output" != *"127.6.0.1:7777"* ]]
	st-addrbook export >out.tsv
	run grep -c '^127\.6\.0\.1:7777' out.tsv
	[ "$output" = 0 ]
	# a round trip through export and import does not bring it back
	st-addrbook import out.tsv 2>/dev/null
	run st-addrbook stats -o tsv
	assert_line $'total\ttotal\t999'
	[ "$(entries)" -eq 999 ]
	# prune: every entry it reports removed is gone from list, export and stats
	ST_FAKE_NOW=1800000000 run st-addrbook prune --max-age 1s -o tsv
	[ "$status" -eq 0 ]
	assert_line "st-addrbook: 999 removed"
	run st-addrbook list -o tsv
	[ "$status" -eq 0 ]
	[ -z "$(records <<<"$output")" ]
	[ "$(entries)" -eq 0 ]
	run st-addrbook stats -o tsv
	assert_line $'total\ttotal\t0'
}

@test "a removed entry is gone for lazy record, seen and best too" {
	make_book 300
	st-addrbook remove 127.1.0.1:7777
	run st-addrbook record 127.1.0.1:7777 ok
	[ "$status" -eq 0 ]
	assert_output --partial "127.1.0.1:7777: not in the address book"
	run st-addrbook seen 127.1.0.1:7777
	[ "$status" -eq 65 ]
	run st-addrbook best -n 3 -o tsv
	[ "$status" -eq 0 ]
	[[ "$output" != *"127.1.0.1:7777"* ]]
}

@test "a crafted rank index is caught: best answers right, fsck names it, --repair rebuilds it" {
	make_book 1000
	ST_FAKE_NOW=1700009000 st-addrbook best -n 1 -o tsv >want.txt
	[ "$(records <want.txt | cut -f1)" = "127.1.0.1:7777" ]
	# the best entry's offset moved from the top of the list to the middle
	sed -i -e '3{h;d}' -e '500G' "$ST_DATA_DIR/addrbook.rank"
	ST_FAKE_NOW=1700009000 run st-addrbook best -n 1 -o tsv
	[ "$status" -eq 0 ]
	[ "$output" = "$(cat want.txt)" ]
	run st-addrbook fsck
	[ "$status" -eq 65 ]
	assert_output --partial "addrbook.rank"
	assert_output --partial "st-addrbook fsck --repair"
	run st-addrbook fsck --repair
	[ "$status" -eq 0 ]
	assert_output --partial "repaired"
	run st-addrbook fsck
	[ "$status" -eq 0 ]
	assert_output "st-addrbook: ok: 1000 entries"
	ST_FAKE_NOW=1700009000 run st-addrbook best -n 1 -o tsv
	[ "$output" = "$(cat want.txt)" ]
}

@test "a lying age index does not hide stale entries from prune" {
	make_book 2000
	# the newest entry first: every other entry seen later than it, or so the index says
	ST_FAKE_NOW=1700000500 st-addrbook seen 127.9.0.1:7777
	st-addrbook fsck --repair -q
	# an age list of the one fresh entry and "rest none": nothing else to prune, it says
	off=$(awk -v want=127.9.0.1:7777 'NR > 1 { if (index($0, want "\t") == 1) print off; off += length($0) + 1 }' \
		"$ST_DATA_DIR/addrbook.tsv")
	[ -n "$off" ]
	{ head -1 "$ST_DATA_DIR/addrbook.age"; echo 'rest none'; echo "$off"; tail -1 "$ST_DATA_DIR/addrbook.age"; } >age.new
	cp age.new "$ST_DATA_DIR/addrbook.age"
	ST_FAKE_NOW=1700000200 run st-addrbook prune --max-age 100s --dry-run -o tsv
	[ "$status" -eq 0 ]
	assert_line "st-addrbook: 1999 would be removed"
	run st-addrbook fsck
	[ "$status" -eq 65 ]
	assert_output --partial "addrbook.age"
}

@test "an index from before seals is not used, not called damage, and rebuilt by the next writer" {
	make_book 1000
	ST_FAKE_NOW=1700009000 st-addrbook best -n 3 -o tsv >want.txt
	sed -i '$d' "$ST_DATA_DIR/addrbook.rank"
	ST_FAKE_NOW=1700009000 run st-addrbook best -n 3 -o tsv
	[ "$status" -eq 0 ]
	[ "$output" = "$(cat want.txt)" ]
	run st-addrbook fsck
	[ "$status" -eq 0 ]
	st-addrbook seen 127.2.0.1:7777
	[ "$(tail -1 "$ST_DATA_DIR/addrbook.rank" | cut -d' ' -f1)" = end ]
}

@test "a snapshot edited by hand to the same length: its indexes are stale, best answers from the edit" {
	make_book 2000
	# 127.200.3.1 made the best by hand, the line's length kept: the rank index, listing
	# it far down, would hide it from best if its seal still held
	python3 - "$ST_DATA_DIR/addrbook.tsv" <<'PY'
import sys
p = sys.argv[1]
b = open(p, "rb").read()
old = b"127.200.3.1:7777\t1700000000\t1700000000\t0\t0\t0\t0\t"
new = b"127.200.3.1:7777\t1700000000\t1700008999\t9\t9\t9\t9\t"
assert len(old) == len(new) and b.count(old) == 1
open(p, "r+b").write(b.replace(old, new))
PY
	ST_FAKE_NOW=1700009000 run st-addrbook best -n 2 -o tsv
	[ "$status" -eq 0 ]
	[ "$(echo "${lines[1]}" | cut -f1)" = 127.200.3.1:7777 ]
	[ "$(echo "${lines[2]}" | cut -f1)" = 127.1.0.1:7777 ]
	# stale, not damaged: fsck is content, and the next writer writes them again
	run st-addrbook fsck
	[ "$status" -eq 0 ]
	st-addrbook seen 127.2.0.1:7777
	ST_FAKE_NOW=1700009000 run st-addrbook best -n 1 -o tsv
	[ "$(echo "${lines[1]}" | cut -f1)" = 127.200.3.1:7777 ]
	run st-addrbook fsck
	[ "$status" -eq 0 ]
}

@test "two swapped snapshot lines: a lazy point change reports damage, never 'not in the book'" {
	make_book 1000
	# swap two lines in the middle of the snapshot
	sed -i -e '501{h;d}' -e '502G' "$ST_DATA_DIR/addrbook.tsv"
	a=$(sed -n 501p "$ST_DATA_DIR/addrbook.tsv" | cut -f1)
	b=$(sed -n 502p "$ST_DATA_DIR/addrbook.tsv" | cut -f1)
	for ep in "$a" "$b"; do
		run st-addrbook record "$ep" ok
		[ "$status" -eq 65 ]
		[[ "$output" != *"not in the address book"* ]]
		assert_output --partial "st-addrbook fsck --repair"
	done
	run st-addrbook fsck
	[ "$status" -eq 65 ]
	assert_output --partial "out of order"
	run st-addrbook fsck --repair
	[ "$status" -eq 0 ]
	assert_output --partial "repaired"
	run st-addrbook record "$a" ok
	[ "$status" -eq 0 ]
	assert_output "st-addrbook: 1 recorded, 0 unknown, 0 bad"
}

@test "a bad number in the snapshot is damage (65, with the hint), and --repair keeps every other entry" {
	make_book 5000
	# one digit of line 2501's last_seen turned into x
	sed -i '2501s/\t1700000000\t/\t17000x0000\t/' "$ST_DATA_DIR/addrbook.tsv"
	grep -q '17000x0000' "$ST_DATA_DIR/addrbook.tsv"
	run st-addrbook fsck
	[ "$status" -eq 65 ]
	assert_output --partial "st-addrbook fsck --repair"
	# (best, lazy, reads a few lines near the top of its index: not this one)
	for cmd in "list" "export" "stats"; do
		run st-addrbook $cmd
		[ "$status" -eq 65 ]
		assert_output --partial "st-addrbook fsck --repair"
	done
	run st-addrbook add 127.255.255.1:7777
	[ "$status" -eq 65 ]
	run st-addrbook fsck --repair
	[ "$status" -eq 0 ]
	assert_output --partial "repaired: 4999 entries kept, 1 lines lost"
	run st-addrbook list -o tsv
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -eq 4999 ]
}

@test "fsck --repair says it repaired when it moved files aside, even with nothing lost" {
	make_book 300
	sed -i -e '101{h;d}' -e '102G' "$ST_DATA_DIR/addrbook.tsv"
	run st-addrbook fsck --repair
	[ "$status" -eq 0 ]
	assert_output --partial "repaired: 300 entries kept, 0 lines lost"
	[ -f "$ST_DATA_DIR/addrbook.tsv.bak" ]
}

@test "a book of a newer format is refused, never rewritten as ours" {
	make_book 100
	sed -i '1s/^#st addrbook 2 /#st addrbook 3 /' "$ST_DATA_DIR/addrbook.tsv"
	cp "$ST_DATA_DIR/addrbook.tsv" before.tsv
	run st-addrbook list
	[ "$status" -eq 65 ]
	assert_output --partial "format version 3"
	[[ "$output" != *"--repair"* ]]
	run st-addrbook fsck --repair
	[ "$status" -eq 65 ]
	assert_output --partial "format version 3"
	cmp before.tsv "$ST_DATA_DIR/addrbook.tsv"
	[ ! -e "$ST_DATA_DIR/addrbook.tsv.bak" ]
}

@test "a full disk is an I/O error (74), the batch counts for nothing, and a retry is right" {
	# a data dir on a small tmpfs this test mounts (root only) and unmounts
	mkdir fs
	mount -t tmpfs -o size=512k,mode=0700 tmpfs fs 2>/dev/null || skip "cannot mount a tmpfs here"
	export ST_DATA_DIR="$BATS_TEST_TMPDIR/fs/data"
	st-addrbook add -q --allow-private 127.1.1.1:7777
	awk 'BEGIN { for (i = 0; i < 4000; i++) printf "127.%d.%d.1:7777\n", 2 + i % 250, int(i / 250) }' >eps.txt
	# leave too little room for the batch's journal lines
	avail=$(df -k --output=avail fs | tail -1)
	dd if=/dev/zero of=fs/filler bs=1k count=$((avail - 24)) 2>/dev/null || true
	run st-addrbook --max-per-subnet 100000 add -q --allow-private <eps.txt
	[ "$status" -eq 74 ]
	assert_output --partial "No space left on device"
	# none of the batch counts, and the book reads cleanly
	[ "$(entries)" -eq 1 ]
	run st-addrbook fsck
	[ "$status" -eq 0 ]
	rm fs/filler
	run st-addrbook --max-per-subnet 100000 add -q --allow-private <eps.txt
	[ "$status" -eq 0 ]
	[ "$(entries)" -eq 4001 ]
	[ -z "$(ls fs/data | grep '\.tmp$' || true)" ]
	umount fs
}

teardown() {
	# the full-disk test's tmpfs goes even when the test failed half-way
	mountpoint -q "$BATS_TEST_TMPDIR/fs" 2>/dev/null && umount "$BATS_TEST_TMPDIR/fs"
	stop_all_bg
}

@test "repair: auto lets an unattended job repair once, say so even with -q, and go on" {
	st-addrbook add -q --allow-private 127.0.0.1:1 127.0.0.2:2 127.0.0.3:3
	st-peers add p1 127.0.0.1:1 >/dev/null
	sed -i '/^put\t127.0.0.2/s/127.0.0.2/127.0.0.9/' "$ST_DATA_DIR/addrbook.journal"
	printf 'put\tbroken\t#00000000\n#commit\n' >>"$ST_DATA_DIR/peers.journal"
	# by default the damage stops every run, the same way each time
	run st-addrbook -q add --allow-private 127.0.0.4:4
	[ "$status" -eq 65 ]
	run st-addrbook -q add --allow-private 127.0.0.4:4
	[ "$status" -eq 65 ]
	mkdir -p "$XDG_CONFIG_HOME/spacetime"
	echo "repair: auto" >"$XDG_CONFIG_HOME/spacetime/st.yaml"
	run st-addrbook -q add --allow-private 127.0.0.4:4
	[ "$status" -eq 0 ]
	[[ "$output" == *"repaired (repair: auto): 2 entries kept, 1 lines lost"* ]]
	[ -f "$ST_DATA_DIR/addrbook.journal.bak" ]
	[ "$(entries)" -eq 3 ]
	run st-peers -q list
	[ "$status" -eq 0 ]
	[[ "$output" == *"repaired (repair: auto): 1 entries kept, 1 lines lost"* ]]
	# repaired once: the next run is quiet
	run st-addrbook -q add --allow-private 127.0.0.5:5
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run env ST_REPAIR=sometimes st-addrbook list
	[ "$status" -eq 2 ] || [ "$status" -eq 65 ]
	[[ "$output" == *"expected auto or never"* ]]
}
