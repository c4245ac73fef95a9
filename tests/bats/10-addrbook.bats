#!/usr/bin/env bats
# st-addrbook: every subcommand, its limits, bad input, crashes and concurrent writers.
# Addresses here are data only: nothing is ever dialed.

load helpers

# The tsv header of address records (st_schema_address).
ADDR_HEADER=$'#endpoint\tquality\tsuccesses\tfailures\tconsecutive_failures\tattempts\tfirst_seen\tlast_seen\tlast_attempt\tlast_success\tclass\tpinned\tsource'

# gen_addrs N [FIRST_OCTET]: N routable endpoints, one per /24 (spread over /16s too).
gen_addrs() {
	awk -v n="$1" -v a="${2:-11}" 'BEGIN { for (i = 0; i < n; i++)
		printf "%d.%d.%d.%d:7777\n", a + int(i / 65536) % 200, int(i / 256) % 256, i % 256, 1 + i % 250 }'
}

@test "add takes arguments, reports each rejection and a summary" {
	run st-addrbook add 1.2.3.4:7777 '[2a00:1450::1]:7777' 10.0.0.1:7777 127.0.0.1:7777 192.0.2.1:7777 nonsense
	[ "$status" -eq 65 ]
	assert_line "st-addrbook: argument: 10.0.0.1:7777: not-routable (private)"
	assert_line "st-addrbook: argument: 127.0.0.1:7777: not-routable (loopback)"
	assert_line "st-addrbook: argument: 192.0.2.1:7777: not-routable (documentation)"
	assert_line "st-addrbook: 'nonsense': missing port in 'nonsense'"
	assert_line "st-addrbook: 2 added, 0 duplicate, 3 rejected, 1 bad"
	run st-addrbook list -o tsv
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$ADDR_HEADER" ]
	[ "$(records <<<"$output" | wc -l)" -eq 2 ]
	[[ "${lines[1]}" == "1.2.3.4:7777"$'\t'* ]]
}

@test "add reads the record stream and names bad lines" {
	printf '%s\n' '# a comment' 1.2.3.4:7777 '{"endpoint":"5.6.7.8:7777","source":"seed:https://x/"}' \
		'5.6.7.9:99999' 'junk' | {
		run st-addrbook add
		[ "$status" -eq 65 ]
		assert_line "st-addrbook: <stdin>:4: bad port '99999'"
		assert_line "st-addrbook: <stdin>:5: missing port in 'junk'"
		assert_line "st-addrbook: 2 added, 0 duplicate, 0 rejected, 2 bad"
	}
	run st-addrbook list -o json -s seed:
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *'"endpoint":"5.6.7.8:7777"'*'"source":"seed:https://x/"'* ]]
}

@test "allow-private lets loopback in, and duplicates refresh last_seen" {
	run st-addrbook add --allow-private 127.0.0.1:7777
	[ "$status" -eq 0 ]
	ST_FAKE_NOW=2000000000 run st-addrbook add --allow-private 127.0.0.1:7777
	assert_line "st-addrbook: 0 added, 1 duplicate, 0 rejected, 0 bad"
	run st-addrbook list -o json
	[[ "$output" == *'"last_seen":2000000000'* ]]
	[[ "$output" == *'"class":"loopback"'* ]]
}

@test "the subnet limit holds per /24" {
	run st-addrbook --max-per-subnet 2 add 1.2.3.1:1 1.2.3.2:1 1.2.3.3:1 1.2.4.1:1
	[ "$status" -eq 0 ]
	assert_line "st-addrbook: argument: 1.2.3.3:1: subnet-full"
	assert_line "st-addrbook: 3 added, 0 duplicate, 1 rejected, 0 bad"
}

@test "one source group fills at most its share of capacity" {
	gen_addrs 30 | st-addrbook --max-addresses 100 --max-per-source-group 10% add -s seed:https://one/ 2>err.txt || true
	run st-addrbook list -o tsv
	[ "${lines[0]}" = "$ADDR_HEADER" ]
	[ "$(records <<<"$output" | wc -l)" -eq 10 ]
	grep -q 'source-quota-full' err.txt
	# another seed still has room
	gen_addrs 5 50 | st-addrbook --max-addresses 100 add -s seed:https://two/
	run st-addrbook list -o tsv
	[ "$(records <<<"$output" | wc -l)" -eq 15 ]
	# gossip from peers in one /16 counts as one group
	{ printf '#endpoint\tsource\n'; gen_addrs 20 60 | sed 's/$/\tgossip:n1@8.8.1.1:7777/'; } |
		st-addrbook --max-addresses 100 add 2>/dev/null || true
	{ printf '#endpoint\tsource\n'; gen_addrs 20 80 | sed 's/$/\tgossip:n2@8.8.200.1:7777/'; } |
		st-addrbook --max-addresses 100 add 2>/dev/null || true
	run st-addrbook list -o tsv -s gossip:
	[ "$(records <<<"$output" | wc -l)" -eq 10 ]
}

