#!/usr/bin/env bats
# st-connect against real st-listen processes and scripted peers, on loopback only.

load helpers
bats_require_minimum_version 1.5.0

peer() { # peer NAME MODE: a scripted peer; sets NAME_ADDR
	start_bg "$1" python3 "$ST_TOP/tests/bats/tools/peer.py" "$2"
	wait_for_line "$BATS_TEST_TMPDIR/$1.out" '^listening ' 10
	printf -v "${1}_ADDR" '%s' "$(sed -n 's/^listening //p' "$BATS_TEST_TMPDIR/$1.out")"
}

@test "a handshake with st-listen prints one record and exits 0" {
	start_listener L1 --data-dir "$BATS_TEST_TMPDIR/l1"
	run st-connect -o json "$L1_ADDR"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == "{\"endpoint\":\"$L1_ADDR\",\"status\":\"ok\",\"node_id\":\"st-"*'"verified":false,"version":1,"user_agent":"st/'*'"rtt_ms":null,"error":null}' ]]
	run st-connect -o tsv --ping "$L1_ADDR"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[0]}" = $'#endpoint\tstatus\tnode_id\tverified\tversion\tuser_agent\trtt_ms\terror' ]
	[ "$(col status <<<"$output")" = ok ]
	[[ "$(col rtt_ms <<<"$output")" =~ ^[0-9]+$ ]]
}

@test "the listener's node id is stable across restarts and comes from the config when set" {
	start_listener L1 --data-dir "$BATS_TEST_TMPDIR/l1"
	a=$(st-connect -o tsv "$L1_ADDR" | col node_id)
	[[ "$a" == st-* ]]
	stop_bg L1
	start_listener L2 --data-dir "$BATS_TEST_TMPDIR/l1"
	b=$(st-connect -o tsv "$L2_ADDR" | col node_id)
	[ "$a" = "$b" ]
	stop_bg L2
	ST_NODE_NODE_ID=my-node start_listener L3 --data-dir "$BATS_TEST_TMPDIR/l1"
	[ "$(st-connect -o tsv "$L3_ADDR" | col node_id)" = my-node ]
}

@test "refused and mixed results: exit 0 if any succeeded, 69 if none did" {
	start_listener L1
	closed=$(free_port)
	run st-connect -o tsv "127.0.0.1:$closed"
	[ "$status" -eq 69 ]
	[ "$(col status <<<"$output")" = refused ]
	run st-connect -o tsv "127.0.0.1:$closed" "$L1_ADDR"
	[ "$status" -eq 0 ]
	[ "$(col status <<<"$output" | sort | tr '\n' ' ')" = "ok refused " ]
}

@test "IPv6 loopback works" {
	start_listener L6 --bind '[::1]:0'
	[[ "$L6_ADDR" == "[::1]:"* ]]
	run st-connect -o tsv --ping "$L6_ADDR"
	[ "$status" -eq 0 ]
	[ "$(col endpoint status <<<"$output")" = "$L6_ADDR"$'\tok' ]
}

@test "endpoints come from the record stream too" {
	start_listener L1
	run st-connect -o tsv <<<"$(printf '# list\n%s\n{"endpoint":"%s"}\n' "$L1_ADDR" "$L1_ADDR")"
	[ "$status" -eq 0 ]
	# the header, then one record per endpoint read
	[ "${#lines[@]}" -eq 3 ]
	[ "$(col endpoint status <<<"$output" | sort -u)" = "$L1_ADDR"$'\tok' ]
	# a tsv stream (with its header) of dial records works as input too
	run st-connect -o tsv <<<"$output"
	[ "$status" -eq 0 ]
	[ "$(col status <<<"$output" | tr '\n' ' ')" = "ok ok " ]
}

