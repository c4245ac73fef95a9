#!/usr/bin/env bats
# One verdict on bans: after automatic bans, st-peers check, st-addrbook best,
# st-connect and st-listen all refuse the endpoint, and all let it back after expiry;
# st-peers ban and check take the same target forms; list's banned field agrees with
# list --banned. Real st-listen processes on loopback only.

load helpers

# banned_victim DURATION: a listener with id "victim" is reached once (st-connect
# --update learns its id at its endpoint), then stopped and dialed five times: the
# fifth failure bans "victim" for DURATION. Sets VADDR; leaves a second, healthy
# address in the book so best has something else to offer.
banned_victim() {
	ST_NODE_NODE_ID=victim start_listener V --data-dir "$BATS_TEST_TMPDIR/victim"
	VADDR=$V_ADDR
	st-addrbook add -q --allow-private "$VADDR" "127.0.0.2:$(free_port)"
	run st-connect --update -o tsv "$VADDR"
	[ "$status" -eq 0 ]
	[ "$(col node_id <<<"$output")" = victim ]
	stop_bg V
	for i in 1 2 3 4 5; do
		ST_PEERS_BAN_DURATION=$1 st-connect --update --timeout 2s -o tsv "$VADDR" >/dev/null 2>&1 || true
	done
	run st-peers bans -o tsv
	run col target kind origin <<<"$output"
	assert_line $'victim\tid\tautomatic'
}

# best_offers ENDPOINT: st-addrbook best lists ENDPOINT (status 0) or not (1).
best_offers() {
	run st-addrbook best -n 8 -o tsv
	[ "$status" -eq 0 ] || return 2
	col endpoint <<<"$output" | grep -qxF -- "$1"
}

@test "five failures ban the endpoint for check, best, st-connect and st-listen alike" {
	banned_victim 60s
	run st-peers check "$VADDR"
	[ "$status" -eq 1 ]
	run st-peers check victim
	[ "$status" -eq 1 ]
	run st-peers check "victim@$VADDR"
	[ "$status" -eq 1 ]
	run st-peers -v check "$VADDR" -o tsv
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = $'#target\tkind\tcreated\texpires\torigin\treason' ]
	[ "${#lines[@]}" -eq 2 ]
	[ "$(col target kind origin reason <<<"$output")" = $'victim\tid\tautomatic\t5 consecutive failures' ]
	run best_offers "$VADDR"
	[ "$status" -eq 1 ]
	# st-connect reports it banned and never dials it
	run st-connect -o tsv "$VADDR"
	[ "$status" -eq 69 ]
	[ "$(col endpoint status <<<"$output")" = "$VADDR"$'\tbanned' ]
	[[ "$(col error <<<"$output")" == *"banned: victim: 5 consecutive failures"* ]]
	# st-listen refuses it inbound, at the handshake
	ST_NODE_NODE_ID=gate start_listener G --data-dir "$ST_DATA_DIR"
	ST_NODE_NODE_ID=victim run st-connect -o tsv "$G_ADDR"
	[ "$status" -eq 69 ]
	wait_for_line "$BATS_TEST_TMPDIR/G.out" 'banned +victim' 5
	ST_NODE_NODE_ID=someone-else run st-connect -o tsv "$G_ADDR"
	[ "$status" -eq 0 ]
	# and its GetPeers answers leave the banned endpoint out
	run st-connect --getpeers 100 -o tsv "$G_ADDR"
	[ "$status" -eq 0 ]
	run col endpoint <<<"$output"
	assert_line --regexp '^127\.0\.0\.2:[0-9]+$'
	refute_line "$VADDR"
}