@test "a full book evicts never-reached addresses, never reached ones" {
	st-addrbook --max-addresses 3 add -q 1.1.1.1:1 2.2.2.2:1 3.3.3.3:1
	st-addrbook record -q 1.1.1.1:1 ok 2.2.2.2:1 ok 3.3.3.3:1 fail
	run st-addrbook --max-addresses 3 -v add 4.4.4.4:1
	[ "$status" -eq 0 ]
	assert_line "st-addrbook: evicted 3.3.3.3:1 to make room for 4.4.4.4:1"
	st-addrbook record -q 4.4.4.4:1 ok
	run st-addrbook --max-addresses 3 add 5.5.5.5:1
	assert_line "st-addrbook: argument: 5.5.5.5:1: book-full"
	run st-addrbook list -o tsv
	[ "$(records <<<"$output" | wc -l)" -eq 3 ]
	[[ "$output" != *"5.5.5.5"* ]]
}

@test "pinned addresses are never evicted and are listed first" {
	st-addrbook --max-addresses 2 add -q 1.1.1.1:1 2.2.2.2:1
	st-addrbook pin 2.2.2.2:1
	st-addrbook --max-addresses 2 add -q 3.3.3.3:1 4.4.4.4:1
	run st-addrbook list -o tsv
	[ "${lines[0]}" = "$ADDR_HEADER" ]
	[[ "${lines[1]}" == "2.2.2.2:1"$'\t'* ]]
	[[ "$output" == *"2.2.2.2:1"* ]]
	run st-addrbook list --pinned -o tsv
	[ "$(records <<<"$output" | wc -l)" -eq 1 ]
	st-addrbook unpin 2.2.2.2:1
	run st-addrbook list --pinned -o tsv
	[ -z "$(records <<<"$output")" ]
	run st-addrbook pin 9.9.9.9:1
	[ "$status" -eq 65 ]
	assert_output "st-addrbook: 9.9.9.9:1: not in the address book"
}

@test "record applies results from arguments and from st-connect's json, never adds" {
	st-addrbook add -q 1.1.1.1:1 2.2.2.2:1
	run st-addrbook record 1.1.1.1:1 ok 2.2.2.2:1 fail 9.9.9.9:1 ok
	[ "$status" -eq 0 ]
	assert_line "st-addrbook: argument: 9.9.9.9:1: not in the address book"
	assert_line "st-addrbook: 2 recorded, 1 unknown, 0 bad"
	printf '%s\n' '{"endpoint":"2.2.2.2:1","status":"timeout"}' '{"endpoint":"1.1.1.1:1","status":"banned"}' \
		'{"endpoint":"1.1.1.1:1"}' | {
		run st-addrbook record
		[ "$status" -eq 65 ]
		assert_line "st-addrbook: <stdin>:3: 1.1.1.1:1: no status"
	}
	run st-addrbook list -o json
	[[ "${lines[0]}" == *'"successes":1,"failures":0,"consecutive_failures":0,"attempts":1'* ]]
	[[ "${lines[1]}" == *'"successes":0,"failures":2,"consecutive_failures":2,"attempts":2'* ]]
	run st-addrbook record 1.1.1.1:1 maybe
	[ "$status" -eq 2 ]
	run st-addrbook record 1.1.1.1:1
	[ "$status" -eq 2 ]
}

