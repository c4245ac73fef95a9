#!/usr/bin/env bats
# st-peers: reputation, bans and their expiry, the gate, ingest, and the lifecycle with
# real st-listen processes.

load helpers

@test "add, show, success, failure, remove" {
	run st-peers add n1 1.2.3.4:7777 --protocol-version 1 -o tsv
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[0]}" = $'#endpoint\tnode_id\treputation\tsuccesses\tfailures\tconsecutive_failures\tbanned\tversion\tuser_agent\tverified\tfirst_seen\tlast_seen\tendpoints' ]
	[[ "${lines[1]}" == $'1.2.3.4:7777\tn1\t0\t0\t0\t0\tfalse\t1\t\tfalse\t'* ]]
	[ "$(col endpoints <<<"$output")" = 1.2.3.4:7777 ]
	run st-peers success n1 -o tsv
	[ "$output" = $'#node_id\tendpoint\tchange\treputation\tdetail\nn1\t-\tsuccess\t1\t-' ]
	run st-peers failure n1 --weight 2 -o tsv
	[ "$(col node_id endpoint change reputation detail <<<"$output")" = $'n1\t-\tfailure\t-3\t-' ]
	run st-peers show n1 -o json
	[[ "$output" == '{"endpoint":"1.2.3.4:7777","node_id":"n1","reputation":-3,"successes":1,"failures":1,"consecutive_failures":1,"banned":false'* ]]
	run st-peers remove n1
	[ "$status" -eq 0 ]
	run st-peers show n1
	[ "$status" -eq 65 ]
	assert_output "st-peers: n1: no such peer"
	run st-peers success nobody
	[ "$status" -eq 65 ]
}

@test "five failures in a row ban a peer automatically; so does a reputation of -10" {
	st-peers add n1 1.2.3.4:7777 >/dev/null
	st-peers add n2 5.6.7.8:7777 >/dev/null
	for i in 1 2 3 4; do st-peers failure -q n1 >/dev/null; done
	run st-peers check n1
	[ "$status" -eq 0 ]
	run st-peers failure n1 -o tsv
	assert_line $'#node_id\tendpoint\tchange\treputation\tdetail'
	assert_line $'n1\t-\tbanned\t-10\treputation -10 <= -10'
	run st-peers check n1
	[ "$status" -eq 1 ]
	# reputation alone: with a larger failure weight
	run st-peers failure n2 --weight 5 -o tsv
	assert_line $'n2\t-\tbanned\t-10\treputation -10 <= -10'
	ST_PEERS_MAX_FAILURES=2 st-peers add n3 9.9.9.9:1 >/dev/null
	ST_PEERS_MAX_FAILURES=2 st-peers failure n3 >/dev/null
	ST_PEERS_MAX_FAILURES=2 run st-peers failure n3 -o tsv
	assert_line $'n3\t-\tbanned\t-4\t2 consecutive failures'
	run st-peers bans -o json
	assert_line --partial '{"target":"n3","kind":"id",'
	assert_line --partial '"origin":"automatic","reason":"2 consecutive failures"}'
}

@test "manual bans on ids, addresses and subnets; the gate's exit codes" {
	st-peers ban 10.0.0.0/8 --reason "lab network" >/dev/null
	st-peers ban 8.8.8.8 --permanent >/dev/null
	st-peers ban some-node --for 1h >/dev/null
	run st-peers check 10.1.2.3
	[ "$status" -eq 1 ]
	run st-peers check 10.1.2.3:7777 11.0.0.1 some-node
	[ "$status" -eq 1 ]
	run st-peers check 11.0.0.1 other-node 10.0.0.0/7
	[ "$status" -eq 0 ]
	run st-peers check 10.2.0.0/16
	[ "$status" -eq 1 ]
	run st-peers -v check 10.9.9.9 -o tsv
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = $'#target\tkind\tcreated\texpires\torigin\treason' ]
	[ "${#lines[@]}" -eq 2 ]
	[ "$(col target kind origin reason <<<"$output")" = $'10.0.0.0/8\tsubnet\tmanual\tlab network' ]
	run st-peers check 8.8.8.8
	[ "$status" -eq 1 ]
	run st-peers unban 8.8.8.8
	[ "$status" -eq 0 ]
	run st-peers check 8.8.8.8
	[ "$status" -eq 0 ]
	run st-peers unban 8.8.8.8
	[ "$status" -eq 65 ]
	run st-peers check 'bad target!'
	[ "$status" -eq 2 ]
}