@test "hostile peers: each is a protocol error or a timeout within the deadline, others still served" {
	start_listener GOOD
	for m in garbage zero oversized midframe; do peer "P_$m" "$m"; done
	peer SILENT silent
	start=$(date +%s)
	run st-connect -o tsv --timeout 2s "$P_garbage_ADDR" "$P_zero_ADDR" "$P_oversized_ADDR" \
		"$P_midframe_ADDR" "$SILENT_ADDR" "$GOOD_ADDR"
	end=$(date +%s)
	[ "$status" -eq 0 ]
	[ "$(col endpoint <<<"$output" | wc -l)" -eq 6 ]
	status_of() { col endpoint status <<<"$output" | awk -F'\t' -v e="$1" '$1 == e { print $2 }'; }
	[ "$(status_of "$P_garbage_ADDR")" = protocol-error ]
	[ "$(status_of "$P_zero_ADDR")" = protocol-error ]
	[ "$(status_of "$P_oversized_ADDR")" = protocol-error ]
	[ "$(status_of "$P_midframe_ADDR")" = protocol-error ]
	[ "$(status_of "$SILENT_ADDR")" = timeout ]
	[ "$(status_of "$GOOD_ADDR")" = ok ]
	col error <<<"$output" | grep -q 'zero-length frame'
	col error <<<"$output" | grep -q 'frame too large'
	# the deadline bounds the whole run (2 s plus process start)
	[ $((end - start)) -lt 30 ]
}

@test "a frame one byte at a time still completes; version 2 is a version mismatch; our own nonce is self" {
	peer SLOW bytewise
	peer V2 version2
	peer MIRROR mirror
	run st-connect -o tsv --timeout 5s "$SLOW_ADDR" "$V2_ADDR" "$MIRROR_ADDR"
	[ "$status" -eq 0 ]
	status_of() { col endpoint status <<<"$output" | awk -F'\t' -v e="$1" '$1 == e { print $2 }'; }
	[ "$(status_of "$SLOW_ADDR")" = ok ]
	[ "$(status_of "$V2_ADDR")" = version-mismatch ]
	[ "$(status_of "$MIRROR_ADDR")" = self ]
}

@test "a reference node (no extension) answers ping and getpeers" {
	peer REF reference
	run st-connect -o tsv --ping "$REF_ADDR"
	[ "$status" -eq 0 ]
	[ "$(col node_id <<<"$output")" = ref-node ]
	run st-connect --getpeers 10 -o tsv "$REF_ADDR"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = $'#endpoint\tsource\tnode_id' ]
	run col endpoint source <<<"$output"
	assert_line $'8.8.4.4:7777\tgossip:ref-node@'"$REF_ADDR"
	assert_line $'[2a00:1450::1]:7777\tgossip:ref-node@'"$REF_ADDR"
}

@test "peers flow from st-listen's book into ours" {
	ST_DATA_DIR=$BATS_TEST_TMPDIR/l1 st-addrbook add -q 8.8.8.8:7777 1.1.1.1:7777 --allow-private 127.0.0.9:7777
	start_listener L1 --data-dir "$BATS_TEST_TMPDIR/l1"
	run st-connect --getpeers 50 -o tsv "$L1_ADDR"
	[ "$status" -eq 0 ]
	# we are on loopback (not routable), so private entries are handed out too
	[ "$(col endpoint <<<"$output" | sort | tr '\n' ' ')" = "1.1.1.1:7777 127.0.0.9:7777 8.8.8.8:7777 " ]
	# the pipeline of the man page (text output: the endpoints cross, other fields do not)
	start_listener L3 --data-dir "$BATS_TEST_TMPDIR/l1"
	st-connect --getpeers 100 "$L3_ADDR" | ST_DATA_DIR=$BATS_TEST_TMPDIR/l3book st-addrbook add --allow-private
	run env ST_DATA_DIR="$BATS_TEST_TMPDIR/l3book" st-addrbook list -o json
	[ "${#lines[@]}" -eq 3 ]
	# in tsv (or json) the source crosses too, found by its column name
	ST_DATA_DIR=$BATS_TEST_TMPDIR/l2 start_listener L2 --data-dir "$BATS_TEST_TMPDIR/l1"
	st-connect --getpeers 100 -o tsv "$L2_ADDR" | st-addrbook add --allow-private
	run st-addrbook list -o json
	[ "${#lines[@]}" -eq 3 ]
	[ "$(grep -c '"source":"gossip:st-[0-9a-f]*@'"$L2_ADDR"'"' <<<"$output")" -eq 3 ]
	# a second GetPeers from the same address within 5 minutes gets an empty answer
	run st-connect --getpeers 100 "$L2_ADDR"
	[ -z "$output" ]
}