@test "best prefers quality, pushes back recent attempts and spreads over /16s" {
	ST_FAKE_NOW=1700000000 st-addrbook add -q 1.1.1.1:1 1.1.2.2:1 1.1.3.3:1 2.2.2.2:1 3.3.3.3:1
	ST_FAKE_NOW=1700000000 st-addrbook record -q 1.1.1.1:1 ok
	ST_FAKE_NOW=1700000001 st-addrbook record -q 1.1.2.2:1 ok
	ST_FAKE_NOW=1700000002 st-addrbook record -q 3.3.3.3:1 ok
	# an hour later: equal quality, the latest success first; one per /16 before a second
	ST_FAKE_NOW=1700003600 run st-addrbook best -n 4 -o tsv
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$ADDR_HEADER" ]
	[ "$(records <<<"$output" | cut -f1 | tr '\n' ' ')" = "3.3.3.3:1 1.1.2.2:1 2.2.2.2:1 1.1.1.1:1 " ]
	# the best, tried a minute ago: x0.01
	ST_FAKE_NOW=1700003600 st-addrbook record -q 1.1.2.2:1 ok
	ST_FAKE_NOW=1700003660 run st-addrbook best -n 2 -o tsv
	[ "$(records <<<"$output" | cut -f1 | tr '\n' ' ')" = "3.3.3.3:1 1.1.1.1:1 " ]
	# ten minutes on it is back on top
	ST_FAKE_NOW=1700004300 run st-addrbook best -n 1 -o tsv
	[ "$(records <<<"$output" | cut -f1)" = "1.1.2.2:1" ]
	# exclusions
	echo 3.3.3.3:1 >ex.txt
	ST_FAKE_NOW=1700003660 run st-addrbook best -n 1 --exclude ex.txt -o tsv
	[ "$(records <<<"$output" | cut -f1)" = "1.1.1.1:1" ]
	run st-addrbook best -n 0
	[ "$status" -eq 2 ]
}

@test "best --random is repeatable by seed and routable-only leaves private out" {
	gen_addrs 50 | st-addrbook add -q
	st-addrbook add -q --allow-private 10.1.1.1:1
	a=$(st-addrbook best -n 5 --random 42 -o tsv | records | cut -f1)
	b=$(st-addrbook best -n 5 --random 42 -o tsv | records | cut -f1)
	[ "$a" = "$b" ]
	[ "$(printf '%s\n' "$a" | wc -l)" -eq 5 ]
	run st-addrbook best -n 100 --routable-only -o tsv
	[[ "$output" != *"10.1.1.1"* ]]
	[ "$(records <<<"$output" | wc -l)" -eq 50 ]
}

@test "prune removes by age, by quality and by Bitcoin's terrible rules, sparing pinned" {
	ST_FAKE_NOW=1600000000 st-addrbook add -q 1.1.1.1:1 2.2.2.2:1 3.3.3.3:1 4.4.4.4:1
	ST_FAKE_NOW=1600000000 st-addrbook pin 4.4.4.4:1
	ST_FAKE_NOW=1690000000 st-addrbook add -q 5.5.5.5:1 6.6.6.6:1
	ST_FAKE_NOW=1690000000 run st-addrbook prune --dry-run -o tsv
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c '^[0-9]')" -eq 3 ]
	assert_line "st-addrbook: 3 would be removed"
	ST_FAKE_NOW=1690000000 run st-addrbook prune --max-age 30d -o tsv
	[ "$(printf '%s\n' "$output" | grep -c '^[0-9]')" -eq 3 ]
	run st-addrbook list -o tsv
	[ "$(records <<<"$output" | cut -f1 | tr '\n' ' ')" = "4.4.4.4:1 5.5.5.5:1 6.6.6.6:1 " ]
	# 3 attempts, never a success: terrible
	for i in 1 2 3; do ST_FAKE_NOW=1690000000 st-addrbook record -q 5.5.5.5:1 fail; done
	ST_FAKE_NOW=1690000100 run st-addrbook prune --terrible -o tsv
	[ "$(printf '%s\n' "$output" | grep -c '^5.5.5.5:1')" -eq 1 ]
	ST_FAKE_NOW=1690000100 st-addrbook record -q 6.6.6.6:1 fail
	ST_FAKE_NOW=1690000200 run st-addrbook prune --min-quality 0.4 --min-attempts 1 -o tsv
	[ "$(printf '%s\n' "$output" | grep -c '^6.6.6.6:1')" -eq 1 ]
	run st-addrbook list -o tsv
	[ "$(records <<<"$output" | wc -l)" -eq 1 ]
}