@test "when the automatic ban expires every gate lets the endpoint back" {
	banned_victim 3s
	run st-peers check "$VADDR"
	[ "$status" -eq 1 ]
	run best_offers "$VADDR"
	[ "$status" -eq 1 ]
	ST_NODE_NODE_ID=gate start_listener G --data-dir "$ST_DATA_DIR"
	sleep 4
	run st-peers check "$VADDR"
	[ "$status" -eq 0 ]
	run st-peers check victim
	[ "$status" -eq 0 ]
	run best_offers "$VADDR"
	[ "$status" -eq 0 ]
	# dialed again (refused: nothing listens there now, unless the port was reused)
	run st-connect -o tsv "$VADDR"
	echo "$output"
	[ "$(col endpoint <<<"$output")" = "$VADDR" ]
	[ -n "$(col status <<<"$output")" ]
	[ "$(col status <<<"$output")" != banned ]
	ST_NODE_NODE_ID=victim run st-connect -o tsv "$G_ADDR"
	[ "$status" -eq 0 ]
	[ "$(col status <<<"$output")" = ok ]
}

@test "an endpoint known by a derived id is banned after five failures, even for a bans-only reader" {
	closed=$(free_port)
	st-addrbook add -q --allow-private "127.0.0.1:$closed"
	run st-peers from-addrbook -o tsv
	[ "$status" -eq 0 ]
	id=$(col node_id <<<"$output")
	[[ "$id" == ep-* ]]
	for i in 1 2 3 4 5; do
		st-connect --update --timeout 2s -o tsv "127.0.0.1:$closed" >/dev/null 2>&1 || true
	done
	run st-peers check "$id"
	[ "$status" -eq 1 ]
	run st-peers check "127.0.0.1:$closed"
	[ "$status" -eq 1 ]
	run best_offers "127.0.0.1:$closed"
	[ "$status" -eq 1 ]
	# the derived id alone bans the endpoint: no peers table needed
	rm -f "$ST_DATA_DIR"/peers.*
	run st-peers check "127.0.0.1:$closed"
	[ "$status" -eq 1 ]
	run st-connect -o tsv "127.0.0.1:$closed"
	[ "$(col status <<<"$output")" = banned ]
	run best_offers "127.0.0.1:$closed"
	[ "$status" -eq 1 ]
}

@test "st-listen refuses a node whose advertised endpoint is banned by its derived id" {
	closed=$(free_port)
	st-addrbook add -q --allow-private "127.0.0.1:$closed"
	st-peers from-addrbook >/dev/null
	for i in 1 2 3 4 5; do
		st-connect --update --timeout 2s -o tsv "127.0.0.1:$closed" >/dev/null 2>&1 || true
	done
	run st-peers check "127.0.0.1:$closed"
	[ "$status" -eq 1 ]
	ST_NODE_NODE_ID=gate start_listener G --data-dir "$ST_DATA_DIR"
	# a node that says it listens at the banned endpoint: no HandshakeAck
	run python3 "$ST_TOP/tests/bats/tools/peer.py" dial "$G_ADDR" any-name "$closed"
	[ "$status" -eq 0 ]
	[ "$output" = closed ]
	wait_for_line "$BATS_TEST_TMPDIR/G.out" 'banned +any-name' 5
	# the same name listening elsewhere is welcome
	run python3 "$ST_TOP/tests/bats/tools/peer.py" dial "$G_ADDR" any-name "$(free_port)"
	[ "$output" = "ack gate" ]
}