@test "session mode runs commands from a pipe and prints what comes back" {
	start_listener L1
	run st-connect session "$L1_ADDR" <<<$'ping\ngetpeers 5\nraw 0x20 0102\nbogus\nquit'
	[ "$status" -eq 0 ]
	assert_line --regexp '^[0-9:.]+ < HandshakeAck version=1 node_id=st-[0-9a-f]+ user_agent="st/'
	assert_line --regexp '^[0-9:.]+ < Pong rtt=[0-9]+ms$'
	assert_line --regexp '^[0-9:.]+ < Peers count=0$'
	assert_line --regexp '^[0-9:.]+ > GetHeaders \(2 bytes\)$'
	assert_line --regexp "unknown command 'bogus'"
	closed=$(free_port)
	run st-connect session --timeout 2s "127.0.0.1:$closed" </dev/null
	[ "$status" -eq 69 ]
}

@test "-q with --getpeers: silent when a dial succeeds, one line when every dial failed" {
	start_listener L1
	closed=$(free_port)
	st-connect -q --getpeers 10 "127.0.0.1:$closed" "$L1_ADDR" >out 2>err
	[ ! -s err ]
	st-connect -q --getpeers 10 "127.0.0.1:$closed" >out 2>err && rc=0 || rc=$?
	[ "$rc" -eq 69 ]
	[ ! -s out ]
	[ "$(cat err)" = "st-connect: none of 1 endpoints answered" ]
}

@test "SIGINT or SIGTERM stops the dialing: exit 75, 'interrupted', the results so far" {
	start_listener GOOD
	peer SILENT silent
	for sig in INT TERM; do
		st-connect -o tsv --timeout 60s "$GOOD_ADDR" "$SILENT_ADDR" >"out.$sig" 2>"err.$sig" &
		pid=$!
		wait_for_line "out.$sig" "^$GOOD_ADDR	ok" 10
		kill -"$sig" "$pid"
		rc=0
		wait "$pid" || rc=$?
		[ "$rc" -eq 75 ]
		[ "$(cat "err.$sig")" = "st-connect: interrupted" ]
	done
}

@test "usage errors" {
	run st-connect -j 0 1.2.3.4:1
	[ "$status" -eq 2 ]
	assert_output --partial "st-connect: -j: connect.jobs: '0': too small (1..65536)"
	run st-connect --timeout forever 1.2.3.4:1
	[ "$status" -eq 2 ]
	run st-connect session
	[ "$status" -eq 2 ]
	run st-connect --getpeers=5000 1.2.3.4:1
	[ "$status" -eq 2 ]
}

@test "what a peer says never reaches a table, a record or a terminal raw" {
	peer UA badua
	peer ID badid
	peer ERR errortext
	# a user agent with an escape, a node id with a TAB: refused at the codec
	run st-connect -o tsv "$UA_ADDR" "$ID_ADDR"
	[ "$status" -eq 69 ]
	[ "$(col status <<<"$output" | sort -u)" = protocol-error ]
	[[ "$output" == *"HandshakeAck: control characters in a string"* ]]
	[[ "$output" == *"HandshakeAck: bad node id"* ]]
	run st-connect -o json --update "$UA_ADDR" "$ID_ADDR"
	run st-peers list -o tsv
	[ -z "$(records <<<"$output")" ]
	# an Error's text reaches a person escaped, on stdout's text and on stderr
	run st-connect "$ERR_ADDR"
	[ "$status" -eq 69 ]
	! grep -q $'\e' <<<"$output"
	[[ "$output" == *'go away\x1b[2J\x0anow'* ]]
	run st-connect --getpeers 5 "$ERR_ADDR"
	! grep -q $'\e' <<<"$output"
	[[ "$output" == *'go away\x1b[2J\x0anow'* ]]
}