@test "stats prints numbers for scripts" {
	st-addrbook add -q 1.1.1.1:1 '[2a00::1]:1'
	st-addrbook add -q --allow-private 10.0.0.1:1
	run st-addrbook stats -o tsv
	[ "$status" -eq 0 ]
	assert_line $'total\ttotal\t3'
	assert_line $'family\tipv6\t1'
	assert_line $'class\tprivate\t1'
	assert_line $'class\troutable\t2'
	assert_line $'quality\t0.5-0.6\t3'
	run st-addrbook stats -o json
	assert_line '{"metric":"table","key":"new","value":3}'
}

@test "export and import round-trip, and the reference node's JSON book imports" {
	st-addrbook add -q 1.1.1.1:1 2.2.2.2:2
	st-addrbook record -q 1.1.1.1:1 ok
	st-addrbook export >book.tsv
	ST_DATA_DIR=$BATS_TEST_TMPDIR/other run st-addrbook import book.tsv
	[ "$status" -eq 0 ]
	assert_output "st-addrbook: 2 imported, 0 rejected, 0 bad"
	diff <(st-addrbook export | cut -f1,3-11) <(ST_DATA_DIR=$BATS_TEST_TMPDIR/other st-addrbook export | cut -f1,3-11)
	cat >ref.json <<'JSON'
[
 {"Address":"203.0.114.9","Port":7777,"FirstSeen":"2024-05-01T12:00:00+02:00","LastSeen":"2024-05-02T00:00:00Z",
  "LastAttempt":"2024-05-02T00:00:00.123+00:00","SuccessCount":3,"FailureCount":1,"Source":"PeerExchange"},
 {"Address":"::ffff:9.9.9.9","Port":7777,"FirstSeen":"2024-05-01T00:00:00Z","LastSeen":"2024-05-01T00:00:00Z",
  "LastAttempt":"0001-01-01T00:00:00+00:00","SuccessCount":0,"FailureCount":0,"Source":"Seed"},
 {"Address":"10.0.0.1","Port":7777,"FirstSeen":"2024-05-01T00:00:00Z","LastSeen":"2024-05-01T00:00:00Z",
  "LastAttempt":"2024-05-01T00:00:00Z","SuccessCount":0,"FailureCount":0,"Source":"Seed"},
 {"Address":"nonsense","Port":1}
]
JSON
	run st-addrbook import ref.json
	[ "$status" -eq 65 ]
	assert_line "st-addrbook: 'ref.json' item 3: Address: not-routable '10.0.0.1' (private)"
	assert_line "st-addrbook: 'ref.json' item 4: Address: bad address 'nonsense'"
	assert_line "st-addrbook: 2 imported, 2 rejected, 0 bad"
	run st-addrbook list -o json -s import:
	assert_line --partial '"endpoint":"203.0.114.9:7777","quality":0.666667,"successes":3,"failures":1'
	assert_line --partial '"first_seen":1714557600,"last_seen":1714608000,"last_attempt":1714608000'
	assert_line --partial '"endpoint":"9.9.9.9:7777"'
	run st-addrbook import missing.json
	[ "$status" -eq 66 ]
	echo '{"not": "an array"}' >bad.json
	run st-addrbook import bad.json
	[ "$status" -eq 65 ]
}

@test "import takes what .NET writes: 7-digit fractions, +0000, +00:00, Z, null times" {
	cat >ref.json <<'JSON'
[
 {"Address":"203.0.114.1","Port":7777,"FirstSeen":"2024-05-01T10:00:00.1234567+00:00",
  "LastSeen":"2024-05-02T00:00:00.0000000+0000","LastAttempt":"2024-05-02T00:00:00Z","SuccessCount":1},
 {"Address":"203.0.114.2","Port":7777,"FirstSeen":null,"LastSeen":null,"LastAttempt":null,
  "SuccessCount":null,"FailureCount":null,"Source":null}
]
JSON
	run st-addrbook import ref.json
	[ "$status" -eq 0 ]
	assert_output "st-addrbook: 2 imported, 0 rejected, 0 bad"
	run st-addrbook list -o json -s import:
	[ "$status" -eq 0 ]
	assert_line --partial '"endpoint":"203.0.114.1:7777"'
	assert_line --partial '"first_seen":1714557600,"last_seen":1714608000,"last_attempt":1714608000'
	assert_line --partial '"endpoint":"203.0.114.2:7777"'
	assert_line --regexp '"endpoint":"203.0.114.2:7777".*"last_attempt":null,"last_success":null'
}