@test "ban, check and unban take address, address:port, CIDR, id and ID@address:port" {
	run st-peers ban 1.2.3.4:7777 -o tsv
	[ "$status" -eq 0 ]
	assert_line --partial $'1.2.3.4/32\taddress\t'
	for t in 1.2.3.4:7777 1.2.3.4:1 1.2.3.4 1.2.3.4/32 "x@1.2.3.4:7777"; do
		run st-peers check "$t"
		[ "$status" -eq 1 ] || { echo "check $t: $status"; false; }
	done
	run st-peers check 1.2.3.0/24
	[ "$status" -eq 0 ]
	run st-peers unban 1.2.3.4:7777
	[ "$status" -eq 0 ]
	run st-peers check 1.2.3.4:7777
	[ "$status" -eq 0 ]

	run st-peers ban 5.6.7.8
	[ "$status" -eq 0 ]
	run st-peers check 5.6.7.8:9
	[ "$status" -eq 1 ]
	run st-peers unban 5.6.7.8
	[ "$status" -eq 0 ]

	run st-peers ban 10.0.0.0/8
	[ "$status" -eq 0 ]
	for t in 10.0.0.0/8 10.1.0.0/16 10.1.2.3 10.1.2.3:7777 "n@10.1.2.3:7777"; do
		run st-peers check "$t"
		[ "$status" -eq 1 ] || { echo "check $t: $status"; false; }
	done
	run st-peers unban 10.0.0.0/8
	[ "$status" -eq 0 ]
	run st-peers check 10.1.2.3:7777
	[ "$status" -eq 0 ]

	run st-peers ban n1
	[ "$status" -eq 0 ]
	run st-peers check "n1@9.9.9.9:1"
	[ "$status" -eq 1 ]
	run st-peers check 9.9.9.9:1
	[ "$status" -eq 0 ]
	run st-peers unban n1
	[ "$status" -eq 0 ]

	# ID@address:port bans the id and the address
	run st-peers ban "n2@6.6.6.6:7777" -o tsv
	[ "$status" -eq 0 ]
	assert_line --partial $'n2\tid\t'
	assert_line --partial $'6.6.6.6/32\taddress\t'
	for t in n2 6.6.6.6 6.6.6.6:1 "n2@6.6.6.6:7777" "n2@7.7.7.7:1"; do
		run st-peers check "$t"
		[ "$status" -eq 1 ] || { echo "check $t: $status"; false; }
	done
	run st-peers unban "n2@6.6.6.6:7777"
	[ "$status" -eq 0 ]
	run st-peers check n2 6.6.6.6
	[ "$status" -eq 0 ]
	run st-peers unban "n2@6.6.6.6:7777"
	[ "$status" -eq 65 ]

	run st-peers ban '[2001:db8::1]:7777'
	[ "$status" -eq 0 ]
	run st-peers check 2001:db8::1 '[2001:db8::1]:1'
	[ "$status" -eq 1 ]
	run st-peers unban '[2001:db8::1]:7777'
	[ "$status" -eq 0 ]
	run st-peers check '[2001:db8::1]:1'
	[ "$status" -eq 0 ]

	run st-peers ban 'bad target!'
	[ "$status" -eq 2 ]
	run st-peers ban 1.2.3.4:99999
	[ "$status" -eq 2 ]
}

@test "list's banned field and list --banned give the same verdict" {
	st-peers add n1 1.2.3.4:1 >/dev/null
	st-peers add n1 5.6.7.8:1 >/dev/null # n1 moved: 1.2.3.4:1 is history
	st-peers add n2 2.2.2.2:1 >/dev/null
	st-peers add n3 3.3.3.3:1 >/dev/null
	st-peers add n4 4.4.4.4:1 >/dev/null
	st-peers ban 1.2.3.4 >/dev/null
	st-peers ban n2 >/dev/null
	st-peers ban 3.3.3.0/24 >/dev/null
	run st-peers list -o json
	[ "$status" -eq 0 ]
	flagged=$(printf '%s\n' "$output" | jq -r 'select(.banned) | .node_id' | tr '\n' ' ')
	run st-peers list --banned -o json
	[ "$status" -eq 0 ]
	listed=$(printf '%s\n' "$output" | jq -r '.node_id' | tr '\n' ' ')
	[ "$flagged" = "n2 n3 " ]
	[ "$listed" = "$flagged" ]
	run st-peers list --banned -o json
	[ "$(printf '%s\n' "$output" | jq -r 'select(.banned | not) | .node_id')" = "" ]
	run st-peers show n3 -o json
	[[ "$output" == *'"banned":true'* ]]
}

@test "best and check read a data dir without peers or bans as no bans and create no file" {
	st-addrbook add -q 1.1.1.1:7777
	before=$(ls "$ST_DATA_DIR" | tr '\n' ' ')
	run st-addrbook best -o tsv
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = $'#endpoint\tquality\tsuccesses\tfailures\tconsecutive_failures\tattempts\tfirst_seen\tlast_seen\tlast_attempt\tlast_success\tclass\tpinned\tsource' ]
	[ "$(col endpoint <<<"$output")" = 1.1.1.1:7777 ]
	run st-peers check 1.1.1.1:7777 some-id
	[ "$status" -eq 0 ]
	[ "$(ls "$ST_DATA_DIR" | tr '\n' ' ')" = "$before" ]
}