@test "one gossiping peer fills its source group's share and no more; a forged id is refused" {
	peer FLOOD flood
	peer LONG longid
	st-addrbook --max-addresses 2000 add -q --allow-private --source manual 127.0.0.1:1 127.0.0.2:1
	for round in $(seq 15); do
		st-connect -q --getpeers 1000 "$FLOOD_ADDR" |
			st-addrbook --max-addresses 2000 add -q --allow-private 2>/dev/null || true
	done
	run st-addrbook list -o tsv
	# 10% of 2000 for the flooder's group, and the manual entries still there
	[ "$(col source <<<"$output" | grep -c '^gossip:flood-1@')" -le 200 ]
	[ "$(col source <<<"$output" | grep -c '^gossip:flood-1@')" -ge 150 ]
	[ "$(col endpoint source <<<"$output" | grep -c $'\tmanual$')" -eq 2 ]
	# a 248-byte id, which once cut "@EP" off the source and named a group of its
	# choosing, ends the session at the codec: nothing is learned from it
	rc=0
	st-connect -o tsv --getpeers 1000 "$LONG_ADDR" >long.out 2>long.err || rc=$?
	[ "$rc" -eq 69 ]
	[ ! -s long.out ]
	grep -q 'protocol-error: HandshakeAck: bad node id' long.err
}

@test "a peer whose id turns over-long is a protocol error counted against its endpoint and its last id" {
	peer TURN turncoat
	st-addrbook add -q --allow-private --source manual "$TURN_ADDR"
	st-connect -o tsv "$TURN_ADDR" >first.tsv
	[ "$(col endpoint status node_id <first.tsv)" = "$TURN_ADDR	ok	turn-1" ]
	st-addrbook record -q <first.tsv
	st-peers ingest -q <first.tsv
	# now a 248-byte id: the codec refuses it, the result line still names the endpoint
	rc=0
	st-connect -o tsv "$TURN_ADDR" >second.tsv || rc=$?
	[ "$rc" -eq 69 ]
	[ "$(col endpoint status node_id error <second.tsv)" = "$TURN_ADDR	protocol-error	-	HandshakeAck: bad node id" ]
	run st-addrbook record <second.tsv
	[ "$status" -eq 0 ]
	[[ "$output" == *"1 recorded, 0 unknown, 0 bad"* ]]
	run st-peers ingest -o tsv <second.tsv
	[ "$status" -eq 0 ]
	[ "$(col node_id change <<<"$output")" = "turn-1	failure" ]
	run st-addrbook list -o tsv
	[ "$(col endpoint successes failures <<<"$output")" = "$TURN_ADDR	1	1" ]
	run st-peers list -o tsv
	[ "$(col node_id successes failures <<<"$output")" = "turn-1	1	1" ]
}

@test "a zero length is a protocol error as soon as its 4 bytes arrive, without waiting for a type byte" {
	peer ZH zerohead
	run st-connect -o tsv --timeout 5s "$ZH_ADDR"
	[ "$status" -eq 69 ]
	[ "$(col status <<<"$output")" = protocol-error ]
	[[ "$(col error <<<"$output")" == *"zero-length frame"* ]]
}

@test "--getpeers=N keeps N peers when the peer sends more" {
	peer FLOOD flood
	run st-connect --getpeers=2 -o tsv "$FLOOD_ADDR"
	[ "$status" -eq 0 ]
	[ "$(records <<<"$output" | wc -l)" -eq 2 ]
	st-connect --getpeers 3 -q "$FLOOD_ADDR" >out
	[ "$(wc -l <out)" -eq 3 ]
}