@test "import takes camelCase keys and items with only an address and a port" {
	cat >ref.json <<'JSON'
[{"address":"203.0.114.1","port":7777,"firstSeen":"2024-05-01T10:00:00Z","lastSeen":"2024-05-02T00:00:00Z",
  "lastAttempt":"2024-05-02T00:00:00Z","successCount":3,"failureCount":1,"source":"PeerExchange"},
 {"Address":"203.0.114.2","Port":7777}]
JSON
	run st-addrbook import ref.json
	[ "$status" -eq 0 ]
	assert_output "st-addrbook: 2 imported, 0 rejected, 0 bad"
	run st-addrbook list -o json -s import:PeerExchange
	[ "$status" -eq 0 ]
	assert_line --partial '"endpoint":"203.0.114.1:7777","quality":0.666667,"successes":3,"failures":1'
	assert_line --partial '"first_seen":1714557600,"last_seen":1714608000'
	run st-addrbook list -o json -s import:reference
	assert_line --partial '"endpoint":"203.0.114.2:7777"'
}

@test "import exits 65 on a rejected item and names the field and the value" {
	cat >book.json <<'JSON'
[{"Address":"203.0.114.1","Port":7777},
 {"Address":"203.0.114.2","Port":7777,"LastSeen":"2024-13-01"},
 {"Address":"203.0.114.3","Port":99999},
 {"Address":"203.0.114.4","Port":7777,"successCount":"many"},
 {"Address":"203.0.114.5"}]
JSON
	run st-addrbook import book.json
	[ "$status" -eq 65 ]
	assert_line "st-addrbook: 'book.json' item 2: LastSeen: bad time '2024-13-01'"
	assert_line "st-addrbook: 'book.json' item 3: Port: bad port '99999'"
	assert_line "st-addrbook: 'book.json' item 4: successCount: bad count 'many'"
	assert_line "st-addrbook: 'book.json' item 5: Port: missing"
	assert_line "st-addrbook: 1 imported, 4 rejected, 0 bad"
	run st-addrbook list -o tsv
	[ "$(records <<<"$output" | wc -l)" -eq 1 ]
	[[ "${lines[1]}" == "203.0.114.1:7777"$'\t'* ]]
	# from stdin, and a rejected line of our own export
	ST_DATA_DIR=$BATS_TEST_TMPDIR/other run st-addrbook import - <book.json
	[ "$status" -eq 65 ]
	assert_line "st-addrbook: '<stdin>' item 2: LastSeen: bad time '2024-13-01'"
	printf '10.0.0.1:7777\t1\t1\t0\t0\t0\t0\t0\t0\t0\t0\tmanual\n' >book.tsv
	ST_DATA_DIR=$BATS_TEST_TMPDIR/third run st-addrbook import book.tsv
	[ "$status" -eq 65 ]
	assert_line "st-addrbook: 'book.tsv' line 1: endpoint: not-routable '10.0.0.1:7777' (private)"
	assert_line "st-addrbook: 0 imported, 1 rejected, 0 bad"
}

@test "-q keeps only what makes the exit status non-zero" {
	# a private address is rejected but changes no exit status; a bad one is exit 65
	st-addrbook add -q 1.2.3.4:7777 10.0.0.1:7777 >out 2>err
	[ ! -s out ]
	[ ! -s err ]
	st-addrbook add -q 5.6.7.8:7777 nonsense >out 2>err && rc=0 || rc=$?
	[ "$rc" -eq 65 ]
	[ ! -s out ]
	[ "$(cat err)" = "st-addrbook: 'nonsense': missing port in 'nonsense'" ]
	echo '[{"Address":"203.0.114.1","Port":7777},{"Address":"203.0.114.2","Port":0}]' >book.json
	st-addrbook import -q book.json >out 2>err && rc=0 || rc=$?
	[ "$rc" -eq 65 ]
	[ "$(cat err)" = "st-addrbook: 'book.json' item 2: Port: bad port '0'" ]
	st-addrbook record -q 1.2.3.4:7777 ok 9.9.9.9:7777 fail >out 2>err
	[ ! -s err ]
	st-addrbook prune -q --max-age 1s >out 2>err
	[ ! -s err ]
	st-addrbook fsck -q >out 2>err
	[ ! -s err ]
}