@test "bans expire on their own, and a new ban only extends" {
	now=1800000000
	ST_FAKE_NOW=$now st-peers ban n1 --for 1h >/dev/null
	ST_FAKE_NOW=$now st-peers ban n1 --for 10m >/dev/null   # shorter: no effect
	ST_FAKE_NOW=$((now + 1800)) run st-peers check n1
	[ "$status" -eq 1 ]
	ST_FAKE_NOW=$((now + 3601)) run st-peers check n1
	[ "$status" -eq 0 ]
	ST_FAKE_NOW=$((now + 3601)) run st-peers bans
	[ -z "$output" ]
	ST_FAKE_NOW=$now st-peers ban n2 --until 2027-01-15T12:00:00Z >/dev/null
	ST_FAKE_NOW=$now run st-peers bans -o json
	assert_line '{"target":"n2","kind":"id","created":1800000000,"expires":1800014400,"origin":"manual","reason":null}'
	ST_FAKE_NOW=$now run st-peers ban n3 --for 1h --permanent
	[ "$status" -eq 2 ]
	ST_FAKE_NOW=$now run st-peers ban n3 --until 2001-01-01T00:00:00Z
	[ "$status" -eq 2 ]
}

@test "ingest applies st-connect records and reports what changed" {
	printf '%s\n' \
		'{"endpoint":"1.1.1.1:7777","status":"ok","node_id":"a","verified":false,"version":1,"user_agent":"ua/1"}' \
		'{"endpoint":"2.2.2.2:7777","status":"ok","node_id":"b","verified":false,"version":1,"user_agent":"ua/1"}' \
		'{"endpoint":"2.2.2.2:7777","status":"timeout","node_id":null}' \
		'{"endpoint":"3.3.3.3:7777","status":"refused","node_id":null}' \
		$'#endpoint\tstatus\tnode_id\tverified\tversion\tuser_agent\trtt_ms\terror' \
		$'9.9.9.9:7777\tok\tc\tfalse\t1\tua/2\t3\t-' \
		'{"endpoint":"1.1.1.1:7777"}' >in.jsonl
	run st-peers ingest -o tsv <in.jsonl
	[ "$status" -eq 65 ]
	assert_line $'a\t1.1.1.1:7777\tadded\t1\t-'
	assert_line $'b\t2.2.2.2:7777\tfailure\t-1\t-'
	assert_line $'c\t9.9.9.9:7777\tadded\t1\t-'
	assert_line "st-peers: <stdin>:7: no status"
	# the tsv record kept every column it named: version and user agent arrive by name
	run st-peers show c -o json
	[[ "$output" == *'"version":1,"user_agent":"ua/2",'* ]]
	run st-peers list --sort reputation -o tsv
	[ "$(col node_id <<<"$output" | tr '\n' ' ')" = "a c b " ]
}

@test "best excludes banned peers and spreads over groups" {
	for n in 1 2 3; do st-peers add "p$n" "1.1.$n.1:1" >/dev/null; st-peers success -q "p$n" >/dev/null; done
	st-peers success -q p1 >/dev/null
	st-peers add q1 2.2.2.2:1 >/dev/null
	st-peers ban p2 >/dev/null
	run st-peers best -n 3 -o tsv
	[ "$(col node_id <<<"$output" | tr '\n' ' ')" = "p1 q1 p3 " ]
}

@test "from-addrbook makes deterministic ids for addresses without one" {
	st-addrbook add -q 1.1.1.1:7777 2.2.2.2:7777
	run st-peers from-addrbook -n 8 -o tsv
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = $'#node_id\tendpoint\tchange\treputation\tdetail' ]
	[ "$(col node_id <<<"$output" | grep -c '^ep-')" -eq 2 ]
	a=$(col node_id endpoint <<<"$output" | sort)
	rm -rf "$ST_DATA_DIR"/peers.*
	run st-peers from-addrbook -o tsv
	[ "$(col node_id endpoint <<<"$output" | sort)" = "$a" ]
}

@test "lifecycle: a peer that fails 5 times is banned and no longer dialed" {
	start_listener L1 --data-dir "$BATS_TEST_TMPDIR/node"
	st-addrbook add -q --allow-private "$L1_ADDR"
	run st-connect --update -o tsv "$L1_ADDR"
	[ "$status" -eq 0 ]
	id=$(col node_id <<<"$output")
	[[ "$id" == st-* ]]
	run st-peers show "$id" -o tsv
	[ "$(col node_id reputation successes failures consecutive_failures banned <<<"$output")" = "$id"$'\t1\t1\t0\t0\tfalse' ]
	stop_bg L1
	for i in 1 2 3 4 5; do
		st-addrbook best -n 8 | st-connect --update --timeout 2s -o tsv >/dev/null 2>&1 || true
	done
	run st-peers check "$id"
	[ "$status" -eq 1 ]
	run st-connect --update -o tsv "$L1_ADDR"
	[ "$status" -eq 69 ]
	[ "$(col endpoint status <<<"$output")" = "$L1_ADDR"$'\tbanned' ]
	[[ "$(col error <<<"$output")" == *"5 consecutive failures"* ]]
	run st-addrbook list -o tsv
	[ "$(col endpoint successes failures consecutive_failures attempts <<<"$output")" = "$L1_ADDR"$'\t1\t5\t5\t6' ]
}