@test "against hostile listeners st-connect ends in bounded time and memory with a clear status for each" {
	peer BIG bigpeers
	peer BEAT heartbeats
	peer SLOW trickle
	local t0 t1 i h=()
	t0=$(date +%s%N)
	run st-connect --getpeers 100 --timeout 3s "$BIG_ADDR" "$BEAT_ADDR" "$SLOW_ADDR"
	t1=$(date +%s%N)
	[ "$status" -eq 69 ]
	assert_line --regexp "^st-connect: $BIG_ADDR: protocol-error: .*"
	assert_line "st-connect: $BEAT_ADDR: timeout: no peers"  # heartbeats never extend a dial
	assert_line "st-connect: $SLOW_ADDR: timeout: no handshake"
	echo "# st-connect against a 1M-entry Peers, endless heartbeats, 1 byte/s: $(((t1 - t0) / 1000000)) ms" >&3
	# two listeners each sending a 16 MiB frame: the dials' budget stops reading them
	for i in 1 2; do
		peer "HUGE$i" huge
		h+=("$(eval echo "\$HUGE${i}_ADDR")")
	done
	# the peak of st-connect's resident memory (ru_maxrss, kB) on the last line; first
	# for one ordinary dial (sanitizer builds start larger)
	local peak='
import resource, subprocess, sys
subprocess.run(sys.argv[1:])
print("maxrss %d" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)'
	run python3 -c "$peak" st-connect --getpeers 100 --timeout 1s "$BEAT_ADDR"
	local base=${lines[-1]#maxrss }
	t0=$(date +%s%N)
	ST_CONNECT_MAX_MEMORY=1MiB run python3 -c "$peak" st-connect --getpeers 100 --timeout 3s "${h[@]}"
	t1=$(date +%s%N)
	[ "$(grep -c ': timeout: no peers$' <<<"$output")" -eq 2 ]
	local rss=${lines[-1]#maxrss }
	echo "# st-connect against 2 listeners sending 16 MiB frames: $(((t1 - t0) / 1000000)) ms, VmHWM ${rss} kB (one ordinary dial: ${base} kB)" >&3
	[ "$rss" -lt $((base + 12 * 1024)) ] # two whole frames would add 32 MiB
}

@test "--bind: the dial comes from that local address; another family is not dialed, an address not ours is a usage error, and neither counts against a peer" {
	start_listener L1 -o tsv
	run st-connect --bind 127.0.0.77 "$L1_ADDR"
	[ "$status" -eq 0 ]
	wait_for_line "$BATS_TEST_TMPDIR/L1.out" $'\t127\\.0\\.0\\.77:' 5
	ST_CONNECT_BIND=127.0.0.78 run st-connect "$L1_ADDR"
	[ "$status" -eq 0 ]
	wait_for_line "$BATS_TEST_TMPDIR/L1.out" $'\t127\\.0\\.0\\.78:' 5
	run --separate-stderr st-connect -o tsv --bind ::1 "$L1_ADDR"
	[ "$status" -eq 69 ]
	# not dialed, so no record: with --update or | record a local mistake would count
	# against the peer
	[ -z "$output" ]
	[[ "$stderr" == *"another address family than connect.bind ::1: not dialed"* ]]
	run --separate-stderr st-connect -o tsv --bind 192.0.2.1 "$L1_ADDR"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"cannot dial from 192.0.2.1"* ]]
	# and so with --update: the peer's book is untouched
	run st-connect --update --bind 192.0.2.1 "$L1_ADDR"
	[ "$status" -eq 2 ]
	run st-addrbook list -o tsv
	[ "$(grep -c "^$L1_ADDR" <<<"$output")" -eq 0 ]
	run st-connect --bind nonsense "$L1_ADDR"
	[ "$status" -eq 2 ]
}