@test "the files are text with headers, private, and a damaged book is named and repaired" {
	st-addrbook add -q 1.1.1.1:1 2.2.2.2:2 3.3.3.3:3
	st-addrbook record -q 1.1.1.1:1 ok
	[ "$(stat -c %a "$ST_DATA_DIR")" = 700 ]
	[ "$(stat -c %a "$ST_DATA_DIR/addrbook.journal")" = 600 ]
	head -1 "$ST_DATA_DIR/addrbook.journal" | grep -q '^#st-journal addrbook 2 gen '
	run st-addrbook fsck
	[ "$status" -eq 0 ]
	assert_output "st-addrbook: ok: 3 entries"
	# damage a line in the middle of the journal
	sed -i '/^put\t2.2.2.2/s/2.2.2.2/2.2.2.9/' "$ST_DATA_DIR/addrbook.journal"
	run st-addrbook list
	[ "$status" -eq 65 ]
	assert_output --partial "addrbook.journal:4: bad checksum"
	run st-addrbook fsck
	[ "$status" -eq 65 ]
	run st-addrbook fsck --repair
	[ "$status" -eq 0 ]
	assert_output --partial "repaired: 2 entries kept, 1 lines lost"
	[ -f "$ST_DATA_DIR/addrbook.journal.bak" ]
	run st-addrbook list -o tsv
	[ "$(records <<<"$output" | wc -l)" -eq 2 ]
	[[ "$output" == *"1.1.1.1:1"$'\t0.666667\t1'* ]]
}

@test "two writers adding 5,000 each leave 10,000" {
	gen_addrs 5000 11 >a.txt
	gen_addrs 5000 111 >b.txt
	st-addrbook --max-addresses 20000 --max-per-source-group 100% add -q <a.txt &
	p1=$!
	st-addrbook --max-addresses 20000 --max-per-source-group 100% add -q <b.txt &
	p2=$!
	wait $p1
	wait $p2
	run st-addrbook list -o tsv
	[ "$(records <<<"$output" | wc -l)" -eq 10000 ]
}

@test "kill -9 during a large add keeps every earlier entry and no half entry" {
	gen_addrs 1000 11 | st-addrbook add -q
	st-addrbook export | cut -f1 | grep -v '^#' | sort >before.txt
	gen_addrs 300000 120 >big.txt
	# through a fifo held open, so the add is surely still running (waiting for
	# more input, its journal partly written) when it is killed, however fast it is
	mkfifo in.fifo
	st-addrbook --max-addresses 400000 add -q <in.fifo &
	pid=$!
	exec 8>in.fifo
	cat big.txt >&8
	sleep 0.3
	kill -9 $pid
	wait $pid || true
	exec 8>&-
	run st-addrbook fsck
	[ "$status" -eq 0 ]
	st-addrbook export | cut -f1 | grep -v '^#' | sort >after.txt
	[ "$(comm -23 before.txt after.txt | wc -l)" -eq 0 ]
	# every entry is whole: 12 fields
	[ "$(st-addrbook export | grep -v '^#' | awk -F'\t' 'NF != 12' | wc -l)" -eq 0 ]
}