@test "st-connect drops a connection whose handshake shows a banned id" {
	ST_NODE_NODE_ID=evil-node start_listener L1 --data-dir "$BATS_TEST_TMPDIR/node"
	st-peers ban evil-node --reason test >/dev/null
	run st-connect -o tsv "$L1_ADDR"
	[ "$status" -eq 69 ]
	[ "$(col status node_id <<<"$output")" = $'banned\tevil-node' ]
	st-peers ban 127.0.0.0/8 >/dev/null
	run st-connect -o tsv "$L1_ADDR"
	[ "$(col status <<<"$output")" = banned ]
	[[ "$(col error <<<"$output")" == "banned: 127.0.0.0/8"* ]]
}

@test "readers never create the data dir: a missing one is exit 66" {
	for cmd in list bans best "check 1.2.3.4" "show n1"; do
		run st-peers $cmd --data-dir "$BATS_TEST_TMPDIR/nowhere"
		[ "$status" -eq 66 ] || { echo "st-peers $cmd: $status"; false; }
		[[ "$output" == *"nowhere"* ]]
	done
	[ ! -e "$BATS_TEST_TMPDIR/nowhere" ]
}

@test "usage errors" {
	run st-peers
	[ "$status" -eq 2 ]
	run st-peers add n1
	[ "$status" -eq 2 ]
	run st-peers list --sort color
	[ "$status" -eq 2 ]
	run st-peers failure n1 --weight 0
	[ "$status" -eq 2 ]
	run st-peers check
	[ "$status" -eq 2 ]
}

@test "st-listen refuses banned addresses at accept and banned ids at handshake" {
	start_listener L1 --data-dir "$BATS_TEST_TMPDIR/node"
	run st-connect -o tsv "$L1_ADDR"
	[ "$(col status <<<"$output")" = ok ]
	ST_DATA_DIR=$BATS_TEST_TMPDIR/node st-peers ban 127.0.0.0/8 >/dev/null
	reload_bans L1
	run st-connect -o tsv "$L1_ADDR"
	[ "$status" -eq 69 ]
	wait_for_line "$BATS_TEST_TMPDIR/L1.out" 'banned +- .*the address is banned' 5
	ST_DATA_DIR=$BATS_TEST_TMPDIR/node st-peers unban 127.0.0.0/8 >/dev/null
	reload_bans L1
	ST_NODE_NODE_ID=bad-dialer st-connect -o tsv "$L1_ADDR" >/dev/null || true
	ST_DATA_DIR=$BATS_TEST_TMPDIR/node st-peers ban bad-dialer >/dev/null
	reload_bans L1
	ST_NODE_NODE_ID=bad-dialer run st-connect -o tsv "$L1_ADDR"
	[ "$status" -eq 69 ]
	wait_for_line "$BATS_TEST_TMPDIR/L1.out" 'banned +bad-dialer' 5
	ST_NODE_NODE_ID=good-dialer run st-connect -o tsv "$L1_ADDR"
	[ "$status" -eq 0 ]
}

@test "fsck finds damage in peers and bans, and --repair keeps every line that reads" {
	for i in 1 2 3 4 5; do st-peers add "p$i" "127.0.0.$i:7777" >/dev/null; done
	st-peers ban -q 127.0.9.0/24 >/dev/null
	st-peers ban -q --reason 'x' p5 >/dev/null
	run st-peers fsck
	[ "$status" -eq 0 ]
	assert_output "st-peers: ok: 7 entries"
	# a line broken from outside, as an unescaped TAB from a peer once made one
	printf 'put\tp\tbroken\t#00000000\n#commit\n' >>"$ST_DATA_DIR/peers.journal"
	run st-peers list
	[ "$status" -eq 65 ]
	run st-peers fsck
	[ "$status" -eq 65 ]
	assert_output --partial "try 'st-peers fsck --repair'"
	run st-peers fsck --repair
	[ "$status" -eq 0 ]
	assert_output --partial "repaired: 7 entries kept, 1 lines lost"
	[ -f "$ST_DATA_DIR/peers.journal.bak" ]
	run st-peers list -o tsv
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -eq 5 ]
	run st-peers check 127.0.9.1
	[ "$status" -eq 1 ]
	run st-peers fsck
	assert_output "st-peers: ok: 7 entries"
}
