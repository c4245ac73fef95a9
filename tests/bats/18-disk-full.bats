#!/usr/bin/env bats
# A full disk, on a small tmpfs each test mounts (root only) and unmounts: the
# command exits 74, leaves the tables as they were and no temporary file, and
# a retry once there is room is right. (15-addrbook-integrity.bats does add.)
# Addresses are data only (127.0.0.0/8): nothing is ever dialed but the local
# HTTP server of the refresh test.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR" || return 1
	mkdir fs
	mount -t tmpfs -o size=1m,mode=0700 tmpfs fs 2>/dev/null || skip "cannot mount a tmpfs here"
	export ST_DATA_DIR="$BATS_TEST_TMPDIR/fs/data"
	mkdir -p "$XDG_CONFIG_HOME/spacetime"
	printf 'addrbook:\n  allow_private: true\n  max_addresses: 100000\n  max_per_subnet: 100000\n' \
		>"$XDG_CONFIG_HOME/spacetime/st.yaml"
}

teardown() {
	stop_all_bg
	mountpoint -q "$BATS_TEST_TMPDIR/fs" 2>/dev/null && umount "$BATS_TEST_TMPDIR/fs"
	true
}

# fill ROOM_KB: fills the tmpfs but for ROOM_KB
fill() {
	local avail
	avail=$(df -k --output=avail fs | tail -1)
	[ "$avail" -gt "$1" ] || return 0
	dd if=/dev/zero of=fs/filler bs=1k count=$((avail - $1)) 2>/dev/null || true
}

no_tmp() {
	[ -z "$(ls fs/data | grep '\.tmp$' || true)" ]
}

# a book of 3000 entries and the records of a success for each
book_3000() {
	awk 'BEGIN { for (i = 0; i < 3000; i++) printf "127.%d.%d.1:7777\n", 2 + i % 250, int(i / 250) }' >eps.txt
	{ printf '#endpoint\tstatus\n'; sed 's/$/\tok/' eps.txt; } >rec.tsv
	st-addrbook add -q <eps.txt
	st-addrbook export >before.book
}

# successes: the distinct success counts of the book, "COUNT N" per line
successes() {
	st-addrbook export | records | cut -f7 | sort | uniq -c | awk '{ print $2, $1 }'
}

@test "record on a full disk: 74, the book as it was, and a retry counts once" {
	book_3000
	fill 24 # too little for the batch's journal lines
	run st-addrbook record -q <rec.tsv
	[ "$status" -eq 74 ]
	assert_output --partial "No space left on device"
	st-addrbook export | cmp - before.book
	run st-addrbook fsck
	[ "$status" -eq 0 ]
	no_tmp
	rm fs/filler
	st-addrbook record -q <rec.tsv
	[ "$(successes)" = "1 3000" ]
	run st-addrbook fsck
	[ "$status" -eq 0 ]
}

@test "a compaction on a full disk: 74, none of the batch counts, and a retry counts once" {
	book_3000
	# room for the journal's 3000 lines, not for the new snapshot they ask for
	fill 300
	run st-addrbook record -q <rec.tsv
	[ "$status" -eq 74 ]
	assert_output --partial "addrbook.tsv.tmp': No space left on device"
	st-addrbook export | cmp - before.book
	run st-addrbook fsck
	[ "$status" -eq 0 ]
	no_tmp
	rm fs/filler
	st-addrbook record -q <rec.tsv
	[ "$(successes)" = "1 3000" ]
	# the retry compacted: a short journal and current indexes
	[ "$(wc -l <fs/data/addrbook.journal)" -le 2 ]
	run st-addrbook fsck
	[ "$status" -eq 0 ]
}

@test "ban on a full disk: 74, the bans as they were, and a retry bans" {
	st-peers ban -q --permanent 127.0.1.0/24 >/dev/null
	# the journal's last page all but full, so that the next ban needs a new one
	i=0
	while [ $(($(stat -c %s fs/data/bans.journal) % 4096)) -lt 3900 ] && [ "$i" -lt 200 ]; do
		i=$((i + 1))
		st-peers ban -q --permanent --reason "filler $i $(printf 'f%.0s' $(seq 150))" "127.1.$i.0/24" >/dev/null
	done
	st-peers bans -o tsv >before.bans
	fill 0
	run st-peers ban --permanent --reason "$(printf 'r%.0s' $(seq 200))" 127.0.2.0/24
	[ "$status" -eq 74 ]
	assert_output --partial "No space left on device"
	st-peers bans -o tsv | cmp - before.bans
	run st-peers check 127.0.2.1
	[ "$status" -eq 0 ]
	run st-peers fsck
	[ "$status" -eq 0 ]
	no_tmp
	rm fs/filler
	st-peers ban -q --permanent 127.0.2.0/24 >/dev/null
	run st-peers check 127.0.2.1
	[ "$status" -eq 1 ]
	[ "$(st-peers bans -o tsv | records | wc -l)" -eq $(($(records <before.bans | wc -l) + 1)) ]
}

@test "refresh on a full disk: 74, book and cache as they were, and a retry is right" {
	mkdir www
	awk 'BEGIN { for (i = 0; i < 10; i++) printf "127.0.%d.3:7777\n", i }' >www/a.txt
	echo 127.0.0.9:7777 >www/b.txt
	start_httpd WEB www
	cat >>"$XDG_CONFIG_HOME/spacetime/st.yaml" <<-EOF
	seed:
	  retries: 1
	seeds:
	  - url: $WEB_URL/b.txt
	EOF
	st-seed refresh -q
	cp fs/data/seeds.tsv before.seeds
	st-addrbook export >before.book
	echo "  - url: $WEB_URL/a.txt" >>"$XDG_CONFIG_HOME/spacetime/st.yaml"
	# no room left at all: the book's few new journal lines would still fit in
	# its last page, the new cache needs a page of its own
	fill 0
	run st-seed refresh -q
	[ "$status" -eq 74 ]
	assert_output --partial "No space left on device"
	st-addrbook export | cmp - before.book
	cmp fs/data/seeds.tsv before.seeds
	no_tmp
	run st-addrbook fsck
	[ "$status" -eq 0 ]
	rm fs/filler
	run st-seed refresh -o tsv
	[ "$status" -eq 0 ]
	assert_line "seed:$WEB_URL/a.txt	ok	10	10	0	-"
	[ "$(st-addrbook export | records | wc -l)" -eq 11 ]
	# the cache vouches for both lists now: the next run is two 304s
	run st-seed refresh -o tsv
	assert_line "seed:$WEB_URL/a.txt	unchanged	10	0	0	-"
	assert_line "seed:$WEB_URL/b.txt	unchanged	1	0	0	-"
}