@test "a compacted book answers from its sorted snapshot and indexes, and repairs a lost index" {
	# 5,000 entries in 20 /16 groups: enough journal to be compacted into a snapshot
	ST_FAKE_NOW=1700000000 bash -c 'awk "BEGIN { for (i = 0; i < 5000; i++) printf \"%d.%d.%d.%d:7777\\n\", 11 + i % 20, 7, int(i / 20) % 250, 1 + int(i / 5000) }" | st-addrbook --max-addresses 20000 --max-per-subnet 1000 add -q'
	[ -f "$ST_DATA_DIR/addrbook.rank" ] && [ -f "$ST_DATA_DIR/addrbook.age" ]
	head -1 "$ST_DATA_DIR/addrbook.tsv" | grep -q '^#st addrbook 2 gen '
	# point changes go to the journal and show everywhere
	ST_FAKE_NOW=1700000100 st-addrbook record -q 15.7.3.1:7777 ok 16.7.9.1:7777 fail
	st-addrbook pin 20.7.200.1:7777
	st-addrbook remove 11.7.0.1:7777
	run st-addrbook record 9.9.9.9:7777 ok
	[ "$status" -eq 0 ]
	assert_output --partial "9.9.9.9:7777: not in the address book"
	run st-addrbook list -o tsv
	[ "$(records <<<"$output" | wc -l)" -eq 4999 ]
	[[ "${lines[1]}" == "20.7.200.1:7777"$'\t'* ]]
	[[ "${lines[2]}" == "11.7.1.1:7777"$'\t'* ]]
	[ "$(st-addrbook export | grep -v '^#' | cut -f1 | sed -n 2p)" = "11.7.1.1:7777" ]
	[ "$(st-addrbook list --tried -o tsv | records | cut -f1)" = "15.7.3.1:7777" ]
	# best: the one success first, the failure last of its group
	ST_FAKE_NOW=1700009000 run st-addrbook best -n 20 -o tsv
	[ "$(records <<<"$output" | wc -l)" -eq 20 ]
	[[ "${lines[1]}" == "15.7.3.1:7777"$'\t'* ]]
	[[ "$output" != *"16.7.9.1:7777"* ]]
	[ "$(records <<<"$output" | cut -f1 | cut -d. -f1 | sort -u | wc -l)" -eq 20 ]
	# prune by age finds the old ones through the age index, sparing the pinned one
	ST_FAKE_NOW=$((1700000000 + 20 * 86400)) st-addrbook seen 12.7.4.1:7777
	ST_FAKE_NOW=$((1700000000 + 31 * 86400)) run st-addrbook prune -q --max-age 30d --dry-run -o tsv
	[ "$(records <<<"$output" | wc -l)" -eq 4997 ]
	[[ "$output" != *"12.7.4.1:7777"* ]] && [[ "$output" != *"20.7.200.1:7777"* ]]
	# a lost index: the same answers the slow way, and the next writer rebuilds it
	ST_FAKE_NOW=1700009000 st-addrbook best -n 20 -o tsv >with.txt
	rm "$ST_DATA_DIR/addrbook.rank"
	ST_FAKE_NOW=1700009000 st-addrbook best -n 20 -o tsv >without.txt
	cmp with.txt without.txt
	st-addrbook seen 12.7.4.1:7777
	[ -f "$ST_DATA_DIR/addrbook.rank" ]
	run st-addrbook fsck
	assert_output "st-addrbook: ok: 4999 entries"
	rm "$ST_DATA_DIR/addrbook.age"
	st-addrbook fsck --repair
	[ -f "$ST_DATA_DIR/addrbook.age" ]
}

@test "a format-1 book (unsorted) is read, and rewritten sorted by the next writer" {
	mkdir -p "$ST_DATA_DIR"
	printf '#st addrbook 1 gen 1\n' >"$ST_DATA_DIR/addrbook.tsv"
	printf '2.2.2.2:2\t1\t1\t0\t0\t0\t0\t0\t0\t0\t0\tmanual\n1.1.1.1:1\t1\t1\t0\t0\t0\t0\t0\t0\t0\t0\tmanual\n' >>"$ST_DATA_DIR/addrbook.tsv"
	run st-addrbook list -o tsv
	[ "$(records <<<"$output" | wc -l)" -eq 2 ]
	[[ "${lines[1]}" == "1.1.1.1:1"* ]]
	st-addrbook seen 2.2.2.2:2
	head -1 "$ST_DATA_DIR/addrbook.tsv" | grep -q '^#st addrbook 2 gen 2'
	[ "$(sed -n 2p "$ST_DATA_DIR/addrbook.tsv" | cut -f1)" = "1.1.1.1:1" ]
	# a format-2 snapshot out of order is damage, named, and repaired
	sed -i '2{h;d};3{G}' "$ST_DATA_DIR/addrbook.tsv"
	run st-addrbook list
	[ "$status" -eq 65 ]
	assert_output --partial "out of order"
	run st-addrbook fsck --repair
	[ "$status" -eq 0 ]
	run st-addrbook list -o tsv
	[ "$(records <<<"$output" | wc -l)" -eq 2 ]
}

@test "usage errors" {
	run st-addrbook
	[ "$status" -eq 2 ]
	run st-addrbook frob
	[ "$status" -eq 2 ]
	run st-addrbook list --sort color
	[ "$status" -eq 2 ]
	assert_output --partial "--sort color: expected quality, last-seen, first-seen or endpoint"
	run st-addrbook seen
	[ "$status" -eq 2 ]
	run st-addrbook list extra
	[ "$status" -eq 2 ]
	run st-addrbook --max-addresses 0 list
	[ "$status" -eq 2 ]
	assert_output --partial "--max-addresses: addrbook.max_addresses: '0': too small"
}
